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
import os

import jax
import jax.numpy as jnp
import numpy as np

from aejax import losses
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.registry import register_method
from aejax.train import figures


def step_mask(lengths: jax.Array, num_steps: int) -> jax.Array:
  """float32 [B, T]: 1 at steps t < length, 0 on padding."""
  return (jnp.arange(num_steps)[None, :] < lengths[:, None]).astype(
      jnp.float32)


@register_method("recurrent_ae")
class RecurrentAutoencoder(Autoencoder):
  """Masked sequence reconstruction with an LSTM/GRU encoder-decoder.

  Needs ``config.model.name = "recurrent"`` (cell: ``model.cell``, widths:
  ``model.rnn_hidden``, code: ``model.latent_dim``).
  """

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
  def encode(self, params, inputs: jax.Array,
             lengths: jax.Array | None = None) -> jax.Array:
    """The codes of ``inputs`` (compiled)."""
    return self.model.apply({"params": params}, inputs, lengths=lengths,
                            method=self.model.encode)

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, inputs: jax.Array,
                  lengths: jax.Array | None = None) -> jax.Array:
    """The output for ``inputs`` (compiled)."""
    _, logits, _ = self.apply(params, batch_stats, inputs, train=False,
                              lengths=lengths)
    return self.output_fn(logits)

  # -- host-side --------------------------------------------------------------

  def figures(self, params, batch_stats, split, key, workdir) -> list[str]:
    """Reconstructions (image grid, or sequence plots), and, when the run
    was fitted on ``config.data.normal_classes``, the anomaly report."""
    if split.lengths is None and len(self.image_shape) == 3:
      paths = super().figures(params, batch_stats, split, key, workdir)
    else:
      paths = [self._sequence_figure(params, batch_stats, split, workdir)]
    normal = tuple(self.config.data.get("normal_classes", ()))
    if normal:
      from aejax.eval import anomaly  # pylint: disable=g-import-not-at-top
      scores = anomaly.reconstruction_scores(
          self, params, batch_stats, split, self.config.eval_batch_size)
      report = anomaly.anomaly_report(scores, split.labels, normal)
      paths += anomaly.write_report(report, scores, split.labels, workdir,
                                    f"{self.name} (test):")
    return paths

  def _sequence_figure(self, params, batch_stats, split, workdir) -> str:
    n = min(self.config.num_figure_images, len(split), 8)
    x = split.images[:n]
    lengths = (split.lengths[:n] if split.lengths is not None
               else np.full(n, self.num_steps, np.int32))
    recon = np.asarray(self.reconstruct(params, batch_stats, jnp.asarray(x),
                                        jnp.asarray(lengths)))
    plt = figures.plt
    fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
      steps = np.arange(lengths[i])
      for f in range(min(x.shape[-1], 3)):
        line, = ax.plot(steps, x[i, :lengths[i], f], lw=1.2)
        ax.plot(steps, recon[i, :lengths[i], f], "--", lw=1.2,
                color=line.get_color())
      ax.set_title(f"label {split.labels[i]}, L={lengths[i]}", fontsize=7)
      ax.tick_params(labelsize=6)
    fig.suptitle(f"{self.name}: test sequences (solid) and reconstructions "
                 "(dashed), first ≤3 features", fontsize=8)
    fig.tight_layout()
    path = os.path.join(workdir, "reconstructions.png")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
