"""Linear autoencoder ≈ PCA: its decoder spans the top-k principal subspace."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.linalg
from conftest import tiny_config
from test_sparse import train_full_batch

from aejax.eval import subspace

K = 4
STEPS = 2000


def _config(activation="identity", output="identity", hidden=()):
  return tiny_config(**{"model.hidden": hidden, "model.latent_dim": K,
                        "model.activation": activation,
                        "method.output": output,
                        "optimizer.learning_rate": 1e-2})


def _angles(method, params, batch_stats, data, at_mean_code=False):
  z = None
  if at_mean_code:
    x = jnp.asarray(data.train.images, jnp.float32) / 255.0
    z = method.apply(params, batch_stats, x, train=False)[0].mean(0)
  return subspace.decoder_pca_angles(method, params, batch_stats,
                                     data.train.images, z)


def test_principal_angles_match_scipy_and_a_known_angle():
  rng = np.random.default_rng(0)
  a, b = rng.normal(size=(30, 3)), rng.normal(size=(30, 5))
  np.testing.assert_allclose(subspace.principal_angles(a, b),
                             np.sort(scipy.linalg.subspace_angles(a, b)),
                             atol=1e-12)
  theta = 0.3
  plane = np.eye(4)[:, :2]
  tilted = np.stack([np.eye(4)[0],
                     np.cos(theta) * np.eye(4)[1] +
                     np.sin(theta) * np.eye(4)[2]], 1)
  np.testing.assert_allclose(subspace.principal_angles(plane, tilted @ [
      [2.0, 1.0], [0.0, 3.0]]), [0.0, theta], atol=1e-12)


def test_rank_deficient_span_is_a_clear_error():
  a = np.ones((10, 2))
  with pytest.raises(ValueError, match="rank 1 < 2"):
    subspace.principal_angles(a, np.eye(10)[:, :2])


def test_trained_linear_autoencoder_spans_the_pca_subspace():
  """Baldi & Hornik (1989): max principal angle to PCA-k below 1 degree."""
  method, params, batch_stats, data = train_full_batch(_config(), STEPS)
  angles = _angles(method, params, batch_stats, data)
  assert angles["k"] == K
  assert angles["max_angle_deg"] < 1.0, angles
  # The same model untrained spans some other subspace.
  init = method.init_variables(jax.random.PRNGKey(0), jnp.zeros((2, 8, 8, 1)))
  untrained = _angles(method, init["params"], {}, data)
  assert untrained["max_angle_deg"] > 45.0, untrained


def test_non_linear_autoencoder_does_not_span_the_pca_subspace():
  """ReLU hidden layer and sigmoid output, trained identically: far from PCA.

  Its decoder's tangent space (Jacobian at the mean code) is not PCA's.
  """
  method, params, batch_stats, data = train_full_batch(
      _config("relu", "sigmoid", (32,)), STEPS)
  angles = _angles(method, params, batch_stats, data, at_mean_code=True)
  assert angles["max_angle_deg"] > 20.0, angles
