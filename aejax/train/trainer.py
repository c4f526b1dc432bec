"""``fit``: the shared core of every training path.

A run (:func:`aejax.train.loop.train_and_evaluate`), each stage of greedy
layer-wise pre-training (:mod:`aejax.train.pretrain`) and the classifiers of
the evaluation tools (:mod:`aejax.eval.supervised`) all train through
:func:`fit`: resume from the latest Orbax checkpoint of their work
directory, compiled steps on sharded batches, and the loop's hooks.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
from absl import logging

from aejax.data.pipeline import TrainBatches, replicated
from aejax.data.sources import Split
from aejax.train.checkpoint import Checkpointer, CheckpointError, abstract_like
from aejax.train.hooks import (Checkpoint, DivergenceGuard, EpochTimer,
                               FirstStep, Loop, NonFiniteGuard, RunClock,
                               TrainLog, Validation, restore_hooks)
from aejax.train.state import TrainState, create_train_state
from aejax.train.step import compile_steps


def _check_resumable(saved: dict, expected: dict, workdir: str) -> None:
  for field in ("batch_size", "seed", "num_train_examples"):
    if saved.get(field) != expected[field]:
      raise CheckpointError(
          f"The checkpoint in {workdir!r} was written with {field}="
          f"{saved.get(field)}, but this run has {field}={expected[field]}. "
          "Resuming would not continue the same run: use a new --workdir, or "
          "the original settings.")


def init_state(method, config, mesh) -> TrainState:
  """The initial state from ``config.seed``, replicated over ``mesh``."""
  example = jnp.zeros((config.batch_size,) + method.image_shape, jnp.float32)
  # Compiled, so that initialisation is one program, not one per operation.
  return jax.jit(lambda: create_train_state(method, config.seed, example),
                 out_shardings=replicated(mesh))()


def fit(method, state: TrainState, train: Split, validation: Split, *,
        mesh, workdir: str, total_steps: int, batch_size: int,
        eval_batch_size: int, seed: int, binarize: bool, log_every: int,
        checkpoint_every: int = 0, keep_checkpoints: int = 3,
        max_nonfinite_steps: int = 100, divergence_factor: float = 10.0,
        divergence_windows: int = 5, eval_key: jax.Array,
        writers=(), progress_bar: bool = False, extra_hooks=(),
        start: float | None = None, desc: str = "train",
        validate_first: bool = False, validate_every: int = 0):
  """Trains ``method`` from ``state`` (or its checkpoint in ``workdir``).

  The shared core of every training path: resume from the newest intact
  checkpoint in ``workdir`` (same batch size, seed and data; a damaged
  newer one is moved aside with a warning), rewind the writers to it,
  compiled steps on sharded batches, the loop's hooks (restored from the
  checkpoint), checkpoints.

  Returns:
    ``(state, loop, parts)``: the final state, the :class:`Loop`, and
    ``{"start_step", "first_step" (the :class:`FirstStep` hook),
    "validation" (the :class:`Validation` hook; ``.last`` holds its last
    metrics), "eval_fn", "clock" (the :class:`RunClock`: seconds and
    processes over every process that built this state)}``.
  """
  start = time.perf_counter() if start is None else start
  steps_per_epoch = len(train) // batch_size
  position = {"batch_size": batch_size, "seed": seed,
              "num_train_examples": len(train),
              "steps_per_epoch": steps_per_epoch}
  checkpointer = Checkpointer(workdir, keep_checkpoints, cleanup=True)
  try:
    restored = checkpointer.restore_intact(abstract_like(state,
                                                         replicated(mesh)))
    if restored is not None:
      _check_resumable(restored[1], position, workdir)
  except BaseException:
    checkpointer.close()
    raise
  saved, records = {}, {}
  if restored is not None:
    state, saved, records, _ = restored
    logging.info("Resumed %s from checkpoint at step %d (epoch %d, batch "
                 "%d).", workdir, int(state.step), saved["epoch"],
                 saved["index_in_epoch"])
  start_step = int(state.step)
  # Rows written after the checkpoint go (all of them without one); an
  # older checkpoint without the count keeps every row of its step.
  rows_at_step = saved.get("rows_at_step") if saved else 0
  for writer in writers:
    if hasattr(writer, "rewind"):
      writer.rewind(start_step, rows_at_step)
    else:
      writer.truncate_after(start_step)
  train_fn, eval_fn = compile_steps(method, mesh, binarize)
  batches = TrainBatches(train, batch_size, seed, mesh, start_step=start_step)
  log = TrainLog(log_every)
  validation_hook = Validation(eval_fn, validation, eval_batch_size, mesh,
                               eval_key, validate_every or steps_per_epoch)
  first_step = FirstStep(start)
  clock = RunClock()
  if validate_first and start_step == 0:  # the "before" of a curve
    for writer in writers:
      writer.write(0, "validation", validation_hook.evaluate(state))
  hooks = [first_step, log, NonFiniteGuard(log, max_nonfinite_steps),
           DivergenceGuard(log, divergence_factor, divergence_windows,
                           checkpointer),
           validation_hook, *extra_hooks, EpochTimer(), clock,
           # Last: a checkpoint follows every row of its step.
           Checkpoint(checkpointer, checkpoint_every or steps_per_epoch,
                      position)]
  restore_hooks(hooks, records)
  loop = Loop(state, train_fn, batches, total_steps, hooks, writers,
              progress_bar, desc)
  state = loop.run()
  return state, loop, {"start_step": start_step, "first_step": first_step,
                       "validation": validation_hook, "eval_fn": eval_fn,
                       "clock": clock}
