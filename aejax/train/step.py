"""The compiled training and evaluation steps.

A step is one ``jax.jit`` function of ``(state, batch)``: the state is
replicated and donated, the batch is sharded over the ``data`` axis of the
mesh, and XLA inserts the cross-device reductions (so BatchNorm statistics and
gradients are those of the global batch). The step's randomness is
``fold_in(state.key, state.step)``; its body is the method's
:meth:`~aejax.methods.base.Method.train_step`.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
from jax.sharding import Mesh

from aejax.data.pipeline import data_sharding, replicated
from aejax.data.transforms import prepare_batch
from aejax.methods.base import Method
from aejax.train.state import TrainState


def train_step(state: TrainState, batch: dict, *, method: Method,
               binarize: bool) -> tuple[TrainState, dict]:
  """One training step; skips (and counts) updates that are not finite."""
  key = jax.random.fold_in(state.key, state.step)
  k_data, k_step = jax.random.split(key)
  batch = prepare_batch(batch, k_data, binarize)
  variables, opt_state, metrics, finite = method.train_step(
      {"params": state.params, "batch_stats": state.batch_stats},
      state.opt_state, batch, k_step)
  new_state = state.replace(
      step=state.step + 1, params=variables["params"], opt_state=opt_state,
      batch_stats=variables["batch_stats"],
      skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32))
  metrics = {**metrics, "finite": finite.astype(jnp.float32)}
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, method: Method,
              binarize: bool, eval_key: jax.Array) -> dict:
  """Sums of per-example metrics over the real (mask = 1) examples."""
  k_data, k_eval = jax.random.split(eval_key)
  mask = batch["mask"]
  batch = prepare_batch(batch, k_data, binarize)
  per_example = method.eval_metrics(state.params, batch, k_eval,
                                    state.batch_stats)
  sums = {k: jnp.sum(v * mask) for k, v in per_example.items()}
  sums["count"] = jnp.sum(mask)
  return sums


def compile_steps(method: Method, mesh: Mesh, binarize: bool
                  ) -> tuple[Callable, Callable]:
  """Jits the train and eval steps with shardings and state donation.

  Returns:
    ``(train_step(state, batch) -> (state, metrics),
    eval_step(state, batch, eval_key) -> metric sums)``.
  """
  repl, data = replicated(mesh), data_sharding(mesh)
  train = jax.jit(
      lambda s, b: train_step(s, b, method=method, binarize=binarize),
      in_shardings=(repl, data), out_shardings=(repl, repl),
      donate_argnums=0)
  evaluate = jax.jit(
      lambda s, b, k: eval_step(s, b, method=method, binarize=binarize,
                                eval_key=k),
      in_shardings=(repl, data, repl), out_shardings=repl)
  if _one_at_a_time(mesh):
    train, evaluate = _blocking(train), _blocking(evaluate)
  return train, evaluate


def _one_at_a_time(mesh: Mesh) -> bool:
  """Whether steps must finish before the next is dispatched: a mesh over
  several processes on CPU, where two programs with gloo collectives in
  flight at once can deadlock (seen with jax 0.10, 2 devices a process)."""
  devices = list(mesh.devices.flat)
  return (len({d.process_index for d in devices}) > 1 and
          devices[0].platform == "cpu")


def _blocking(fn: Callable) -> Callable:
  def call(*args):
    return jax.block_until_ready(fn(*args))
  return call
