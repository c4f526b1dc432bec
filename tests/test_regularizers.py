"""Code regularisers (sparsity, contraction) against NumPy references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aejax.losses import regularizers


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_l1_activity_matches_numpy():
  code = np.random.default_rng(0).normal(size=(5, 7)).astype(np.float32)
  np.testing.assert_allclose(regularizers.l1_activity(code),
                             np.abs(code).sum(1), rtol=1e-6)


def test_bernoulli_kl_matches_numpy_and_vanishes_at_target():
  rho_hat = np.array([0.01, 0.05, 0.3, 0.9], np.float64)
  rho = 0.05
  expected = (rho * np.log(rho / rho_hat) +
              (1 - rho) * np.log((1 - rho) / (1 - rho_hat)))
  np.testing.assert_allclose(regularizers.bernoulli_kl(rho, rho_hat),
                             expected, rtol=1e-5)
  assert float(regularizers.bernoulli_kl(rho, jnp.array(rho))) == (
      pytest.approx(0.0, abs=1e-7))
  # Saturated units give a large, finite penalty (no log(0)).
  assert np.isfinite(regularizers.bernoulli_kl(rho, jnp.array([0.0, 1.0]))
                     ).all()


def test_kl_sparsity_uses_the_batch_mean_of_each_unit():
  code = _sigmoid(np.random.default_rng(1).normal(size=(6, 4)))
  rho_hat = code.mean(0)
  expected = (0.1 * np.log(0.1 / rho_hat) +
              0.9 * np.log(0.9 / (1 - rho_hat)))
  np.testing.assert_allclose(regularizers.kl_sparsity(code, 0.1), expected,
                             rtol=1e-5)


def _ng_gradient(code, rho):
  """∂/∂code of Σ_j KL(ρ ‖ ρ̂_j) by Ng's formula (float64): each example of
  unit j gets (−ρ/ρ̂_j + (1 − ρ)/(1 − ρ̂_j)) / batch."""
  code = np.asarray(code, np.float64)
  rho_hat = code.mean(0)
  per_unit = -rho / rho_hat + (1 - rho) / (1 - rho_hat)
  return np.broadcast_to(per_unit / len(code), code.shape)


def test_dead_unit_keeps_ngs_gradient():
  """A unit (almost) dead, or saturated, on every example keeps the gradient
  of Ng's notes, which pulls it back towards ρ; a clip of ρ̂ at 1e-6 (the old
  code) gave it none and the penalty could never revive it."""
  rho, batch = 0.05, 8
  rng = np.random.default_rng(5)
  pre = rng.normal(size=(batch, 4)).astype(np.float32)
  pre[:, 0] = -20.0 + 0.1 * pre[:, 0]  # dead: ρ̂ ≈ 2e-9
  pre[:, 1] = 16.0 + 0.1 * pre[:, 1]   # saturated: 1 − ρ̂ ≈ 1e-7
  penalty = lambda c: jnp.sum(regularizers.kl_sparsity(c, rho))
  code = jax.nn.sigmoid(pre)
  grad = np.asarray(jax.grad(penalty)(code))
  np.testing.assert_allclose(grad, _ng_gradient(code, rho), rtol=1e-4)
  assert grad[:, 0].max() < -1e6 and grad[:, 1].min() > 1e5
  # Through the sigmoid, the pull on a dead unit's pre-activations tends to
  # −ρ/batch (h(1 − h)/ρ̂ → 1), however dead it is; a saturated unit's to
  # (1 − ρ)/batch (float32 resolves 1 − h ≈ 1e-7 only roughly: no float64
  # comparison for that one).
  code64 = 1 / (1 + np.exp(-pre.astype(np.float64)))
  expected = _ng_gradient(code64, rho) * code64 * (1 - code64)
  pre_grad = np.asarray(jax.grad(lambda p: penalty(jax.nn.sigmoid(p)))(pre))
  np.testing.assert_allclose(pre_grad[:, [0, 2, 3]], expected[:, [0, 2, 3]],
                             rtol=1e-3)
  np.testing.assert_allclose(pre_grad[:, 0], -rho / batch, rtol=0.2)
  np.testing.assert_allclose(pre_grad[:, 1], (1 - rho) / batch, rtol=0.2)


def _one_layer_sigmoid(w, b):
  return lambda x: jax.nn.sigmoid(x.reshape(x.shape[0], -1) @ w + b)


def test_exact_jacobian_norm_equals_closed_form_of_sigmoid_layer():
  """h = σ(Wx + b): ‖∂h/∂x‖²_F = Σ_j (h_j(1 - h_j))² Σ_i W_ij² (Rifai 2011)."""
  rng = np.random.default_rng(2)
  w = rng.normal(size=(12, 5)).astype(np.float32)
  b = rng.normal(size=(5,)).astype(np.float32)
  x = rng.uniform(size=(3, 3, 4, 1)).astype(np.float32)
  h = _sigmoid(x.reshape(3, -1) @ w + b)
  expected = ((h * (1 - h)) ** 2 * (w ** 2).sum(0)).sum(1)
  got = regularizers.jacobian_frobenius_sq(_one_layer_sigmoid(w, b), x)
  np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_exact_jacobian_norm_forward_and_reverse_mode_agree():
  """A code larger than the input takes jacfwd; a smaller one jacrev."""
  rng = np.random.default_rng(3)
  x = rng.normal(size=(4, 6)).astype(np.float32)
  for width in (3, 10):  # jacrev, jacfwd
    w = rng.normal(size=(6, width)).astype(np.float32)
    fn = lambda v, w=w: jnp.tanh(v @ w) ** 2
    full = jax.jacobian(lambda v, fn=fn: fn(v[None])[0])
    expected = [np.sum(np.square(full(xi))) for xi in x]
    np.testing.assert_allclose(regularizers.jacobian_frobenius_sq(fn, x),
                               expected, rtol=1e-5)


def test_hutchinson_estimate_is_unbiased():
  """The mean of many probes is within 4 standard errors of the exact value.

  For Rademacher probes Var ‖Jv‖² = 2 Σ_{i≠l} (JᵀJ)_il², which gives the
  standard error of the mean of P probes exactly.
  """
  rng = np.random.default_rng(4)
  w = rng.normal(size=(20, 4)).astype(np.float32)
  b = rng.normal(size=(4,)).astype(np.float32)
  x = rng.uniform(size=(2, 20)).astype(np.float32)
  fn = _one_layer_sigmoid(w, b)
  exact = np.asarray(regularizers.jacobian_frobenius_sq(fn, x), np.float64)
  probes = 4000
  estimate = np.asarray(regularizers.hutchinson_frobenius_sq(
      fn, x, jax.random.PRNGKey(0), probes), np.float64)
  h = _sigmoid(x @ w + b)
  for i in range(len(x)):
    jac = (h[i] * (1 - h[i]))[:, None] * w.T  # [4, 20]
    gram = jac.T @ jac
    var = 2 * (np.sum(gram ** 2) - np.sum(np.diag(gram) ** 2))
    assert abs(estimate[i] - exact[i]) < 4 * np.sqrt(var / probes), i
    assert abs(estimate[i] - exact[i]) < 0.05 * exact[i]
  # One probe is a noisy estimate, not the exact value in disguise.
  one = regularizers.hutchinson_frobenius_sq(fn, x, jax.random.PRNGKey(1), 1)
  assert not np.allclose(one, exact, rtol=1e-3)
