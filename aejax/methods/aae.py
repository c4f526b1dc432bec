"""Adversarial autoencoder: a deterministic autoencoder whose aggregate
posterior q(z) = E_x[δ(z − E(x))] is matched to a prior p(z) by a GAN on codes.

One call of :meth:`AdversarialAutoencoder.train_step` (one batch x) runs the
three phases of Makhzani et al. (2015, §2) in order, each on the parameters
the previous one produced:

1. reconstruction: one update of encoder + decoder on the autoencoder's loss
   (``method.loss``: ``mse``, mean per pixel, or ``bce``, nats per image);
2. regularisation, discriminator: one update of the code discriminator D on

     L_D = mean_b softplus(−D(z_b)) + mean_b softplus(D(E(x_b))),

   z_b ~ p(z) ("real") against the encoder's codes ("fake", no gradient to
   the encoder);
3. regularisation, generator: one update of the encoder alone on the
   non-saturating loss L_G = mean_b softplus(−D(E(x_b))) against the
   updated D.

Each phase has its own optimizer state: ``config.optimizer`` for phase 1;
the same optimizer with learning rate ``method.adversarial_learning_rate``
(0: the same rate) for phases 2 and 3. Phases 2 and 3 run the encoder in
training mode (BatchNorm uses the batch's statistics) but only phase 1
updates BatchNorm's running statistics, once per step.

Priors (``method.prior``; :func:`make_prior`):
  * ``gaussian``: N(0, I).
  * ``mixture``: an equal-weight mixture of K = 10 Gaussians. In 2-d it is
    the paper's Fig. 4 prior: component k has its mean at radius
    ``MIXTURE_RADIUS`` (2) and angle θ_k = 2πk/10, and covariance
    R(θ_k) diag(σ_r², σ_t²) R(θ_k)ᵀ with σ_r = 0.5 along the radius and
    σ_t = 0.1 across it (ten petals on a circle). For a d > 2 code the same
    ten petals occupy the first two coordinates and the remaining d − 2
    coordinates are independent N(0, 1): the mixture structure lives in one
    plane, which is also the plane a 2-d figure shows.

References:
  Makhzani, Shlens, Jaitly, Goodfellow & Frey, "Adversarial Autoencoders",
  arXiv:1511.05644, 2015.
  Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014.
"""

from __future__ import annotations

import functools
import math
import os

import jax
import jax.numpy as jnp
import numpy as np

from aejax.data.sources import FASHION_MNIST_CLASSES
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.gan import PerNetworkOptimizer
from aejax.methods.registry import register_method
from aejax.models.discriminators import MLPDiscriminator
from aejax.train import figures
from aejax.train.state import make_optimizer

PRIORS = ("gaussian", "mixture")
MIXTURE_COMPONENTS = 10
MIXTURE_RADIUS = 2.0
MIXTURE_STD_RADIAL = 0.5
MIXTURE_STD_TANGENTIAL = 0.1
AE_KEYS = ("encoder", "decoder")


class GaussianPrior:
  """N(0, I) on R^dim."""

  def __init__(self, dim: int):
    self.dim = dim

  def sample(self, key: jax.Array, n: int) -> jax.Array:
    return jax.random.normal(key, (n, self.dim))


class MixturePrior:
  """Equal-weight mixture of Gaussians N(means[k], scales[k] scales[k]ᵀ).

  Attributes:
    dim: dimension of z.
    means: [K, dim] component means.
    scales: [K, dim, dim] matrices A_k with covariance A_k A_kᵀ.
  """

  def __init__(self, means: np.ndarray, scales: np.ndarray):
    self.means = np.asarray(means, np.float32)
    self.scales = np.asarray(scales, np.float32)
    self.dim = self.means.shape[1]

  def sample(self, key: jax.Array, n: int, return_components: bool = False):
    k_comp, k_eps = jax.random.split(key)
    comp = jax.random.randint(k_comp, (n,), 0, len(self.means))
    eps = jax.random.normal(k_eps, (n, self.dim))
    z = (jnp.asarray(self.means)[comp] +
         jnp.einsum("nij,nj->ni", jnp.asarray(self.scales)[comp], eps))
    return (z, comp) if return_components else z


def petal_mixture(dim: int, components: int = MIXTURE_COMPONENTS
                  ) -> MixturePrior:
  """The mixture prior of the module docstring for a ``dim``-d code."""
  if dim < 2:
    raise ValueError(f"The mixture prior needs a code of dimension >= 2, got "
                     f"latent_dim={dim}; use prior='gaussian'.")
  theta = 2 * np.pi * np.arange(components) / components
  means = np.zeros((components, dim))
  means[:, 0] = MIXTURE_RADIUS * np.cos(theta)
  means[:, 1] = MIXTURE_RADIUS * np.sin(theta)
  scales = np.tile(np.eye(dim), (components, 1, 1))
  for k, t in enumerate(theta):
    rotation = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    scales[k, :2, :2] = rotation @ np.diag([MIXTURE_STD_RADIAL,
                                            MIXTURE_STD_TANGENTIAL])
  return MixturePrior(means, scales)


def make_prior(name: str, dim: int):
  """The prior named ``name`` (``"gaussian"`` or ``"mixture"``) on R^dim."""
  if name == "gaussian":
    return GaussianPrior(dim)
  if name == "mixture":
    return petal_mixture(dim)
  raise ValueError(f"Unknown prior {name!r}: choose one of {PRIORS}.")


def _ae(params: dict) -> dict:
  """The autoencoder's part of the parameters (encoder and decoder)."""
  return {k: params[k] for k in AE_KEYS}


@register_method("aae")
class AdversarialAutoencoder(Autoencoder):
  """Autoencoder + code discriminator, three phases per batch.

  Parameters: ``{"encoder", "decoder"}`` (the ``model.name`` autoencoder)
  and ``"discriminator"`` (an MLP of widths ``method.disc_hidden``).
  """
  name = "aae"

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.latent_dim = int(config.model.latent_dim)
    self.prior = make_prior(config.method.prior, self.latent_dim)
    if config.method.adversarial_learning_rate < 0:
      raise ValueError("method.adversarial_learning_rate must be >= 0 (0: "
                       "optimizer.learning_rate), got "
                       f"{config.method.adversarial_learning_rate}.")
    self.discriminator = MLPDiscriminator(tuple(config.method.disc_hidden))
    self.optimizers = self.make_optimizer(config.optimizer)

  def make_optimizer(self, opt_config) -> PerNetworkOptimizer:
    """One optimizer state per phase; the step uses the latest one built."""
    adv_config = opt_config.copy_and_resolve_references()
    lr = self.config.method.adversarial_learning_rate
    if lr > 0:
      adv_config.learning_rate = lr
    adversarial = make_optimizer(adv_config)
    self.optimizers = PerNetworkOptimizer({
        "reconstruction": (make_optimizer(opt_config), AE_KEYS),
        "discriminator": (adversarial, ("discriminator",)),
        "generator": (adversarial, ("encoder",))})
    return self.optimizers

  # -- pure functions ---------------------------------------------------------

  def init_variables(self, key, images):
    k_ae, k_d = jax.random.split(key)
    variables = super().init_variables(k_ae, images)
    d = self.discriminator.init(k_d, jnp.zeros((1, self.latent_dim)))
    return {"params": {**variables["params"], "discriminator": d["params"]},
            "batch_stats": variables["batch_stats"]}

  def encode_train(self, params, batch_stats, x, key):
    """Codes E(x) in training mode (batch statistics; dropout from ``key``);
    BatchNorm's running statistics are left as they are."""
    out, _ = self.model.apply(
        {"params": _ae(params), "batch_stats": batch_stats}, x, True,
        method=self.model.encode, rngs={"dropout": key},
        mutable=["batch_stats"])
    return out

  def discriminate(self, params, z):
    return self.discriminator.apply({"params": params["discriminator"]}, z)

  def reconstruction_phase(self, params, opt_state, batch_stats, x, key):
    """Phase 1: one update of encoder + decoder on the reconstruction loss."""
    grad_fn = jax.grad(super().loss_fn, has_aux=True)
    grads, (metrics, batch_stats) = grad_fn(_ae(params), {"image": x}, key,
                                            batch_stats)
    params, opt_state = self.optimizers.apply("reconstruction", grads,
                                              opt_state, params)
    return params, opt_state, batch_stats, metrics

  def discriminator_phase(self, params, opt_state, batch_stats, x, key):
    """Phase 2: one update of D, prior samples (real) vs codes (fake)."""
    k_prior, k_model = jax.random.split(key)
    z_prior = self.prior.sample(k_prior, x.shape[0])
    codes = jax.lax.stop_gradient(self.encode_train(params, batch_stats, x,
                                                    k_model))

    def loss_fn(d_params):
      p = {"discriminator": d_params}
      real, fake = self.discriminate(p, z_prior), self.discriminate(p, codes)
      loss = jnp.mean(jax.nn.softplus(-real)) + jnp.mean(
          jax.nn.softplus(fake))
      accuracy = 0.5 * (jnp.mean(real > 0) + jnp.mean(fake < 0))
      return loss, {"disc_loss": loss, "disc_accuracy": accuracy}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(params["discriminator"])
    params, opt_state = self.optimizers.apply(
        "discriminator", {"discriminator": grads}, opt_state, params)
    return params, opt_state, batch_stats, metrics

  def generator_phase(self, params, opt_state, batch_stats, x, key):
    """Phase 3: one update of the encoder to make D call its codes real."""

    def loss_fn(encoder_params):
      p = {**params, "encoder": encoder_params}
      codes = self.encode_train(p, batch_stats, x, key)
      loss = jnp.mean(jax.nn.softplus(-self.discriminate(params, codes)))
      return loss, {"gen_loss": loss}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(params["encoder"])
    params, opt_state = self.optimizers.apply(
        "generator", {"encoder": grads}, opt_state, params)
    return params, opt_state, batch_stats, metrics

  def train_step(self, params, opt_state, batch_stats, batch, key):
    """The three phases on one batch, in order (see the module docstring).

    Returns:
      ``(params, opt_state, batch_stats, metrics)``; ``metrics["loss"]`` is
      the reconstruction loss of phase 1.
    """
    x = batch["image"]
    k_rec, k_disc, k_gen = jax.random.split(key, 3)
    metrics = {}
    for phase, k in ((self.reconstruction_phase, k_rec),
                     (self.discriminator_phase, k_disc),
                     (self.generator_phase, k_gen)):
      params, opt_state, batch_stats, m = phase(params, opt_state,
                                                batch_stats, x, k)
      metrics.update(m)
    return params, opt_state, batch_stats, metrics

  def loss_fn(self, params, batch, key, batch_stats):
    """The reconstruction loss (phase 1's objective) on all parameters."""
    return super().loss_fn(_ae(params), batch, key, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    """The autoencoder's metrics plus ``disc_code_prob``: D's probability
    that a test code is a prior sample (0.5: D cannot tell)."""
    metrics = super().eval_metrics(_ae(params), batch, key, batch_stats)
    codes = self.model.apply({"params": _ae(params),
                              "batch_stats": batch_stats}, batch["image"],
                             False, method=self.model.encode)
    metrics["disc_code_prob"] = jax.nn.sigmoid(self.discriminate(params,
                                                                 codes))
    return metrics

  def reconstruct(self, params, batch_stats, inputs):
    return super().reconstruct(_ae(params), batch_stats, inputs)

  @functools.partial(jax.jit, static_argnums=0)
  def encode(self, params, batch_stats, x):
    """Codes E(x) (evaluation mode)."""
    return self.model.apply({"params": _ae(params),
                             "batch_stats": batch_stats}, x, False,
                            method=self.model.encode)

  @functools.partial(jax.jit, static_argnums=0)
  def decode(self, params, batch_stats, z):
    """Decoder output (after ``method.output``) for codes z [N, L]."""
    logits = self.model.apply({"params": _ae(params),
                               "batch_stats": batch_stats}, z, False,
                              method=self.model.decode)
    return self.output_fn(logits)

  def sample(self, params, batch_stats, key, n: int):
    """Decoded prior samples: n images x = Dec(z), z ~ p(z)."""
    return self.decode(params, batch_stats, self.prior.sample(key, n))

  # -- host-side --------------------------------------------------------------

  def figures(self, params, batch_stats, split, key, workdir):
    """Reconstructions, decoded prior samples, and for a 2-d code the test
    codes beside prior samples (aggregate_posterior.png)."""
    paths = super().figures(_ae(params), batch_stats, split, key, workdir)
    samples = np.asarray(self.sample(params, batch_stats, key, 40))
    paths.append(figures.image_rows(
        [("", samples[i:i + 10]) for i in range(0, 40, 10)],
        os.path.join(workdir, "samples.png"),
        title=f"aae: decoded samples of the {self.config.method.prior} prior"))
    if self.latent_dim == 2:
      x = jnp.asarray(split.images[:5000], jnp.float32) / 255.0
      codes = np.asarray(self.encode(params, batch_stats, x))
      prior = np.asarray(self.prior.sample(jax.random.fold_in(key, 1),
                                           len(codes)))
      names = (FASHION_MNIST_CLASSES
               if self.config.data.name == "fashion_mnist" else None)
      paths.append(codes_vs_prior(
          codes, split.labels[:len(codes)], prior,
          os.path.join(workdir, "aggregate_posterior.png"), names,
          f"aae ({self.config.method.prior} prior)"))
    return paths


def codes_vs_prior(codes: np.ndarray, labels: np.ndarray, prior: np.ndarray,
                   out_path: str, class_names=None, title: str = "") -> str:
  """Two panels on shared axes: prior samples, and codes coloured by class."""
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
  axes[0].scatter(prior[:, 0], prior[:, 1], s=2, alpha=0.4, c="grey")
  axes[0].set_title(f"{len(prior)} prior samples z ~ p(z)", fontsize=9)
  points = axes[1].scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10",
                           s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
  axes[1].set_title(f"{len(codes)} test codes E(x), by class", fontsize=9)
  bar = fig.colorbar(points, ax=axes[1], ticks=range(10))
  if class_names:
    bar.ax.set_yticklabels(class_names, fontsize=7)
  lim = np.percentile(np.abs(np.concatenate([codes, prior])), 99.5)
  lim = max(float(lim) * 1.1, 1e-3) if math.isfinite(lim) else 5.0
  for ax in axes:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
  axes[0].set_ylabel("z₂")
  fig.suptitle(f"{title}: aggregate posterior vs prior", fontsize=10)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path
