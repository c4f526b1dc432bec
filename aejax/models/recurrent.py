"""Recurrent autoencoder: sequence -> fixed-size code -> sequence.

The encoder is a stack of LSTM or GRU layers; the code is a linear map of the
last layer's hidden state after each sequence's *last real step* (so padding
after the end never reaches it). The decoder is the Keras ``RepeatVector``
pattern: the code is fed as the input at every one of the T output steps of a
stack of recurrent layers, followed by a per-step Dense layer (Keras'
``TimeDistributed(Dense)``) giving the logits. The decoder runs forwards in
time, so its outputs at steps t < length do not depend on anything after the
sequence's end either.

Images [H, W, C] are read as H steps of W·C features (Fashion-MNIST: 28 rows
of 28 pixels), so the model also serves ``ae``/``dae`` on images.

References:
  Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9,
  1997. Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder
  for Statistical Machine Translation", EMNLP 2014 (GRU).
  Srivastava, Mansimov & Salakhutdinov, "Unsupervised Learning of Video
  Representations using LSTMs", ICML 2015 (LSTM autoencoder).
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

CELLS = ("lstm", "gru")


def _cell(kind: str, width: int, name: str) -> nn.RNNCellBase:
  if kind == "lstm":
    return nn.OptimizedLSTMCell(width, name=name)
  if kind == "gru":
    return nn.GRUCell(width, name=name)
  raise ValueError(f"Unknown recurrent cell {kind!r}: choose one of {CELLS}.")


class RecurrentEncoder(nn.Module):
  """[B, T, F] (+ lengths) -> code [B, latent_dim].

  Attributes:
    cell: ``"lstm"`` or ``"gru"``.
    hidden: widths of the stacked recurrent layers.
    latent_dim: size of the code.
  """
  cell: str
  hidden: tuple[int, ...]
  latent_dim: int

  @nn.compact
  def __call__(self, x: jax.Array, lengths: jax.Array | None = None,
               train: bool = False) -> jax.Array:
    del train
    h = x
    for i, width in enumerate(self.hidden):
      # With seq_lengths, the carry returned is the one after each sequence's
      # last real step (flax selects it from the scanned carries).
      cell = _cell(self.cell, width, f"{self.cell}_{i}")
      carry, h = nn.RNN(cell, return_carry=True)(h, seq_lengths=lengths)
    final = carry[1] if self.cell == "lstm" else carry  # LSTM carry is (c, h)
    return nn.Dense(self.latent_dim, name="code")(final)


class RepeatDecoder(nn.Module):
  """code [B, latent_dim] -> logits [B, T, F], the code fed at every step.

  Attributes:
    cell: ``"lstm"`` or ``"gru"``.
    hidden: widths of the stacked recurrent layers.
    num_steps: T.
    features: F.
  """
  cell: str
  hidden: tuple[int, ...]
  num_steps: int
  features: int

  @nn.compact
  def __call__(self, z: jax.Array, train: bool = False) -> jax.Array:
    del train
    h = jnp.repeat(z[:, None, :], self.num_steps, axis=1)  # RepeatVector(T)
    for i, width in enumerate(self.hidden):
      h = nn.RNN(_cell(self.cell, width, f"{self.cell}_{i}"))(h)
    return nn.Dense(self.features, name="output")(h)  # TimeDistributed(Dense)


class RecurrentAutoencoder(nn.Module):
  """Sequence autoencoder with the interface of ``models.Autoencoder``.

  ``data_shape`` is (T, F) for sequences or (H, W, C) for images (read as H
  steps of W·C features); inputs and logits have shape [B, *data_shape].
  ``lengths`` (int [B], each in [1, T]) marks where each sequence ends;
  ``None`` means every sequence is whole. Parameters live under
  ``params["encoder"]`` and ``params["decoder"]``.
  """
  encoder: RecurrentEncoder
  decoder: RepeatDecoder
  data_shape: tuple[int, ...]

  def _steps(self, x: jax.Array) -> jax.Array:
    if x.shape[1:] != tuple(self.data_shape):
      raise ValueError(f"Expected inputs of shape [B, *{self.data_shape}], "
                       f"got {x.shape}.")
    return x.reshape(x.shape[0], self.data_shape[0], -1)

  def encode(self, x: jax.Array, train: bool = False,
             lengths: jax.Array | None = None) -> jax.Array:
    return self.encoder(self._steps(x), lengths, train)

  def decode(self, z: jax.Array, train: bool = False) -> jax.Array:
    logits = self.decoder(z, train)
    return logits.reshape((z.shape[0],) + tuple(self.data_shape))

  def encode_decode(self, x: jax.Array, train: bool = False,
                    lengths: jax.Array | None = None
                    ) -> tuple[jax.Array, jax.Array]:
    """(code, logits): both ends of the bottleneck in one pass."""
    code = self.encode(x, train, lengths)
    return code, self.decode(code, train)

  def __call__(self, x: jax.Array, train: bool = False,
               lengths: jax.Array | None = None) -> jax.Array:
    return self.encode_decode(x, train, lengths)[1]


def recurrent_autoencoder(cfg, data_shape) -> RecurrentAutoencoder:
  """Builds the model from ``config.model`` (``cell``, ``rnn_hidden``,
  ``latent_dim``) for data of shape (T, F) or (H, W, C)."""
  data_shape = tuple(int(d) for d in data_shape)
  if len(data_shape) < 2:
    raise ValueError(f"A recurrent model reads [T, F] sequences (or images "
                     f"[H, W, C] row by row); got data of shape {data_shape}.")
  hidden = tuple(int(w) for w in cfg.get("rnn_hidden", (128,)))
  if not hidden or min(hidden) <= 0:
    raise ValueError(f"model.rnn_hidden must be a non-empty tuple of positive "
                     f"widths, got {hidden}.")
  cell = cfg.get("cell", "lstm")
  if cell not in CELLS:
    raise ValueError(f"Unknown model.cell {cell!r}: choose one of {CELLS}.")
  steps, features = data_shape[0], math.prod(data_shape[1:])
  return RecurrentAutoencoder(
      RecurrentEncoder(cell, hidden, cfg.latent_dim),
      RepeatDecoder(cell, hidden[::-1], steps, features), data_shape)
