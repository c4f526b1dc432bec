"""The step loop and its hooks.

:class:`Loop` runs compiled training steps and calls :class:`Hook` objects
after every step; the hooks log (:class:`TrainLog`), stop a diverged run
(:class:`NonFiniteGuard`), validate (:class:`Validation`), draw per-epoch
figures (:class:`EpochFigures`), checkpoint (:class:`Checkpoint`) and time
epochs (:class:`EpochTimer`, :class:`FirstStep`). Metric writers
(:mod:`aejax.train.writers`) receive the rows.
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from tqdm import tqdm

from aejax.data.pipeline import TrainBatches, eval_batches
from aejax.data.sources import Split
from aejax.train import figures
from aejax.train.checkpoint import Checkpointer
from aejax.train.state import TrainState


def evaluate(eval_fn, state, split, batch_size: int, mesh,
             base_key: jax.Array) -> dict[str, float]:
  """Mean of each per-example metric over ``split``."""
  totals = None
  for i, batch in enumerate(eval_batches(split, batch_size, mesh)):
    sums = eval_fn(state, batch, jax.random.fold_in(base_key, i))
    totals = sums if totals is None else jax.tree_util.tree_map(
        jnp.add, totals, sums)
  totals = jax.device_get(totals)
  count = totals.pop("count")
  return {k: float(v / count) for k, v in totals.items()}


class Hook:
  """Something the loop does around its steps; override what you need."""

  def after_step(self, loop: "Loop", metrics: dict) -> None:
    """After every step; ``metrics`` are the step's (device) scalars."""

  def interrupted(self, loop: "Loop") -> None:
    """On Ctrl-C, before the loop re-raises it."""

  def close(self, loop: "Loop") -> None:
    """When the loop ends, however it ends."""


class Loop:
  """Runs compiled training steps from ``state.step`` to ``total_steps``.

  Attributes:
    state: the training state (replicated over the mesh).
    step: the number of steps taken.
    total_steps: where the loop stops.
    steps_per_epoch: steps in one pass over the training split.
    writers: metric writers (``write(step, split, metrics)``).
    bar: the progress bar (disabled unless asked for).
  """

  def __init__(self, state: TrainState, train_fn, batches: TrainBatches,
               total_steps: int, hooks: list[Hook], writers=(),
               progress_bar: bool = False, desc: str = "train"):
    self.state = state
    self.step = int(state.step)
    self.total_steps = total_steps
    self.steps_per_epoch = batches.steps_per_epoch
    self.train_fn = train_fn
    self.batches = batches
    self.hooks = hooks
    self.writers = list(writers)
    self.bar = tqdm(total=total_steps, initial=self.step, desc=desc,
                    unit="step", dynamic_ncols=True,
                    disable=not progress_bar)

  def write(self, split: str, metrics: dict) -> None:
    for writer in self.writers:
      writer.write(self.step, split, metrics)

  def at(self, every: int) -> bool:
    """Whether this step ends a period of ``every`` steps, or the loop."""
    return self.step % every == 0 or self.step == self.total_steps

  def run(self) -> TrainState:
    try:
      while self.step < self.total_steps:
        self.state, metrics = self.train_fn(self.state, next(self.batches))
        self.step += 1
        self.bar.update(1)
        for hook in self.hooks:
          hook.after_step(self, metrics)
    except KeyboardInterrupt:
      logging.warning("Interrupted at step %d.", self.step)
      for hook in self.hooks:
        hook.interrupted(self)
      raise
    finally:
      self.bar.close()
      for hook in self.hooks:
        hook.close(self)
    return self.state


class TrainLog(Hook):
  """Every ``every`` steps: the window's mean metrics and steps/s, written
  as a ``train`` row; ``window`` keeps the pulled per-step metrics."""

  def __init__(self, every: int):
    self.every = every
    self.pending, self.window = [], []
    self.window_start = time.perf_counter()

  def after_step(self, loop, metrics):
    self.pending.append(metrics)
    if not loop.at(self.every):
      return
    self.window = jax.device_get(self.pending)
    summary = {k: float(np.mean([m[k] for m in self.window]))
               for k in self.window[0] if k != "finite"}
    summary["steps_per_s"] = len(self.window) / (time.perf_counter() -
                                                 self.window_start)
    summary["skipped_steps"] = int(loop.state.skipped_steps)
    loop.write("train", summary)
    loop.bar.set_postfix(loss=f"{summary['loss']:.4g}",
                         steps_s=f"{summary['steps_per_s']:.0f}")
    self.pending, self.window_start = [], time.perf_counter()


class NonFiniteGuard(Hook):
  """Stops the run when ``limit`` steps in a row were skipped as non-finite
  (seen at logging time, in ``log``'s window)."""

  def __init__(self, log: TrainLog, limit: int):
    self.log, self.limit, self.run_length = log, limit, 0

  def after_step(self, loop, metrics):
    if not loop.at(self.log.every):
      return
    for m in self.log.window:
      self.run_length = 0 if m["finite"] else self.run_length + 1
    if self.run_length >= self.limit:
      raise FloatingPointError(
          f"Training diverged: the last {self.run_length} steps (up to step "
          f"{loop.step}) had a non-finite loss or update, and were skipped "
          f"({int(loop.state.skipped_steps)} skipped in all). Lower "
          "--config.optimizer.learning_rate or set "
          "--config.optimizer.grad_clip_norm. The last finite checkpoint "
          "is kept in the workdir.")


class Validation(Hook):
  """Every ``every`` steps (and at the end): the mean metrics over ``split``,
  written as a ``name`` row; ``last`` holds them."""

  def __init__(self, eval_fn, split: Split, batch_size: int, mesh,
               key: jax.Array, every: int, name: str = "validation"):
    self.eval_fn, self.split, self.batch_size = eval_fn, split, batch_size
    self.mesh, self.key, self.every, self.name = mesh, key, every, name
    self.last = None

  def evaluate(self, state) -> dict[str, float]:
    return evaluate(self.eval_fn, state, self.split, self.batch_size,
                    self.mesh, self.key)

  def after_step(self, loop, metrics):
    if not loop.at(self.every):
      return
    self.last = self.evaluate(loop.state)
    loop.write(self.name, self.last)
    loop.bar.write(f"step {loop.step} (epoch "
                   f"{loop.step / loop.steps_per_epoch:.2f}): " + ", ".join(
                       f"val {k} {v:.4g}" for k, v in self.last.items()))


class EpochFigures(Hook):
  """After every epoch (and at the end): the method's per-epoch figures."""

  def __init__(self, method, workdir: str):
    self.method, self.workdir = method, workdir

  def after_step(self, loop, metrics):
    if loop.at(loop.steps_per_epoch):
      figures.epoch_figures(self.method, loop.state.params,
                            loop.state.batch_stats, loop.step, self.workdir)


class Checkpoint(Hook):
  """Saves the state and the data position every ``every`` steps, at the
  end, and on Ctrl-C; waits for the last save when the loop ends."""

  def __init__(self, checkpointer: Checkpointer, every: int, position: dict):
    self.checkpointer, self.every, self.position = (checkpointer, every,
                                                    position)

  def save(self, loop):
    epoch, index = divmod(loop.step, loop.steps_per_epoch)
    self.checkpointer.save(loop.step, loop.state, {
        **self.position, "step": loop.step, "epoch": epoch,
        "index_in_epoch": index})

  def after_step(self, loop, metrics):
    if loop.at(self.every):
      self.save(loop)

  def interrupted(self, loop):
    logging.warning("Saving a checkpoint at step %d.", loop.step)
    self.save(loop)

  def close(self, loop):
    self.checkpointer.wait()
    self.checkpointer.close()


class EpochTimer(Hook):
  """After every full epoch, an ``epoch`` row with its wall seconds (steps,
  data, logging, validation and the asynchronous checkpoint; `python -m
  aejax.bench --loop` compares it with the same number of bare steps)."""

  def __init__(self):
    self.start = time.perf_counter()

  def after_step(self, loop, metrics):
    if loop.step % loop.steps_per_epoch == 0:
      now = time.perf_counter()
      loop.write("epoch", {"seconds": now - self.start,
                           "steps": loop.steps_per_epoch})
      self.start = now


class FirstStep(Hook):
  """Records the start-up cost: seconds from ``start`` to the first step
  done (data, initialisation and compiling the step; a warm persistent
  compilation cache removes most of it)."""

  def __init__(self, start: float):
    self.start, self.seconds, self.first = start, None, None

  def after_step(self, loop, metrics):
    if self.first is None:
      self.first = loop.step
      jax.block_until_ready(loop.state.step)
      self.seconds = time.perf_counter() - self.start
      logging.info("First step done %.1f s after start.", self.seconds)
