"""Contractive autoencoder: a penalty on the encoder Jacobian ‖∂h/∂x‖²_F.

loss = mean_i [rec_i + λ ‖J(x_i)‖²_F], J(x_i) = ∂h(x_i)/∂x_i, the Jacobian of
the code h = act(encoder(x)) with respect to the encoder's input, per example.
``config.method.code_activation`` is ``act``: a sigmoid by default, as in
Rifai et al. With an unbounded code (``"identity"``) the penalty has a cheap
way out, shrinking the code while the decoder grows to undo it, so a lower
‖J‖ then says little about the features.

* ``config.method.contractive_weight`` is λ (≥ 0; 0 gives a plain
  autoencoder that still reports the Jacobian norm at evaluation).
* ``config.method.jacobian_estimator``: ``"exact"`` computes J per example
  (``vmap`` of ``jax.jacrev``: one vector-Jacobian product per code unit, or
  ``jax.jacfwd`` if the code is larger than the input), for any encoder,
  convolutional ones included; ``"hutchinson"`` estimates ‖J‖²_F without
  bias as the mean of ‖J v‖² over ``config.method.num_probes`` Rademacher
  probes v (one Jacobian-vector product each), for large inputs and codes.

BatchNorm: in training mode a BatchNorm layer normalises with the statistics
of the whole batch, so an example's code depends on the other examples and a
one-example Jacobian is not defined (a batch of one would normalise by its
own statistics). The penalty therefore differentiates the encoder in
evaluation mode: BatchNorm as the fixed affine map given by its running
statistics (the encoder as it is used after training), dropout off. The
reconstruction term is unchanged (training mode). For models without
BatchNorm or dropout, such as the MLPs, both modes are the same function.

Evaluation reports ``jacobian_frobenius_sq``, the exact ‖J‖²_F per example.

References:
  Rifai, Vincent, Muller, Glorot & Bengio, "Contractive Auto-Encoders:
  Explicit Invariance During Feature Extraction", ICML 2011.
  Hutchinson, "A stochastic estimator of the trace of the influence matrix
  for Laplacian smoothing splines", 1989.
"""

from __future__ import annotations

import functools

from aejax import losses
from aejax.losses import regularizers
from aejax.methods.registry import register_method
from aejax.methods.sparse import CodeRegularizedAutoencoder, check_weight

ESTIMATORS = ("exact", "hutchinson")


@register_method("contractive")
class ContractiveAutoencoder(CodeRegularizedAutoencoder):
  """Reconstruction + λ ‖∂h/∂x‖²_F per example (Rifai et al. 2011)."""
  config_fields = CodeRegularizedAutoencoder.config_fields + (
      "code_activation", "contractive_weight", "jacobian_estimator",
      "num_probes")

  default_code_activation = "sigmoid"

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    m = config.method
    self.weight = check_weight("contractive_weight", m.contractive_weight)
    if m.jacobian_estimator not in ESTIMATORS:
      raise ValueError(f"Unknown method.jacobian_estimator "
                       f"{m.jacobian_estimator!r}: choose one of "
                       f"{list(ESTIMATORS)}.")
    self.estimator = m.jacobian_estimator
    self.num_probes = int(m.num_probes)
    if self.estimator == "hutchinson" and self.num_probes < 1:
      raise ValueError(f"method.num_probes must be >= 1, got {m.num_probes}.")

  def jacobian_norm_sq(self, params, batch_stats, inputs, key=None,
                       estimator: str = "exact"):
    """‖∂h/∂x‖²_F per example, shape [batch] (encoder in evaluation mode)."""
    encode = functools.partial(self.encode, params, batch_stats)
    if estimator == "exact":
      return regularizers.jacobian_frobenius_sq(encode, inputs)
    return regularizers.hutchinson_frobenius_sq(encode, inputs, key,
                                                self.num_probes)

  def penalty(self, params, batch_stats, inputs, code, key):
    del code
    if self.weight == 0.0:  # Nothing to add: skip the Jacobian's cost.
      return 0.0, {}
    jac = losses.batch_mean(self.jacobian_norm_sq(
        params, batch_stats, inputs, key, self.estimator))
    return self.weight * jac, {"jacobian_frobenius_sq": jac}

  def example_penalty(self, params, batch_stats, inputs, code, key):
    """λ‖∂h/∂x‖²_F per example, with the exact Jacobian."""
    del code, key
    return self.weight * self.jacobian_norm_sq(params, batch_stats, inputs)

  def eval_metrics(self, params, batch, key, batch_stats):
    metrics = super().eval_metrics(params, batch, key, batch_stats)
    metrics["jacobian_frobenius_sq"] = self.jacobian_norm_sq(
        params, batch_stats, self.corrupt(batch["image"], key))
    return metrics
