r"""The networks of the ladder network: an MLP encoder and its denoising decoder.

Rasmus, Valpola, Honkala, Berglund & Raiko (2015), §3 and Algorithm 1. The
encoder has layers l = 1 … L (widths ``hidden`` then C classes); each is

  z_pre⁽ˡ⁾ = W⁽ˡ⁾ h⁽ˡ⁻¹⁾,   z⁽ˡ⁾ = BN(z_pre⁽ˡ⁾) (+ noise),
  h⁽ˡ⁾ = φ(z⁽ˡ⁾ + β⁽ˡ⁾),     h⁽ᴸ⁾ = softmax(γ ⊙ (z⁽ᴸ⁾ + β⁽ᴸ⁾)),

with BN a normalisation by the batch's mean and standard deviation (no
learned scale: β and γ follow it). The decoder runs from the top down:
u⁽ᴸ⁾ = BN(h̃⁽ᴸ⁾), u⁽ˡ⁾ = BN(V⁽ˡ⁺¹⁾ ẑ⁽ˡ⁺¹⁾), and ẑ⁽ˡ⁾ = g(z̃⁽ˡ⁾, u⁽ˡ⁾) combines
the corrupted encoder's z̃⁽ˡ⁾ (the lateral connection) with the signal from
above through the "vanilla" combinator of the paper (§3; ten parameters
a₁ … a₁₀ per unit):

  μ = a₁ σ(a₂ u + a₃) + a₄ u + a₅,   v = a₆ σ(a₇ u + a₈) + a₉ u + a₁₀,
  ẑ = (z̃ − μ) v + μ.

This module holds the parameters and the pure per-layer maps; the two
passes, the batch statistics and the costs are
:class:`aejax.methods.ladder.Ladder`'s.

References:
  Rasmus, Valpola, Honkala, Berglund & Raiko, "Semi-Supervised Learning
  with Ladder Networks", NIPS 2015.
"""

from __future__ import annotations

from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

# a₁ … a₁₀ at initialisation (the paper's code): μ = 0, v = 0, so ẑ starts
# at 0 and learns how much of z̃ and of u to use.
COMBINATOR_INIT = (0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0)


def _combinator_init(key, shape):
  del key
  return jnp.broadcast_to(jnp.asarray(COMBINATOR_INIT)[:, None], shape)


class LadderNetworks(nn.Module):
  """Encoder weights W⁽ˡ⁾, shifts β⁽ˡ⁾, the top scale γ, decoder weights
  V⁽ˡ⁾ and the combinators' a⁽ˡ⁾ of a fully connected ladder network.

  Attributes:
    data_dim: D, the flattened input size (layer 0).
    hidden: widths of the hidden layers 1 … L − 1, input side first.
    num_classes: C, the width of the top layer L.
  """
  data_dim: int = 784
  hidden: Sequence[int] = (1000, 500, 250, 250, 250)
  num_classes: int = 10

  @property
  def sizes(self) -> tuple[int, ...]:
    """Widths of layers 0 … L (the input first, the classes last)."""
    return (self.data_dim, *self.hidden, self.num_classes)

  def setup(self):
    sizes = self.sizes
    num_layers = len(sizes) - 1
    self.encoder = [nn.Dense(sizes[l], use_bias=False, name=f"W{l}")
                    for l in range(1, num_layers + 1)]
    self.shifts = [self.param(f"beta{l}", nn.initializers.zeros, (sizes[l],))
                   for l in range(1, num_layers + 1)]
    self.top_scale = self.param("gamma", nn.initializers.ones,
                                (self.num_classes,))
    self.decoder = [nn.Dense(sizes[l - 1], use_bias=False, name=f"V{l}")
                    for l in range(1, num_layers + 1)]
    self.combinators = [self.param(f"a{l}", _combinator_init, (10, sizes[l]))
                        for l in range(num_layers + 1)]

  def project(self, h: jax.Array, layer: int) -> jax.Array:
    """z_pre⁽ˡ⁾ = W⁽ˡ⁾ h⁽ˡ⁻¹⁾ for layer l = ``layer`` ≥ 1."""
    return self.encoder[layer - 1](h)

  def activate(self, z: jax.Array, layer: int, act) -> jax.Array:
    """h⁽ˡ⁾ from the normalised (and perhaps noisy) z⁽ˡ⁾: ``act`` below
    the top, the logits γ ⊙ (z + β) at the top (softmax is the caller's)."""
    shifted = z + self.shifts[layer - 1]
    if layer == len(self.sizes) - 1:
      return self.top_scale * shifted
    return act(shifted)

  def down(self, z_hat: jax.Array, layer: int) -> jax.Array:
    """V⁽ˡ⁾ ẑ⁽ˡ⁾: the decoder's step from layer l to layer l − 1."""
    return self.decoder[layer - 1](z_hat)

  def combine(self, z_noisy: jax.Array, u: jax.Array,
              layer: int) -> jax.Array:
    """ẑ⁽ˡ⁾ = g(z̃⁽ˡ⁾, u⁽ˡ⁾), the vanilla combinator."""
    a = self.combinators[layer]
    mu = a[0] * jax.nn.sigmoid(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * jax.nn.sigmoid(a[6] * u + a[7]) + a[8] * u + a[9]
    return (z_noisy - mu) * v + mu

  def __call__(self, x: jax.Array) -> jax.Array:
    """Every parameter once (initialisation): up the encoder, then down."""
    h = x.reshape(x.shape[0], -1)
    zs = [h]
    for l in range(1, len(self.sizes)):
      zs.append(self.project(h, l))
      h = self.activate(zs[-1], l, nn.relu)
    z_hat = self.combine(zs[-1], h, len(self.sizes) - 1)
    for l in range(len(self.sizes) - 1, 0, -1):
      z_hat = self.combine(zs[l - 1], self.down(z_hat, l), l - 1)
    return z_hat
