"""Recurrent autoencoder (``recurrent_ae``) for variable-length sequences.

An LSTM or GRU encoder reads the sequence up to its real length into a
fixed-size code; a recurrent decoder fed the code at every step (Keras'
``RepeatVector``) reconstructs it (:mod:`aejax.models.recurrent`). Batches
carry ``length`` int32[B] (sequence sets) or none (images, read row by row:
every sequence whole). Padding after a sequence's end is masked twice: the
encoder's code is its state after the last real step, and the loss sums only
real steps. So a sequence padded to any T, with anything in the padding, has
the same code and the same loss.

Per-sequence loss (``config.method.loss``), over the L real steps × F
features:

* ``"mse"``: Σ_{t<L, f} (x̂ - x)² / (L·F), the mean per value;
* ``"bce"``: Bernoulli NLL Σ_{t<L, f} in nats per sequence (values in [0, 1]).

The training loss is their mean over the batch. The evaluation reports
``loss``, ``mse`` (the anomaly score of :mod:`aejax.eval.anomaly`) and
``sq_err_per_sequence`` (Σ_{t<L, f} (x̂ - x)²; for Fashion-MNIST rows, the
squared error per image of Hinton & Salakhutdinov 2006).

References:
  Srivastava, Mansimov & Salakhutdinov, "Unsupervised Learning of Video
  Representations using LSTMs", ICML 2015.
  Malhotra et al., "LSTM-based Encoder-Decoder for Multi-sensor Anomaly
  Detection", ICML Anomaly Detection Workshop, 2016.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from aejax import losses
from aejax.methods import base
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.registry import register_method


def step_mask(lengths: jax.Array, num_steps: int) -> jax.Array:
  """float32 [B, T]: 1 at steps t < length, 0 on padding."""
  return (jnp.arange(num_steps)[None, :] < lengths[:, None]).astype(
      jnp.float32)


@register_method("recurrent_ae")
class RecurrentAutoencoder(Autoencoder, base.SequenceModel):
  """Masked sequence reconstruction with an LSTM/GRU encoder-decoder.

  Needs ``config.model.name = "recurrent"`` (cell: ``model.cell``, widths:
  ``model.rnn_hidden``, code: ``model.latent_dim``).
  """

  models = ("recurrent",)
  config_fields = ("loss", "output")

  def __init__(self, config, image_shape):
    if config.model.name != "recurrent":
      raise ValueError("recurrent_ae needs model.name='recurrent', got "
                       f"{config.model.name!r}.")
    super().__init__(config, image_shape)
    self.num_steps = int(image_shape[0])

  def lengths(self, batch: dict) -> jax.Array:
    """The batch's ``length`` [B], or T for every example when absent."""
    if "length" in batch:
      return batch["length"].astype(jnp.int32)
    return jnp.full(batch["image"].shape[:1], self.num_steps, jnp.int32)

  def apply(self, params, batch_stats, inputs, train: bool,
            key: jax.Array | None = None, lengths: jax.Array | None = None):
    """``(code, logits, batch_stats)``; ``lengths=None``: whole sequences."""
    del train, key  # no dropout or BatchNorm in the recurrent model
    code, logits = self.model.apply({"params": params}, inputs,
                                    lengths=lengths,
                                    method=self.model.encode_decode)
    return code, logits, batch_stats

  def per_sequence(self, logits: jax.Array, target: jax.Array,
                   lengths: jax.Array) -> dict[str, jax.Array]:
    """Masked per-sequence ``loss``, ``mse`` and ``sq_err_per_sequence``."""
    b = target.shape[0]
    mask = step_mask(lengths, self.num_steps)                      # [B, T]
    output = self.output_fn(logits).reshape(b, self.num_steps, -1)
    target = target.reshape(b, self.num_steps, -1)
    logits = logits.reshape(b, self.num_steps, -1)
    # Padding examples of an eval batch have length 0: keep them finite.
    values = jnp.maximum(lengths, 1).astype(jnp.float32) * target.shape[-1]
    sq_err = jnp.sum(jnp.square(output - target).sum(-1) * mask, axis=1)
    if self.loss_name == "mse":
      loss = sq_err / values
    elif self.loss_name == "bce":
      nll = -(target * jax.nn.log_sigmoid(logits)
              + (1.0 - target) * jax.nn.log_sigmoid(-logits))
      loss = jnp.sum(nll.sum(-1) * mask, axis=1)
    else:
      raise ValueError(f"Unknown reconstruction loss {self.loss_name!r}: use "
                       "'mse' or 'bce'.")
    return {"loss": loss, "mse": sq_err / values, "sq_err_per_sequence": sq_err}

  def loss_fn(self, params, batch: dict, key: jax.Array, batch_stats):
    """Pure training loss.

    Args:
      params: model parameters.
      batch: ``{"image": float32[B, T, F] (or images [B, H, W, C]),
        "length": int32[B] (optional)}``.
      key: PRNG key for this step (unused: the model is deterministic).
      batch_stats: passed through (``{}``).

    Returns:
      ``(loss, (metrics, batch_stats))``.
    """
    del key
    x, lengths = batch["image"], self.lengths(batch)
    _, logits, _ = self.apply(params, batch_stats, x, train=True,
                              lengths=lengths)
    loss = losses.batch_mean(self.per_sequence(logits, x, lengths)["loss"])
    return loss, ({"loss": loss}, batch_stats)

  def eval_metrics(self, params, batch: dict, key: jax.Array,
                   batch_stats) -> dict[str, jax.Array]:
    """Per-sequence ``loss``, ``mse`` and ``sq_err_per_sequence``."""
    del key
    x, lengths = batch["image"], self.lengths(batch)
    _, logits, _ = self.apply(params, batch_stats, x, train=False,
                              lengths=lengths)
    return self.per_sequence(logits, x, lengths)

  @functools.partial(jax.jit, static_argnums=0)
  def encode(self, params, batch_stats, inputs: jax.Array,
             lengths: jax.Array | None = None) -> jax.Array:
    """The codes of ``inputs`` (compiled); ``lengths=None``: whole
    sequences."""
    del batch_stats  # no BatchNorm in the recurrent model
    return self.model.apply({"params": params}, inputs, lengths=lengths,
                            method=self.model.encode)

  @functools.partial(jax.jit, static_argnums=0)
  def decode(self, params, batch_stats, z: jax.Array) -> jax.Array:
    """The output sequence [N, T, ...] for codes ``z`` [N, L]."""
    del batch_stats
    logits = self.model.apply({"params": params}, z,
                              method=self.model.decode)
    return self.output_fn(logits)

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, inputs: jax.Array,
                  lengths: jax.Array | None = None) -> jax.Array:
    """The output for ``inputs`` (compiled)."""
    _, logits, _ = self.apply(params, batch_stats, inputs, train=False,
                              lengths=lengths)
    return self.output_fn(logits)

  def score(self, params, batch_stats, batch, key):
    """Masked per-sequence mean squared reconstruction error."""
    return self.eval_metrics(params, batch, key, batch_stats)["mse"]
