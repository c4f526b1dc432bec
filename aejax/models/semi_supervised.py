"""The networks of the M2 model: q(y|x), q(z|x, y) and p(x|y, z), all MLPs.

Kingma et al. (2014, §3.1.2, §4) parameterise M2 with fully connected
networks: the classifier q(y|x) = Cat(y; π(x)), the Gaussian encoder
q(z|x, y) = N(z; μ(x, y), diag σ²(x, y)) and the decoder p(x|y, z), each
with its own hidden layers. The encoder reads the concatenation [x, y];
its first layer is written as ``Dense(x) + Dense(y, no bias)``, which is the
same affine map of [x, y], so that the part that depends on x alone is
computed once per example while the label is marginalised over its C values
(:meth:`M2Networks.encode_x`, then :meth:`M2Networks.posterior` per label).

References:
  Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
  Generative Models", NIPS 2014.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aejax.models.activations import get_activation


class MLP(nn.Module):
  """x (flattened) -> [Dense(h) -> act]* -> Dense(out) (linear)."""
  hidden: Sequence[int] = ()
  out: int = 10
  activation: str = "relu"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    act = get_activation(self.activation)
    h = x.reshape(x.shape[0], -1)
    for width in self.hidden:
      h = act(nn.Dense(width)(h))
    return nn.Dense(self.out)(h)


class M2Networks(nn.Module):
  """Classifier, label-conditional encoder and decoder of M2.

  Parameters: ``classifier`` (q(y|x)), ``encoder_x``, ``encoder_y``,
  ``encoder_rest`` (q(z|x, y)) and ``decoder`` (p(x|y, z)).

  Attributes:
    hidden: encoder widths, input side first (the decoder mirrors them);
      at least one.
    latent_dim: size of z.
    out_dim: decoder outputs per example (pixels, or 2 × pixels for a
      learned per-pixel variance).
    num_classes: C, the number of values of y.
    classifier_hidden: hidden widths of q(y|x).
    activation: hidden non-linearity.
  """
  hidden: Sequence[int] = (500,)
  latent_dim: int = 50
  out_dim: int = 784
  num_classes: int = 10
  classifier_hidden: Sequence[int] = (500,)
  activation: str = "relu"

  def setup(self):
    if not self.hidden:
      raise ValueError("M2's encoder needs at least one hidden layer "
                       "(model.hidden), where it reads the label.")
    self.classifier = MLP(tuple(self.classifier_hidden), self.num_classes,
                          self.activation)
    self.encoder_x = nn.Dense(self.hidden[0])
    self.encoder_y = nn.Dense(self.hidden[0], use_bias=False)
    self.encoder_rest = MLP(tuple(self.hidden[1:]), 2 * self.latent_dim,
                            self.activation)
    self.decoder = MLP(tuple(self.hidden[::-1]), self.out_dim,
                       self.activation)

  def logits(self, x: jax.Array) -> jax.Array:
    """Class logits of q(y|x), [B, C]."""
    return self.classifier(x)

  def encode_x(self, x: jax.Array) -> jax.Array:
    """The label-free part of the encoder's first layer, [B, hidden[0]]."""
    return self.encoder_x(x.reshape(x.shape[0], -1))

  def posterior(self, hx: jax.Array, y: jax.Array) -> jax.Array:
    """(μ, raw log σ²) of q(z|x, y), [B, 2L], from ``encode_x(x)`` and
    one-hot (or soft) labels y [B, C]."""
    act = get_activation(self.activation)
    return self.encoder_rest(act(hx + self.encoder_y(y)))

  def decode(self, z: jax.Array, y: jax.Array) -> jax.Array:
    """Decoder outputs [B, out_dim] for codes z [B, L] and labels y [B, C]."""
    return self.decoder(jnp.concatenate([z, y], axis=-1))

  def __call__(self, x: jax.Array) -> jax.Array:
    """Every network once (initialisation): the decoder's outputs at the
    classifier's soft label and z = μ."""
    y = nn.softmax(self.logits(x))
    mean = jnp.split(self.posterior(self.encode_x(x), y), 2, axis=-1)[0]
    return self.decode(mean, y)
