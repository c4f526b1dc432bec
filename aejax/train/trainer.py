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
from aejax.train.hooks import (Checkpoint, EpochTimer, FirstStep, Loop,
                               NonFiniteGuard, TrainLog, Validation)
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
        max_nonfinite_steps: int = 100, eval_key: jax.Array,
        writers=(), progress_bar: bool = False, extra_hooks=(),
        start: float | None = None, desc: str = "train",
        validate_first: bool = False, validate_every: int = 0):
  """Trains ``method`` from ``state`` (or its checkpoint in ``workdir``).

  The shared core of every training path: resume from the latest
  checkpoint in ``workdir`` (same batch size, seed and data), compiled
  steps on sharded batches, the loop's hooks, checkpoints.

  Returns:
    ``(state, loop, parts)``: the final state, the :class:`Loop`, and
    ``{"start_step", "first_step" (the :class:`FirstStep` hook),
    "validation" (the :class:`Validation` hook; ``.last`` holds its last
    metrics), "eval_fn"}``.
  """
  start = time.perf_counter() if start is None else start
  steps_per_epoch = len(train) // batch_size
  position = {"batch_size": batch_size, "seed": seed,
              "num_train_examples": len(train),
              "steps_per_epoch": steps_per_epoch}
  checkpointer = Checkpointer(workdir, keep_checkpoints)
  if checkpointer.latest_step() is not None:
    state, saved = checkpointer.restore(abstract_like(state,
                                                      replicated(mesh)))
    _check_resumable(saved, position, workdir)
    logging.info("Resumed %s from checkpoint at step %d (epoch %d, batch "
                 "%d).", workdir, int(state.step), saved["epoch"],
                 saved["index_in_epoch"])
  start_step = int(state.step)
  for writer in writers:
    writer.truncate_after(start_step)
  train_fn, eval_fn = compile_steps(method, mesh, binarize)
  batches = TrainBatches(train, batch_size, seed, mesh, start_step=start_step)
  log = TrainLog(log_every)
  validation_hook = Validation(eval_fn, validation, eval_batch_size, mesh,
                               eval_key, validate_every or steps_per_epoch)
  first_step = FirstStep(start)
  if validate_first and start_step == 0:  # the "before" of a curve
    for writer in writers:
      writer.write(0, "validation", validation_hook.evaluate(state))
  hooks = [first_step, log, NonFiniteGuard(log, max_nonfinite_steps),
           validation_hook, *extra_hooks,
           Checkpoint(checkpointer, checkpoint_every or steps_per_epoch,
                      position),
           EpochTimer()]
  loop = Loop(state, train_fn, batches, total_steps, hooks, writers,
              progress_bar, desc)
  state = loop.run()
  return state, loop, {"start_step": start_step, "first_step": first_step,
                       "validation": validation_hook, "eval_fn": eval_fn}
