"""The training loop: config -> data, method, state -> compiled steps -> metrics,
checkpoints and figures in the work directory.

Work directory layout::

  metrics.jsonl      one JSON object per line: {"step", "split", metrics...};
                     split "epoch" rows hold each epoch's wall seconds
  events.out.tfevents.*  the same scalars for TensorBoard (with tensorboardX)
  checkpoints/<step> Orbax checkpoints (state + data position), last k kept
  results.json       final validation and test metrics, timings, config
  loss_curves.png    train / validation loss vs step
  reconstructions.png, samples.png, ... (chosen by the method's
                     capabilities: aejax.train.figures)
  pretrain/          layer-wise pre-training stages (their own loops)

Running the same command again resumes from the latest checkpoint.

The loop is :class:`Loop`: a step loop over compiled steps that calls
:class:`Hook` objects after every step (logging, the non-finite guard,
validation, per-epoch figures, checkpoints, epoch timing). Every training path
in the project (runs, layer-wise pre-training stages, the few-label and
feature classifiers) is a :class:`Loop` with its own hooks.
"""

from __future__ import annotations

import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from absl import logging
from tqdm import tqdm

from aejax import host_allocator
from aejax.data.pipeline import TrainBatches, check_batch_size, eval_batches
from aejax.data.pipeline import make_mesh, replicated
from aejax.data.sources import Split, load_dataset
from aejax.config import base_config
from aejax.methods import base, make_method
from aejax.methods.registry import check_config
from aejax.plotting import loss_curves
from aejax.train import figures
from aejax.train.checkpoint import Checkpointer, CheckpointError, abstract_like
from aejax.train.state import TrainState, create_train_state
from aejax.train.step import compile_steps
from aejax.train.writers import METRICS_FILE, default_writers

RESULTS_FILE = "results.json"
RUN_FILE = "run.json"  # the config and image shape, to rebuild the model
PRETRAIN_DIR = "pretrain"


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


# -- the step loop and its hooks ----------------------------------------------


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


# -- a run ----------------------------------------------------------------------


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
    ``{"start_step", "first_step" (the :class:`FirstStep` hook), "eval_fn"}``.
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
                       "eval_fn": eval_fn}


def pretrain_layerwise(method, params, dataset, mesh, workdir: str, config):
  """Greedy layer-wise pre-training (:class:`~aejax.methods.base.
  LayerwisePretrained`): returns the deep model's parameters with every
  stage's trained ones.

  Stage ``l`` trains ``method.pretrain_stage(l)`` for
  ``method.pretrain_epochs`` epochs on the clean codes of the stages below
  (the images for stage 0), with the run's optimizer, batch size and seed,
  through :func:`fit` in ``workdir/pretrain/stage_<l>`` (its own metrics,
  checkpoints and resume). Each stage's rows are also appended to
  ``workdir/pretrain.jsonl`` with its ``layer``.
  """
  params = jax.device_get(params)
  train, validation = dataset.train, dataset.validation
  log_path = os.path.join(workdir, "pretrain.jsonl")
  for stage in range(method.num_pretrain_stages):
    stage_method = method.pretrain_stage(stage)
    stage_dir = os.path.join(workdir, PRETRAIN_DIR, f"stage_{stage}")
    key = jax.random.fold_in(jax.random.fold_in(
        jax.random.PRNGKey(config.seed), _PRETRAIN_STREAM), stage)
    k_state, k_eval = jax.random.split(key)
    stage_params = method.stage_params(params, stage)
    state = jax.device_put(TrainState(
        step=jnp.zeros((), jnp.int32), params=stage_params,
        opt_state=stage_method.optimizer().init(stage_params),
        batch_stats={}, key=k_state,
        skipped_steps=jnp.zeros((), jnp.int32)), replicated(mesh))
    steps = method.pretrain_epochs * (len(train) // config.batch_size)
    writers = default_writers(stage_dir, tensorboard=False,
                              also=[_StageRows(log_path, stage)])
    state, _, hooks = fit(
        stage_method, state, train, validation, mesh=mesh,
        workdir=stage_dir, total_steps=steps, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size, seed=config.seed,
        # Dynamic binarisation applies to images, not to codes.
        binarize=config.data.binarize and stage == 0,
        log_every=len(train) // config.batch_size,
        max_nonfinite_steps=config.max_nonfinite_steps, eval_key=k_eval,
        writers=writers, progress_bar=config.progress_bar,
        desc=f"pre-train {stage}", validate_first=True)
    trained = jax.device_get(state.params)
    params = method.with_stage_params(params, stage, trained)
    if stage < method.num_pretrain_stages - 1:  # clean codes feed the next
      encode = lambda p, x, m=stage_method: m.encode(p, {}, x)
      train, validation = (_codes(encode, trained, split,
                                  config.eval_batch_size, mesh)
                           for split in (train, validation))
  return params


_PRETRAIN_STREAM = 0x57AC  # fold_in constant: pre-training keys' own stream


class _StageRows:
  """Appends a stage's rows to ``pretrain.jsonl`` with its ``layer``."""

  def __init__(self, path: str, stage: int):
    self.path, self.stage = path, stage

  def truncate_after(self, step: int) -> None:
    del step  # a finished stage is not re-run; a restarted one appends

  def write(self, step: int, split: str, metrics: dict) -> None:
    row = {"layer": self.stage, "step": int(step), "split": split,
           **{k: float(v) for k, v in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


def _codes(encode, params, split: Split, batch_size: int, mesh) -> Split:
  """``encode(params, x)`` of every example of ``split`` (float32)."""
  from aejax.data.transforms import prepare_batch  # pylint: disable=g-import-not-at-top
  fn = jax.jit(lambda p, b: encode(
      p, prepare_batch(b)["image"].reshape(b["image"].shape[0], -1)),
               out_shardings=replicated(mesh))
  params = jax.device_put(params, replicated(mesh))
  chunks = [jax.device_get(fn(params, b))
            for b in eval_batches(split, batch_size, mesh)]
  codes = np.concatenate(chunks)[:len(split)]
  return Split(codes.astype(np.float32), split.labels)


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict:
  """Trains ``config``'s method in ``workdir`` (resuming if possible).

  Returns:
    The final results: validation and test metrics and timings.
  """
  run_start = time.perf_counter()
  check_config(config, base_config())  # before any data or directory
  os.makedirs(workdir, exist_ok=True)
  mesh = make_mesh(config.num_devices)
  devices = mesh.devices.ravel().tolist()
  logging.info("JAX %s on %d %s device(s): %s; mesh %s", jax.__version__,
               len(devices), devices[0].platform, devices,
               dict(mesh.shape))
  check_batch_size(config.batch_size, mesh)
  check_batch_size(config.eval_batch_size, mesh, "eval_batch_size")

  dataset = load_dataset(config.data)
  logging.info("Data %s: train %d, validation %d, test %d, images %s",
               dataset.name, len(dataset.train), len(dataset.validation),
               len(dataset.test), dataset.image_shape)
  method = make_method(config, dataset.image_shape)
  with open(os.path.join(workdir, RUN_FILE), "w") as f:
    json.dump({"config": json.loads(config.to_json_best_effort()),
               "image_shape": list(dataset.image_shape)}, f, indent=2)
  state = init_state(method, config, mesh)
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  allocator = host_allocator.current()
  logging.info("Method %s, model %s: %d parameters; host allocator %s",
               config.method.name, config.model.name, num_params, allocator)

  steps_per_epoch = len(dataset.train) // config.batch_size
  total_steps = (config.max_steps if config.max_steps > 0 else
                 config.num_epochs * steps_per_epoch)
  resuming = Checkpointer(workdir, asynchronous=False)
  try:
    fresh = resuming.latest_step() is None
  finally:
    resuming.close()
  if fresh and isinstance(method, base.LayerwisePretrained):
    # Before step 0 only: a resumed run already holds the pre-trained net.
    params = pretrain_layerwise(method, state.params, dataset, mesh,
                                workdir, config)
    state = jax.device_put(
        state.replace(params=params,
                      opt_state=method.optimizer().init(params)),
        replicated(mesh))

  eval_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5EED)
  writers = default_writers(workdir, tensorboard=config.tensorboard)
  train_start = time.perf_counter()
  try:
    state, loop, parts = fit(
        method, state, dataset.train, dataset.validation, mesh=mesh,
        workdir=workdir, total_steps=total_steps,
        batch_size=config.batch_size, eval_batch_size=config.eval_batch_size,
        seed=config.seed, binarize=config.data.binarize,
        log_every=config.log_every_steps,
        checkpoint_every=config.checkpoint_every_steps,
        keep_checkpoints=config.keep_checkpoints,
        max_nonfinite_steps=config.max_nonfinite_steps, eval_key=eval_key,
        writers=writers, progress_bar=config.progress_bar,
        extra_hooks=[EpochFigures(method, workdir)], start=run_start)
    train_seconds = time.perf_counter() - train_start
    step = loop.step
    results = {"step": step, "train_seconds": train_seconds,
               "first_step_seconds": parts["first_step"].seconds,
               "trained_steps_this_run": step - parts["start_step"],
               "skipped_steps": int(state.skipped_steps),
               "num_params": int(num_params),
               "host_allocator": allocator}
    for name, split in (("validation", dataset.validation),
                        ("test", dataset.test)):
      results[name] = evaluate(parts["eval_fn"], state, split,
                               config.eval_batch_size, mesh, eval_key)
    loop.write("test", results["test"])
  finally:
    for writer in writers:
      writer.close()
  logging.info("Test metrics at step %d: %s", step, results["test"])

  paths = [loss_curves(os.path.join(workdir, METRICS_FILE),
                       os.path.join(workdir, "loss_curves.png"))]
  paths += figures.final_figures(method, state.params, state.batch_stats,
                                 dataset.test,
                                 jax.random.fold_in(eval_key, 1 << 20),
                                 workdir, dataset.class_names)
  results["figures"] = [os.path.basename(p) for p in paths]
  results["config"] = config.to_dict()
  with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
    json.dump(results, f, indent=2, default=str)
  return results


def load_run(workdir: str, step: int | None = None):
  """Rebuilds a trained run: ``(config, method, state)`` from its workdir.

  The state's arrays are on the default device (not sharded); use the
  method's capabilities (``method.reconstruct(state.params,
  state.batch_stats, x)``, ``method.encode(...)``, ...) to use the model.

  Args:
    workdir: a directory written by :func:`train_and_evaluate`.
    step: which checkpoint (default: the latest).
  """
  path = os.path.join(workdir, RUN_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"{workdir!r} holds no {RUN_FILE}: it is not a "
                            "work directory written by train_and_evaluate.")
  with open(path) as f:
    run = json.load(f)
  config = ml_collections.ConfigDict(run["config"])
  image_shape = tuple(run["image_shape"])
  method = make_method(config, image_shape)
  example = jax.ShapeDtypeStruct((config.batch_size,) + image_shape,
                                 jnp.float32)
  abstract = jax.eval_shape(lambda: create_train_state(
      method, config.seed, jnp.zeros(example.shape, example.dtype)))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    state, _ = checkpointer.restore(abstract_like(abstract, device), step)
  finally:
    checkpointer.close()
  return config, method, state
