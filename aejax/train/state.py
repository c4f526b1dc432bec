"""The training state: one small immutable pytree."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from flax import struct

from aejax.methods.optimizers import make_optimizer  # noqa: F401  (re-export)


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


def create_train_state(method, seed: int,
                       example_images: jax.Array) -> TrainState:
  """Initialises parameters from ``seed`` for batches like ``example_images``.

  The optimizer state is that of ``method.optimizer()``.
  """
  key = jax.random.PRNGKey(seed)
  k_init, k_train = jax.random.split(key)
  variables = method.init_variables(k_init, example_images)
  params = variables["params"]
  return TrainState(
      step=jnp.zeros((), jnp.int32),
      params=params,
      opt_state=method.optimizer().init(params),
      batch_stats=variables.get("batch_stats", {}),
      key=k_train,
      skipped_steps=jnp.zeros((), jnp.int32))
