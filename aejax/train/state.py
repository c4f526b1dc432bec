"""The training state: one small immutable pytree."""

from __future__ import annotations

import math
from typing import Any

import jax
import jax.numpy as jnp
import optax
from flax import struct


class TrainState(struct.PyTreeNode):
  """Everything a step reads and writes.

  Attributes:
    step: number of optimizer steps taken (int32 scalar).
    params: model parameters.
    opt_state: optimizer state.
    batch_stats: BatchNorm running statistics (``{}`` for models without).
    key: base PRNG key (raw uint32[2]); step ``s`` uses ``fold_in(key, s)``.
    skipped_steps: number of steps whose loss or gradient was not finite and
      whose update was therefore skipped.
  """
  step: jax.Array
  params: Any
  opt_state: Any
  batch_stats: Any
  key: jax.Array
  skipped_steps: jax.Array


def make_optimizer(opt_config) -> optax.GradientTransformation:
  """Adam / AdamW / SGD from ``config.optimizer``, with optional clipping.

  The learning rate is constant, or, with ``decay_steps > 0``, decays from
  ``learning_rate`` to ``learning_rate * final_lr_fraction`` along a half
  cosine over ``decay_steps`` steps and stays there (Loshchilov & Hutter,
  "SGDR: Stochastic Gradient Descent with Warm Restarts", ICLR 2017, without
  restarts).
  """
  name = opt_config.name
  lr = opt_config.learning_rate
  if not (math.isfinite(lr) and lr >= 0):
    raise ValueError(f"optimizer.learning_rate must be a finite number >= 0, "
                     f"got {lr}.")
  decay_steps = opt_config.get("decay_steps", 0)
  if decay_steps < 0 or not 0 <= opt_config.get("final_lr_fraction", 0) <= 1:
    raise ValueError(
        f"optimizer.decay_steps must be >= 0 (0: constant learning rate) and "
        f"optimizer.final_lr_fraction in [0, 1]; got {decay_steps} and "
        f"{opt_config.get('final_lr_fraction')}.")
  if decay_steps:
    lr = optax.cosine_decay_schedule(lr, int(decay_steps),
                                     alpha=opt_config.final_lr_fraction)
  if name == "adam":
    tx = optax.adam(lr, b1=opt_config.b1, b2=opt_config.b2)
  elif name == "adamw":
    tx = optax.adamw(lr, b1=opt_config.b1, b2=opt_config.b2,
                     weight_decay=opt_config.weight_decay)
  elif name == "sgd":
    tx = optax.sgd(lr, momentum=opt_config.momentum or None)
  else:
    raise ValueError(f"Unknown optimizer {name!r}: choose 'adam', 'adamw' or "
                     "'sgd'.")
  if opt_config.grad_clip_norm > 0:
    tx = optax.chain(optax.clip_by_global_norm(opt_config.grad_clip_norm), tx)
  return tx


def optimizer_for(method, opt_config) -> optax.GradientTransformation:
  """The method's own optimizer (e.g. a GAN's two) or :func:`make_optimizer`."""
  if hasattr(method, "make_optimizer"):
    return method.make_optimizer(opt_config)
  return make_optimizer(opt_config)


def create_train_state(method, tx: optax.GradientTransformation, seed: int,
                       example_images: jax.Array) -> TrainState:
  """Initialises parameters from ``seed`` for batches like ``example_images``."""
  key = jax.random.PRNGKey(seed)
  k_init, k_train = jax.random.split(key)
  variables = method.init_variables(k_init, example_images)
  params = variables["params"]
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=tx.init(params),
      batch_stats=variables.get("batch_stats", {}),
      key=k_train,
      skipped_steps=jnp.zeros((), jnp.int32))
