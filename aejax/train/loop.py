"""The training loop: config -> data, method, state -> compiled steps -> metrics,
checkpoints and figures in the work directory.

Work directory layout::

  metrics.jsonl      one JSON object per line: {"step", "split", metrics...};
                     split "epoch" rows hold each epoch's wall seconds
  checkpoints/<step> Orbax checkpoints (state + data position), last k kept
  results.json       final validation and test metrics, timings, config
  loss_curves.png    train / validation loss vs step
  reconstructions.png or denoising.png (method-specific figures)
  samples_step<N>.png per-epoch figures of methods with ``epoch_figures``

Running the same command again resumes from the latest checkpoint.
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
from aejax.data.sources import load_dataset
from aejax.methods import make_method
from aejax.train import figures
from aejax.train.checkpoint import Checkpointer, CheckpointError, abstract_like
from aejax.train.state import create_train_state, optimizer_for
from aejax.train.step import compile_steps

METRICS_FILE = "metrics.jsonl"
RESULTS_FILE = "results.json"
RUN_FILE = "run.json"  # the config and image shape, to rebuild the model


class MetricsWriter:
  """Appends JSON lines to ``workdir/metrics.jsonl``."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, METRICS_FILE)

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after ``step`` (work a killed run did not save)."""
    rows = [r for r in figures.read_metrics(self.path) if r["step"] <= step]
    with open(self.path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)

  def write(self, step: int, split: str, metrics: dict) -> None:
    row = {"step": int(step), "split": split}
    row.update({k: float(v) for k, v in metrics.items()})
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")


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


def _check_resumable(saved: dict, expected: dict, workdir: str) -> None:
  for field in ("batch_size", "seed", "num_train_examples"):
    if saved.get(field) != expected[field]:
      raise CheckpointError(
          f"The checkpoint in {workdir!r} was written with {field}="
          f"{saved.get(field)}, but this run has {field}={expected[field]}. "
          "Resuming would not continue the same run: use a new --workdir, or "
          "the original settings.")


def train_and_evaluate(config: ml_collections.ConfigDict,
                       workdir: str) -> dict:
  """Trains ``config``'s method in ``workdir`` (resuming if possible).

  Returns:
    The final results: validation and test metrics and timings.
  """
  run_start = time.perf_counter()
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
  tx = optimizer_for(method, config.optimizer)
  with open(os.path.join(workdir, RUN_FILE), "w") as f:
    json.dump({"config": json.loads(config.to_json_best_effort()),
               "image_shape": list(dataset.image_shape)}, f, indent=2)
  example = jax.ShapeDtypeStruct((config.batch_size,) + dataset.image_shape,
                                 jnp.float32)
  # Compiled, so that initialisation is one program, not one per operation.
  state = jax.jit(lambda: create_train_state(
      method, tx, config.seed, jnp.zeros(example.shape, example.dtype)),
                  out_shardings=replicated(mesh))()
  num_params = sum(x.size for x in jax.tree_util.tree_leaves(state.params))
  allocator = host_allocator.current()
  logging.info("Method %s, model %s: %d parameters; host allocator %s",
               config.method.name, config.model.name, num_params, allocator)

  steps_per_epoch = len(dataset.train) // config.batch_size
  total_steps = (config.max_steps if config.max_steps > 0 else
                 config.num_epochs * steps_per_epoch)
  checkpoint_every = config.checkpoint_every_steps or steps_per_epoch
  position = {"batch_size": config.batch_size, "seed": config.seed,
              "num_train_examples": len(dataset.train),
              "steps_per_epoch": steps_per_epoch}

  writer = MetricsWriter(workdir)
  checkpointer = Checkpointer(workdir, config.keep_checkpoints)
  start_step = 0
  if checkpointer.latest_step() is not None:
    state, saved = checkpointer.restore(abstract_like(state,
                                                      replicated(mesh)))
    _check_resumable(saved, position, workdir)
    start_step = int(state.step)
    writer.truncate_after(start_step)
    logging.info("Resumed from checkpoint at step %d (epoch %d, batch %d).",
                 start_step, saved["epoch"], saved["index_in_epoch"])
  elif hasattr(method, "pretrain"):
    # E.g. greedy layer-wise pre-training: replaces the initial parameters
    # before step 0. It is a pure function of the config and data, so a run
    # killed before its first checkpoint repeats it identically.
    params, batch_stats = method.pretrain(state.params, state.batch_stats,
                                          dataset, mesh, workdir)
    state = jax.device_put(
        state.replace(params=params, batch_stats=batch_stats,
                      opt_state=tx.init(params)), replicated(mesh))

  train_fn, eval_fn = compile_steps(method, tx, mesh, config.data.binarize)
  eval_key = jax.random.fold_in(jax.random.PRNGKey(config.seed), 0x5EED)
  batches = TrainBatches(dataset.train, config.batch_size, config.seed, mesh,
                         start_step=start_step)

  def save(step: int):
    epoch, index = divmod(step, steps_per_epoch)
    checkpointer.save(step, state, {**position, "step": step, "epoch": epoch,
                                    "index_in_epoch": index})

  step = start_step
  pending, window_start = [], time.perf_counter()
  nonfinite_run = 0  # consecutive skipped steps, seen at logging time
  first_step_seconds = None
  train_start = epoch_start = time.perf_counter()
  bar = tqdm(total=total_steps, initial=start_step, desc="train",
             unit="step", dynamic_ncols=True, disable=not config.progress_bar)
  try:
    while step < total_steps:
      state, metrics = train_fn(state, next(batches))
      step += 1
      if step == start_step + 1:
        # Start-up cost: data, initialisation and compiling the step (a
        # warm persistent compilation cache removes most of it).
        jax.block_until_ready(state.step)
        first_step_seconds = time.perf_counter() - run_start
        logging.info("First step done %.1f s after start.", first_step_seconds)
      pending.append(metrics)
      bar.update(1)
      if step % config.log_every_steps == 0 or step == total_steps:
        window = jax.device_get(pending)
        summary = {k: float(np.mean([m[k] for m in window]))
                   for k in window[0]}
        summary.pop("finite")
        for m in window:
          nonfinite_run = 0 if m["finite"] else nonfinite_run + 1
        elapsed = time.perf_counter() - window_start
        summary["steps_per_s"] = len(window) / elapsed
        summary["skipped_steps"] = int(state.skipped_steps)
        writer.write(step, "train", summary)
        bar.set_postfix(loss=f"{summary['loss']:.4g}",
                        steps_s=f"{summary['steps_per_s']:.0f}")
        if nonfinite_run >= config.max_nonfinite_steps:
          raise FloatingPointError(
              f"Training diverged: the last {nonfinite_run} steps (up to step "
              f"{step}) had a non-finite loss or update, and were skipped "
              f"({summary['skipped_steps']} skipped in all). Lower "
              "--config.optimizer.learning_rate or set "
              "--config.optimizer.grad_clip_norm. The last finite checkpoint "
              "is kept in the workdir.")
        pending, window_start = [], time.perf_counter()
      if step % steps_per_epoch == 0 or step == total_steps:
        val = evaluate(eval_fn, state, dataset.validation,
                       config.eval_batch_size, mesh, eval_key)
        writer.write(step, "validation", val)
        bar.write(f"step {step} (epoch {step / steps_per_epoch:.2f}): "
                  + ", ".join(f"val {k} {v:.4g}" for k, v in val.items()))
        if hasattr(method, "epoch_figures"):  # e.g. a GAN's sample grid
          method.epoch_figures(state.params, state.batch_stats, step,
                               workdir)
      if step % checkpoint_every == 0 or step == total_steps:
        save(step)
      if step % steps_per_epoch == 0:
        # Wall time of the epoch: steps, data, logging, validation and the
        # (asynchronous) checkpoint; `python -m aejax.bench --loop` compares
        # it with the same number of bare compiled steps.
        now = time.perf_counter()
        writer.write(step, "epoch", {"seconds": now - epoch_start,
                                     "steps": steps_per_epoch})
        epoch_start = now
  except KeyboardInterrupt:
    logging.warning("Interrupted at step %d; saving a checkpoint.", step)
    save(step)
    raise
  finally:
    bar.close()
    checkpointer.wait()
    checkpointer.close()
  train_seconds = time.perf_counter() - train_start

  results = {"step": step, "train_seconds": train_seconds,
             "first_step_seconds": first_step_seconds,
             "trained_steps_this_run": step - start_step,
             "skipped_steps": int(state.skipped_steps),
             "num_params": int(num_params),
             "host_allocator": allocator}
  for name, split in (("validation", dataset.validation),
                      ("test", dataset.test)):
    results[name] = evaluate(eval_fn, state, split, config.eval_batch_size,
                             mesh, eval_key)
  writer.write(step, "test", results["test"])
  logging.info("Test metrics at step %d: %s", step, results["test"])

  paths = [figures.loss_curves(writer.path,
                               os.path.join(workdir, "loss_curves.png"))]
  paths += method.figures(state.params, state.batch_stats, dataset.test,
                          jax.random.fold_in(eval_key, 1 << 20), workdir)
  results["figures"] = [os.path.basename(p) for p in paths]
  results["config"] = config.to_dict()
  with open(os.path.join(workdir, RESULTS_FILE), "w") as f:
    json.dump(results, f, indent=2, default=str)
  return results


def load_run(workdir: str, step: int | None = None):
  """Rebuilds a trained run: ``(config, method, state)`` from its workdir.

  The state's arrays are on the default device (not sharded); use
  ``method.reconstruct(state.params, state.batch_stats, x)`` or
  ``method.model.apply({"params": state.params, ...}, x,
  method=method.model.encode)`` to use the model.

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
  tx = optimizer_for(method, config.optimizer)
  example = jax.ShapeDtypeStruct((config.batch_size,) + image_shape,
                                 jnp.float32)
  abstract = jax.eval_shape(lambda: create_train_state(
      method, tx, config.seed, jnp.zeros(example.shape, example.dtype)))
  device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    state, _ = checkpointer.restore(abstract_like(abstract, device), step)
  finally:
    checkpointer.close()
  return config, method, state
