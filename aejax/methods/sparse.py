"""Sparse autoencoders: an L1 activity penalty or a KL(ρ ‖ ρ̂) penalty on the code.

Both methods put an activation on the encoder's linear code before the decoder
sees it (``config.method.code_activation``; sigmoid by default, as in seed 003
and Ng's notes), so the code is ``h = act(encoder(x))`` and the decoder
reconstructs from ``h``:

* ``sparse_l1``: loss = mean_i [rec_i + λ Σ_j |h_ij|];
* ``sparse_kl``: loss = mean_i rec_i + β Σ_j KL(ρ ‖ ρ̂_j), with ρ̂_j the mean
  activation of code unit j over the batch (a batch-level term, Ng 2011) and
  the sigmoid code required.

λ and β are ``config.method.sparsity_weight``, ρ is
``config.method.sparsity_target``. rec_i is the reconstruction loss of
:class:`aejax.methods.autoencoder.Autoencoder` (``"mse"``: mean over pixels;
``"bce"``: nats summed over pixels), so the weight that gives a given sparsity
depends on that choice. Evaluation reports, per example, ``code_mean``
(mean_j h_j) and ``code_near_zero`` (the share of code units with
|h_j| < 0.05).

:class:`CodeRegularizedAutoencoder`, the base class here, is the shared
mechanism: an activated code and a regulariser added to the reconstruction
loss; :mod:`aejax.methods.contractive` uses it too.

References:
  Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
  Lee, Ekanadham & Ng, "Sparse deep belief net model for visual area V2",
  NeurIPS 2008.
  Ranzato, Poultney, Chopra & LeCun, "Efficient Learning of Sparse
  Representations with an Energy-Based Model", NeurIPS 2006.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from aejax import losses
from aejax.losses import regularizers
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.registry import register_method
from aejax.models.activations import get_activation

NEAR_ZERO = 0.05  # |h_j| below this counts as an inactive code unit.


def check_weight(name: str, value: float) -> float:
  """A penalty weight: finite and ≥ 0 (0 switches the penalty off)."""
  value = float(value)
  if not value >= 0.0 or value == float("inf"):
    raise ValueError(f"method.{name} must be a finite number >= 0, got "
                     f"{value}.")
  return value


class CodeRegularizedAutoencoder(Autoencoder):
  """An autoencoder with an activated code and a penalty on it.

  The code is ``h = act(encoder(x))`` with ``act`` named by
  ``config.method.code_activation`` (``"auto"``: the subclass's
  ``default_code_activation``); the decoder reconstructs from ``h``. The
  training loss is mean_i rec_i + ``self.penalty(...)``.
  """
  default_code_activation = "identity"

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    name = config.method.code_activation
    self.code_activation = (self.default_code_activation if name == "auto"
                            else name)
    self.code_fn = get_activation(self.code_activation)

  def _run(self, module_method, params, batch_stats, inputs, train, key):
    """``(output, batch_stats)`` of one of the model's methods."""
    variables = {"params": params, "batch_stats": batch_stats}
    if not train:
      return self.model.apply(variables, inputs, train=False,
                              method=module_method), batch_stats
    rngs = {"dropout": key} if key is not None else {}
    out, updates = self.model.apply(variables, inputs, train=True, rngs=rngs,
                                    mutable=["batch_stats"],
                                    method=module_method)
    return out, updates.get("batch_stats", batch_stats)

  def apply(self, params, batch_stats, inputs, train: bool,
            key: jax.Array | None = None):
    """``(h, logits, new_batch_stats)`` with ``h = act(encoder(inputs))``."""
    if self.code_activation == "identity":
      return super().apply(params, batch_stats, inputs, train, key)
    code, batch_stats = self._run(self.model.encode, params, batch_stats,
                                  inputs, train, key)
    code = self.code_fn(code)
    logits, batch_stats = self._run(self.model.decode, params, batch_stats,
                                    code, train, key)
    return code, logits, batch_stats

  def encode(self, params, batch_stats, inputs: jax.Array) -> jax.Array:
    """The code ``h`` in evaluation mode (BatchNorm uses running statistics).

    Each example's code depends on that example only, so its Jacobian with
    respect to the input is well defined.
    """
    code, _ = self._run(self.model.encode, params, batch_stats, inputs,
                        train=False, key=None)
    return self.code_fn(code)

  def encoder_network(self):
    """``(model.encoder, code activation)``."""
    return self.model.encoder, self.code_fn

  def penalty(self, params, batch_stats, inputs, code, key
              ) -> tuple[jax.Array, dict[str, jax.Array]]:
    """The regulariser added to the batch-mean reconstruction loss."""
    raise NotImplementedError

  def loss_fn(self, params, batch: dict, key: jax.Array, batch_stats):
    """Pure training loss: mean_i rec_i + penalty.

    Args:
      params: model parameters.
      batch: ``{"image": float32[B, H, W, C] in [0, 1], ...}``.
      key: PRNG key for this step.
      batch_stats: BatchNorm statistics (``{}`` if the model has none).

    Returns:
      ``(loss, (metrics, new_batch_stats))``; metrics hold ``loss``,
      ``reconstruction``, ``penalty`` and the subclass's own.
    """
    clean = batch["image"]
    k_corrupt, k_model, k_penalty = jax.random.split(key, 3)
    inputs = self.corrupt(clean, k_corrupt)
    code, logits, new_batch_stats = self.apply(params, batch_stats, inputs,
                                               train=True, key=k_model)
    reconstruction = losses.batch_mean(losses.reconstruction_loss(
        self.loss_name, logits, self.output_fn(logits), clean))
    penalty, metrics = self.penalty(params, batch_stats, inputs, code,
                                    k_penalty)
    loss = reconstruction + penalty
    metrics = {"loss": loss, "objective": loss,
               "reconstruction": reconstruction, "penalty": penalty,
               **metrics}
    return loss, (metrics, new_batch_stats)

  def example_penalty(self, params, batch_stats, inputs, code, key):
    """The penalty per example [B] for evaluation; by default the batch's
    penalty for every example (a penalty on batch statistics, such as
    KL(ρ‖ρ̂), has no per-example share)."""
    penalty, _ = self.penalty(params, batch_stats, inputs, code, key)
    return jnp.broadcast_to(penalty, code.shape[:1])

  def eval_metrics(self, params, batch, key, batch_stats):
    """The autoencoder's metrics plus the training objective's terms under
    the same names as in training: ``reconstruction`` (= ``loss``, the
    reconstruction loss), ``penalty`` and ``objective`` (their sum), so
    train and validation curves compare like with like."""
    metrics = super().eval_metrics(params, batch, key, batch_stats)
    inputs = self.corrupt(batch["image"], key)  # as the metrics above
    code = self.encode(params, batch_stats, inputs)
    penalty = self.example_penalty(params, batch_stats, inputs, code,
                                   jax.random.fold_in(key, 1))
    metrics["reconstruction"] = metrics["loss"]
    metrics["penalty"] = penalty
    metrics["objective"] = metrics["loss"] + penalty
    return metrics


class _SparseAutoencoder(CodeRegularizedAutoencoder):
  """Shared by the two sparsity penalties: weight check, code metrics."""
  default_code_activation = "sigmoid"

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.weight = check_weight("sparsity_weight",
                               config.method.sparsity_weight)

  def eval_metrics(self, params, batch, key, batch_stats):
    metrics = super().eval_metrics(params, batch, key, batch_stats)
    code = self.encode(params, batch_stats, self.corrupt(batch["image"], key))
    code = code.reshape(code.shape[0], -1)
    metrics["code_mean"] = jnp.mean(code, axis=-1)
    metrics["code_near_zero"] = jnp.mean(
        (jnp.abs(code) < NEAR_ZERO).astype(jnp.float32), axis=-1)
    metrics["code_l1"] = regularizers.l1_activity(code)
    return metrics


@register_method("sparse_l1")
class L1SparseAutoencoder(_SparseAutoencoder):
  """Sparse AE with the L1 activity penalty λ Σ_j |h_j| per example.

  ``config.method.sparsity_weight`` is λ (≥ 0; 0 gives a plain autoencoder
  with the same activated code). With the default sigmoid code |h_j| = h_j,
  so the penalty pushes units towards 0; with an unbounded code
  (``code_activation="identity"`` or ``"relu"``) the decoder can undo a
  shrunken code by growing its weights, so prefer a bounded one.

  References:
    Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
    Ranzato, Poultney, Chopra & LeCun, NeurIPS 2006.
  """
  config_fields = Autoencoder.config_fields + ("code_activation",
                                               "sparsity_weight")


  def penalty(self, params, batch_stats, inputs, code, key):
    del params, batch_stats, inputs, key
    l1 = losses.batch_mean(regularizers.l1_activity(code))
    return self.weight * l1, {"code_l1": l1}

  def example_penalty(self, params, batch_stats, inputs, code, key):
    del params, batch_stats, inputs, key
    return self.weight * regularizers.l1_activity(code)


@register_method("sparse_kl")
class KLSparseAutoencoder(_SparseAutoencoder):
  """Sparse AE with a sigmoid code and the penalty β Σ_j KL(ρ ‖ ρ̂_j).

  ρ̂_j is the mean of code unit j over the (global) batch, so the penalty is
  one number per batch, added to the batch-mean reconstruction loss.
  ``config.method.sparsity_weight`` is β (≥ 0), ``sparsity_target`` is ρ
  (in (0, 1)). The code must be a sigmoid (``code_activation`` ``"auto"`` or
  ``"sigmoid"``): the KL of Bernoulli means needs activations in (0, 1).

  References:
    Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
    Lee, Ekanadham & Ng, "Sparse deep belief net model for visual area V2",
    NeurIPS 2008.
  """
  config_fields = Autoencoder.config_fields + (
      "code_activation", "sparsity_weight", "sparsity_target")


  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    if self.code_activation != "sigmoid":
      raise ValueError(
          "sparse_kl needs a code in (0, 1): set method.code_activation to "
          f"'sigmoid' or 'auto', not {config.method.code_activation!r}.")
    self.target = float(config.method.sparsity_target)
    if not 0.0 < self.target < 1.0:
      raise ValueError("method.sparsity_target (ρ) must be in (0, 1), got "
                       f"{config.method.sparsity_target}.")

  def penalty(self, params, batch_stats, inputs, code, key):
    del params, batch_stats, inputs, key
    kl = jnp.sum(regularizers.kl_sparsity(code, self.target))
    return self.weight * kl, {"kl_sparsity": kl,
                              "code_mean": jnp.mean(code)}
