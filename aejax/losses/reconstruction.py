"""Reconstruction losses, one value per example.

Conventions (stated once, used everywhere):
  * ``sum_squared_error``: sum over all features of (x - x̂)², per example.
    With pixels in [0, 1] this is the "squared error per image" of Hinton &
    Salakhutdinov (2006) once averaged over images.
  * ``mean_squared_error``: mean over features, per example (Keras' "mse").
  * ``bernoulli_nll``: -log p(x | logits) summed over features, in nats per
    example, computed stably from logits (targets may be any value in [0, 1]).
  * ``batch_mean``: the only batch reduction, optionally weighted by a mask.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from aejax.losses.divergences import bernoulli_log_likelihood


def _flat(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


def sum_squared_error(pred: jax.Array, target: jax.Array) -> jax.Array:
  """Σ_features (pred - target)², shape [batch]."""
  return jnp.sum(jnp.square(_flat(pred) - _flat(target)), axis=-1)


def mean_squared_error(pred: jax.Array, target: jax.Array) -> jax.Array:
  """mean_features (pred - target)², shape [batch]."""
  return jnp.mean(jnp.square(_flat(pred) - _flat(target)), axis=-1)


def bernoulli_nll(logits: jax.Array, target: jax.Array) -> jax.Array:
  """-Σ_features [t log σ(l) + (1 - t) log(1 - σ(l))], shape [batch], nats."""
  return -bernoulli_log_likelihood(_flat(logits), _flat(target))


def psnr(pred: jax.Array, target: jax.Array, max_value: float = 1.0
         ) -> jax.Array:
  """Peak signal-to-noise ratio in dB per example: 10 log10(max² / MSE)."""
  mse = mean_squared_error(pred, target)
  return 10.0 * jnp.log10(max_value**2 / jnp.maximum(mse, 1e-12))


def reconstruction_loss(name: str, logits: jax.Array, output: jax.Array,
                        target: jax.Array) -> jax.Array:
  """The per-example training loss named ``name``.

  Args:
    name: ``"mse"`` (mean over features of (output - target)²) or ``"bce"``
      (Bernoulli NLL from ``logits``, summed over features, nats).
    logits: the decoder's pre-activation output.
    output: the decoder's output after its output activation.
    target: the clean input.
  """
  if name == "mse":
    return mean_squared_error(output, target)
  if name == "bce":
    return bernoulli_nll(logits, target)
  raise ValueError(f"Unknown reconstruction loss {name!r}: use 'mse' or "
                   "'bce'.")


def batch_mean(per_example: jax.Array, mask: jax.Array | None = None
               ) -> jax.Array:
  """Mean over the batch; with a 0/1 ``mask``, over the masked-in examples."""
  if mask is None:
    return jnp.mean(per_example)
  return jnp.sum(per_example * mask) / jnp.maximum(jnp.sum(mask), 1.0)
