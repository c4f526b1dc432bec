"""The step loop and its hooks.

:class:`Loop` runs compiled training steps and calls :class:`Hook` objects
after every step; the hooks log (:class:`TrainLog`), stop a diverged run
(:class:`NonFiniteGuard`, :class:`DivergenceGuard`), validate
(:class:`Validation`), draw per-epoch figures (:class:`EpochFigures`), time
the run and its epochs (:class:`RunClock`, :class:`EpochTimer`,
:class:`FirstStep`) and checkpoint (:class:`Checkpoint`, last). Metric
writers (:mod:`aejax.train.writers`) receive the rows.

Exact records across interruptions: a checkpoint holds, beside the state,
what each hook needs to continue (:meth:`Hook.record`: the train-log window
so far, the guards' counters, the clocks) and how many rows the loop had
written at its step; a resumed run restores both (:meth:`Hook.restore`,
the writers' ``rewind``), so its ``metrics.jsonl`` equals an unbroken run's
except for wall-clock fields. Ctrl-C (SIGINT) and SIGTERM take effect at the
end of a step, after its hooks, with a checkpoint there; a second Ctrl-C
stops at once without one (the run then resumes from the previous one).
"""

from __future__ import annotations

import math
import signal
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging
from tqdm import tqdm

from aejax.data.pipeline import TrainBatches, eval_batches
from aejax.data.sources import Split
from aejax.train import figures
from aejax.train.checkpoint import Checkpointer, CheckpointSaveError
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

  suspect = False  # True: the state may be bad; skip periodic checkpoints

  def after_step(self, loop: "Loop", metrics: dict) -> None:
    """After every step; ``metrics`` are the step's (device) scalars."""

  def interrupted(self, loop: "Loop") -> None:
    """On Ctrl-C, before the loop re-raises it."""

  def close(self, loop: "Loop") -> None:
    """When the loop ends, however it ends."""

  def record(self, loop: "Loop") -> dict | None:
    """What a checkpoint keeps of this hook (JSON) to resume it exactly."""
    del loop

  def restore(self, record: dict) -> None:
    """Continues from ``record`` (this hook's, from the checkpoint)."""


def hook_records(hooks, loop) -> dict:
  """``{name: record}`` of the hooks that keep one (names unique)."""
  records, seen = {}, {}
  for hook in hooks:
    name = type(hook).__name__
    seen[name] = seen.get(name, 0) + 1
    record = hook.record(loop)
    if record is not None:
      records[name if seen[name] == 1 else f"{name}#{seen[name]}"] = record
  return records


def restore_hooks(hooks, records: dict) -> None:
  seen = {}
  for hook in hooks:
    name = type(hook).__name__
    seen[name] = seen.get(name, 0) + 1
    key = name if seen[name] == 1 else f"{name}#{seen[name]}"
    if key in records:
      hook.restore(records[key])


class _StopRequests:
  """While active, SIGINT and SIGTERM ask the loop to stop at the end of the
  step; a second one raises KeyboardInterrupt at once. Only in the main
  thread (Python delivers signals there)."""

  SIGNALS = (signal.SIGINT, signal.SIGTERM)

  def __init__(self):
    self.requested, self.forced, self._previous = None, False, {}

  def _handle(self, signum, frame):
    del frame
    if self.requested is not None:
      self.forced = True
      raise KeyboardInterrupt
    self.requested = signal.Signals(signum).name
    logging.warning("%s: stopping at the end of this step, with a "
                    "checkpoint (again to stop at once, without one).",
                    self.requested)

  def __enter__(self):
    if threading.current_thread() is threading.main_thread():
      for sig in self.SIGNALS:
        self._previous[sig] = signal.signal(sig, self._handle)
    return self

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    self._previous = {}


class Loop:
  """Runs compiled training steps from ``state.step`` to ``total_steps``.

  Attributes:
    state: the training state (replicated over the mesh).
    step: the number of steps taken.
    total_steps: where the loop stops.
    steps_per_epoch: steps in one pass over the training split.
    writers: metric writers (``write(step, split, metrics)``).
    bar: the progress bar (disabled unless asked for).
    rows_at_step: rows written so far at ``step`` (a checkpoint keeps it).
    clean_stop: the loop stopped on request at the end of a step (all its
      hooks done), not in the middle of one.
    error: the exception that ended the loop, if any.
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
    self.primary = jax.process_index() == 0  # writes records and the bar
    self.bar = tqdm(total=total_steps, initial=self.step, desc=desc,
                    unit="step", dynamic_ncols=True,
                    disable=not (progress_bar and self.primary))
    self._rows, self._row_step = 0, self.step
    self.clean_stop, self.error = False, None

  @property
  def rows_at_step(self) -> int:
    return self._rows if self._row_step == self.step else 0

  def write(self, split: str, metrics: dict) -> None:
    self._rows, self._row_step = self.rows_at_step + 1, self.step
    for writer in self.writers:
      writer.write(self.step, split, metrics)

  def at(self, every: int) -> bool:
    """Whether this step ends a period of ``every`` steps, or the loop."""
    return self.step % every == 0 or self.step == self.total_steps

  def run(self) -> TrainState:
    stop = _StopRequests()
    try:
      with stop:
        while self.step < self.total_steps:
          self.state, metrics = self.train_fn(self.state, next(self.batches))
          self.step += 1
          self.bar.update(1)
          for hook in self.hooks:
            hook.after_step(self, metrics)
          if stop.requested:
            self.clean_stop = True
            raise KeyboardInterrupt(stop.requested)
    except KeyboardInterrupt as e:
      self.error = e
      logging.warning("Interrupted at step %d%s.", self.step,
                      "" if self.clean_stop else " (in the middle of it)")
      for hook in self.hooks:
        hook.interrupted(self)
      raise
    except BaseException as e:
      self.error = e
      raise
    finally:
      self.bar.close()
      for hook in self.hooks:
        hook.close(self)
    return self.state


class TrainLog(Hook):
  """Every ``every`` steps: the window's mean metrics and steps/s, written
  as a ``train`` row; ``window`` keeps the pulled per-step metrics and
  ``summary`` the row."""

  def __init__(self, every: int):
    self.every = every
    self.pending, self.window, self.summary = [], [], None
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
    self.summary = summary
    loop.bar.set_postfix(loss=f"{summary['loss']:.4g}",
                         steps_s=f"{summary['steps_per_s']:.0f}")
    self.pending, self.window_start = [], time.perf_counter()

  def record(self, loop):
    # The window so far, bit for bit (a pull of a few scalars, at
    # checkpoints only), so that a resumed run's row averages the same steps.
    self.pending = jax.device_get(self.pending)
    columns = {k: np.asarray([m[k] for m in self.pending])
               for k in (self.pending[0] if self.pending else ())}
    return {"window": {k: [str(v.dtype), v.tobytes().hex()]
                       for k, v in columns.items()},
            "seconds": time.perf_counter() - self.window_start}

  def restore(self, record):
    columns = {k: np.frombuffer(bytes.fromhex(data), dtype)
               for k, (dtype, data) in record["window"].items()}
    length = len(next(iter(columns.values()))) if columns else 0
    self.pending = [{k: v[i] for k, v in columns.items()}
                    for i in range(length)]
    self.window_start = time.perf_counter() - record["seconds"]


class NonFiniteGuard(Hook):
  """Stops the run when ``limit`` steps in a row were skipped as non-finite
  (seen at logging time, in ``log``'s window)."""

  def __init__(self, log: TrainLog, limit: int):
    self.log, self.limit, self.run_length = log, limit, 0

  def record(self, loop):
    return {"run_length": self.run_length}

  def restore(self, record):
    self.run_length = record["run_length"]

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


class DivergenceError(FloatingPointError):
  """The training loss stayed far above its running minimum."""


class DivergenceGuard(Hook):
  """Stops a run whose training loss diverges without becoming non-finite.

  At each ``train`` row (``log.summary`` and ``log.window``, no extra
  device transfer): with ``best`` the lowest mean loss of the rows so far,
  ``initial`` the loss of the first step (the initialised model's) and
  ``scale`` the larger of ``|best|`` and ``|initial|``, a row is *high*
  when its loss is more than ``factor * scale`` above ``best``; ``windows``
  high rows in a row stop the run. While a row is high, periodic
  checkpoints are skipped, so the last one kept is from before the rise.
  ``factor = 0``: off.

  The scale keeps the test in the loss's own units, whatever its sign or
  size: a VAE's negative log-likelihood that goes below zero, a per-pixel
  MSE near zero, a GAN's discriminator loss that moves about (its initial
  2 log 2 bounds the scale from below). With the default factor 10, a loss
  must rise above 11 x its minimum and 10 x its initial value: none of the
  experiments in ``experiments/`` comes near (their training losses fall
  below their initial value within the first train rows and stay there).
  """

  def __init__(self, log: TrainLog, factor: float, windows: int,
               checkpointer: Checkpointer | None = None):
    self.log, self.factor, self.windows = log, factor, windows
    self.checkpointer = checkpointer
    self.best = self.initial = None
    self.high = 0

  @property
  def suspect(self):
    return self.high > 0

  def after_step(self, loop, metrics):
    if not self.factor or not loop.at(self.log.every) or (
        self.log.summary is None):
      return
    loss = self.log.summary["loss"]
    if self.initial is None:
      self.initial = next((float(m["loss"]) for m in self.log.window
                           if math.isfinite(m["loss"])), None)
    if not math.isfinite(loss) or self.initial is None:
      return  # NonFiniteGuard's case
    self.best = loss if self.best is None else min(self.best, loss)
    scale = max(abs(self.best), abs(self.initial))
    limit = self.best + self.factor * scale
    self.high = self.high + 1 if loss > limit else 0
    if self.high >= self.windows:
      kept = self.checkpointer.latest_step() if self.checkpointer else None
      raise DivergenceError(
          f"Training diverged: the mean training loss stayed above {limit:.4g}"
          f" ({self.factor:g} x {scale:.4g} above its running minimum "
          f"{self.best:.4g}) for {self.high} train rows in a row, up to step "
          f"{loop.step} (now {loss:.4g}; {self.initial:.4g} at the first "
          "step). Lower "
          "--config.optimizer.learning_rate or set --config.optimizer."
          "grad_clip_norm; "
          + (f"the last checkpoint from before the rise, step {kept}, is "
             "kept in the workdir" if kept is not None else
             "no checkpoint was saved") +
          ". (--config.divergence_factor=0 turns this check off.)")

  def record(self, loop):
    return {"best": self.best, "initial": self.initial, "high": self.high}

  def restore(self, record):
    self.best, self.initial, self.high = (record["best"], record["initial"],
                                          record["high"])


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
    if loop.primary:
      loop.bar.write(f"step {loop.step} (epoch "
                     f"{loop.step / loop.steps_per_epoch:.2f}): " + ", ".join(
                         f"val {k} {v:.4g}" for k, v in self.last.items()))


class EpochFigures(Hook):
  """After every epoch (and at the end): the method's per-epoch figures
  (process 0 draws them, from a host copy of the replicated state)."""

  def __init__(self, method, workdir: str):
    self.method, self.workdir = method, workdir

  def after_step(self, loop, metrics):
    if not loop.at(loop.steps_per_epoch):
      return
    params, batch_stats = loop.state.params, loop.state.batch_stats
    if jax.process_count() > 1:
      if not (self.method.samples_every_epoch and loop.primary):
        return
      params, batch_stats = jax.device_get((params, batch_stats))
    figures.epoch_figures(self.method, params, batch_stats, loop.step,
                          self.workdir)


class Checkpoint(Hook):
  """Saves the state, the data position and the other hooks' records
  (:func:`hook_records`) every ``every`` steps, at the end, and on a clean
  stop (Ctrl-C); skips periodic saves while a hook is ``suspect``; checks
  the asynchronous save after every step (a failed one stops the run);
  waits for the last save when the loop ends. Comes last in the hooks, so
  that a checkpoint follows every row of its step."""

  def __init__(self, checkpointer: Checkpointer, every: int, position: dict):
    self.checkpointer, self.every, self.position = (checkpointer, every,
                                                    position)
    self.saved = checkpointer.latest_step()

  def save(self, loop):
    epoch, index = divmod(loop.step, loop.steps_per_epoch)
    self.checkpointer.save(loop.step, loop.state, {
        **self.position, "step": loop.step, "epoch": epoch,
        "index_in_epoch": index, "rows_at_step": loop.rows_at_step},
        hook_records([h for h in loop.hooks if h is not self], loop))
    self.saved = loop.step

  def after_step(self, loop, metrics):
    self.checkpointer.poll()
    if loop.at(self.every):
      suspect = [type(h).__name__ for h in loop.hooks if h.suspect]
      if suspect and loop.step < loop.total_steps:
        logging.warning("Step %d: no checkpoint while %s finds the run "
                        "suspect.", loop.step, ", ".join(suspect))
      else:
        self.save(loop)

  def interrupted(self, loop):
    if not loop.clean_stop:
      logging.warning("Stopped in the middle of step %d: no checkpoint; the "
                      "run resumes from checkpoint %s.", loop.step,
                      self.saved)
    elif self.saved != loop.step:
      logging.warning("Saving a checkpoint at step %d.", loop.step)
      self.save(loop)

  def close(self, loop):
    try:
      self.checkpointer.close()
    except CheckpointSaveError as e:
      if loop.error is None or isinstance(loop.error, KeyboardInterrupt):
        raise
      logging.error("%s", e)  # the loop's own error is the one raised


class EpochTimer(Hook):
  """After every full epoch, an ``epoch`` row with its wall seconds (steps,
  data, logging, validation and the asynchronous checkpoint; `python -m
  aejax.bench --loop` compares it with the same number of bare steps).
  An epoch spread over several processes sums their seconds."""

  def __init__(self):
    self.start = time.perf_counter()

  def after_step(self, loop, metrics):
    if loop.step % loop.steps_per_epoch == 0:
      now = time.perf_counter()
      loop.write("epoch", {"seconds": now - self.start,
                           "steps": loop.steps_per_epoch})
      self.start = now

  def record(self, loop):
    return {"seconds": time.perf_counter() - self.start}

  def restore(self, record):
    self.start = time.perf_counter() - record["seconds"]


class RunClock(Hook):
  """Wall seconds of training summed over the processes that built the
  final state: each checkpoint keeps the sum up to it, so work a killed
  process did after its last checkpoint is not counted."""

  def __init__(self, start: float | None = None):
    self.start = time.perf_counter() if start is None else start
    self.before, self.processes_before = 0.0, 0

  def seconds(self) -> float:
    return self.before + time.perf_counter() - self.start

  @property
  def processes(self) -> int:
    return self.processes_before + 1

  def record(self, loop):
    return {"seconds": self.seconds(), "processes": self.processes}

  def restore(self, record):
    self.before, self.processes_before = (record["seconds"],
                                          record["processes"])


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
