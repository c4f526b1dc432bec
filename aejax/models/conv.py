"""The convolutional autoencoder of seed 002 (a Keras denoiser), in Linen.

Encoder: for each of ``filters`` (32, 64): Conv 3x3 stride 2 "same" ->
LeakyReLU(0.2) -> BatchNorm; flatten; Dense(latent_dim). Decoder: Dense to the
encoder's last volume (7x7x64), then for each filter in reverse: ConvTranspose
3x3 stride 2 -> LeakyReLU(0.2) -> BatchNorm; a final ConvTranspose 3x3 stride 1
to the image's channels. The decoder returns logits; the sigmoid output of the
seed is applied by the method (``output="sigmoid"``).

BatchNorm uses Keras' defaults (momentum 0.99, epsilon 1e-3), as in the seed.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from aejax.models.layers import ConvTranspose

_BN = dict(momentum=0.99, epsilon=1e-3)


class ConvEncoder(nn.Module):
  """Strided-conv encoder to a linear code of size ``latent_dim``."""
  filters: Sequence[int] = (32, 64)
  latent_dim: int = 16
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    h = x
    for f in self.filters:
      h = nn.Conv(f, (3, 3), strides=(2, 2), padding="SAME")(h)
      h = nn.leaky_relu(h, self.negative_slope)
      h = nn.BatchNorm(use_running_average=not train, **_BN)(h)
    h = h.reshape(h.shape[0], -1)
    return nn.Dense(self.latent_dim)(h)


class ConvDecoder(nn.Module):
  """Mirror of :class:`ConvEncoder` with stride-2 transposed convolutions."""
  filters: Sequence[int] = (32, 64)  # Encoder order; used reversed.
  output_shape: Sequence[int] = (28, 28, 1)
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    height, width, channels = self.output_shape
    scale = 2**len(self.filters)
    if height % scale or width % scale:
      raise ValueError(f"ConvDecoder with {len(self.filters)} stride-2 layers "
                       f"needs image sides divisible by {scale}, got "
                       f"{height}x{width}.")
    h = nn.Dense(height // scale * width // scale * self.filters[-1])(z)
    h = h.reshape(z.shape[0], height // scale, width // scale, self.filters[-1])
    for f in reversed(self.filters):
      h = ConvTranspose(f, (3, 3), strides=(2, 2), padding="SAME")(h)
      h = nn.leaky_relu(h, self.negative_slope)
      h = nn.BatchNorm(use_running_average=not train, **_BN)(h)
    return ConvTranspose(channels, (3, 3), strides=(1, 1), padding="SAME")(h)
