"""Discriminators on codes: the adversary of the adversarial autoencoder.

References:
  Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders",
  arXiv:1511.05644, 2015 (two hidden layers of 1000 ReLU units on MNIST).
  Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax

from aejax.models.activations import get_activation


class MLPDiscriminator(nn.Module):
  """z -> Dense(h₁) -> act -> ... -> Dense(1): the logit that z is real.

  "Real" means drawn from the prior p(z); "fake" means an encoder code.

  Attributes:
    hidden: widths of the hidden layers.
    activation: name of the hidden non-linearity (see ``activations``).
  """
  hidden: Sequence[int] = (512, 512)
  activation: str = "relu"

  @nn.compact
  def __call__(self, z: jax.Array) -> jax.Array:
    """Returns logits of shape [B]."""
    act = get_activation(self.activation)
    h = z.reshape(z.shape[0], -1)
    for width in self.hidden:
      h = act(nn.Dense(width)(h))
    return nn.Dense(1)(h)[:, 0]
