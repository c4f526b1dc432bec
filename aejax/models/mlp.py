"""Fully connected encoder and decoder (Hinton & Salakhutdinov 2006 style).

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from aejax.models.activations import get_activation


class MLPEncoder(nn.Module):
  """x -> Dense(h₁) -> act -> ... -> Dense(latent_dim) (linear code).

  Attributes:
    hidden: widths of the hidden layers, input side first.
    latent_dim: size of the code.
    activation: name of the hidden non-linearity (see ``activations``).
  """
  hidden: Sequence[int] = (512, 256)
  latent_dim: int = 32
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    del train  # No train-time behaviour.
    act = get_activation(self.activation)
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = act(nn.Dense(width)(h))
    return nn.Dense(self.latent_dim)(h)


class MLPDecoder(nn.Module):
  """z -> Dense(h_k) -> act -> ... -> Dense(prod(output_shape)) logits.

  Attributes:
    hidden: widths of the hidden layers, code side first.
    output_shape: shape of one reconstructed example, e.g. (28, 28, 1).
    activation: name of the hidden non-linearity.
  """
  hidden: Sequence[int] = (256, 512)
  output_shape: Sequence[int] = (28, 28, 1)
  activation: str = "relu"

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    del train
    act = get_activation(self.activation)
    h = z
    for width in self.hidden:
      h = act(nn.Dense(width)(h))
    h = nn.Dense(int(np.prod(self.output_shape)))(h)
    return h.reshape((z.shape[0],) + tuple(self.output_shape))
