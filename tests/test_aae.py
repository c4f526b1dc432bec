"""Adversarial autoencoder: priors, the three phases, sharding, figures."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, tiny_config

from aejax.methods import make_method
from aejax.methods.aae import make_prior
from aejax.train.loop import train_and_evaluate


def aae_config(**overrides):
  base = {"method.name": "aae", "model.latent_dim": 2,
          "method.prior": "mixture", "method.disc_hidden": (16, 16)}
  base.update(overrides)
  return tiny_config(**base)


def _setup(config, batch=16):
  method = make_method(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 8, 8, 1))
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  opt_state = method.optimizer().init(variables["params"])
  return method, variables["params"], opt_state, variables["batch_stats"], x


def _changed(before: dict, after: dict) -> set:
  """Top-level keys whose subtree changed."""
  return {k for k in before if any(
      not np.array_equal(a, b) for a, b in zip(
          jax.tree_util.tree_leaves(before[k]),
          jax.tree_util.tree_leaves(after[k])))}


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_each_phase_changes_exactly_its_parameters(model):
  method, params, opt_state, stats, x = _setup(
      aae_config(**{"model.name": model}))
  key = jax.random.PRNGKey(2)
  expected = {
      "reconstruction_phase": ({"encoder", "decoder"}, {"reconstruction"}),
      "discriminator_phase": ({"discriminator"}, {"discriminator"}),
      "generator_phase": ({"encoder"}, {"generator"}),
  }
  for phase, (param_keys, opt_keys) in expected.items():
    p, o, s, metrics = jax.jit(getattr(method, phase))(params, opt_state,
                                                       stats, x, key)
    assert _changed(params, p) == param_keys, phase
    assert _changed(opt_state, o) == opt_keys, phase
    assert all(np.isfinite(float(v)) for v in metrics.values())
    if model == "conv":  # only the reconstruction phase moves BN statistics
      assert bool(_changed(stats, s)) == (phase == "reconstruction_phase")
  v, o, metrics, finite = jax.jit(method.train_step)(
      {"params": params, "batch_stats": stats}, opt_state, {"image": x}, key)
  p = v["params"]
  assert bool(finite)
  assert _changed(params, p) == {"encoder", "decoder", "discriminator"}
  assert _changed(opt_state, o) == {"reconstruction", "discriminator",
                                    "generator"}
  assert set(metrics) >= {"loss", "disc_loss", "gen_loss", "disc_accuracy"}
  # A non-finite step keeps every network, optimizer state and statistic.
  v, o, _, finite = jax.jit(method.train_step)(
      {"params": params, "batch_stats": stats}, opt_state,
      {"image": x.at[0, 0, 0, 0].set(np.nan)}, key)
  assert not bool(finite)
  assert not _changed(params, v["params"]) and not _changed(opt_state, o)
  assert not _changed(stats, v["batch_stats"])


def _dense(layer, h):
  return h @ layer["kernel"] + layer["bias"]


def _mlp(params, h, layers, act=jax.nn.relu):
  """Dense_0 -> act -> ... -> Dense_{layers-1} (linear), by hand."""
  for i in range(layers):
    h = _dense(params[f"Dense_{i}"], h)
    h = act(h) if i < layers - 1 else h
  return h


def _sgd(params, grads, lr):
  return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)


def _hand_written_step(method, params, x, key, lr, adv_lr, order="paper"):
  """One AAE step in plain JAX (MLP encoder 64-32-2, decoder 2-32-64,
  discriminator 2-16-16-1, ReLU; MSE of the sigmoid output; SGD):

  1. encoder + decoder: −lr ∇ mean_b mean_pixels (σ(Dec(Enc(x))) − x)²;
  2. discriminator: −adv_lr ∇ [mean softplus(−D(z_prior)) +
     mean softplus(D(Enc₁(x)))], with the encoder of phase 1;
  3. encoder: −adv_lr ∇ mean softplus(−D₂(Enc(x))), against the D of
     phase 2, from the encoder of phase 1.

  ``order="stale"`` runs phases 2 and 3 from the initial parameters (what a
  step that threw away its earlier phases' results would do);
  ``order="old_d"`` runs phase 3 against the initial discriminator.
  """
  flat = x.reshape(x.shape[0], -1)
  enc = lambda p, v: _mlp(p, v, 2)
  disc = lambda p, z: _mlp(p, z, 3)[:, 0]
  k_rec, k_disc, k_gen = jax.random.split(key, 3)
  del k_rec, k_gen  # no corruption and no dropout in this model
  k_prior, _ = jax.random.split(k_disc)
  z_prior = method.prior.sample(k_prior, x.shape[0])

  def rec_loss(ae):
    out = jax.nn.sigmoid(_mlp(ae["decoder"], enc(ae["encoder"], flat), 2))
    return jnp.mean(jnp.square(out - flat))

  ae = {k: params[k] for k in ("encoder", "decoder")}
  ae1 = _sgd(ae, jax.grad(rec_loss)(ae), lr)
  start = params if order == "stale" else {**params, **ae1}

  def d_loss(d):
    codes = enc(start["encoder"], flat)
    return (jnp.mean(jax.nn.softplus(-disc(d, z_prior))) +
            jnp.mean(jax.nn.softplus(disc(d, codes))))

  d2 = _sgd(start["discriminator"], jax.grad(d_loss)(start["discriminator"]),
            adv_lr)
  d_for_g = params["discriminator"] if order == "old_d" else d2
  g_loss = lambda e: jnp.mean(jax.nn.softplus(-disc(d_for_g, enc(e, flat))))
  e3 = _sgd(start["encoder"], jax.grad(g_loss)(start["encoder"]), adv_lr)
  return {"encoder": e3, "decoder": ae1["decoder"], "discriminator": d2}


def test_step_equals_the_three_phases_written_out_with_sgd():
  """One compiled step == reconstruction, then discriminator, then generator,
  each on the parameters the previous phase produced (Makhzani et al. 2015,
  §2), written out by hand; and != the same phases from stale parameters."""
  lr, adv_lr = 0.5, 0.3
  config = aae_config(**{"optimizer.name": "sgd",
                         "optimizer.learning_rate": lr,
                         "method.adversarial_learning_rate": adv_lr,
                         "method.prior": "gaussian"})
  method, params, opt_state, stats, x = _setup(config)
  key = jax.random.PRNGKey(11)
  variables, _, _, finite = jax.jit(method.train_step)(
      {"params": params, "batch_stats": stats}, opt_state, {"image": x}, key)
  assert bool(finite)
  got = variables["params"]
  orders = ("paper", "stale", "old_d")
  expected, *wrong = jax.jit(lambda p: [
      _hand_written_step(method, p, x, key, lr, adv_lr, o) for o in orders])(
          params)
  assert set(got) == set(expected)
  for name in expected:
    for (path, a), b in zip(
        jax.tree_util.tree_flatten_with_path(got[name])[0],
        jax.tree_util.tree_leaves(expected[name])):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6,
                                 err_msg=f"{name}{jax.tree_util.keystr(path)}")
  # The reference has teeth: the wrong orders give other encoders and Ds.
  for other, order, changed in zip(wrong, orders[1:],
                                   (("encoder", "discriminator"),
                                    ("encoder",))):
    for name in changed:
      assert max(float(jnp.abs(a - b).max()) for a, b in zip(
          jax.tree_util.tree_leaves(other[name]),
          jax.tree_util.tree_leaves(got[name]))) > 1e-4, (order, name)


def test_generator_phase_fools_the_discriminator_a_little():
  """The encoder step lowers D's loss of calling codes real (gen_loss)."""
  method, params, opt_state, stats, x = _setup(aae_config())
  key = jax.random.PRNGKey(4)
  p, o, s, before = method.generator_phase(params, opt_state, stats, x, key)
  _, _, _, after = method.generator_phase(p, o, s, x, key)
  assert float(after["gen_loss"]) < float(before["gen_loss"])


def test_mixture_prior_geometry():
  prior = make_prior("mixture", 2)
  z, comp = prior.sample(jax.random.PRNGKey(0), 50_000,
                         return_components=True)
  z, comp = np.asarray(z), np.asarray(comp)
  counts = np.bincount(comp, minlength=10)
  assert counts.min() > 4500 and counts.max() < 5500
  for k in range(10):
    zk = z[comp == k]
    theta = 2 * np.pi * k / 10
    radial = np.array([np.cos(theta), np.sin(theta)])
    tangential = np.array([-np.sin(theta), np.cos(theta)])
    np.testing.assert_allclose(zk.mean(0), 2.0 * radial, atol=0.02)
    np.testing.assert_allclose((zk @ radial).std(), 0.5, rtol=0.05)
    np.testing.assert_allclose((zk @ tangential).std(), 0.1, rtol=0.05)
  # d > 2: the same petals in (z1, z2), N(0, 1) in the other coordinates.
  z5 = np.asarray(make_prior("mixture", 5).sample(jax.random.PRNGKey(1),
                                                  50_000))
  np.testing.assert_allclose(z5[:, 2:].std(0), 1.0, rtol=0.03)
  np.testing.assert_allclose(np.linalg.norm(z5[:, :2], axis=1).mean(),
                             np.linalg.norm(z, axis=1).mean(), rtol=0.02)
  g = np.asarray(make_prior("gaussian", 3).sample(jax.random.PRNGKey(2),
                                                  50_000))
  np.testing.assert_allclose(np.cov(g, rowvar=False), np.eye(3), atol=0.03)


@pytest.mark.parametrize("overrides,message", [
    ({"method.prior": "uniform"}, "Unknown prior"),
    ({"method.prior": "mixture", "model.latent_dim": 1}, "dimension >= 2"),
    ({"method.adversarial_learning_rate": -1.0}, "adversarial_learning_rate"),
])
def test_bad_aae_config_is_a_clear_error(overrides, message):
  with pytest.raises(ValueError, match=message):
    make_method(aae_config(**overrides), (8, 8, 1))


@pytest.mark.long
def test_sharded_aae_step_equals_single_device(tmp_path):
  """The three-phase step (conv model: BatchNorm in encoder and decoder) on
  2 fake devices gives the single-device parameters after 6 steps."""
  states = {}
  for devices in (1, 2):
    config = aae_config(**{"model.name": "conv", "num_devices": devices})
    train_and_evaluate(config, str(tmp_path / str(devices)))
    states[devices] = final_state(str(tmp_path / str(devices)))[0]
  for part in ("params", "batch_stats", "opt_state"):
    for a, b in zip(jax.tree_util.tree_leaves(states[1][part]),
                    jax.tree_util.tree_leaves(states[2][part])):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
  init = _setup(aae_config(**{"model.name": "conv"}))[1]
  assert _changed(init, states[2]["params"]) == {"encoder", "decoder",
                                                 "discriminator"}


def test_aae_trains_writes_figures_and_two_sample_report(tmp_path):
  config = aae_config(max_steps=20, figures=True)
  results = train_and_evaluate(config, str(tmp_path))
  for name in ("aggregate_posterior.png", "samples.png",
               "reconstructions.png"):
    assert os.path.getsize(os.path.join(tmp_path, name)) > 0, name
  # disc_code_prob is D's mean probability that a test image's code is a
  # prior sample, with the trained encoder in evaluation mode.
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  config, method, state = load_run(str(tmp_path))
  x = load_dataset(config.data).test.images.astype(np.float32) / 255.0
  codes = method.encode(state.params, state.batch_stats, x)
  logits = method.discriminator.apply(
      {"params": state.params["discriminator"]}, codes)
  np.testing.assert_allclose(results["test"]["disc_code_prob"],
                             np.mean(jax.nn.sigmoid(logits)), rtol=1e-4)
  from aejax.eval.two_sample import compare_with_prior  # pylint: disable=g-import-not-at-top
  report = compare_with_prior(str(tmp_path), n=100, repeats=2,
                              num_permutations=20, scales=(0.5, 1.0))
  assert report["prior"] == "mixture" and report["latent_dim"] == 2
  assert set(report["mmd2"]) == {"0.5", "1"}
  for name in ("raw", "moment_matched", "null"):
    assert np.isfinite(report["mmd2"]["1"][name])
    assert len(report["mmd2"]["0.5"][f"{name}_p_values"]) == 2
  with open(os.path.join(tmp_path, "two_sample_mixture.json")) as f:
    assert json.load(f)["n"] == 100


def test_no_latent_figure_for_a_code_that_is_not_2d(tmp_path):
  train_and_evaluate(aae_config(**{"model.latent_dim": 3, "max_steps": 2,
                                 "figures": True}),
                     str(tmp_path))
  assert os.path.exists(os.path.join(tmp_path, "samples.png"))
  assert not os.path.exists(os.path.join(tmp_path,
                                         "aggregate_posterior.png"))
