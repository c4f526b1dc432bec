"""Variational autoencoders: the ELBO (β-VAE) and the importance-weighted bound.

Units and reductions, stated once: every log-density is summed over pixels
(and over latent dimensions for the KL), so the ELBO and the NLL are in nats
per example; the training loss is their mean over the batch. The KL term is
the closed form for a diagonal Gaussian posterior against N(0, I).

The encoder outputs 2·latent_dim numbers, (μ, raw log σ²); log σ² is bounded
softly to [-b, b] with b·tanh(raw / b) (``method.logvar_bound``), so that an
exploding encoder cannot produce exp(log σ²) = inf (pythae #102, pyod #609).
z = μ + σ·ε with ε ~ N(0, I) drawn inside the pure loss from its own key.

Likelihoods (``method.likelihood``):
  * ``bernoulli``: p(x|z) = Bernoulli(σ(logits)), for (dynamically) binarised
    data (``data.binarize=True``);
  * ``gaussian``: N(x; mean, σ²) with log σ² = ``method.decoder_logvar``
    fixed, mean = output activation of the logits (``method.output``);
  * ``gaussian_learned``: the decoder also outputs a per-pixel log σ²
    (bounded like the encoder's).

``method.num_samples`` = k: k = 1 trains the ELBO, with ``method.beta``
weighting the KL (β-VAE); k > 1 trains the IWAE bound
log (1/k) Σ_i p(x, z_i) / q(z_i | x) (β must then be 1).

References:
  Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
  Rezende, Mohamed & Wierstra, "Stochastic Backpropagation and Approximate
  Inference in Deep Generative Models", ICML 2014.
  Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR
  2016.
  Higgins et al., "β-VAE: Learning Basic Visual Concepts with a Constrained
  Variational Framework", ICLR 2017.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp

from aejax import losses
from aejax.methods import base
from aejax.methods.autoencoder import Autoencoder
from aejax.methods.registry import register_method
from aejax.models.autoencoder import build_model

LIKELIHOODS = ("bernoulli", "gaussian", "gaussian_learned")


def _posterior_mean(h: jax.Array) -> jax.Array:
  """μ of an encoder output that holds (μ, log σ²)."""
  return jnp.split(h, 2, axis=-1)[0]


def _bound(raw: jax.Array, limit: float) -> jax.Array:
  return limit * jnp.tanh(raw / limit)


def _forward(module, x, eps, train: bool, logvar_bound: float):
  """Encode, reparameterise with the given noise, decode (one Linen call).

  Args:
    module: the Autoencoder module.
    x: inputs [B, ...].
    eps: standard normal noise [k, B, L].
    train: training mode.
    logvar_bound: soft bound on log σ².

  Returns:
    (mean [B, L], logvar [B, L], z [k, B, L], decoder output [k, B, ...]).
  """
  h = module.encode(x, train)
  mean, logvar = jnp.split(h, 2, axis=-1)
  logvar = _bound(logvar, logvar_bound)
  z = mean + jnp.exp(0.5 * logvar) * eps
  k, b, latent = z.shape
  out = module.decode(z.reshape(k * b, latent), train)
  return mean, logvar, z, out.reshape((k, b) + out.shape[1:])


@register_method("vae")
class VariationalAutoencoder(Autoencoder, base.Sampler,
                             base.LikelihoodModel):
  """Gaussian-encoder VAE trained on the ELBO (k = 1) or the IWAE bound."""
  config_fields = ("likelihood", "beta", "num_samples", "logvar_bound",
                   "decoder_logvar", "output")

  def __init__(self, config, image_shape):  # pylint: disable=super-init-not-called
    m = config.method
    if m.likelihood not in LIKELIHOODS:
      raise ValueError(f"Unknown likelihood {m.likelihood!r}: choose one of "
                       f"{LIKELIHOODS}.")
    if m.num_samples < 1:
      raise ValueError(f"method.num_samples must be >= 1, got "
                       f"{m.num_samples}.")
    if m.beta < 0:
      raise ValueError(f"method.beta must be >= 0, got {m.beta}.")
    if m.num_samples > 1 and m.beta != 1.0:
      raise ValueError("The IWAE bound (num_samples > 1) has no separate KL "
                       "term to weight: use beta=1.")
    if m.likelihood == "bernoulli" and not config.data.binarize:
      raise ValueError("likelihood='bernoulli' models binary pixels: set "
                       "data.binarize=True (dynamic binarisation), or use "
                       "likelihood='gaussian' for grey levels.")
    base.GradientMethod.__init__(self, config, image_shape)
    self.likelihood = m.likelihood
    self.beta = float(m.beta)
    self.num_samples = int(m.num_samples)
    self.logvar_bound = float(m.logvar_bound)
    self.decoder_logvar = float(m.decoder_logvar)
    self.output_fn = {"sigmoid": jax.nn.sigmoid,
                      "identity": lambda x: x}[m.output]
    self.latent_dim = int(config.model.latent_dim)
    model_config = config.model.copy_and_resolve_references()
    model_config.latent_dim = 2 * self.latent_dim  # (μ, log σ²)
    out_shape = self.image_shape
    if self.likelihood == "gaussian_learned":  # mean and log σ² per pixel
      out_shape = out_shape[:-1] + (2 * out_shape[-1],)
    self.model = build_model(model_config, out_shape)

  # -- pure functions ---------------------------------------------------------

  def init_variables(self, key, images):
    eps = jnp.zeros((1, images.shape[0], self.latent_dim), images.dtype)
    variables = dict(self.model.init(
        {"params": key}, images, eps, False, self.logvar_bound,
        method=_forward))
    variables.setdefault("batch_stats", {})
    return variables

  def forward(self, params, batch_stats, x, eps, train: bool):
    """Returns (mean, logvar, z, decoder output [k, B, ...], batch_stats)."""
    variables = {"params": params, "batch_stats": batch_stats}
    if train:
      outs, updates = self.model.apply(
          variables, x, eps, True, self.logvar_bound, method=_forward,
          mutable=["batch_stats"])
      return (*outs, updates.get("batch_stats", batch_stats))
    return (*self.model.apply(variables, x, eps, False, self.logvar_bound,
                              method=_forward), batch_stats)

  def decoder_log_prob(self, out: jax.Array, x: jax.Array) -> jax.Array:
    """log p(x | z) in nats, summed over pixels: out [k, B, ...] -> [k, B]."""
    k, b = out.shape[:2]
    out = out.reshape(k, b, -1)
    x = jnp.broadcast_to(x.reshape(1, b, -1), (k, b, x[0].size))
    if self.likelihood == "bernoulli":
      return losses.bernoulli_log_likelihood(out, x)
    if self.likelihood == "gaussian":
      logvar = jnp.full_like(out, self.decoder_logvar)
      return losses.gaussian_log_density(x, self.output_fn(out), logvar)
    mean, logvar = self._split_learned(out)
    return losses.gaussian_log_density(x, mean, logvar)

  def _split_learned(self, out):
    """[..., 2D] decoder output, (mean, log σ²) pairs -> two [..., D]."""
    pairs = out.reshape(out.shape[:-1] + (-1, 2))
    return (self.output_fn(pairs[..., 0]),
            _bound(pairs[..., 1], self.logvar_bound))

  def mean_image(self, out: jax.Array) -> jax.Array:
    """The decoder's mean E[x | z] as an image (for figures and MSE)."""
    if self.likelihood == "bernoulli":
      return jax.nn.sigmoid(out)
    if self.likelihood == "gaussian":
      return self.output_fn(out)
    return self._split_learned(out)[0]

  def bounds(self, params, batch_stats, x, key, num_samples: int,
             train: bool):
    """Per-example (bound, recon log-lik, KL) with ``num_samples`` samples.

    For k = 1 the bound is the ELBO E_q[log p(x|z)] − KL (closed-form KL);
    for k > 1 it is the IWAE bound. Returns also the new batch_stats.
    """
    eps = jax.random.normal(key, (num_samples, x.shape[0], self.latent_dim),
                            x.dtype)
    mean, logvar, z, out, new_stats = self.forward(params, batch_stats, x, eps,
                                                   train)
    log_px = self.decoder_log_prob(out, x)                       # [k, B]
    kl = losses.gaussian_kl_to_standard(mean, logvar)          # [B]
    if num_samples == 1:
      bound = log_px[0] - kl
    else:
      log_w = (log_px + losses.standard_normal_log_density(z) -
               losses.gaussian_log_density(z, mean[None], logvar[None]))
      bound = jax.nn.logsumexp(log_w, axis=0) - math.log(num_samples)
    return bound, jnp.mean(log_px, axis=0), kl, out, new_stats

  def loss_fn(self, params, batch, key, batch_stats):
    """−(β-weighted ELBO) or −IWAE bound, mean over the batch (nats)."""
    x = batch["image"]
    bound, log_px, kl, _, new_stats = self.bounds(
        params, batch_stats, x, key, self.num_samples, train=True)
    if self.num_samples == 1:
      per_example = -(log_px - self.beta * kl)
    else:
      per_example = -bound
    loss = losses.batch_mean(per_example)
    metrics = {"loss": loss, "objective": loss,
               "elbo" if self.num_samples == 1 else
               f"iwae{self.num_samples}": losses.batch_mean(bound),
               "recon_nll": -losses.batch_mean(log_px),
               "kl": losses.batch_mean(kl)}
    return loss, (metrics, new_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    """Per-example ELBO (β = 1, one sample; ``loss`` = −ELBO), its two terms,
    the training ``objective`` (−β-ELBO, or −IWAE_k with the training k),
    and the MSE of the reconstruction at z = μ; all in nats per example
    except ``mse``."""
    x = batch["image"]
    k_elbo, k_objective = jax.random.split(key)
    elbo, log_px, kl, _, _ = self.bounds(params, batch_stats, x, k_elbo, 1,
                                         train=False)
    if self.num_samples == 1:  # −(E log p(x|z) − β KL), as in training
      objective = -(log_px - self.beta * kl)
    else:  # −IWAE_k, as in training
      objective = -self.bounds(params, batch_stats, x, k_objective,
                               self.num_samples, train=False)[0]
    recon = self.reconstruct(params, batch_stats, x)
    return {"loss": -elbo, "objective": objective, "elbo": elbo,
            "recon_nll": -log_px, "kl": kl,
            "mse": losses.mean_squared_error(recon, x)}

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, x):
    """Mean reconstruction decoded from z = μ (no sampling)."""
    eps = jnp.zeros((1, x.shape[0], self.latent_dim), x.dtype)
    *_, out, _ = self.forward(params, batch_stats, x, eps, train=False)
    return self.mean_image(out[0])

  @functools.partial(jax.jit, static_argnums=0)
  def posterior(self, params, batch_stats, x):
    """Posterior (μ, log σ²) of each input."""
    h = self.model.apply({"params": params, "batch_stats": batch_stats}, x,
                         False, method=self.model.encode)
    mean, logvar = jnp.split(h, 2, axis=-1)
    return mean, _bound(logvar, self.logvar_bound)

  def encoder_network(self):
    """``(model.encoder, μ of its (μ, log σ²) output)``."""
    return self.model.encoder, _posterior_mean

  def encode(self, params, batch_stats, x):
    """The posterior mean μ of each input, [B, L]."""
    return self.posterior(params, batch_stats, x)[0]

  @functools.partial(jax.jit, static_argnums=0)
  def decode(self, params, batch_stats, z):
    """Mean image E[x | z] for codes z [N, L]."""
    out = self.model.apply({"params": params, "batch_stats": batch_stats}, z,
                           False, method=self.model.decode)
    return self.mean_image(out)

  def sample(self, params, batch_stats, key, n: int):
    """Mean images of n draws z ~ N(0, I) from the prior."""
    z = jax.random.normal(key, (n, self.latent_dim))
    return self.decode(params, batch_stats, z)

  def importance_weighted_nll(self, params, batch_stats, x, key,
                              num_samples: int = 5000,
                              chunk: int = 500) -> jax.Array:
    """−log p(x) estimated by the IWAE bound with ``num_samples`` samples.

    The samples are drawn ``chunk`` at a time and combined with a running
    log-sum-exp (``lax.scan``), so memory is O(chunk · batch · pixels)
    whatever ``num_samples`` is. Returns nats per example, shape [B].
    """
    if num_samples % chunk:
      chunk = math.gcd(num_samples, chunk)

    def log_weights(k):
      eps = jax.random.normal(k, (chunk, x.shape[0], self.latent_dim),
                              x.dtype)
      mean, logvar, z, out, _ = self.forward(params, batch_stats, x, eps,
                                             train=False)
      return (self.decoder_log_prob(out, x) +
              losses.standard_normal_log_density(z) -
              losses.gaussian_log_density(z, mean[None], logvar[None]))

    def body(running, k):
      lw = log_weights(k)
      return jnp.logaddexp(running, jax.nn.logsumexp(lw, axis=0)), None

    keys = jax.random.split(key, num_samples // chunk)
    init = jnp.full((x.shape[0],), -jnp.inf, x.dtype)
    total, _ = jax.lax.scan(body, init, keys)
    return -(total - math.log(num_samples))

  def log_likelihood(self, params, batch_stats, x, key, num_samples=5000,
                     chunk=500):
    """log p(x) by the IWAE bound with ``num_samples`` samples (nats, [B]).

    See :meth:`importance_weighted_nll`; the estimate is a lower bound that
    tightens as ``num_samples`` grows (Burda et al. 2016).
    """
    return -self.importance_weighted_nll(params, batch_stats, x, key,
                                         num_samples, chunk)

  def score(self, params, batch_stats, batch, key):
    """Negative ELBO (one posterior sample, β = 1), nats per example."""
    elbo, *_ = self.bounds(params, batch_stats, batch["image"], key, 1,
                           train=False)
    return -elbo
