"""VAE: KL and likelihood terms, the IWAE bound, NaN safety, figures."""

import json
import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from conftest import tiny_config

from aejax import losses
from aejax.methods import make_method
from aejax.train.loop import load_run, train_and_evaluate


def vae_config(**overrides):
  base = {"method.name": "vae", "data.binarize": True, "model.latent_dim": 3,
          "model.activation": "tanh"}
  base.update(overrides)
  return tiny_config(**base)


def _init(config, batch=8):
  method = make_method(config, (8, 8, 1))
  x = (jax.random.uniform(jax.random.PRNGKey(1), (batch, 8, 8, 1)) > 0.5
       ).astype(jnp.float32)
  variables = jax.jit(method.init_variables)(jax.random.PRNGKey(0), x)
  return method, variables["params"], variables["batch_stats"], x


def test_kl_matches_numpy_and_monte_carlo():
  rng = np.random.default_rng(0)
  mean = rng.normal(size=(4, 3)).astype(np.float32)
  logvar = rng.normal(size=(4, 3)).astype(np.float32) * 0.5
  expected = 0.5 * (mean**2 + np.exp(logvar) - logvar - 1).sum(-1)
  kl = losses.gaussian_kl_to_standard(mean, logvar)
  np.testing.assert_allclose(kl, expected, rtol=1e-5)
  # Monte Carlo: E_q[log q(z) - log p(z)].
  eps = jax.random.normal(jax.random.PRNGKey(0), (200_000, 4, 3))
  z = mean + np.exp(0.5 * logvar) * eps
  mc = jnp.mean(losses.gaussian_log_density(z, mean, logvar) -
                losses.standard_normal_log_density(z), axis=0)
  np.testing.assert_allclose(mc, expected, rtol=0.02, atol=0.01)


def test_gaussian_log_density_matches_numpy():
  x, m, lv = np.random.default_rng(1).normal(size=(3, 5, 7))
  expected = (-0.5 * (np.log(2 * np.pi) + lv + (x - m)**2 / np.exp(lv))).sum(-1)
  np.testing.assert_allclose(losses.gaussian_log_density(x, m, lv), expected,
                             rtol=1e-5)


def _mlp(params, h, layers=2):
  """Dense_0 -> tanh -> Dense_1, by hand (vae_config's MLP)."""
  for i in range(layers):
    layer = params[f"Dense_{i}"]
    h = np.asarray(h, np.float64) @ np.asarray(layer["kernel"], np.float64) + (
        np.asarray(layer["bias"], np.float64))
    h = np.tanh(h) if i < layers - 1 else h
  return h


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian",
                                        "gaussian_learned"])
def test_elbo_terms_are_nats_summed_over_pixels(likelihood):
  """recon_nll = −log p(x | z) summed over the 64 pixels (SciPy, with its
  constants; for the learned variance decoder channel 2c is the mean and
  2c + 1 the log σ² of image channel c), kl the closed form of the
  encoder's (μ, log σ²), elbo = −(recon_nll + kl), loss = recon_nll + β·kl.

  The posterior is made deterministic (log σ² = −30) so that z = μ and the
  reference needs no sample; the network is evaluated by hand.
  """
  beta, bound = 3.0, 30.0
  config = vae_config(**{"method.likelihood": likelihood,
                         "data.binarize": likelihood == "bernoulli",
                         "method.beta": beta, "method.logvar_bound": bound})
  method, params, stats, x = _init(config)
  if likelihood != "bernoulli":
    x = jax.random.uniform(jax.random.PRNGKey(2), x.shape)
  kernel = np.array(params["encoder"]["Dense_1"]["kernel"])
  bias = np.array(params["encoder"]["Dense_1"]["bias"])
  kernel[:, 3:], bias[3:] = 0.0, -1e4                  # log σ² = −30
  head = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
  params = {**params, "encoder": {**params["encoder"], "Dense_1": head}}
  loss, (metrics, _) = jax.jit(method.loss_fn)(params, {"image": x},
                                               jax.random.PRNGKey(3), stats)

  flat = np.asarray(x, np.float64).reshape(8, -1)
  h = _mlp(params["encoder"], flat)
  mu, logvar = h[:, :3], np.full((8, 3), -bound)
  out = _mlp(params["decoder"], mu)
  sigmoid = scipy.special.expit
  if likelihood == "bernoulli":
    log_px = scipy.stats.bernoulli.logpmf(flat, sigmoid(out)).sum(-1)
  else:
    if likelihood == "gaussian":
      mean, lv = sigmoid(out), np.full(out.shape, config.method.decoder_logvar)
    else:
      mean, lv = sigmoid(out[:, 0::2]), bound * np.tanh(out[:, 1::2] / bound)
    log_px = scipy.stats.norm.logpdf(flat, mean, np.exp(0.5 * lv)).sum(-1)
  kl = 0.5 * np.sum(mu**2 + np.exp(logvar) - logvar - 1, -1)
  np.testing.assert_allclose(metrics["recon_nll"], -log_px.mean(), rtol=1e-4)
  np.testing.assert_allclose(metrics["kl"], kl.mean(), rtol=1e-5)
  np.testing.assert_allclose(metrics["elbo"], (log_px - kl).mean(),
                             rtol=1e-4)
  np.testing.assert_allclose(loss, (-log_px + beta * kl).mean(), rtol=1e-4)


def test_each_loss_term_moves_the_gradient():
  """β = 0 removes the KL's gradient; the KL alone has a gradient too."""
  method, params, stats, x = _init(vae_config())
  key = jax.random.PRNGKey(3)
  grad = lambda m: jax.grad(lambda p: m.loss_fn(p, {"image": x}, key,
                                                stats)[0])(params)
  g1 = grad(method)
  g0 = grad(make_method(vae_config(**{"method.beta": 0.0}), (8, 8, 1)))
  diff = jax.tree_util.tree_map(lambda a, b: float(jnp.abs(a - b).max()),
                                g1, g0)
  # Only the encoder feels the KL term.
  assert max(jax.tree_util.tree_leaves(diff["encoder"])) > 1e-4
  assert max(jax.tree_util.tree_leaves(diff["decoder"])) == 0.0


def _far_posterior(params):
  """The encoder's head changed so that q(z|x) is far from p(z) = N(0, I)
  (means ×8, log σ² ≈ −3): at initialisation q ≈ p(z), the log-weight
  correction log p(z) − log q(z|x) is ≈ 0, and no test could see it."""
  kernel = np.array(params["encoder"]["Dense_1"]["kernel"])
  bias = np.array(params["encoder"]["Dense_1"]["bias"])
  kernel[:, :3] *= 8.0
  kernel[:, 3:], bias[3:] = 0.0, -3.0
  head = {"kernel": jnp.asarray(kernel), "bias": jnp.asarray(bias)}
  return {**params, "encoder": {**params["encoder"], "Dense_1": head}}


def test_iwae_bound_tightens_with_k_and_matches_chunked_estimate():
  """Means over 400 draws: the chunked estimator's k = 1 log-weight has the
  ELBO's expectation (closed-form KL), its k = 50 estimate in chunks of 5
  the k = 50 bound's, and that is well above the ELBO. (test_closed_forms
  checks both against exact log-likelihoods.)"""
  method, params, stats, x = _init(vae_config(), batch=16)
  params = _far_posterior(params)
  keys = jax.random.split(jax.random.PRNGKey(5), 400)

  def mean_and_stderr(fn):
    draws = np.asarray(jax.jit(jax.vmap(fn))(keys), np.float64).mean(-1)
    return draws.mean(), draws.std(ddof=1) / math.sqrt(len(draws))

  bound = lambda k: lambda key: method.bounds(params, stats, x, key, k,
                                              train=False)[0]
  chunked = lambda k, chunk: lambda key: -method.importance_weighted_nll(
      params, stats, x, key, k, chunk)
  elbo, elbo_se = mean_and_stderr(bound(1))
  kl = float(jax.jit(lambda k: jnp.mean(method.bounds(
      params, stats, x, k, 1, train=False)[2]))(keys[0]))
  assert kl > 20.0  # q(z|x) is far from p(z)
  iwae1, iwae1_se = mean_and_stderr(chunked(1, 1))
  assert abs(iwae1 - elbo) < 4 * math.hypot(elbo_se, iwae1_se), (iwae1, elbo)
  iwae50, iwae50_se = mean_and_stderr(bound(50))
  assert iwae50 > elbo + 1.0, (iwae50, elbo)
  # In chunks of 5, combined by a running log-sum-exp (not averaged).
  est, se = mean_and_stderr(chunked(50, 5))
  assert abs(est - iwae50) < 4 * math.hypot(se, iwae50_se), (est, iwae50)


@pytest.mark.parametrize("field,value,message", [
    ("method.likelihood", "poisson", "Unknown likelihood"),
    ("method.num_samples", 0, "num_samples must be >= 1"),
    ({"method.num_samples": 5, "method.beta": 2.0}, None, "use beta=1"),
    ("data.binarize", False, "set data.binarize=True"),
])
def test_bad_vae_config_is_a_clear_error(field, value, message):
  overrides = field if isinstance(field, dict) else {field: value}
  with pytest.raises(ValueError, match=message):
    make_method(vae_config(**overrides), (8, 8, 1))


def test_dynamic_binarisation_is_redrawn_every_training_step():
  """The compiled training step feeds the loss a fresh Bernoulli draw of
  each image, with the pixel's intensity as its probability, at every step
  (Burda et al. 2016): 100 steps on the same raw batch give binary images,
  a new draw each step, and per-pixel means within 5 s.e. of the
  intensities."""
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.methods.vae import VariationalAutoencoder  # pylint: disable=g-import-not-at-top
  from aejax.train.state import create_train_state  # pylint: disable=g-import-not-at-top
  from aejax.train.step import train_step  # pylint: disable=g-import-not-at-top

  class Spy(VariationalAutoencoder):
    """Reports the images its loss sees."""

    def loss_fn(self, params, batch, key, batch_stats):
      loss, (metrics, stats) = super().loss_fn(params, batch, key,
                                               batch_stats)
      return loss, ({**metrics, "seen": batch["image"]}, stats)

  config = vae_config()
  raw = load_dataset(config.data).train.images[:16]          # uint8
  method = Spy(config, raw.shape[1:])
  state = jax.jit(lambda x: create_train_state(method, 0, x))(
      jnp.zeros(raw.shape, jnp.float32))
  step = jax.jit(lambda s, b: train_step(s, b, method=method, binarize=True))
  batch = {"image": jnp.asarray(raw)}
  seen = []
  for _ in range(100):
    state, metrics = step(state, batch)
    seen.append(np.asarray(metrics["seen"]))
  seen = np.stack(seen)
  assert set(np.unique(seen)) == {0.0, 1.0}
  p = raw.astype(np.float64) / 255.0
  grey = (p > 0.05) & (p < 0.95)
  changed = [np.mean(seen[i][grey] != seen[i + 1][grey]) for i in range(99)]
  assert min(changed) > 0.1, min(changed)
  stderr = np.sqrt(p * (1 - p) / len(seen))
  assert np.all(np.abs(seen.mean(0) - p) <= 5 * stderr + 1e-9)


def test_huge_learning_rate_keeps_parameters_finite(tmp_path):
  config = vae_config(**{"optimizer.learning_rate": 1e30, "max_steps": 6,
                         "optimizer.grad_clip_norm": 0.0})
  results = train_and_evaluate(config, str(tmp_path))
  _, _, state = load_run(str(tmp_path))
  assert results["skipped_steps"] > 0
  assert all(np.isfinite(np.asarray(v)).all()
             for v in jax.tree_util.tree_leaves(state.params))


def test_vae_trains_and_writes_its_figures(tmp_path):
  config = vae_config(**{"model.latent_dim": 2, "max_steps": 30,
                          "figures": True})
  results = train_and_evaluate(config, str(tmp_path))
  for name in ("samples.png", "interpolation.png", "reconstructions.png",
               "latent_scatter.png", "latent_plane.png"):
    assert os.path.getsize(os.path.join(tmp_path, name)) > 0
  # It learns: the test ELBO is more than a nat above the ELBO of the first
  # training steps (−47 nats per image at initialisation, −44 after 30).
  with open(os.path.join(tmp_path, "metrics.jsonl")) as f:
    first = next(r for r in map(json.loads, f) if r["split"] == "train")
  assert results["test"]["elbo"] > first["elbo"] + 1.0, (first, results)
  from aejax.eval.likelihood import test_nll  # pylint: disable=g-import-not-at-top
  nll = test_nll(str(tmp_path), num_samples=100, batch_size=64, chunk=50)
  # The importance-weighted NLL is at most the negative ELBO (up to noise).
  assert nll["nll_nats"] < -results["test"]["elbo"] + 1.0
  assert math.isfinite(nll["stderr"])
