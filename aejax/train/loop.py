"""The training loop: config -> data, method, state -> compiled steps -> metrics,
checkpoints and figures in the work directory.

Work directory layout::

  run.json           the config and image shape, to rebuild the model
  metrics.jsonl      one JSON object per line: {"step", "split", metrics...};
                     split "epoch" rows hold each epoch's wall seconds
  events.out.tfevents.*  the same scalars for TensorBoard (with tensorboardX)
  checkpoints/<step> Orbax checkpoints (state + data position + the hooks'
                     records), the newest keep_checkpoints kept (0: all)
  damaged_checkpoints/<step>  checkpoints that could not be read, moved
                     aside when the run fell back to an older one
  results.json       final validation and test metrics, timings, config
  loss_curves.png    train / validation loss vs step
  reconstructions.png, samples.png, ... (chosen by the method's
                     capabilities: aejax.train.figures; none of the PNGs
                     with config.figures = False)
  pretrain/          layer-wise pre-training stages (their own loops)
  .lock              held while a process trains here (aejax.train.workdir)

Many processes (:mod:`aejax.train.distributed`): every process runs this
with the same config and work directory (on a file system they share); process 0
holds the lock and writes every file above but the checkpoints, which all
processes write together; all of them compute the evaluations.

Running the same command again resumes from the latest checkpoint; after
any kills and Ctrl-Cs, the finished run's parameters and ``metrics.jsonl``
equal an unbroken run's (but for wall-clock fields,
:data:`aejax.train.writers.WALL_CLOCK_FIELDS`). Running a finished run
again does nothing and says so. A work directory holds one run: other
settings are refused before anything is written (:mod:`aejax.train.workdir`).

A run is :func:`aejax.train.trainer.fit` (the step loop of
:mod:`aejax.train.hooks` with its hooks: logging, the non-finite guard,
validation, per-epoch figures, checkpoints, epoch timing), after layer-wise
pre-training for methods that declare it (:mod:`aejax.train.pretrain`).
Every training path in the project goes through ``fit``.
"""

from __future__ import annotations

import contextlib
import json
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
from absl import logging

from aejax import host_allocator
from aejax.config import base_config
from aejax.data.pipeline import check_batch_size, make_mesh, replicated
from aejax.data.sources import load_dataset
from aejax.methods import base, make_method
from aejax.methods.registry import check_config
from aejax.plotting import loss_curves
from aejax.train import figures
from aejax.train import distributed
from aejax.train.checkpoint import Checkpointer, abstract_like
from aejax.train.hooks import EpochFigures, evaluate
from aejax.train.pretrain import pretrain_layerwise
from aejax.train.state import create_train_state
from aejax.train.trainer import fit, init_state
from aejax.train.workdir import (RunMismatchError, WorkdirLock,
                                 check_same_run, has_checkpoints, write_json)
from aejax.train.writers import METRICS_FILE, default_writers

RESULTS_FILE = "results.json"
RUN_FILE = "run.json"  # the config and image shape, to rebuild the model


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str, *,
                       coordinator_address: str | None = None,
                       num_processes: int | None = None,
                       process_id: int | None = None) -> dict:
  """Trains ``config``'s method in ``workdir`` (resuming if possible).

  ``coordinator_address``, ``num_processes``, ``process_id``: join a run
  over many processes first (:func:`aejax.train.distributed.initialize`,
  which must come before anything else touches JAX's devices; the
  cluster's settings where these are ``None``). A process that joined already
  (``python -m aejax.main --num_processes=...``) needs none of them.

  Returns:
    The final results: validation and test metrics and timings
    (``train_seconds`` summed over the processes that built the final
    state, ``processes`` of them).

  Raises:
    ValueError: a config error (before any data is loaded or directory
      created).
    aejax.train.workdir.WorkdirBusyError: another process trains here.
    aejax.train.workdir.RunMismatchError: ``workdir`` holds a run with other
      settings (nothing is changed).
    aejax.train.checkpoint.CheckpointSaveError: a checkpoint could not be
      written (the last good one is kept).
    FloatingPointError: training diverged.
  """
  run_start = time.perf_counter()
  if (coordinator_address, num_processes, process_id) != (None,) * 3:
    distributed.initialize(coordinator_address, num_processes, process_id)
  defaults = base_config()
  check_config(config, defaults)  # before any data or directory
  distributed.check_same_config(json.loads(config.to_json_best_effort()))
  mesh = make_mesh(config.num_devices)
  devices = mesh.devices.ravel().tolist()
  logging.info("JAX %s on %d %s device(s): %s; mesh %s; process %d of %d",
               jax.__version__, len(devices), devices[0].platform, devices,
               dict(mesh.shape), jax.process_index(), jax.process_count())
  check_batch_size(config.batch_size, mesh)
  check_batch_size(config.eval_batch_size, mesh, "eval_batch_size")
  lock = (WorkdirLock(workdir) if jax.process_index() == 0 else
          contextlib.nullcontext())
  with lock:
    return _train_and_evaluate(config, workdir, mesh, defaults, run_start)


def _saved_run(workdir: str) -> dict | None:
  path = os.path.join(workdir, RUN_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _finished(workdir: str, config) -> dict | None:
  """The results of the run in ``workdir`` if it finished with the
  length ``config`` asks for (so there is nothing to do)."""
  path = os.path.join(workdir, RESULTS_FILE)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      results = json.load(f)
  except ValueError:
    return None
  done = results.get("config", {})
  if (done.get("num_epochs"), done.get("max_steps")) != (
      config.num_epochs, config.max_steps):
    return None
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    latest = checkpointer.latest_step()
  finally:
    checkpointer.close()
  return results if latest == results.get("step") else None


def _train_and_evaluate(config, workdir, mesh, defaults, run_start):
  """The run, in a locked ``workdir``."""
  config_json = json.loads(config.to_json_best_effort())
  saved = _saved_run(workdir)
  if saved is not None and has_checkpoints(workdir):
    check_same_run(workdir, saved["config"], config_json,
                   json.loads(defaults.to_json_best_effort()))
    finished = _finished(workdir, config)
    if finished is not None:
      logging.warning(
          "%s holds this run, finished at step %d: nothing to do (results "
          "in %s). Raise --config.num_epochs or --config.max_steps to train "
          "on, or use a new --workdir.", workdir, finished["step"],
          os.path.join(workdir, RESULTS_FILE))
      return finished

  dataset = load_dataset(config.data)
  logging.info("Data %s: train %d, validation %d, test %d, images %s",
               dataset.name, len(dataset.train), len(dataset.validation),
               len(dataset.test), dataset.image_shape)
  if len(dataset.train) < config.batch_size:
    raise ValueError(
        f"--config.batch_size={config.batch_size} is larger than the "
        f"{len(dataset.train)} training examples of {dataset.name}: no "
        "full batch to train on. Use a smaller batch_size.")
  method = make_method(config, dataset.image_shape)
  if saved is not None and has_checkpoints(workdir) and tuple(
      saved["image_shape"]) != tuple(dataset.image_shape):
    raise RunMismatchError(
        f"This work directory ({workdir}) holds a run on images of shape "
        f"{tuple(saved['image_shape'])}, these are "
        f"{tuple(dataset.image_shape)}: use a new --workdir.")
  # Known compatible (or new): the saved settings can be written.
  if distributed.is_primary():
    write_json(os.path.join(workdir, RUN_FILE),
               {**(saved or {}), "config": config_json,
                "image_shape": list(dataset.image_shape)}, indent=2)
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

  eval_key = evaluation_key(config.seed)
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
        max_nonfinite_steps=config.max_nonfinite_steps,
        divergence_factor=config.divergence_factor,
        divergence_windows=config.divergence_windows, eval_key=eval_key,
        writers=writers, progress_bar=config.progress_bar,
        extra_hooks=[EpochFigures(method, workdir)] if config.figures
        else [], start=run_start)
    step = loop.step
    results = {"step": step, "train_seconds": parts["clock"].seconds(),
               "processes": parts["clock"].processes,
               "train_seconds_this_process": (time.perf_counter() -
                                              train_start),
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
  if not distributed.is_primary():
    return results  # process 0 draws and writes
  if distributed.is_multiprocess():  # the replicated state, on this host
    state = state.replace(params=jax.device_get(state.params),
                          batch_stats=jax.device_get(state.batch_stats))

  paths = [loss_curves(os.path.join(workdir, METRICS_FILE),
                       os.path.join(workdir, "loss_curves.png"))
           ] if config.figures else []
  paths += figures.final_figures(method, state.params, state.batch_stats,
                                 dataset.test,
                                 jax.random.fold_in(eval_key, 1 << 20),
                                 workdir, dataset.class_names, config.figures)
  results["figures"] = [os.path.basename(p) for p in paths]
  results["config"] = config.to_dict()
  write_json(os.path.join(workdir, RESULTS_FILE), results, indent=2,
             default=str)
  return results


def evaluation_key(seed: int) -> jax.Array:
  """The key of a run's validation and test evaluations (a VAE's samples,
  binarisation): the same at every evaluation, so they compare."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), 0x5EED)


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
  device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    state, _ = checkpointer.restore(abstract_like(abstract, device), step)
  finally:
    checkpointer.close()
  return config, method, state
