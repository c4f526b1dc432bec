"""Dropout autoencoder: random in training (keys explicit), off at eval."""


import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import experiment_config, requires_fashion_mnist, tiny_config

from aejax.config import base_config
from aejax.methods import make_method
from aejax.models import build_model
from aejax.train.loop import train_and_evaluate

SHAPE = (8, 8, 1)


def _method(rate, **overrides):
  config = tiny_config(**{"model.dropout_rate": rate, **overrides})
  return make_method(config, SHAPE)


def _images(n=16, seed=0):
  return jax.random.uniform(jax.random.PRNGKey(seed), (n,) + SHAPE)


def _params(method, images):
  return method.init_variables(jax.random.PRNGKey(1), images)["params"]


@pytest.mark.parametrize("tied", [False, True])
def test_training_mode_is_random_and_keyed(tied):
  method = _method(0.5, **{"model.tied": tied})
  x = _images()
  params = _params(method, x)
  out = lambda key: method.apply(params, {}, x, train=True, key=key)[1]
  k1, k2 = jax.random.PRNGKey(2), jax.random.PRNGKey(3)
  np.testing.assert_array_equal(out(k1), out(k1))  # same key, same draw
  assert not np.allclose(out(k1), out(k2))
  # The loss depends on the key (the method passes it on as the dropout key).
  batch = {"image": x}
  loss = lambda key: float(method.loss_fn(params, batch, key, {})[0])
  assert loss(k1) != loss(k2)


def test_without_dropout_the_loss_does_not_depend_on_the_key():
  """The control for the test above: the key matters through dropout only."""
  method = _method(0.0)
  x = _images()
  params = _params(method, x)
  batch = {"image": x}
  losses = {float(method.loss_fn(params, batch, jax.random.PRNGKey(k), {})[0])
            for k in range(3)}
  assert len(losses) == 1


@pytest.mark.parametrize("tied", [False, True])
def test_eval_mode_is_deterministic_and_equals_the_network_without_dropout(
    tied):
  with_dropout = _method(0.5, **{"model.tied": tied})
  without = _method(0.0, **{"model.tied": tied})
  x = _images()
  params = _params(with_dropout, x)
  a = with_dropout.apply(params, {}, x, train=False)[1]
  b = with_dropout.apply(params, {}, x, train=False)[1]
  np.testing.assert_array_equal(a, b)
  np.testing.assert_array_equal(a, without.apply(params, {}, x, train=False)[1])
  # The dropout model has exactly the parameters of the one without.
  assert (jax.tree_util.tree_structure(params) ==
          jax.tree_util.tree_structure(_params(without, x)))


@pytest.mark.parametrize("rate", [0.2, 0.5])
def test_the_rate_is_the_fraction_of_hidden_units_dropped(rate):
  """Fails if the rate were ignored: the dropped share of every hidden
  activation (encoder and decoder) is ``rate``, and survivors are scaled by
  1 / (1 - rate) (inverted dropout)."""
  c = base_config().model
  c.hidden, c.latent_dim, c.activation = (256, 128), 8, "tanh"
  c.dropout_rate = rate
  model = build_model(c, (28, 28, 1))
  x = jax.random.uniform(jax.random.PRNGKey(0), (64, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(1), x)
  _, inter = model.apply(variables, x, train=True,
                         rngs={"dropout": jax.random.PRNGKey(2)},
                         capture_intermediates=True)
  inter = inter["intermediates"]
  layers = [inter[part][f"Dropout_{i}"]["__call__"][0]
            for part in ("encoder", "decoder") for i in range(2)]
  for h in layers:  # tanh units are never exactly 0 unless dropped
    assert abs(float(jnp.mean(h == 0)) - rate) < 0.03
  # Survivors: 1 / (1 - rate) times the deterministic activation.
  _, clean = model.apply(variables, x, train=False,
                         capture_intermediates=True)
  dropped = layers[0]
  reference = clean["intermediates"]["encoder"]["Dropout_0"]["__call__"][0]
  kept = dropped != 0
  np.testing.assert_allclose(dropped[kept], reference[kept] / (1 - rate),
                             rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("field,value,message", [
    ("dropout_rate", 1.0, r"dropout_rate must be in \[0, 1\)"),
    ("dropout_rate", -0.1, r"dropout_rate must be in \[0, 1\)"),
    ("name", "conv", "dropout_rate=0.3 is implemented for the mlp model"),
])
def test_bad_dropout_config_is_a_clear_error(field, value, message):
  c = base_config().model
  c.dropout_rate = 0.3
  c[field] = value
  with pytest.raises(ValueError, match=message):
    build_model(c, (28, 28, 1))


def test_training_with_dropout_runs_and_evaluation_is_reproducible(tmp_path):
  config = tiny_config(**{"model.dropout_rate": 0.2})
  a = train_and_evaluate(config, str(tmp_path / "a"))
  b = train_and_evaluate(config, str(tmp_path / "b"))
  assert a["test"] == b["test"]
  assert np.isfinite(a["test"]["sq_err_per_image"])


@requires_fashion_mnist
def test_dropout_experiment_config_two_steps(tmp_path):
  config = experiment_config("dropout_ae_fashion_mnist")
  assert config.model.dropout_rate > 0
  config.max_steps, config.progress_bar = 2, False
  results = train_and_evaluate(config, str(tmp_path))
  assert results["step"] == 2
  assert np.isfinite(results["test"]["sq_err_per_image"])
