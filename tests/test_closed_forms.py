"""The VAE's bounds and likelihoods against closed forms and SciPy.

A linear-Gaussian VAE (linear decoder x = Wz + b + σε, z ~ N(0, I)) has the
exact marginal log p(x) = log N(x; b, WWᵀ + σ²I), the exact posterior
N(Σ Wᵀ(x − b)/σ², Σ) with Σ = (I + WᵀW/σ²)⁻¹, and an ELBO in closed form for
any Gaussian q(z|x). Its parameters are set here so that q(z|x) is far from
p(z) (and off the exact posterior): at initialisation q ≈ p(z), where the
log-weight correction log p(z) − log q(z|x) of the IWAE bound is ≈ 0 and a
test cannot see it. A Bernoulli decoder with a one-dimensional code has no
closed form, but log p(x) = log ∫ p(x|z) N(z; 0, 1) dz by quadrature on a
fine grid is as good as one.

References:
  Tipping & Bishop, "Probabilistic Principal Component Analysis", JRSS B 61,
  1999 (the linear-Gaussian marginal and posterior).
  Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR
  2016.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats
from conftest import tiny_config

from aejax import losses
from aejax.methods import make_method

SHAPE = (8, 8, 1)
D = 64


# -- the likelihood terms against SciPy ---------------------------------------


def test_log_densities_match_scipy():
  rng = np.random.default_rng(0)
  x, mean = rng.normal(size=(2, 5, 7))
  logvar = rng.normal(size=(5, 7))
  np.testing.assert_allclose(
      losses.gaussian_log_density(x, mean, logvar),
      scipy.stats.norm.logpdf(x, mean, np.exp(0.5 * logvar)).sum(-1),
      rtol=1e-5)
  np.testing.assert_allclose(
      losses.standard_normal_log_density(x),
      scipy.stats.multivariate_normal.logpdf(x, np.zeros(7), np.eye(7)),
      rtol=1e-5)
  logits = 3 * rng.normal(size=(5, 7))
  bits = (rng.uniform(size=(5, 7)) < 0.5).astype(np.float64)
  np.testing.assert_allclose(
      losses.bernoulli_log_likelihood(logits, bits),
      scipy.stats.bernoulli.logpmf(bits, scipy.special.expit(logits)).sum(-1),
      rtol=1e-5)
  # KL(N(μ, σ²) ‖ N(0, 1)) = E_q[log q − log p], by quadrature per coordinate.
  mu, lv = 1.3, -0.7
  z = np.linspace(-12, 12, 200_001)
  q = scipy.stats.norm(mu, math.exp(0.5 * lv))
  kl = np.trapezoid(q.pdf(z) * (q.logpdf(z) - scipy.stats.norm.logpdf(z)), z)
  assert float(losses.gaussian_kl_to_standard(jnp.array([mu]),
                                              jnp.array([lv]))) == (
      pytest.approx(kl, rel=1e-6))


@pytest.mark.parametrize("likelihood,output", [
    ("gaussian", "identity"), ("gaussian", "sigmoid"),
    ("gaussian_learned", "sigmoid")])
def test_vae_decoder_log_prob_matches_scipy(likelihood, output):
  """Per-pixel Normal densities with their constants, summed over pixels;
  for the learned variance, decoder channel 2c is the mean of image channel
  c and channel 2c + 1 its (bounded) log σ², on a 3-channel image."""
  shape = (4, 4, 3)
  method = make_method(tiny_config(**{
      "method.name": "vae", "method.likelihood": likelihood,
      "method.output": output, "data.binarize": False,
      "method.decoder_logvar": -1.7}), shape)
  rng = np.random.default_rng(1)
  k, b = 2, 3
  x = rng.uniform(size=(b,) + shape).astype(np.float32)
  channels = 6 if likelihood == "gaussian_learned" else 3
  out = rng.normal(size=(k, b, 4, 4, channels)).astype(np.float32)
  act = scipy.special.expit if output == "sigmoid" else (lambda v: v)
  if likelihood == "gaussian":
    mean, logvar = act(out), np.full(out.shape, -1.7)
  else:
    bound = method.logvar_bound
    mean = act(out[..., 0::2])
    logvar = bound * np.tanh(out[..., 1::2] / bound)
  expected = scipy.stats.norm.logpdf(
      x[None].astype(np.float64), mean, np.exp(0.5 * logvar)).reshape(
          k, b, -1).sum(-1)
  np.testing.assert_allclose(method.decoder_log_prob(jnp.asarray(out),
                                                     jnp.asarray(x)),
                             expected, rtol=1e-5)
  np.testing.assert_allclose(method.mean_image(jnp.asarray(out[0])),
                             mean[0], rtol=1e-5, atol=1e-6)


# -- a linear-Gaussian VAE ----------------------------------------------------


def _set_linear_vae(method, kernel_mean, bias_mean, logvar, decoder_w,
                    decoder_b):
  """Parameters of a ``model.hidden=()`` VAE with posterior mean
  x·kernel_mean + bias_mean, posterior log σ² ``logvar`` (the same for
  every x) and decoder logits z·decoder_w + decoder_b."""
  bound = method.logvar_bound
  raw = bound * np.arctanh(np.asarray(logvar) / bound)
  latent = len(bias_mean)
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  return {
      "encoder": {"Dense_0": {
          "kernel": f32(np.concatenate([kernel_mean,
                                        np.zeros((D, latent))], 1)),
          "bias": f32(np.concatenate([bias_mean, raw]))}},
      "decoder": {"Dense_0": {"kernel": f32(decoder_w),
                              "bias": f32(decoder_b)}}}


def _check_structure(method, params, x):
  """The hand-set tree has the shapes of the method's own parameters."""
  init = jax.eval_shape(method.init_variables, jax.random.PRNGKey(0),
                        jnp.asarray(x))["params"]
  assert (jax.tree_util.tree_map(lambda a: a.shape, init) ==
          jax.tree_util.tree_map(lambda a: a.shape, params))


def _gaussian_kl(m1, v1, m2, c2):
  """KL(N(m1, diag v1) ‖ N(m2, c2)) per row of m1 (float64)."""
  inv = np.linalg.inv(c2)
  d = m1 - m2
  return 0.5 * (np.trace(inv @ np.diag(v1)) + np.einsum("bi,ij,bj->b", d, inv,
                                                         d)
                - len(v1) + np.linalg.slogdet(c2)[1] - np.log(v1).sum())


@pytest.fixture(scope="module")
def linear_gaussian():
  """A linear-Gaussian VAE, data drawn from it, and its exact quantities."""
  latent, batch, sigma2 = 2, 16, 0.05
  rng = np.random.default_rng(0)
  w = rng.normal(size=(D, latent)) * 0.3
  b = 0.3 + 0.1 * rng.normal(size=D)
  x = (rng.normal(size=(batch, latent)) @ w.T + b +
       math.sqrt(sigma2) * rng.normal(size=(batch, D)))
  post_cov = np.linalg.inv(np.eye(latent) + w.T @ w / sigma2)
  gain = post_cov @ w.T / sigma2                        # μ_post = gain (x − b)
  # q(z|x): the posterior mean shifted by one posterior s.d., variance ×3.
  q_var = 3.0 * np.diag(post_cov)
  shift = np.sqrt(np.diag(post_cov))
  q_mean = (x - b) @ gain.T + shift
  config = tiny_config(**{
      "method.name": "vae", "method.likelihood": "gaussian",
      "method.output": "identity", "data.binarize": False,
      "method.decoder_logvar": math.log(sigma2), "model.hidden": (),
      "model.latent_dim": latent})
  method = make_method(config, SHAPE)
  params = _set_linear_vae(method, gain.T, shift - gain @ b, np.log(q_var),
                           w.T, b)
  _check_structure(method, params, x.reshape((batch,) + SHAPE))
  log_px = scipy.stats.multivariate_normal.logpdf(
      x, b, w @ w.T + sigma2 * np.eye(D))
  kl_prior = 0.5 * np.sum(q_mean**2 + q_var - np.log(q_var) - 1, -1)
  expected_log_lik = (scipy.stats.norm.logpdf(
      x, q_mean @ w.T + b, math.sqrt(sigma2)).sum(-1) -
                      np.trace(w @ np.diag(q_var) @ w.T) / (2 * sigma2))
  elbo = expected_log_lik - kl_prior
  # Var_q log p(x|z) with z = μ + Sε: −‖r − W S ε‖²/(2σ²), r = x − b − Wμ.
  ws = w * np.sqrt(q_var)
  resid = x - b - q_mean @ w.T
  var_log_lik = (4 * np.sum((resid @ ws)**2, -1) +
                 2 * np.sum((ws.T @ ws)**2)) / (4 * sigma2**2)
  post_mean = (x - b) @ gain.T
  gap = np.array([_gaussian_kl(q_mean[i:i + 1], q_var, post_mean[i],
                               post_cov)[0] for i in range(batch)])
  # The reference is consistent: ELBO = log p(x) − KL(q ‖ exact posterior).
  np.testing.assert_allclose(elbo, log_px - gap, rtol=1e-9)
  return {"method": method, "params": params,
          "x": jnp.asarray(x.reshape((batch,) + SHAPE), jnp.float32),
          "log_px": log_px, "elbo": elbo, "kl_prior": kl_prior,
          "gap": gap, "elbo_stderr_4000": np.sqrt(var_log_lik / 4000)}


def test_linear_gaussian_vae_elbo_and_kl_are_the_closed_forms(
    linear_gaussian):
  lg = linear_gaussian
  assert lg["kl_prior"].min() > 2.5  # q(z|x) is far from p(z) ...
  assert lg["gap"].min() > 0.3       # ... and from the exact posterior.
  _, log_lik, kl, _, _ = jax.jit(lambda p, x: lg["method"].bounds(
      p, {}, x, jax.random.PRNGKey(0), 4000, train=False))(lg["params"],
                                                           lg["x"])
  np.testing.assert_allclose(kl, lg["kl_prior"], rtol=1e-4)
  # E_q[log p(x|z)] from 4 000 samples, within 5 of its standard errors
  # (log p(x|z) is quadratic in z: its variance under q is exact).
  np.testing.assert_allclose(log_lik - kl, lg["elbo"],
                             atol=5 * lg["elbo_stderr_4000"].max())
  assert np.all(np.asarray(log_lik - kl) < lg["log_px"] - 0.2)


def test_linear_gaussian_iwae_rises_with_k_to_the_exact_log_likelihood(
    linear_gaussian):
  lg = linear_gaussian
  method, params, x = lg["method"], lg["params"], lg["x"]
  bound_of = jax.jit(lambda key, k: method.bounds(params, {}, x, key, k,
                                                  train=False)[0],
                     static_argnums=1)
  gaps = {}
  for k in (1, 10, 100):
    draws = np.stack([bound_of(jax.random.PRNGKey(i), k) for i in range(20)])
    gaps[k] = float(np.mean(lg["log_px"] - draws))
  # E[IWAE_k] rises with k towards log p(x) (Burda et al. 2016, Thm 1); the
  # standard errors of these means are 0.3, 0.02 and 0.008 nats.
  assert gaps[1] > gaps[10] + 1.0 and gaps[10] > gaps[100] + 0.05, gaps
  assert abs(gaps[1] - lg["gap"].mean()) < 1.0, gaps
  assert abs(gaps[100]) < 0.03, gaps
  # The chunked k = 5 000 estimate is log p(x), whatever the chunk: within
  # 0.1 nats for each example (its s.d. is about 0.02) and 0.02 on average.
  # Averaging the estimates of chunks of 10 instead would be IWAE_10, 0.1
  # nats low on average.
  for chunk in (10, 5000):
    nll = method.importance_weighted_nll(params, {}, x, jax.random.PRNGKey(1),
                                         5000, chunk)
    err = -np.asarray(nll, np.float64) - lg["log_px"]
    assert np.abs(err).max() < 0.1 and abs(err.mean()) < 0.02, (chunk, err)


def test_iwae_training_loss_is_the_k_sample_bound(linear_gaussian):
  """With method.num_samples = 5 the training loss is −IWAE_5, in
  expectation (the chunked estimator's k = 5 draws, 200 of each) and not
  the negative ELBO, which is 2 nats higher here."""
  lg = linear_gaussian
  config = lg["method"].config.copy_and_resolve_references()
  config.method.num_samples = 5
  method = make_method(config, SHAPE)
  params, x = lg["params"], lg["x"]
  keys = jax.random.split(jax.random.PRNGKey(4), 200)
  losses_k5, metrics = jax.jit(jax.vmap(
      lambda k: method.loss_fn(params, {"image": x}, k, {})))(keys)
  metrics = metrics[0]
  iwae5 = jax.jit(jax.vmap(lambda k: -method.importance_weighted_nll(
      params, {}, x, k, 5, 5)))(keys)
  per_draw = np.asarray(losses_k5, np.float64) + np.asarray(iwae5).mean(-1)
  stderr = per_draw.std(ddof=1) / math.sqrt(len(keys))
  assert abs(per_draw.mean()) < 4 * stderr, (per_draw.mean(), stderr)
  np.testing.assert_allclose(metrics["iwae5"], -losses_k5, rtol=1e-6)
  assert "elbo" not in metrics
  assert float(np.mean(losses_k5)) < -lg["elbo"].mean() - 1.0


# -- a Bernoulli VAE with a one-dimensional code, by quadrature ---------------


def test_bernoulli_vae_iwae_estimate_equals_quadrature():
  """The published NLLs are Bernoulli-decoder IWAE estimates: with a 1-d
  code, log p(x) = log ∫ Π_d Bern(x_d; σ(w_d z + b_d)) N(z; 0, 1) dz is a
  quadrature on a fine grid; the k = 5 000 estimate must agree with it."""
  batch = 8
  rng = np.random.default_rng(3)
  w = 1.5 * rng.normal(size=(1, D))
  b = 0.5 * rng.normal(size=D)
  x = (rng.uniform(size=(batch, D)) <
       scipy.special.expit(rng.normal(size=(batch, 1)) @ w + b)
       ).astype(np.float64)
  grid = np.linspace(-8.0, 8.0, 8001)
  logits = grid[:, None] * w + b                               # [grid, D]
  log_lik = -(x @ np.logaddexp(0, -logits).T +
              (1 - x) @ np.logaddexp(0, logits).T)             # [B, grid]
  log_joint = log_lik + scipy.stats.norm.logpdf(grid)[None]
  dz = grid[1] - grid[0]
  log_px = scipy.special.logsumexp(log_joint, axis=1) + math.log(dz)
  # q(z|x): the exact posterior's mean + 0.5 s.d., variance ×2, set through
  # the linear encoder by least squares.
  post = np.exp(log_joint - log_joint.max(1, keepdims=True))
  post /= post.sum(1, keepdims=True)
  post_mean = post @ grid
  post_var = post @ grid**2 - post_mean**2
  q_mean = post_mean + 0.5 * np.sqrt(post_var)
  q_logvar = np.log(2 * post_var)
  method = make_method(tiny_config(**{
      "method.name": "vae", "data.binarize": True, "model.hidden": (),
      "model.latent_dim": 1}), SHAPE)
  bound = method.logvar_bound
  raw = bound * np.arctanh(q_logvar / bound)
  # 8 examples, 65 unknowns per output: the fit is exact.
  kernel = np.linalg.lstsq(np.c_[x, np.ones(batch)], np.c_[q_mean, raw],
                           rcond=None)[0]
  f32 = lambda a: jnp.asarray(a, jnp.float32)
  params = {
      "encoder": {"Dense_0": {
          "kernel": f32(kernel[:-1]), "bias": f32(kernel[-1])}},
      "decoder": {"Dense_0": {"kernel": f32(w), "bias": f32(b)}}}
  xs = jnp.asarray(x.reshape((batch,) + SHAPE), jnp.float32)
  _check_structure(method, params, xs)
  mean, logvar = method.posterior(params, {}, xs)
  np.testing.assert_allclose(mean[:, 0], q_mean, atol=1e-3)
  np.testing.assert_allclose(logvar[:, 0], q_logvar, atol=1e-3)
  nll = method.importance_weighted_nll(params, {}, xs, jax.random.PRNGKey(0),
                                       5000, 100)
  np.testing.assert_allclose(-np.asarray(nll), log_px, atol=0.02)
  # The ELBO (E_q by 2 000 samples) is below, by about KL(q ‖ posterior).
  _, log_lik, kl, _, _ = jax.jit(lambda p, x: method.bounds(
      p, {}, x, jax.random.PRNGKey(1), 2000, train=False))(params, xs)
  assert np.all(log_px - np.asarray(log_lik - kl) > 0.1)
