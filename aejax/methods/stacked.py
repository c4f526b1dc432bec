"""Stacked autoencoders with greedy layer-wise pre-training.

``stacked_ae`` and ``stacked_dae`` are the ``ae`` and ``dae`` methods with
the :class:`~aejax.methods.base.LayerwisePretrained` capability: the training
loop pre-trains them stage by stage before step 0 (not when it resumes;
:func:`aejax.train.pretrain.pretrain_layerwise`). For an MLP
784-h₁-…-h_k-d it trains one shallow autoencoder per layer, input side
first:

  AE₁: x  -> act(x W₁ + b₁)   = h₁ -> out(h₁ V₁ + c₁)   ≈ x
  AE₂: h₁ -> act(h₁ W₂ + b₂)  = h₂ -> act(h₂ V₂ + c₂)   ≈ h₁
  …
  AE_L: h_{L-1} -> h_{L-1} W_L + b_L = z (linear code) -> act(z V_L + c_L)

each on the (clean) codes of the layers below, frozen. ``(W_l, b_l)`` become
encoder layer l and ``(V_l, c_l)`` the decoder layer that mirrors it; with
``model.tied=True`` the shallow AEs are tied too (``V_l = W_lᵀ``) and only
``c_l`` is the decoder's. Every shallow AE is exactly the piece of the deep
network it initialises: the decoder half of AE_l ends in the non-linearity
that follows that layer in the deep decoder (the method's output activation
for AE₁, the hidden activation for the others). AE₁ minimises the method's loss
(``method.loss``); the others the mean squared error of their input code.
End-to-end training of the whole stack ("fine-tuning") is then the ordinary
``ae`` / ``dae`` training that the loop runs.

With ``stacked_dae`` each shallow AE sees its input corrupted by the method's
corruption (the codes handed to the next layer are computed from clean
inputs), as in stacked denoising autoencoders. The corruption is applied as
configured to every layer's input: masking or salt-and-pepper noise suit
hidden codes; Gaussian noise clipped to [0, 1] suits [0, 1]-valued codes
(sigmoid activations) only. Pre-training uses no dropout.

Settings: ``method.pretrain_epochs`` epochs per layer (0: no pre-training,
the method is then plain ``ae`` / ``dae``), with ``config.optimizer``,
``config.batch_size`` and the training split of the run. Each layer's shallow
AE is a :class:`~aejax.methods.base.GradientMethod` that the training loop
trains like any run (compiled step, sharded batches, checkpoints in
``workdir/pretrain/stage_<l>``); per-epoch losses also go to
``workdir/pretrain.jsonl``. Pre-training is a pure function of the config
and data, so a run killed during it continues it exactly.

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Bengio, Lamblin, Popovici & Larochelle, "Greedy Layer-Wise Training of Deep
  Networks", NIPS 2007.
  Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
  Autoencoders: Learning Useful Representations in a Deep Network with a
  Local Denoising Criterion", JMLR 11, 2010.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp

from aejax import losses
from aejax.methods import base
from aejax.methods.autoencoder import Autoencoder, DenoisingAutoencoder
from aejax.methods.registry import register_method
from aejax.models.activations import get_activation


class ShallowAutoencoder(base.GradientMethod, base.Encoder):
  """The one-hidden-layer AE that pre-trains one layer of a deep MLP AE.

  Its parameters are ``{"encoder": {"kernel", "bias"}, "decoder": {"bias"}
  [+ "kernel" when untied]}``, the same leaves as the deep model's encoder
  layer and the decoder layer that mirrors it. It is a gradient method (not
  registered: the deep method makes one per layer), so the training loop
  trains and evaluates it like any other.

  Args:
    config: the deep run's config (its optimizer is used).
    in_dim, out_dim: the layer's input and output widths.
    tied: decoder kernel = encoder kernelᵀ.
    code_fn: the encoder layer's non-linearity.
    output_fn: the non-linearity after the decoder layer.
    loss_name: ``"mse"`` or ``"bce"`` (see :mod:`aejax.losses`).
    corrupt: ``corrupt(x, key)``, what the encoder sees (identity for AE).
  """

  name = "shallow_ae"

  def __init__(self, config, in_dim: int, out_dim: int, tied: bool,
               code_fn: Callable, output_fn: Callable, loss_name: str,
               corrupt: Callable):
    super().__init__(config, (in_dim,))
    self.out_dim = out_dim
    self.tied = tied
    self.code_fn = code_fn
    self.output_fn = output_fn
    self.loss_name = loss_name
    self.corrupt = corrupt

  def init_variables(self, key, images):
    """Fresh LeCun-normal kernels and zero biases (the loop starts a stage
    from the deep model's own initial layer instead)."""
    in_dim = self.image_shape[0]
    k_enc, k_dec = jax.random.split(key)
    init = jax.nn.initializers.lecun_normal()
    decoder = {"bias": jnp.zeros((in_dim,))}
    if not self.tied:
      decoder["kernel"] = init(k_dec, (self.out_dim, in_dim))
    return {"params": {"encoder": {"kernel": init(k_enc, (in_dim,
                                                            self.out_dim)),
                                   "bias": jnp.zeros((self.out_dim,))},
                       "decoder": decoder},
            "batch_stats": {}}

  def encode(self, params, batch_stats, x: jax.Array) -> jax.Array:
    """The layer's code of inputs ``x`` [B, in_dim]."""
    del batch_stats
    enc = params["encoder"]
    return self.code_fn(jnp.dot(x, enc["kernel"]) + enc["bias"])

  def logits(self, params, x: jax.Array) -> jax.Array:
    dec = params["decoder"]
    kernel = dec["kernel"] if "kernel" in dec else params["encoder"]["kernel"].T
    return jnp.dot(self.encode(params, {}, x), kernel) + dec["bias"]

  def _per_example(self, params, batch, key):
    x = batch["image"].reshape(batch["image"].shape[0], -1)
    logits = self.logits(params, self.corrupt(x, key))
    output = self.output_fn(logits)
    return (losses.reconstruction_loss(self.loss_name, logits, output, x),
            losses.sum_squared_error(output, x))

  def loss_fn(self, params, batch, key, batch_stats):
    per_example, _ = self._per_example(params, batch, key)
    loss = losses.batch_mean(per_example)
    return loss, ({"loss": loss}, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    del batch_stats
    loss, sq_err = self._per_example(params, batch, key)
    return {"loss": loss, "sq_err": sq_err}


class GreedyLayerwisePretraining(base.LayerwisePretrained):
  """Mixin: greedy layer-wise pre-training for an MLP autoencoder method.

  Combine it with a method class (``class M(GreedyLayerwisePretraining,
  Autoencoder)``); it uses that class's ``corrupt``, ``loss_name`` and
  ``output_fn``. See the module docstring for what it does.
  """

  models = ("mlp",)

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    if config.model.name != "mlp":
      raise ValueError(f"Method {self.name!r} pre-trains the layers of an mlp "
                       f"model, not {config.model.name!r}.")
    epochs = config.method.get("pretrain_epochs", 0)
    if not isinstance(epochs, int) or epochs < 0:
      raise ValueError(f"method.pretrain_epochs must be a non-negative "
                       f"integer, got {epochs!r}.")
    self.pretrain_epochs = epochs
    self.tied = bool(config.model.get("tied", False))
    self.widths = (int(math.prod(image_shape)),
                   *(int(h) for h in config.model.hidden),
                   int(config.model.latent_dim))
    self.num_layers = len(self.widths) - 1

  @property
  def num_pretrain_stages(self) -> int:
    return self.num_layers if self.pretrain_epochs else 0

  def pretrain_stage(self, stage):
    return self.shallow_autoencoder(stage)

  def stage_params(self, params, stage):
    return self.layer_params(params, stage)

  def with_stage_params(self, params, stage, stage_params):
    return self.with_layer_params(params, stage, stage_params)

  # -- the layers of the deep model -------------------------------------------

  def layer_params(self, params, layer: int) -> dict:
    """Encoder layer ``layer`` and its mirror in the decoder, as one tree."""
    mirror = self.num_layers - 1 - layer
    name = f"TiedDense_{mirror}" if self.tied else f"Dense_{mirror}"
    return {"encoder": dict(params["encoder"][f"Dense_{layer}"]),
            "decoder": dict(params["decoder"][name])}

  def with_layer_params(self, params, layer: int, new: dict) -> dict:
    """``params`` with encoder layer ``layer`` and its mirror replaced."""
    mirror = self.num_layers - 1 - layer
    name = f"TiedDense_{mirror}" if self.tied else f"Dense_{mirror}"
    params = {k: dict(v) for k, v in params.items()}
    params["encoder"][f"Dense_{layer}"] = new["encoder"]
    params["decoder"][name] = new["decoder"]
    return params

  def shallow_autoencoder(self, layer: int) -> ShallowAutoencoder:
    """The shallow AE that pre-trains layer ``layer`` (0 = input side)."""
    act = get_activation(self.config.model.activation)
    identity = lambda x: x
    first, last = layer == 0, layer == self.num_layers - 1
    return ShallowAutoencoder(
        self.config, self.widths[layer], self.widths[layer + 1], self.tied,
        code_fn=identity if last else act,
        output_fn=self.output_fn if first else act,
        loss_name=self.loss_name if first else "mse",
        corrupt=self.corrupt)


@register_method("stacked_ae")
class StackedAutoencoder(GreedyLayerwisePretraining, Autoencoder):
  """``ae`` after greedy layer-wise pre-training (Hinton & Salakhutdinov 2006;
  Bengio et al. 2007)."""
  config_fields = Autoencoder.config_fields + ("pretrain_epochs",)



@register_method("stacked_dae")
class StackedDenoisingAutoencoder(GreedyLayerwisePretraining,
                                  DenoisingAutoencoder):
  """``dae`` after layer-wise denoising pre-training: stacked denoising
  autoencoders (Vincent et al. 2010)."""
  config_fields = DenoisingAutoencoder.config_fields + ("pretrain_epochs",)

