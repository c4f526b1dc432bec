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

Each phase has its own optimizer state (one ``optax.multi_transform`` per
phase over the whole parameter tree, :func:`aejax.methods.optimizers.
phase_optimizer`): ``config.optimizer`` for phase 1; the same optimizer with
learning rate ``method.adversarial_learning_rate`` (0: the same rate) for
phases 2 and 3. Phases 2 and 3 run the encoder in
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

import jax
import jax.numpy as jnp
import numpy as np

from aejax.methods import base
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.optimizers import make_optimizer, phase_optimizer
from aejax.methods.optimizers import phase_update
from aejax.methods.registry import register_method
from aejax.models.discriminators import MLPDiscriminator

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
class AdversarialAutoencoder(Autoencoder, base.Sampler, base.PriorMatcher):
  """Autoencoder + code discriminator, three phases per batch.

  Parameters: ``{"encoder", "decoder"}`` (the ``model.name`` autoencoder)
  and ``"discriminator"`` (an MLP of widths ``method.disc_hidden``).
  """
  config_fields = Autoencoder.config_fields + (
      "prior", "disc_hidden", "adversarial_learning_rate")

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self.latent_dim = int(config.model.latent_dim)
    self.prior = make_prior(config.method.prior, self.latent_dim)
    if config.method.adversarial_learning_rate < 0:
      raise ValueError("method.adversarial_learning_rate must be >= 0 (0: "
                       "optimizer.learning_rate), got "
                       f"{config.method.adversarial_learning_rate}.")
    self.discriminator = MLPDiscriminator(tuple(config.method.disc_hidden))
    adv_config = config.optimizer.copy_and_resolve_references()
    if config.method.adversarial_learning_rate > 0:
      adv_config.learning_rate = config.method.adversarial_learning_rate
    adversarial = make_optimizer(adv_config)
    self._phases = phase_optimizer({
        "reconstruction": (make_optimizer(config.optimizer), AE_KEYS),
        "discriminator": (adversarial, ("discriminator",)),
        "generator": (adversarial, ("encoder",))})

  def optimizer(self):
    """One optimizer state per phase (see the module docstring)."""
    return self._phases

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
    params, opt_state = phase_update(self._phases, "reconstruction",
                                     grads, opt_state, params)
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
    params, opt_state = phase_update(
        self._phases, "discriminator", {"discriminator": grads}, opt_state,
        params)
    return params, opt_state, batch_stats, metrics

  def generator_phase(self, params, opt_state, batch_stats, x, key):
    """Phase 3: one update of the encoder to make D call its codes real."""

    def loss_fn(encoder_params):
      p = {**params, "encoder": encoder_params}
      codes = self.encode_train(p, batch_stats, x, key)
      loss = jnp.mean(jax.nn.softplus(-self.discriminate(params, codes)))
      return loss, {"gen_loss": loss}

    grads, metrics = jax.grad(loss_fn, has_aux=True)(params["encoder"])
    params, opt_state = phase_update(
        self._phases, "generator", {"encoder": grads}, opt_state, params)
    return params, opt_state, batch_stats, metrics

  def train_step(self, variables, opt_state, batch, key):
    """The three phases on one batch, in order (see the module docstring).

    Returns:
      ``(variables, opt_state, metrics, finite)``; ``metrics["loss"]`` is
      the reconstruction loss of phase 1. If anything the phases produced is
      not finite, the old variables and optimizer state are kept.
    """
    x = batch["image"]
    k_rec, k_disc, k_gen = jax.random.split(key, 3)
    params, batch_stats = variables["params"], variables["batch_stats"]
    new_opt_state, metrics = opt_state, {}
    for phase, k in ((self.reconstruction_phase, k_rec),
                     (self.discriminator_phase, k_disc),
                     (self.generator_phase, k_gen)):
      params, new_opt_state, batch_stats, m = phase(params, new_opt_state,
                                                    batch_stats, x, k)
      metrics.update(m)
    finite = base.all_finite((params, new_opt_state, metrics))
    params, new_opt_state, batch_stats = base.keep_if(
        finite, (params, new_opt_state, batch_stats),
        (variables["params"], opt_state, variables["batch_stats"]))
    return ({"params": params, "batch_stats": batch_stats}, new_opt_state,
            metrics, finite)

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

  def prior_sample(self, key, n: int):
    """n codes z ~ p(z) of ``method.prior``."""
    return self.prior.sample(key, n)
