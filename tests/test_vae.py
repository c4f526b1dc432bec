"""VAE: KL and likelihood terms, the IWAE bound, NaN safety, figures."""

import math
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
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
  variables = method.init_variables(jax.random.PRNGKey(0), x)
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


@pytest.mark.parametrize("likelihood,binarize", [
    ("bernoulli", True), ("gaussian", False), ("gaussian_learned", False)])
def test_elbo_is_reconstruction_minus_kl_in_nats(likelihood, binarize):
  config = vae_config(**{"method.likelihood": likelihood,
                         "data.binarize": binarize})
  method, params, stats, x = _init(config)
  key = jax.random.PRNGKey(3)
  loss, (metrics, _) = method.loss_fn(params, {"image": x}, key, stats)
  np.testing.assert_allclose(
      metrics["elbo"], -metrics["recon_nll"] - metrics["kl"], rtol=1e-5)
  np.testing.assert_allclose(loss, -metrics["elbo"], rtol=1e-5)
  # Nats per example: the reconstruction term sums over the 64 pixels.
  if likelihood == "bernoulli":
    assert 64 * 0.3 < float(metrics["recon_nll"]) < 64 * 2.0


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


def test_iwae_bound_tightens_with_k_and_matches_chunked_estimate():
  method, params, stats, x = _init(vae_config(), batch=16)
  key = jax.random.PRNGKey(5)
  elbo = method.bounds(params, stats, x, key, 1, train=False)[0]
  iwae50 = method.bounds(params, stats, x, key, 50, train=False)[0]
  # Averaged over many draws the k-sample bound is above the ELBO.
  elbo_of = jax.jit(lambda k: method.bounds(params, stats, x, k, 1,
                                            train=False)[0])
  elbos = jnp.stack([elbo_of(jax.random.PRNGKey(i)) for i in range(50)])
  assert float(iwae50.mean()) > float(elbos.mean()) + 0.1
  assert elbo.shape == iwae50.shape == (16,)
  nll_a = method.importance_weighted_nll(params, stats, x, key, 2000, 2000)
  nll_b = method.importance_weighted_nll(params, stats, x, key, 2000, 100)
  np.testing.assert_allclose(nll_a, nll_b, rtol=0.01)
  assert float(nll_b.mean()) <= -float(elbos.mean())


def test_iwae_training_objective_is_used(tmp_path):
  config = vae_config(**{"method.num_samples": 5})
  method, params, stats, x = _init(config)
  _, (metrics, _) = method.loss_fn(params, {"image": x},
                                   jax.random.PRNGKey(0), stats)
  assert "iwae5" in metrics and "elbo" not in metrics
  with pytest.raises(ValueError, match="use beta=1"):
    make_method(vae_config(**{"method.num_samples": 5, "method.beta": 2.0}),
                (8, 8, 1))


@pytest.mark.parametrize("field,value,message", [
    ("method.likelihood", "poisson", "Unknown likelihood"),
    ("method.num_samples", 0, "num_samples must be >= 1"),
    ("data.binarize", False, "set data.binarize=True"),
])
def test_bad_vae_config_is_a_clear_error(field, value, message):
  with pytest.raises(ValueError, match=message):
    make_method(vae_config(**{field: value}), (8, 8, 1))


def test_huge_learning_rate_keeps_parameters_finite(tmp_path):
  config = vae_config(**{"optimizer.learning_rate": 1e30, "max_steps": 6,
                         "optimizer.grad_clip_norm": 0.0})
  results = train_and_evaluate(config, str(tmp_path))
  _, _, state = load_run(str(tmp_path))
  assert results["skipped_steps"] > 0
  assert all(np.isfinite(np.asarray(v)).all()
             for v in jax.tree_util.tree_leaves(state.params))


def test_vae_trains_and_writes_its_figures(tmp_path):
  config = vae_config(**{"model.latent_dim": 2, "max_steps": 30})
  results = train_and_evaluate(config, str(tmp_path))
  for name in ("samples.png", "interpolation.png", "reconstructions.png",
               "latent_scatter.png", "latent_plane.png"):
    assert os.path.getsize(os.path.join(tmp_path, name)) > 0
  assert results["test"]["elbo"] < 0 and np.isfinite(results["test"]["kl"])
  from aejax.eval.likelihood import test_nll  # pylint: disable=g-import-not-at-top
  nll = test_nll(str(tmp_path), num_samples=100, batch_size=64, chunk=50)
  # The importance-weighted NLL is at most the negative ELBO (up to noise).
  assert nll["nll_nats"] < -results["test"]["elbo"] + 1.0
  assert math.isfinite(nll["stderr"])
