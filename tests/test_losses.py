"""Loss terms against NumPy references."""

import jax.numpy as jnp
import numpy as np
import pytest

from aejax import losses


def _rng_arrays(shape=(5, 4, 3, 2), seed=0):
  rng = np.random.default_rng(seed)
  return (rng.normal(size=shape).astype(np.float32),
          rng.uniform(size=shape).astype(np.float32))


def test_squared_errors_match_numpy():
  pred, target = _rng_arrays()
  diff2 = ((pred - target) ** 2).reshape(5, -1)
  np.testing.assert_allclose(losses.sum_squared_error(pred, target),
                             diff2.sum(1), rtol=1e-5)
  np.testing.assert_allclose(losses.mean_squared_error(pred, target),
                             diff2.mean(1), rtol=1e-5)


def test_bernoulli_nll_matches_numpy_and_is_stable():
  logits, target = _rng_arrays()
  p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
  expected = -(target * np.log(p) + (1 - target) * np.log(1 - p))
  np.testing.assert_allclose(losses.bernoulli_nll(logits, target),
                             expected.reshape(5, -1).sum(1), rtol=1e-5)
  # Saturated logits give finite, exact values instead of log(0).
  big = jnp.array([[1000.0, -1000.0]])
  np.testing.assert_allclose(losses.bernoulli_nll(big, jnp.array([[0.0, 1.0]])),
                             [2000.0])
  assert np.isfinite(losses.bernoulli_nll(big, jnp.array([[1.0, 0.0]]))).all()


def test_psnr_matches_numpy():
  pred, target = _rng_arrays()
  pred = np.clip(pred, 0, 1)
  mse = ((pred - target) ** 2).reshape(5, -1).mean(1)
  np.testing.assert_allclose(losses.psnr(pred, target), 10 * np.log10(1 / mse),
                             rtol=1e-5)


def test_batch_mean_weights_by_mask():
  values = jnp.array([1.0, 2.0, 3.0, 100.0])
  assert float(losses.batch_mean(values)) == pytest.approx(26.5)
  mask = jnp.array([1.0, 1.0, 1.0, 0.0])
  assert float(losses.batch_mean(values, mask)) == pytest.approx(2.0)


def test_unknown_loss_is_a_clear_error():
  x = jnp.zeros((2, 3))
  with pytest.raises(ValueError, match="Unknown reconstruction loss 'l1'"):
    losses.reconstruction_loss("l1", x, x, x)
