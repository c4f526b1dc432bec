r"""The ladder network: a classifier whose every layer is also denoised.

Rasmus, Valpola, Honkala, Berglund & Raiko (2015) train a classifier on a
few labelled examples together with a denoising autoencoder on every
example, whose decoder reconstructs each layer of the encoder, not just the
input (Valpola 2015). Per step (Algorithm 1 of the paper):

* the **corrupted encoder** adds N(0, σ²) noise (``method.layer_noise_std``)
  to the input and to every batch-normalised layer z̃⁽ˡ⁾; its softmax output
  on the labelled examples gives the supervised cost −log P(ỹ = y | x);
* the **clean encoder** (no noise) gives the targets z⁽ˡ⁾ and the batch
  means and standard deviations μ⁽ˡ⁾, σ⁽ˡ⁾ of each layer;
* the **decoder** (:class:`aejax.models.ladder.LadderNetworks`) estimates
  ẑ⁽ˡ⁾ from z̃⁽ˡ⁾ and the layer above, and the unsupervised cost is
  Σ_l λ⁽ˡ⁾ / width⁽ˡ⁾ · ‖z⁽ˡ⁾ − (ẑ⁽ˡ⁾ − μ⁽ˡ⁾) / σ⁽ˡ⁾‖² per example (§3;
  at the input, layer 0, ‖x − ẑ⁽⁰⁾‖²), λ = ``method.denoising_weights``.

The loss is mean(cross-entropy over the labelled sub-batch) + mean(denoising
cost over the batch). The batch the loop gives is unlabelled (its labels are
never read); the labelled sub-batch is drawn from the ``method.num_labels``
labelled examples by :class:`aejax.methods.semi_supervised.LabelledExamples`
(the few-label draws of the M1/M2 table, so the same images). The labelled
and the unlabelled examples are normalised each by their own batch's
statistics, as in the authors' code. Evaluation and :meth:`Ladder.classify`
run the clean encoder with running averages of the unlabelled batches'
means and variances (``batch_stats``, momentum :data:`STATS_MOMENTUM`).

Paper settings (MNIST, fully connected, §4.1): widths 784-1000-500-250-250-
250-10 (``model.hidden = (1000, 500, 250, 250, 250)``), ReLU, σ = 0.3,
λ = (1000, 10, 0.1, 0.1, 0.1, 0.1, 0.1), Adam 2e-3 then linear decay; 100
labels: 1.06 % test error.

References:
  Rasmus, Valpola, Honkala, Berglund & Raiko, "Semi-Supervised Learning
  with Ladder Networks", NIPS 2015.
  Valpola, "From neural PCA to deep unsupervised learning", in Advances in
  Independent Component Analysis and Learning Machines, 2015.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax

from aejax import losses
from aejax.methods import base
from aejax.methods.registry import register_method
from aejax.methods.semi_supervised import NUM_CLASSES, LabelledExamples
from aejax.models.activations import get_activation
from aejax.models.ladder import LadderNetworks

EPS = 1e-6             # added to the variances before normalising
STATS_MOMENTUM = 0.99  # running averages: new = m · old + (1 − m) · batch


def _normalise(x: jax.Array, mean: jax.Array, var: jax.Array) -> jax.Array:
  return (x - mean) * jax.lax.rsqrt(var + EPS)


def _batch_normalise(x: jax.Array) -> jax.Array:
  return _normalise(x, jnp.mean(x, 0), jnp.var(x, 0))


@register_method("ladder")
class Ladder(LabelledExamples, base.GradientMethod, base.Reconstructor):
  """The fully connected ladder network of Rasmus et al. (2015); see the
  module docstring. Parameters: :class:`aejax.models.ladder.LadderNetworks`'
  (``W1`` …, ``beta1`` …, ``gamma``, ``V1`` …, ``a0`` …); ``batch_stats``:
  ``{"layer<l>": {"mean", "var"}}``, the running statistics of layers
  1 … L."""
  model_fields = ("hidden", "activation")
  config_fields = ("layer_noise_std", "denoising_weights", "num_labels",
                   "label_draw", "labelled_batch_size")

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self._init_labels(config)
    self.net = LadderNetworks(int(np.prod(self.image_shape)),
                              tuple(config.model.hidden), NUM_CLASSES)
    self.sizes = self.net.sizes
    self.num_layers = len(self.sizes) - 1
    self.act = get_activation(config.model.activation)
    self.noise_std = float(config.method.layer_noise_std)
    self.denoising_weights = tuple(
        float(w) for w in config.method.denoising_weights)
    if len(self.denoising_weights) != self.num_layers + 1:
      raise ValueError(
          f"method.denoising_weights has {len(self.denoising_weights)} "
          f"weights; the ladder with model.hidden={tuple(config.model.hidden)}"
          f" has {self.num_layers + 1} layers to denoise (the input, "
          f"{len(self.sizes) - 2} hidden, the {NUM_CLASSES} classes): give "
          f"{self.num_layers + 1}.")

  def init_variables(self, key, images):
    params = self.net.init(key, images.reshape(images.shape[0], -1))["params"]
    stats = {f"layer{l}": {"mean": jnp.zeros(self.sizes[l]),
                           "var": jnp.ones(self.sizes[l])}
             for l in range(1, self.num_layers + 1)}
    return {"params": params, "batch_stats": stats}

  # -- the passes ---------------------------------------------------------------

  def encode_layers(self, params, x, key=None, batch_stats=None):
    """One pass up the encoder.

    Args:
      params: the network's parameters.
      x: inputs [B, ...].
      key: the noise of the corrupted encoder; ``None``: the clean one.
      batch_stats: running statistics to normalise with; ``None``: the
        batch's own.

    Returns:
      ``(zs, logits, moments)``: z⁽⁰⁾ … z⁽ᴸ⁾ (z⁽⁰⁾ the input, noisy or not;
      the others normalised, noisy or not) [B, width], the top layer's
      logits γ ⊙ (z⁽ᴸ⁾ + β) [B, C], and the (mean, variance) [width] each
      layer 1 … L was normalised with.
    """
    keys = (None if key is None
            else jax.random.split(key, self.num_layers + 1))

    def noisy(z, l):
      if keys is None:
        return z
      return z + self.noise_std * jax.random.normal(keys[l], z.shape, z.dtype)

    def up(net):
      h = noisy(x.reshape(x.shape[0], -1), 0)
      zs, moments = [h], []
      for l in range(1, self.num_layers + 1):
        z_pre = net.project(h, l)
        if batch_stats is None:
          moment = (jnp.mean(z_pre, 0), jnp.var(z_pre, 0))
        else:
          stats = batch_stats[f"layer{l}"]
          moment = (stats["mean"], stats["var"])
        zs.append(noisy(_normalise(z_pre, *moment), l))
        moments.append(moment)
        h = net.activate(zs[-1], l, self.act)
      return zs, h, moments

    return self.net.apply({"params": params}, method=up)

  def decode_layers(self, params, noisy_zs, noisy_logits):
    """ẑ⁽⁰⁾ … ẑ⁽ᴸ⁾ [B, width] from the corrupted encoder's pass, top down."""

    def down(net):
      z_hats = [None] * (self.num_layers + 1)
      u = _batch_normalise(jax.nn.softmax(noisy_logits))
      for l in range(self.num_layers, -1, -1):
        if l < self.num_layers:
          u = _batch_normalise(net.down(z_hats[l + 1], l + 1))
        z_hats[l] = net.combine(noisy_zs[l], u, l)
      return z_hats

    return self.net.apply({"params": params}, method=down)

  def denoising_costs(self, params, x, key):
    """Per layer l = 0 … L, the unweighted cost ‖z⁽ˡ⁾ − ẑ_BN⁽ˡ⁾‖² / width
    per example [B], and the clean pass's batch moments of layers 1 … L."""
    clean_zs, _, moments = self.encode_layers(params, x)
    noisy_zs, noisy_logits, _ = self.encode_layers(params, x, key)
    z_hats = self.decode_layers(params, noisy_zs, noisy_logits)
    costs = []
    for l, (z, z_hat) in enumerate(zip(clean_zs, z_hats)):
      if l > 0:
        z_hat = _normalise(z_hat, *moments[l - 1])
      costs.append(jnp.sum(jnp.square(z - z_hat), -1) / self.sizes[l])
    return costs, moments

  # -- the method contract --------------------------------------------------------

  def loss_fn(self, params, batch, key, batch_stats):
    """mean(Σ_l λ⁽ˡ⁾ cost⁽ˡ⁾) over ``batch["image"]`` + mean(cross-entropy
    of the corrupted encoder) over ``batch["labelled_image"],
    batch["labelled_label"]`` (either part may be absent); the running
    statistics move towards the clean pass's over ``batch["image"]``."""
    k_u, k_l = jax.random.split(key)
    loss, metrics = 0.0, {}
    if "image" in batch:
      costs, moments = self.denoising_costs(params, batch["image"], k_u)
      weighted = [w * losses.batch_mean(c)
                  for w, c in zip(self.denoising_weights, costs)]
      denoising = sum(weighted)
      loss = loss + denoising
      metrics["denoising_cost"] = denoising
      metrics.update({f"denoising_cost_{l}": c
                      for l, c in enumerate(weighted)})
      moments = {f"layer{l}": {"mean": mean, "var": var}
                 for l, (mean, var) in enumerate(moments, start=1)}
      batch_stats = jax.tree_util.tree_map(
          lambda old, new: STATS_MOMENTUM * old + (1 - STATS_MOMENTUM) * new,
          batch_stats, jax.lax.stop_gradient(moments))
    if "labelled_image" in batch:
      _, logits, _ = self.encode_layers(params, batch["labelled_image"], k_l)
      labels = batch["labelled_label"]
      cross_entropy = optax.softmax_cross_entropy_with_integer_labels(
          logits, labels)
      loss = loss + losses.batch_mean(cross_entropy)
      metrics.update(cross_entropy=losses.batch_mean(cross_entropy),
                     accuracy=losses.batch_mean(
                         (jnp.argmax(logits, -1) == labels).astype(
                             jnp.float32)))
    metrics.update(loss=loss, objective=loss)
    return loss, (metrics, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    """The clean encoder's cross-entropy (``loss``) and ``accuracy`` with
    the running statistics (per example: nothing depends on the rest of
    the batch, so padding the last batch changes nothing)."""
    del key
    logits = self.classify(params, batch_stats, batch["image"])
    labels = batch["label"]
    cross_entropy = optax.softmax_cross_entropy_with_integer_labels(
        logits, labels)
    return {"loss": cross_entropy, "cross_entropy": cross_entropy,
            "accuracy": (jnp.argmax(logits, -1) == labels).astype(
                jnp.float32)}

  @functools.partial(jax.jit, static_argnums=0)
  def classify(self, params, batch_stats, x):
    """Class logits of the clean encoder (running statistics), [B, C]."""
    return self.encode_layers(params, x, batch_stats=batch_stats)[1]

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, x):
    """ẑ⁽⁰⁾, the decoder's estimate of the clean input from the corrupted
    encoder's pass (noise from a fixed key; batch statistics), clipped to
    [0, 1]."""
    noisy_zs, logits, _ = self.encode_layers(params, x, jax.random.PRNGKey(0))
    z_hat = self.decode_layers(params, noisy_zs, logits)[0]
    return jnp.clip(z_hat, 0.0, 1.0).reshape(x.shape)
