"""Plain (``ae``) and denoising (``dae``) autoencoders.

Both minimise a reconstruction loss of the clean input; the denoiser feeds the
network a corrupted input (Gaussian, masking or salt-and-pepper noise, see
:mod:`aejax.data.transforms`).

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust
  Features with Denoising Autoencoders", ICML 2008.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from aejax import losses
from aejax.data.transforms import make_corruption
from aejax.methods import base
from aejax.methods.registry import register_method
from aejax.models.autoencoder import build_model

def _identity(x):
  return x


_OUTPUTS = {"sigmoid": jax.nn.sigmoid, "identity": _identity}


@register_method("ae")
class Autoencoder(base.GradientMethod, base.TrainableEncoder, base.Decoder,
                  base.Reconstructor, base.AnomalyScorer):
  """Reconstruct the input: loss = batch_mean(reconstruction_loss(x̂, x)).

  ``config.method.loss`` is ``"mse"`` (mean over pixels, per example) or
  ``"bce"`` (Bernoulli NLL summed over pixels, nats per example);
  ``config.method.output`` is the decoder's output activation (``"sigmoid"``
  or ``"identity"``; ``"bce"`` needs ``"sigmoid"``).
  """
  models = ("mlp", "conv")
  config_fields = ("loss", "output")

  def __init__(self, config, image_shape: tuple[int, ...]):
    super().__init__(config, image_shape)
    self.model = build_model(config.model, image_shape)
    self.loss_name = config.method.loss
    if config.method.output not in _OUTPUTS:
      raise ValueError(f"Unknown output activation {config.method.output!r}: "
                       f"choose one of {sorted(_OUTPUTS)}.")
    if self.loss_name == "bce" and config.method.output != "sigmoid":
      raise ValueError("loss 'bce' models Bernoulli pixels and needs "
                       "method.output='sigmoid'.")
    self.output_fn = _OUTPUTS[config.method.output]

  # -- pure functions ---------------------------------------------------------

  def init_variables(self, key: jax.Array, images: jax.Array) -> dict:
    """Initial ``{"params": ..., "batch_stats": ...}`` for a batch shape."""
    variables = dict(self.model.init({"params": key}, images, train=False))
    variables.setdefault("batch_stats", {})
    return variables

  def corrupt(self, images: jax.Array, key: jax.Array) -> jax.Array:
    """What the network sees; the plain autoencoder sees the clean input."""
    del key
    return images

  def apply(self, params, batch_stats, inputs, train: bool,
            key: jax.Array | None = None):
    """Runs the model.

    Args:
      params: model parameters.
      batch_stats: BatchNorm statistics (``{}`` if the model has none).
      inputs: what the encoder sees.
      train: training mode (BatchNorm uses batch statistics and updates its
        running ones; dropout is active).
      key: PRNG key for the model's own randomness (dropout), training only.

    Returns:
      ``(code, logits, new_batch_stats)``.
    """
    variables = {"params": params, "batch_stats": batch_stats}
    rngs = {"dropout": key} if key is not None else {}
    if train:
      (code, logits), updates = self.model.apply(
          variables, inputs, train=True, rngs=rngs, mutable=["batch_stats"],
          method=self.model.encode_decode)
      return code, logits, updates.get("batch_stats", batch_stats)
    code, logits = self.model.apply(variables, inputs, train=False,
                                    method=self.model.encode_decode)
    return code, logits, batch_stats

  def loss_fn(self, params, batch: dict, key: jax.Array, batch_stats):
    """Pure training loss.

    Args:
      params: model parameters.
      batch: ``{"image": float32[B, H, W, C] in [0, 1], ...}``.
      key: PRNG key for this step.
      batch_stats: BatchNorm statistics (``{}`` if the model has none).

    Returns:
      ``(loss, (metrics, new_batch_stats))``.
    """
    clean = batch["image"]
    k_corrupt, k_model = jax.random.split(key)
    _, logits, new_batch_stats = self.apply(
        params, batch_stats, self.corrupt(clean, k_corrupt), train=True,
        key=k_model)
    per_example = losses.reconstruction_loss(
        self.loss_name, logits, self.output_fn(logits), clean)
    loss = losses.batch_mean(per_example)
    return loss, ({"loss": loss}, new_batch_stats)

  def eval_metrics(self, params, batch: dict, key: jax.Array,
                   batch_stats) -> dict[str, jax.Array]:
    """Per-example evaluation metrics (the eval step averages them).

    ``sq_err_per_image`` is Σ_pixels (x̂ - x)² for pixels in [0, 1], the
    measure of Hinton & Salakhutdinov (2006); ``mse`` is its mean per pixel.
    """
    clean = batch["image"]
    inputs = self.corrupt(clean, key)
    _, logits, _ = self.apply(params, batch_stats, inputs, train=False)
    output = self.output_fn(logits)
    return {
        "loss": losses.reconstruction_loss(self.loss_name, logits, output,
                                           clean),
        "mse": losses.mean_squared_error(output, clean),
        "sq_err_per_image": losses.sum_squared_error(output, clean),
        "psnr": losses.psnr(jnp.clip(output, 0.0, 1.0), clean),
    }

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, inputs: jax.Array) -> jax.Array:
    """The evaluation-mode output for ``inputs`` (compiled)."""
    _, logits, _ = self.apply(params, batch_stats, inputs, train=False)
    return self.output_fn(logits)

  @functools.partial(jax.jit, static_argnums=0)
  def encode(self, params, batch_stats, inputs: jax.Array) -> jax.Array:
    """The code of ``inputs``, flattened to [B, L] (evaluation mode; the
    encoder only, no decoder pass)."""
    code = self.model.apply({"params": params, "batch_stats": batch_stats},
                            inputs, False, method=self.model.encode)
    return code.reshape(code.shape[0], -1)

  @functools.partial(jax.jit, static_argnums=0)
  def decode(self, params, batch_stats, z: jax.Array) -> jax.Array:
    """The output (after ``method.output``) for codes ``z`` [N, L]."""
    logits = self.model.apply({"params": params, "batch_stats": batch_stats},
                              z, False, method=self.model.decode)
    return self.output_fn(logits)

  def encoder_network(self):
    """``(model.encoder, code map)``; the code map is the identity here."""
    return self.model.encoder, _identity

  def score(self, params, batch_stats, batch, key):
    """Reconstruction error: the per-example mean squared error of the
    (clean-input) reconstruction, in the data's units."""
    del key
    recon = self.reconstruct(params, batch_stats, batch["image"])
    return losses.mean_squared_error(recon, batch["image"])


@register_method("dae")
class DenoisingAutoencoder(Autoencoder, base.Denoiser):
  config_fields = Autoencoder.config_fields + ("corruption",)
  """Reconstruct the clean input from a corrupted one (Vincent et al. 2008).

  ``config.method.corruption`` names the corruption and its parameters, e.g.
  ``{"name": "gaussian", "mean": 0.5, "std": 0.5, "clip_min": 0.0,
  "clip_max": 1.0}`` (seed 002). Evaluation corrupts with a fixed key, so
  the reported PSNR of denoised vs clean is deterministic.
  """
  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    params = dict(config.method.corruption)
    self._corrupt = make_corruption(params.pop("name"), **params)

  def corrupt(self, images, key):
    return self._corrupt(images, key)

  def eval_metrics(self, params, batch, key, batch_stats):
    metrics = super().eval_metrics(params, batch, key, batch_stats)
    noisy = self.corrupt(batch["image"], key)
    metrics["psnr_noisy"] = losses.psnr(noisy, batch["image"])
    return metrics
