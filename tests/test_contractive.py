"""Contractive autoencoder: exact Jacobian penalty, Hutchinson, contraction."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config
from test_sparse import train_full_batch

from aejax.data.sources import load_dataset
from aejax.methods import make_method
from aejax.train.loop import train_and_evaluate


def _digits(n):
  images = load_dataset(tiny_config().data).train.images[:n]
  return jnp.asarray(images, jnp.float32) / 255.0


def _config(weight=0.1, **overrides):
  return tiny_config(**{"method.name": "contractive",
                        "method.contractive_weight": weight, **overrides})


def _jacobian_norm_sq(method, estimator="exact"):
  """The method's ‖∂h/∂x‖²_F, compiled."""
  return jax.jit(lambda p, s, x, k: method.jacobian_norm_sq(
      p, s, x, k, estimator=estimator))


def test_equals_closed_form_for_one_layer_sigmoid_encoder():
  """h = σ(Wx + b): ‖J‖²_F = Σ_j (h_j(1 - h_j))² Σ_i W_ij² (Rifai 2011, eq. 7)."""
  method = make_method(_config(**{"model.hidden": (),
                                  "method.code_activation": "sigmoid"}),
                       (8, 8, 1))
  x = _digits(5)
  params = method.init_variables(jax.random.PRNGKey(0), x)["params"]
  layer = params["encoder"]["Dense_0"]
  w, b = np.asarray(layer["kernel"], np.float64), np.asarray(layer["bias"])
  h = 1.0 / (1.0 + np.exp(-(np.asarray(x).reshape(5, -1) @ w + b)))
  expected = ((h * (1 - h)) ** 2 * (w ** 2).sum(0)).sum(1)
  np.testing.assert_allclose(_jacobian_norm_sq(method)(params, {}, x, None),
                             expected, rtol=1e-5)
  # The training loss adds λ times its batch mean.
  loss, (metrics, _) = method.loss_fn(params, {"image": x},
                                      jax.random.PRNGKey(1), {})
  np.testing.assert_allclose(metrics["penalty"], 0.1 * expected.mean(),
                             rtol=1e-5)
  np.testing.assert_allclose(loss, metrics["reconstruction"] +
                             0.1 * expected.mean(), rtol=1e-5)


def test_conv_encoder_jacobian_is_per_example_with_running_batchnorm():
  """Any encoder: the conv one (BatchNorm in evaluation mode) vs jax.jacobian."""
  method = make_method(_config(**{"model.name": "conv"}), (8, 8, 1))
  x = _digits(3)
  # The encoder's variables only (compiling the whole model's init is slow).
  variables = jax.jit(lambda k, x: method.model.init(
      k, x, method=method.model.encode))(jax.random.PRNGKey(0), x)
  params = variables["params"]
  # Running statistics away from their (0, 1) initial values.
  batch_stats = jax.tree_util.tree_map(
      lambda s: s + 0.3 * jnp.arange(s.size, dtype=s.dtype).reshape(s.shape)
      / s.size, variables["batch_stats"])
  jac_norm_sq = _jacobian_norm_sq(method)
  got = jac_norm_sq(params, batch_stats, x, None)

  def code(xi):  # The conv encoder's code for one example, evaluation mode.
    return jax.nn.sigmoid(method.model.apply(
        {"params": params, "batch_stats": batch_stats}, xi[None],
        train=False, method=method.model.encode)[0])

  expected = jax.jit(jax.vmap(
      lambda xi: jnp.sum(jnp.square(jax.jacobian(code)(xi)))))(x)
  np.testing.assert_allclose(got, expected, rtol=1e-4)
  # Each example's value is its own: the same with or without the others.
  np.testing.assert_allclose(jac_norm_sq(params, batch_stats, x[1:2], None),
                             got[1:2], rtol=1e-5)


def test_hutchinson_config_is_close_to_exact_with_many_probes():
  exact_method = make_method(_config(), (8, 8, 1))
  probe_method = make_method(_config(**{
      "method.jacobian_estimator": "hutchinson", "method.num_probes": 2000}),
                             (8, 8, 1))
  x = _digits(4)
  params = exact_method.init_variables(jax.random.PRNGKey(0), x)["params"]
  exact = _jacobian_norm_sq(exact_method)(params, {}, x, None)
  estimate = _jacobian_norm_sq(probe_method, "hutchinson")(
      params, {}, x, jax.random.PRNGKey(2))
  np.testing.assert_allclose(estimate, exact, rtol=0.1)


@pytest.mark.parametrize("estimator", ["exact", "hutchinson"])
def test_trained_cae_contracts_more_than_plain_autoencoder(estimator):
  """Mean ‖∂h/∂x‖²_F on test data: CAE well below the same AE with λ = 0.

  Sigmoid code (the default): with a linear code the penalty could be met by
  shrinking the code's scale alone.
  """
  results = {}
  for weight in (0.0, 3e-3):
    config = _config(weight, **{"model.latent_dim": 8,
                                "optimizer.learning_rate": 3e-3,
                                "method.jacobian_estimator": estimator})
    method, params, batch_stats, data = train_full_batch(config, 600)
    x = jnp.asarray(data.test.images, jnp.float32) / 255.0
    metrics = method.eval_metrics(params, {"image": x}, jax.random.PRNGKey(0),
                                  batch_stats)
    results[weight] = {k: float(jnp.mean(v)) for k, v in metrics.items()}
  cae, plain = results[3e-3], results[0.0]
  assert cae["jacobian_frobenius_sq"] < 0.3 * plain["jacobian_frobenius_sq"], (
      cae, plain)
  assert cae["mse"] < 1.5 * plain["mse"], (cae, plain)  # Still reconstructs.


@pytest.mark.parametrize("overrides,message", [
    ({"method.contractive_weight": -0.1},
     "contractive_weight must be a finite number >= 0"),
    ({"method.jacobian_estimator": "lanczos"},
     "Unknown method.jacobian_estimator 'lanczos'"),
    ({"method.jacobian_estimator": "hutchinson", "method.num_probes": 0},
     "num_probes must be >= 1"),
])
def test_bad_contractive_config_is_a_clear_error(overrides, message):
  with pytest.raises(ValueError, match=message):
    make_method(_config(**overrides), (8, 8, 1))


def test_trains_through_the_real_loop(tmp_path):
  """The reported test ‖∂h/∂x‖²_F is that of the trained encoder: the mean
  over the test images of the squared entries of jax.jacobian of
  σ(encoder(x)) for one example at a time."""
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  results = train_and_evaluate(_config(**{"max_steps": 2}), str(tmp_path))
  assert np.isfinite(results["test"]["loss"])
  config, method, state = load_run(str(tmp_path))
  x = jnp.asarray(load_dataset(config.data).test.images, jnp.float32) / 255.0

  def code(xi):
    return jax.nn.sigmoid(method.model.apply(
        {"params": state.params, "batch_stats": state.batch_stats}, xi[None],
        train=False, method=method.model.encode)[0])

  expected = jax.jit(jax.vmap(
      lambda xi: jnp.sum(jnp.square(jax.jacobian(code)(xi)))))(x)
  np.testing.assert_allclose(results["test"]["jacobian_frobenius_sq"],
                             float(jnp.mean(expected)), rtol=1e-4)
