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


def _keep_if(finite: jax.Array, new, old):
  """``new`` where ``finite``, else ``old`` (leaf by leaf)."""
  return jax.tree_util.tree_map(lambda a, b: jnp.where(finite, a, b), new,
                                old)


def _gradient_update(state: TrainState, batch: dict, key: jax.Array, *,
                     method, tx: optax.GradientTransformation):
  """One optimizer step on ``method.loss_fn``, skipped if not finite.

  Finiteness is checked on the loss and the gradients, before the update,
  and the update runs under ``lax.cond``: a skipped step costs nothing, and
  a taken one is the plain fused optimizer update (selecting between new
  and old parameters and optimizer state afterwards took ~40% of a small
  MLP's step on XLA:CPU). Finite gradients give finite updates because
  :func:`aejax.train.state.make_optimizer` refuses non-finite learning
  rates.
  """
  grad_fn = jax.value_and_grad(method.loss_fn, has_aux=True)
  (loss, (metrics, batch_stats)), grads = grad_fn(state.params, batch, key,
                                                  state.batch_stats)
  finite = jnp.isfinite(loss) & _all_finite(grads)

  def update(operands):
    params, opt_state, grads = operands
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state

  params, opt_state = jax.lax.cond(finite, update, lambda ops: ops[:2],
                                   (state.params, state.opt_state, grads))
  batch_stats = _keep_if(finite, batch_stats, state.batch_stats)
  return params, opt_state, batch_stats, metrics, finite


def train_step(state: TrainState, batch: dict, *, method,
               tx: optax.GradientTransformation,
               binarize: bool) -> tuple[TrainState, dict]:
  """One training step; skips (and counts) updates that are not finite.

  A method with alternating updates (adversarial autoencoder, GAN) defines
  ``method.train_step(params, opt_state, batch_stats, batch, key) ->
  (params, opt_state, batch_stats, metrics)`` doing all its updates, and
  ``method.make_optimizer``; it is still one compiled step per batch. Its
  results are kept only if all of them are finite.
  """
  key = jax.random.fold_in(state.key, state.step)
  k_data, k_step = jax.random.split(key)
  batch = prepare_batch(batch, k_data, binarize)
  if hasattr(method, "train_step"):
    params, opt_state, batch_stats, metrics = method.train_step(
        state.params, state.opt_state, state.batch_stats, batch, k_step)
    finite = _all_finite((params, opt_state, metrics))
    params, opt_state, batch_stats = _keep_if(
        finite, (params, opt_state, batch_stats),
        (state.params, state.opt_state, state.batch_stats))
  else:
    params, opt_state, batch_stats, metrics, finite = _gradient_update(
        state, batch, k_step, method=method, tx=tx)
  new_state = state.replace(
      step=state.step + 1, params=params, opt_state=opt_state,
      batch_stats=batch_stats,
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
