"""Regularisers on the code: sparsity (L1, KL) and contraction (‖∂z/∂x‖²_F).

Conventions, as in :mod:`aejax.losses.reconstruction`: every function returns
one value per example (shape ``[batch]``), except the KL sparsity penalty,
which is a property of the batch (ρ̂_j is the mean activation of code unit j
over the batch) and returns one value per code unit (shape ``[units]``). The
weights (λ, β) are applied by the methods, not here.

References:
  Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
  Lee, Ekanadham & Ng, "Sparse deep belief net model for visual area V2",
  NeurIPS 2008.
  Rifai, Vincent, Muller, Glorot & Bengio, "Contractive Auto-Encoders:
  Explicit Invariance During Feature Extraction", ICML 2011.
  Hutchinson, "A stochastic estimator of the trace of the influence matrix
  for Laplacian smoothing splines", 1989.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp


# ρ̂ below this counts as this (see :func:`bernoulli_kl`); a sigmoid code
# gets there only when its pre-activations are below about −69 on every
# example of the batch.
RHO_HAT_FLOOR = 1e-30


def _flat(x: jax.Array) -> jax.Array:
  return x.reshape(x.shape[0], -1)


def l1_activity(code: jax.Array) -> jax.Array:
  """Σ_j |z_j|, shape [batch]: the L1 activity penalty of each example."""
  return jnp.sum(jnp.abs(_flat(code)), axis=-1)


def bernoulli_kl(rho: float | jax.Array, rho_hat: jax.Array) -> jax.Array:
  """KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂)) elementwise, in nats.

  ρ log(ρ/ρ̂) + (1 − ρ) log((1 − ρ)/(1 − ρ̂)), with the gradient of Ng (2011)
  for every ρ̂ in (0, 1): ∂KL/∂ρ̂ = −ρ/ρ̂ + (1 − ρ)/(1 − ρ̂). A unit that is
  almost dead on every example (ρ̂ = 1e-9, say) keeps that gradient, which
  pulls it back towards ρ: through a sigmoid code the pull on each
  pre-activation tends to −ρ/batch, however dead the unit.

  ρ̂ is clipped only at the edges of the float range, to
  [``RHO_HAT_FLOOR``, 1 − u] (u the spacing of floats just below 1), so
  that a unit that is off (or on) on every example up to rounding gives a
  large, finite value. The floor keeps β·ρ/ρ̂, the gradient before the
  code's Jacobian multiplies it, finite in float32 for any β·ρ < 3·10⁸ (at
  the smallest normal float it would overflow, and stall training on
  skipped steps, from β·ρ ≈ 4). Clipping at 1e-6 instead, as this function
  once did, left every unit with ρ̂ < 1e-6 without any gradient.
  """
  rho_hat = jnp.asarray(rho_hat)
  if not jnp.issubdtype(rho_hat.dtype, jnp.floating):
    rho_hat = rho_hat.astype(jnp.float32)
  info = jnp.finfo(rho_hat.dtype)
  rho_hat = jnp.clip(rho_hat, max(RHO_HAT_FLOOR, float(info.tiny)),
                     1.0 - float(info.epsneg))
  return (rho * (jnp.log(rho) - jnp.log(rho_hat)) +
          (1.0 - rho) * (jnp.log1p(-rho) - jnp.log1p(-rho_hat)))


def kl_sparsity(code: jax.Array, target: float) -> jax.Array:
  """KL(ρ ‖ ρ̂_j) per code unit j, shape [units] (Ng 2011).

  Args:
    code: activations in (0, 1) (a sigmoid code), shape [batch, units...].
    target: the target mean activation ρ, in (0, 1).

  Returns:
    KL(ρ ‖ ρ̂_j) with ρ̂_j = mean over the batch of code[:, j]. The penalty
    of the sparse autoencoder is β Σ_j of this (a batch-level term, added once
    to the batch-mean reconstruction loss).
  """
  rho_hat = jnp.mean(_flat(code), axis=0)
  return bernoulli_kl(target, rho_hat)


def _per_example(fn: Callable[[jax.Array], jax.Array]
                 ) -> Callable[[jax.Array], jax.Array]:
  """``fn`` on one example (no batch axis), output flattened to a vector."""
  return lambda x: fn(x[None]).reshape(-1)


def jacobian_frobenius_sq(fn: Callable[[jax.Array], jax.Array],
                          x: jax.Array) -> jax.Array:
  """‖∂fn(x_i)/∂x_i‖²_F for every example, exactly; shape [batch].

  Args:
    fn: a batched map ``[batch, ...] -> [batch, k]`` that treats examples
      independently (e.g. an encoder in evaluation mode). It is applied to one
      example at a time (``vmap`` over the batch), so the Jacobian is the
      per-example one by construction.
    x: inputs, shape [batch, ...].

  Returns:
    Σ_{j,i} (∂z_j/∂x_i)² per example. Reverse mode (k vector-Jacobian
    products) when the code is smaller than the input, forward mode (one
    Jacobian-vector product per input feature) otherwise.
  """
  single = _per_example(fn)
  k = jax.eval_shape(single, x[0]).shape[0]
  jac = jax.jacrev(single) if k <= x[0].size else jax.jacfwd(single)
  per_example = jax.vmap(lambda xi: jnp.sum(jnp.square(jac(xi))))
  return per_example(x)


def hutchinson_frobenius_sq(fn: Callable[[jax.Array], jax.Array],
                            x: jax.Array, key: jax.Array,
                            num_probes: int = 1) -> jax.Array:
  """Unbiased estimate of ‖∂fn(x_i)/∂x_i‖²_F per example; shape [batch].

  ‖J‖²_F = tr(JᵀJ) = E_v ‖J v‖² for any probe v with E[v vᵀ] = I; the probes
  are Rademacher (±1), which give the smallest variance among such
  distributions (Hutchinson 1989). Each probe costs one Jacobian-vector
  product (forward mode), whatever the input size.

  Args:
    fn: as in :func:`jacobian_frobenius_sq`.
    x: inputs, shape [batch, ...].
    key: PRNG key for the probes.
    num_probes: probes per example; the estimate is their mean.
  """
  single = _per_example(fn)
  probes = jax.random.rademacher(key, (x.shape[0], num_probes) + x.shape[1:],
                                 dtype=x.dtype)

  def one(xi, vs):
    jvp = lambda v: jax.jvp(single, (xi,), (v,))[1]
    return jnp.mean(jnp.sum(jnp.square(jax.vmap(jvp)(vs)), axis=-1))

  return jax.vmap(one)(x, probes)
