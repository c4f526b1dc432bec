"""Model output shapes and parameter counts."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aejax.config import base_config
from aejax.models import build_model


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def test_mlp_autoencoder_shapes_and_parameter_count():
  c = base_config().model
  c.hidden, c.latent_dim = (512, 256), 30
  model = build_model(c, (28, 28, 1))
  x = jnp.zeros((3, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (3, 28, 28, 1)
  z = model.apply(variables, x, method=model.encode)
  assert z.shape == (3, 30)
  dense = lambda i, o: i * o + o
  expected = (dense(784, 512) + dense(512, 256) + dense(256, 30) +
              dense(30, 256) + dense(256, 512) + dense(512, 784))
  assert _count(variables["params"]) == expected


def test_seed002_conv_autoencoder_shapes_and_parameter_count():
  c = base_config().model
  c.name, c.filters, c.latent_dim = "conv", (32, 64), 16
  model = build_model(c, (28, 28, 1))
  x = jnp.zeros((2, 28, 28, 1))
  variables = model.init(jax.random.PRNGKey(0), x)
  assert model.apply(variables, x).shape == (2, 28, 28, 1)
  assert model.apply(variables, x, method=model.encode).shape == (2, 16)
  conv = lambda k, i, o: k * k * i * o + o
  bn = lambda ch: 2 * ch
  # Same count as the seed's Keras model (trainable parameters).
  expected = (conv(3, 1, 32) + bn(32) + conv(3, 32, 64) + bn(64) +
              7 * 7 * 64 * 16 + 16 +                    # encoder
              16 * 7 * 7 * 64 + 7 * 7 * 64 +
              conv(3, 64, 64) + bn(64) + conv(3, 64, 32) + bn(32) +
              conv(3, 32, 1))                             # decoder
  assert _count(variables["params"]) == expected
  # Running statistics for each of the four BatchNorm layers.
  assert _count(variables["batch_stats"]) == 2 * (32 + 64 + 64 + 32)


@pytest.mark.parametrize("field,value,message", [
    ("name", "transformer", "Unknown model 'transformer'"),
    ("latent_dim", 0, "latent_dim must be positive"),
])
def test_bad_model_config_is_a_clear_error(field, value, message):
  c = base_config().model
  c[field] = value
  with pytest.raises(ValueError, match=message):
    build_model(c, (28, 28, 1))


def test_conv_decoder_rejects_sizes_it_cannot_produce():
  c = base_config().model
  c.name = "conv"
  model = build_model(c, (30, 30, 1))
  with pytest.raises(ValueError, match="divisible by 4"):
    model.init(jax.random.PRNGKey(0), jnp.zeros((1, 30, 30, 1)))
