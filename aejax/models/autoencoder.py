"""An encoder-decoder pair as one Linen module, and models built by name."""

from __future__ import annotations

from typing import Callable

import flax.linen as nn
import jax

from aejax.models.conv import ConvDecoder, ConvEncoder
from aejax.models.mlp import MLPDecoder, MLPEncoder


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


def _mlp(cfg, image_shape) -> Autoencoder:
  hidden = tuple(cfg.hidden)
  return Autoencoder(
      MLPEncoder(hidden, cfg.latent_dim, cfg.activation),
      MLPDecoder(hidden[::-1], tuple(image_shape), cfg.activation))


def _conv(cfg, image_shape) -> Autoencoder:
  filters = tuple(cfg.filters)
  act, bn = cfg.conv_activation, cfg.batch_norm
  return Autoencoder(
      ConvEncoder(filters, cfg.latent_dim, act, bn),
      ConvDecoder(filters, tuple(image_shape), act, bn,
                  cfg.dense_activation, cfg.output_layer))


MODELS: dict[str, Callable[..., nn.Module]] = {"mlp": _mlp, "conv": _conv}


def build_model(model_config, image_shape) -> nn.Module:
  """The model named ``model_config.name`` for images of ``image_shape``."""
  if model_config.name not in MODELS:
    raise ValueError(f"Unknown model {model_config.name!r}: choose one of "
                     f"{sorted(MODELS)}.")
  if model_config.latent_dim <= 0:
    raise ValueError(f"latent_dim must be positive, got "
                     f"{model_config.latent_dim}.")
  return MODELS[model_config.name](model_config, image_shape)
