"""Greedy layer-wise pre-training, stage by stage, through :func:`fit`.

Methods with the :class:`~aejax.methods.base.LayerwisePretrained`
capability (``stacked_ae``, ``stacked_dae``) declare their stages; this
module trains them before step 0 of a run.
"""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np

from aejax.data.pipeline import eval_batches, replicated
from aejax.data.sources import Split
from aejax.data.transforms import prepare_batch
from aejax.train.state import TrainState
from aejax.train.trainer import fit
from aejax.train.writers import default_writers, read_rows

PRETRAIN_DIR = "pretrain"
PRETRAIN_FILE = "pretrain.jsonl"


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
  log_path = os.path.join(workdir, PRETRAIN_FILE)
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
    state, _, _ = fit(
        stage_method, state, train, validation, mesh=mesh,
        workdir=stage_dir, total_steps=steps, batch_size=config.batch_size,
        eval_batch_size=config.eval_batch_size, seed=config.seed,
        # Dynamic binarisation applies to images, not to codes.
        binarize=config.data.binarize and stage == 0,
        log_every=len(train) // config.batch_size,
        max_nonfinite_steps=config.max_nonfinite_steps,
        divergence_factor=config.divergence_factor,
        divergence_windows=config.divergence_windows, eval_key=k_eval,
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
    self.rewind(step, None)

  def rewind(self, step: int, rows_at_step: int | None) -> None:
    """Drops this stage's rows written after its checkpoint ``step`` (see
    :meth:`aejax.train.writers.JsonlWriter.rewind`); other stages' stay."""
    if not os.path.exists(self.path):
      return
    kept, at_step = [], 0
    for row in read_rows(self.path):
      if row["layer"] != self.stage:
        kept.append(row)
        continue
      at_step += row["step"] == step
      if row["step"] < step or (row["step"] == step and (
          rows_at_step is None or at_step <= rows_at_step)):
        kept.append(row)
    with open(self.path + ".tmp", "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(self.path + ".tmp", self.path)

  def write(self, step: int, split: str, metrics: dict) -> None:
    row = {"layer": self.stage, "step": int(step), "split": split,
           **{k: float(v) for k, v in metrics.items()}}
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


def _codes(encode, params, split: Split, batch_size: int, mesh) -> Split:
  """``encode(params, x)`` of every example of ``split`` (float32)."""
  fn = jax.jit(lambda p, b: encode(
      p, prepare_batch(b)["image"].reshape(b["image"].shape[0], -1)),
               out_shardings=replicated(mesh))
  params = jax.device_put(params, replicated(mesh))
  chunks = [jax.device_get(fn(params, b))
            for b in eval_batches(split, batch_size, mesh)]
  codes = np.concatenate(chunks)[:len(split)]
  return Split(codes.astype(np.float32), split.labels)
