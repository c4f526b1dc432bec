"""The DCGAN generator and discriminator for 28x28 (and any 4k x 4k) images.

Layer for layer the PyTorch benchmark model ``dcgan`` of
``aejax/torch_reference.py``:

  G: z(100) - Dense(7*7*128) - BN - ReLU - reshape(7, 7, 128)
     - ConvT(64, 4x4, s2) - BN - ReLU - ConvT(C, 4x4, s2) - tanh
  D: Conv(64, 4x4, s2) - LeakyReLU(0.2) - Conv(128, 4x4, s2) - BN
     - LeakyReLU(0.2) - flatten - Dense(1)

following the DCGAN rules (Radford et al. 2016): strided convolutions in D,
transposed convolutions in G, BatchNorm everywhere except G's output and D's
input, ReLU in G with a tanh output, LeakyReLU in D.

Padding. PyTorch's ``Conv2d(k=4, s=2, p=1)`` pads each side by 1, which is
``padding=((1, 1), (1, 1))`` here (14 -> 7, 28 -> 14). PyTorch's
``ConvTranspose2d(k=4, s=2, p=1)`` is the adjoint (gradient) of that
convolution: output size (n - 1)·2 - 2·1 + 4 = 2n. In flax / ``lax``
terms an explicit transposed-convolution padding pads the stride-dilated
input, and the adjoint of a convolution with padding p has padding
k - 1 - p = 2 on each side: ((n - 1)·2 + 1) + 2 + 2 - 4 + 1 = 2n. For k = 4,
s = 2 flax's "SAME" is that same (2, 2) (``layers._transpose_padding``); we
write the explicit pairs so the correspondence is visible, and
``tests/test_gan.py`` checks that the layer (with ``transpose_kernel=True``)
equals the vector-Jacobian product of the padded convolution, i.e. PyTorch's
definition.

Both layer kinds are aejax's fast forms (``layers.Conv``: a strided
convolution as one GEMM; ``layers.ConvTranspose``: GEMM + col2im), with the
parameters and outputs of ``nn.Conv`` and ``nn.ConvTranspose``.

BatchNorm uses PyTorch's defaults (momentum 0.1, i.e. flax momentum 0.9;
epsilon 1e-5). Kernels are initialised from N(0, 0.02²) as in Radford et al.
(2016, §4); biases at zero.

References:
  Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep
  Convolutional Generative Adversarial Networks", ICLR 2016.
  Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aejax.models.layers import Conv, ConvTranspose

_BN = dict(momentum=0.9, epsilon=1e-5)
_INIT = nn.initializers.normal(0.02)
# PyTorch Conv2d(k=4, s=2, p=1) and its adjoint ConvTranspose2d(k=4, s=2, p=1).
CONV_PADDING = ((1, 1), (1, 1))
CONV_TRANSPOSE_PADDING = ((2, 2), (2, 2))


class Generator(nn.Module):
  """z [B, latent] -> images [B, H, W, C] in (-1, 1) (tanh).

  Attributes:
    output_shape: (H, W, C) of the images; H and W divisible by 4.
    features: widths (128, 64): the Dense volume's channels, then the first
      transposed convolution's.
  """
  output_shape: Sequence[int] = (28, 28, 1)
  features: Sequence[int] = (128, 64)

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    height, width, channels = self.output_shape
    if height % 4 or width % 4:
      raise ValueError(f"The DCGAN generator doubles the size twice: image "
                       f"sides must be divisible by 4, got {height}x{width}.")
    c0, c1 = self.features
    h = nn.Dense(height // 4 * width // 4 * c0, kernel_init=_INIT)(z)
    h = nn.relu(nn.BatchNorm(use_running_average=not train, **_BN)(h))
    h = h.reshape(z.shape[0], height // 4, width // 4, c0)
    h = ConvTranspose(c1, (4, 4), strides=(2, 2),
                      padding=CONV_TRANSPOSE_PADDING, kernel_init=_INIT)(h)
    h = nn.relu(nn.BatchNorm(use_running_average=not train, **_BN)(h))
    h = ConvTranspose(channels, (4, 4), strides=(2, 2),
                      padding=CONV_TRANSPOSE_PADDING, kernel_init=_INIT)(h)
    return jnp.tanh(h)


class Discriminator(nn.Module):
  """Images [B, H, W, C] in [-1, 1] -> logits [B] that they are real.

  Attributes:
    features: widths (64, 128) of the two strided convolutions.
    negative_slope: LeakyReLU slope.
  """
  features: Sequence[int] = (64, 128)
  negative_slope: float = 0.2

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    c0, c1 = self.features
    h = Conv(c0, (4, 4), strides=(2, 2), padding=CONV_PADDING,
             kernel_init=_INIT)(x)
    h = nn.leaky_relu(h, self.negative_slope)
    h = Conv(c1, (4, 4), strides=(2, 2), padding=CONV_PADDING,
             kernel_init=_INIT)(h)
    h = nn.BatchNorm(use_running_average=not train, **_BN)(h)
    h = nn.leaky_relu(h, self.negative_slope)
    h = h.reshape(h.shape[0], -1)
    return nn.Dense(1, kernel_init=_INIT)(h)[:, 0]
