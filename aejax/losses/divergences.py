"""Log-densities and the Gaussian KL term, per example, in nats."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

_LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl_to_standard(mean: jax.Array, logvar: jax.Array) -> jax.Array:
  """KL(N(mean, diag(exp(logvar))) ‖ N(0, I)), summed over the last axis.

  Closed form (Kingma & Welling 2014, appendix B):
  ½ Σ_j (μ_j² + σ_j² − log σ_j² − 1).
  """
  return 0.5 * jnp.sum(jnp.square(mean) + jnp.exp(logvar) - logvar - 1.0,
                       axis=-1)


def gaussian_log_density(x: jax.Array, mean: jax.Array,
                         logvar: jax.Array) -> jax.Array:
  """log N(x; mean, diag(exp(logvar))), summed over the last axis."""
  return -0.5 * jnp.sum(_LOG_2PI + logvar + jnp.square(x - mean) *
                        jnp.exp(-logvar), axis=-1)


def standard_normal_log_density(z: jax.Array) -> jax.Array:
  """log N(z; 0, I), summed over the last axis."""
  return -0.5 * jnp.sum(_LOG_2PI + jnp.square(z), axis=-1)


def bernoulli_log_likelihood(logits: jax.Array, x: jax.Array) -> jax.Array:
  """log p(x | logits) for Bernoulli pixels, summed over the last axis.

  Stable for any logits: log σ(l) = −softplus(−l), log(1 − σ(l)) = −softplus(l).
  """
  return -jnp.sum(x * jax.nn.softplus(-logits) +
                  (1.0 - x) * jax.nn.softplus(logits), axis=-1)
