"""An encoder-decoder pair as one Linen module, and models built by name.

``model.tied=True`` (mlp only) builds a :class:`TiedAutoencoder`, whose
decoder uses the transposes of the encoder's kernels; ``model.dropout_rate``
(mlp only) adds dropout after every hidden activation.

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
  Overfitting", JMLR 15, 2014.
"""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from aejax.models.conv import ConvDecoder, ConvEncoder
from aejax.models.mlp import MLPDecoder, MLPEncoder, TiedMLPDecoder
from aejax.models.recurrent import recurrent_autoencoder


class Autoencoder(nn.Module):
  """x -> encoder -> z -> decoder -> logits (pre-activation reconstruction).

  Parameters live under ``params["encoder"]`` and ``params["decoder"]``.
  """
  encoder: nn.Module
  decoder: nn.Module

  def encode(self, x: jax.Array, train: bool = False) -> jax.Array:
    return self.encoder(x, train)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    return self.decoder(z, train)

  def encode_decode(self, x: jax.Array, train: bool = False
                    ) -> tuple[jax.Array, jax.Array]:
    """(code, logits): both ends of the bottleneck in one pass."""
    code = self.encode(x, train)
    return code, self.decode(code, train)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    return self.encode_decode(x, train)[1]


class TiedAutoencoder(Autoencoder):
  """An :class:`Autoencoder` whose decoder borrows the encoder's kernels.

  ``decoder`` is a :class:`TiedMLPDecoder`: decoder layer j uses the
  transpose of encoder layer ``L - 1 - j``'s kernel and its own bias.
  ``params["decoder"]`` holds biases only.
  """

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    if self.is_initializing() and not self.encoder.variables.get("params"):
      # Initialised through ``decode`` alone: create the encoder's kernels.
      self.encoder(jnp.zeros((1,) + tuple(self.decoder.output_shape)))
    return self.decoder(z, self.encoder.kernels(), train)


# Models that implement ``model.tied`` and ``model.dropout_rate``.
TIEABLE_MODELS = ("mlp",)
DROPOUT_MODELS = ("mlp",)


def _mlp(cfg, image_shape) -> Autoencoder:
  hidden = tuple(cfg.hidden)
  rate = float(cfg.get("dropout_rate", 0.0))
  encoder = MLPEncoder(hidden, cfg.latent_dim, cfg.activation, rate)
  if cfg.get("tied", False):
    return TiedAutoencoder(
        encoder, TiedMLPDecoder(tuple(image_shape), cfg.activation, rate))
  return Autoencoder(
      encoder, MLPDecoder(hidden[::-1], tuple(image_shape), cfg.activation,
                          rate))


def _conv(cfg, image_shape) -> Autoencoder:
  filters = tuple(cfg.filters)
  act, bn = cfg.conv_activation, cfg.batch_norm
  return Autoencoder(
      ConvEncoder(filters, cfg.latent_dim, act, bn),
      ConvDecoder(filters, tuple(image_shape), act, bn,
                  cfg.dense_activation, cfg.output_layer))


MODELS: dict[str, Callable[..., nn.Module]] = {
    "mlp": _mlp, "conv": _conv, "recurrent": recurrent_autoencoder}


# The config.model fields each model reads (besides ``name``).
MODEL_FIELDS: dict[str, tuple[str, ...]] = {
    "mlp": ("latent_dim", "hidden", "activation", "tied", "dropout_rate"),
    "conv": ("latent_dim", "filters", "conv_activation", "batch_norm",
             "dense_activation", "output_layer"),
    "recurrent": ("latent_dim", "cell", "rnn_hidden"),
}


def build_model(model_config, image_shape) -> nn.Module:
  """The model named ``model_config.name`` for images of ``image_shape``."""
  if model_config.name not in MODELS:
    raise ValueError(f"Unknown model {model_config.name!r}: choose one of "
                     f"{sorted(MODELS)}.")
  if model_config.latent_dim <= 0:
    raise ValueError(f"latent_dim must be positive, got "
                     f"{model_config.latent_dim}.")
  rate = model_config.get("dropout_rate", 0.0)
  if not 0.0 <= rate < 1.0:
    raise ValueError(f"dropout_rate must be in [0, 1), got {rate}.")
  if rate > 0 and model_config.name not in DROPOUT_MODELS:
    raise ValueError(f"dropout_rate={rate} is implemented for the "
                     f"{'/'.join(DROPOUT_MODELS)} model only, not "
                     f"{model_config.name!r}.")
  if model_config.get("tied", False) and (
      model_config.name not in TIEABLE_MODELS):
    raise ValueError(f"tied=True (decoder kernels = encoder kernels "
                     f"transposed) is implemented for the "
                     f"{'/'.join(TIEABLE_MODELS)} model only, not "
                     f"{model_config.name!r}.")
  return MODELS[model_config.name](model_config, image_shape)
