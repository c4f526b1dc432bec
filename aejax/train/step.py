"""The compiled training and evaluation steps.

A step is one ``jax.jit`` function of ``(state, batch)``: the state is
replicated and donated, the batch is sharded over the ``data`` axis of the
mesh, and XLA inserts the cross-device reductions (so BatchNorm statistics and
gradients are those of the global batch). The step's randomness is
``fold_in(state.key, state.step)``.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from aejax.data.pipeline import data_sharding, replicated
from aejax.data.transforms import prepare_batch
from aejax.train.state import TrainState


def _all_finite(tree) -> jax.Array:
  leaves = [x for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def _gradient_update(state: TrainState, batch: dict, key: jax.Array, *,
                     method, tx: optax.GradientTransformation):
  """One optimizer step on ``method.loss_fn``."""
  grad_fn = jax.value_and_grad(method.loss_fn, has_aux=True)
  (loss, (metrics, batch_stats)), grads = grad_fn(state.params, batch, key,
                                                  state.batch_stats)
  updates, opt_state = tx.update(grads, state.opt_state, state.params)
  params = optax.apply_updates(state.params, updates)
  # Non-finite gradients give non-finite updates, and so do bad optimizer
  # settings (e.g. a NaN learning rate): checking the updates covers both.
  finite = jnp.isfinite(loss) & _all_finite(updates)
  return params, opt_state, batch_stats, metrics, finite


def train_step(state: TrainState, batch: dict, *, method,
               tx: optax.GradientTransformation,
               binarize: bool) -> tuple[TrainState, dict]:
  """One training step; skips (and counts) updates that are not finite.

  A method with alternating updates (adversarial autoencoder, GAN) defines
  ``method.train_step(params, opt_state, batch_stats, batch, key) ->
  (params, opt_state, batch_stats, metrics)`` doing all its updates, and
  ``method.make_optimizer``; it is still one compiled step per batch.
  """
  key = jax.random.fold_in(state.key, state.step)
  k_data, k_step = jax.random.split(key)
  batch = prepare_batch(batch, k_data, binarize)
  if hasattr(method, "train_step"):
    params, opt_state, batch_stats, metrics = method.train_step(
        state.params, state.opt_state, state.batch_stats, batch, k_step)
    finite = _all_finite((params, opt_state, metrics))
  else:
    params, opt_state, batch_stats, metrics, finite = _gradient_update(
        state, batch, k_step, method=method, tx=tx)
  keep = lambda new, old: jax.tree_util.tree_map(
      lambda a, b: jnp.where(finite, a, b), new, old)
  new_state = state.replace(
      step=state.step + 1,
      params=keep(params, state.params),
      opt_state=keep(opt_state, state.opt_state),
      batch_stats=keep(batch_stats, state.batch_stats),
      skipped_steps=state.skipped_steps + (~finite).astype(jnp.int32))
  metrics = {**metrics, "finite": finite.astype(jnp.float32)}
  return new_state, metrics


def eval_step(state: TrainState, batch: dict, *, method, binarize: bool,
              eval_key: jax.Array) -> dict:
  """Sums of per-example metrics over the real (mask = 1) examples."""
  k_data, k_eval = jax.random.split(eval_key)
  mask = batch["mask"]
  batch = prepare_batch(batch, k_data, binarize)
  per_example = method.eval_metrics(state.params, batch, k_eval,
                                    state.batch_stats)
  sums = {k: jnp.sum(v * mask) for k, v in per_example.items()}
  sums["count"] = jnp.sum(mask)
  return sums


def compile_steps(method, tx, mesh: Mesh, binarize: bool
                  ) -> tuple[Callable, Callable]:
  """Jits the train and eval steps with shardings and state donation.

  Returns:
    ``(train_step(state, batch) -> (state, metrics),
    eval_step(state, batch, eval_key) -> metric sums)``.
  """
  repl, data = replicated(mesh), data_sharding(mesh)
  train = jax.jit(
      lambda s, b: train_step(s, b, method=method, tx=tx, binarize=binarize),
      in_shardings=(repl, data), out_shardings=(repl, repl),
      donate_argnums=0)
  evaluate = jax.jit(
      lambda s, b, k: eval_step(s, b, method=method, binarize=binarize,
                                eval_key=k),
      in_shardings=(repl, data, repl), out_shardings=repl)
  return train, evaluate
