"""The convolutional autoencoder of seed 002 (a Keras denoiser), in Linen.

Encoder: for each of ``filters`` (32, 64): Conv 3x3 stride 2 "same" ->
LeakyReLU(0.2) -> BatchNorm (activation and BatchNorm are configurable, e.g.
ReLU without BatchNorm for the benchmark's conv VAE); flatten; Dense(latent_dim). Decoder: Dense to the
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

from aejax.models.activations import get_activation
from aejax.models.layers import ConvTranspose

_BN = dict(momentum=0.99, epsilon=1e-3)


class ConvEncoder(nn.Module):
  """Strided-conv encoder to a linear code of size ``latent_dim``.

  Attributes:
    filters: output channels of the 3x3 stride-2 convolutions.
    latent_dim: size of the code.
    activation: non-linearity after each convolution (seed: leaky_relu 0.2).
    batch_norm: BatchNorm after each activation (seed: True).
  """
  filters: Sequence[int] = (32, 64)
  latent_dim: int = 16
  activation: str = "leaky_relu"
  batch_norm: bool = True

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    act = get_activation(self.activation)
    h = x
    for f in self.filters:
      h = act(nn.Conv(f, (3, 3), strides=(2, 2), padding="SAME")(h))
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, **_BN)(h)
    h = h.reshape(h.shape[0], -1)
    return nn.Dense(self.latent_dim)(h)


class ConvDecoder(nn.Module):
  """Mirror of :class:`ConvEncoder` with stride-2 transposed convolutions.

  Attributes:
    filters: the encoder's filters (used in reverse).
    output_shape: (height, width, channels) of one output.
    activation: non-linearity after each transposed convolution.
    batch_norm: BatchNorm after each activation.
    dense_activation: non-linearity after the first Dense (seed: none).
    output_layer: ``"conv_transpose"`` (seed) or ``"conv"``: the final 3x3
      stride-1 layer to the image's channels.
  """
  filters: Sequence[int] = (32, 64)  # Encoder order; used reversed.
  output_shape: Sequence[int] = (28, 28, 1)
  activation: str = "leaky_relu"
  batch_norm: bool = True
  dense_activation: str = "identity"
  output_layer: str = "conv_transpose"

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    height, width, channels = self.output_shape
    scale = 2**len(self.filters)
    if height % scale or width % scale:
      raise ValueError(f"ConvDecoder with {len(self.filters)} stride-2 layers "
                       f"needs image sides divisible by {scale}, got "
                       f"{height}x{width}.")
    act = get_activation(self.activation)
    h = nn.Dense(height // scale * width // scale * self.filters[-1])(z)
    h = get_activation(self.dense_activation)(h)
    h = h.reshape(z.shape[0], height // scale, width // scale, self.filters[-1])
    for f in reversed(self.filters):
      h = act(ConvTranspose(f, (3, 3), strides=(2, 2), padding="SAME")(h))
      if self.batch_norm:
        h = nn.BatchNorm(use_running_average=not train, **_BN)(h)
    if self.output_layer == "conv":
      # A stride-1 "SAME" convolution is a stride-1 transposed convolution
      # with the same (unflipped) kernel; the GEMM + col2im form is ~2x
      # faster on XLA:CPU for few output channels. Named as nn.Conv would
      # be, so the parameter layout is that of nn.Conv(channels, (3, 3)).
      return ConvTranspose(channels, (3, 3), strides=(1, 1), padding="SAME",
                           name="Conv_0")(h)
    if self.output_layer == "conv_transpose":
      return ConvTranspose(channels, (3, 3), strides=(1, 1), padding="SAME")(h)
    raise ValueError(f"Unknown output_layer {self.output_layer!r}: use "
                     "'conv_transpose' or 'conv'.")
