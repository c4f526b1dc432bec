"""Fully connected encoder and decoder (Hinton & Salakhutdinov 2006 style),
optionally with tied weights and with dropout.

Tied weights: the decoder layer that mirrors encoder layer i computes
``h @ W_iᵀ + c_i`` with the encoder's kernel ``W_i`` and its own bias ``c_i``,
so a tied autoencoder holds the kernels once (about half the parameters).

Dropout: each hidden activation of the encoder and of the decoder is followed
by inverted dropout at rate ``dropout_rate`` when ``train=True``; the code and
the output are never dropped. Evaluation (``train=False``) is deterministic
and computes exactly the network without dropout. The key comes in through
Linen's ``"dropout"`` RNG stream, passed explicitly by the method
(``apply(..., rngs={"dropout": key})``).

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A
  Simple Way to Prevent Neural Networks from Overfitting", JMLR 15, 2014.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from aejax.models.activations import get_activation


def _dropout(rate: float, train: bool, h: jax.Array) -> jax.Array:
  """Inverted dropout in training, identity otherwise (and at rate 0)."""
  return nn.Dropout(rate, deterministic=not train)(h)


class MLPEncoder(nn.Module):
  """x -> Dense(h₁) -> act -> [dropout] -> ... -> Dense(latent_dim) (linear).

  Layer i's parameters are ``Dense_i/{kernel, bias}`` (input side first; the
  code layer is ``Dense_{len(hidden)}``).

  Attributes:
    hidden: widths of the hidden layers, input side first.
    latent_dim: size of the code.
    activation: name of the hidden non-linearity (see ``activations``).
    dropout_rate: dropout after each hidden activation in training.
  """
  hidden: Sequence[int] = (512, 256)
  latent_dim: int = 32
  activation: str = "relu"
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    act = get_activation(self.activation)
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = _dropout(self.dropout_rate, train, act(nn.Dense(width)(h)))
    return nn.Dense(self.latent_dim)(h)

  def kernels(self) -> list[jax.Array]:
    """The kernels ``W_i`` [d_i, d_{i+1}] of the layers, input side first.

    Only valid once the encoder's parameters exist (bound module).
    """
    params = self.variables["params"]
    return [params[f"Dense_{i}"]["kernel"]
            for i in range(len(self.hidden) + 1)]


class MLPDecoder(nn.Module):
  """z -> Dense(h_k) -> act -> [dropout] -> ... -> Dense(prod(output_shape)).

  Returns logits (the method applies the output activation).

  Attributes:
    hidden: widths of the hidden layers, code side first.
    output_shape: shape of one reconstructed example, e.g. (28, 28, 1).
    activation: name of the hidden non-linearity.
    dropout_rate: dropout after each hidden activation in training.
  """
  hidden: Sequence[int] = (256, 512)
  output_shape: Sequence[int] = (28, 28, 1)
  activation: str = "relu"
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    act = get_activation(self.activation)
    h = z
    for width in self.hidden:
      h = _dropout(self.dropout_rate, train, act(nn.Dense(width)(h)))
    h = nn.Dense(int(np.prod(self.output_shape)))(h)
    return h.reshape((z.shape[0],) + tuple(self.output_shape))


class TiedDense(nn.Module):
  """``x @ kernelᵀ + bias`` with a borrowed kernel; only the bias is its own.

  The kernel [features, in] is an encoder layer's [d_i, d_{i+1}] kernel, so
  this layer maps d_{i+1} back to d_i.
  """

  @nn.compact
  def __call__(self, x: jax.Array, kernel: jax.Array) -> jax.Array:
    bias = self.param("bias", nn.initializers.zeros_init(), (kernel.shape[0],))
    return jnp.dot(x, kernel.T) + bias


class TiedMLPDecoder(nn.Module):
  """The mirror of an :class:`MLPEncoder` using the transposes of its kernels.

  ``TiedDense_j`` (code side first) mirrors encoder layer ``L - 1 - j`` and
  owns only its bias; gradients of the decoder's use of a kernel flow into
  the encoder's ``Dense_i/kernel``.

  Attributes:
    output_shape: shape of one reconstructed example.
    activation: name of the hidden non-linearity.
    dropout_rate: dropout after each hidden activation in training.
  """
  output_shape: Sequence[int] = (28, 28, 1)
  activation: str = "relu"
  dropout_rate: float = 0.0

  @nn.compact
  def __call__(self, z: jax.Array, kernels: Sequence[jax.Array],
               train: bool = False) -> jax.Array:
    """Decodes ``z`` with ``kernels`` (the encoder's, input side first)."""
    size = int(np.prod(self.output_shape))
    if kernels[0].shape[0] != size:
      raise ValueError(f"The first encoder kernel has {kernels[0].shape[0]} "
                       f"inputs but the output shape {self.output_shape} has "
                       f"{size} values.")
    act = get_activation(self.activation)
    h = z
    for j, kernel in enumerate(reversed(kernels)):
      h = TiedDense()(h, kernel)
      if j < len(kernels) - 1:
        h = _dropout(self.dropout_rate, train, act(h))
    return h.reshape((z.shape[0],) + tuple(self.output_shape))
