"""DCGAN: architecture, padding, the alternating step, n_critic, sharding."""

import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from conftest import experiment_config, final_state, tiny_config

from aejax.methods import make_method
from aejax.models import dcgan
from aejax.models.layers import ConvTranspose
from aejax.train.loop import train_and_evaluate


def gan_config(**overrides):
  base = {"method.name": "dcgan", "model.latent_dim": 8}
  base.update(overrides)
  return tiny_config(**base)


def sgd_config(**overrides):
  """For step-by-step comparisons: plain SGD, whose update is −lr·g.

  Adam's first step is −lr·g/(|g| + ε), so the sign of a gradient that is 0
  up to rounding (e.g. D's BatchNorm bias, where the real and the fake
  batch's terms cancel at initialisation) would decide a full-size update:
  the comparison would test float noise, not the order of the updates.
  """
  return gan_config(**{"optimizer.name": "sgd",
                       "optimizer.learning_rate": 0.5, **overrides})


def _setup(config, batch=16):
  method = make_method(config, (8, 8, 1))
  x = jax.random.uniform(jax.random.PRNGKey(1), (batch, 8, 8, 1))
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  opt_state = method.optimizer().init(variables["params"])
  return method, variables["params"], opt_state, variables["batch_stats"], x


def _train_step(method, params, opt_state, stats, batch, key):
  """``method.train_step`` (compiled) as ``(params, opt_state, stats,
  metrics)``; asserts the step was finite."""
  variables, opt_state, metrics, finite = jax.jit(method.train_step)(
      {"params": params, "batch_stats": stats}, opt_state, batch, key)
  assert bool(finite)
  return variables["params"], opt_state, variables["batch_stats"], metrics


def _count(tree):
  return sum(x.size for x in jax.tree_util.tree_leaves(tree))


def _assert_trees_close(a, b, **tol):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(x, y, **tol)


def _differ(a, b):
  return any(not np.allclose(x, y) for x, y in zip(
      jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)))


def test_models_match_the_torch_reference_shapes_and_counts():
  """Parameter counts of torch_reference.py's DCGAN (p.numel() summed)."""
  config = experiment_config("dcgan_fashion_mnist")
  method = make_method(config, (28, 28, 1))
  x = jnp.zeros((4, 28, 28, 1))
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  params = variables["params"]
  # G: Linear 100*6272+6272, BN1d 2*6272, ConvT 128*64*16+64, BN 2*64,
  # ConvT 64*16+1. D: Conv 16*64+64, Conv 64*128*16+128, BN 2*128,
  # Linear 6272+1.
  assert _count(params["generator"]) == 633472 + 12544 + 131136 + 128 + 1025
  assert _count(params["discriminator"]) == 1088 + 131200 + 256 + 6273
  images = method.decode(params, variables["batch_stats"],
                         jnp.ones((4, 100)))
  assert images.shape == (4, 28, 28, 1)
  assert 0.0 <= float(images.min()) and float(images.max()) <= 1.0
  logits = method.discriminator.apply(
      {"params": params["discriminator"],
       "batch_stats": variables["batch_stats"]["discriminator"]}, x)
  assert logits.shape == (4,)


def test_transposed_conv_padding_is_pytorchs_conv_transpose():
  """ConvTranspose2d(k4, s2, p1) is the input-gradient of Conv2d(k4, s2, p1).

  With transpose_kernel=True our layer's kernel is the convolution's kernel,
  so the layer must equal the convolution's vector-Jacobian product.
  """
  key_w, key_x, key_g = jax.random.split(jax.random.PRNGKey(0), 3)
  w = jax.random.normal(key_w, (4, 4, 3, 5))          # HWIO: 3 -> 5
  x = jax.random.normal(key_x, (2, 14, 14, 3))
  conv = lambda v: jax.lax.conv_general_dilated(
      v, w, (2, 2), dcgan.CONV_PADDING, dimension_numbers=("NHWC", "HWIO",
                                                           "NHWC"))
  y, vjp = jax.vjp(conv, x)
  assert y.shape == (2, 7, 7, 5)
  g = jax.random.normal(key_g, y.shape)
  expected, = vjp(g)
  variables = {"params": {"kernel": w, "bias": jnp.zeros(3)}}
  for padding in (dcgan.CONV_TRANSPOSE_PADDING, "SAME"):
    layer = ConvTranspose(3, (4, 4), strides=(2, 2), padding=padding,
                          transpose_kernel=True)
    out = layer.apply(variables, g)
    assert out.shape == (2, 14, 14, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
  # The flax layer agrees too (same parameters, same meaning).
  ref = nn.ConvTranspose(3, (4, 4), strides=(2, 2),
                         padding=dcgan.CONV_TRANSPOSE_PADDING,
                         transpose_kernel=True).apply(variables, g)
  np.testing.assert_allclose(ref, expected, rtol=1e-4, atol=1e-4)


def _manual_sgd(config):
  return optax.sgd(config.optimizer.learning_rate)


@pytest.mark.long
def test_generator_update_uses_the_updated_discriminator():
  """One step == a hand-written D step, then a G step against the new D."""
  config = sgd_config()
  method, params, opt_state, stats, x01 = _setup(config)
  key = jax.random.PRNGKey(7)
  new_params, _, _, metrics = _train_step(method, params, opt_state, stats,
                                          {"image": x01}, key)

  x = x01 * 2 - 1
  z = jax.random.normal(jax.random.fold_in(key, 0), (16, 8))
  g_vars = {"params": params["generator"],
            "batch_stats": stats["generator"]}
  fake, _ = method.generator.apply(g_vars, z, train=True,
                                   mutable=["batch_stats"])
  d_apply = lambda p, s, v: method.discriminator.apply(
      {"params": p, "batch_stats": s}, v, train=True, mutable=["batch_stats"])

  def d_loss(p):
    real, s = d_apply(p, stats["discriminator"], x)
    fake_logits, _ = d_apply(p, s["batch_stats"], fake)
    return (-jnp.mean(jnp.log(jax.nn.sigmoid(real))) -
            jnp.mean(jnp.log(1 - jax.nn.sigmoid(fake_logits))))

  sgd = _manual_sgd(config)
  d_params = params["discriminator"]
  updates, _ = sgd.update(jax.grad(d_loss)(d_params), sgd.init(d_params))
  d_new = optax.apply_updates(d_params, updates)
  _assert_trees_close(new_params["discriminator"], d_new, rtol=1e-4,
                      atol=1e-6)

  def g_params_after(d):
    def g_loss(p):
      img, _ = method.generator.apply(
          {"params": p, "batch_stats": stats["generator"]}, z, train=True,
          mutable=["batch_stats"])
      logits, _ = d_apply(d, stats["discriminator"], img)
      return -jnp.mean(jnp.log(jax.nn.sigmoid(logits)))  # non-saturating
    g = params["generator"]
    upd, _ = sgd.update(jax.grad(g_loss)(g), sgd.init(g))
    return optax.apply_updates(g, upd)

  _assert_trees_close(new_params["generator"], g_params_after(d_new),
                      rtol=1e-4, atol=1e-6)
  # ... and not the result of a G step against the old D.
  assert _differ(new_params["generator"], g_params_after(d_params))
  assert set(metrics) >= {"loss", "d_loss", "g_loss", "d_real", "d_fake"}
  # A non-finite step keeps both networks, their optimizer states and
  # BatchNorm statistics.
  variables, o, _, finite = jax.jit(method.train_step)(
      {"params": params, "batch_stats": stats}, opt_state,
      {"image": x01.at[0, 0, 0, 0].set(jnp.nan)}, key)
  assert not bool(finite)
  for before, after in ((params, variables["params"]), (opt_state, o),
                        (stats, variables["batch_stats"])):
    for a, b in zip(jax.tree_util.tree_leaves(before),
                    jax.tree_util.tree_leaves(after)):
      np.testing.assert_array_equal(a, b)


def _adam_counts(opt_state):
  return {name: [int(v) for v in jax.tree_util.tree_leaves(s)
                 if jnp.issubdtype(v.dtype, jnp.integer)]
          for name, s in opt_state.items()}


@pytest.mark.parametrize("n_critic", [1, 3])
def test_n_critic_discriminator_updates_per_generator_update(n_critic):
  # Adam counts its updates: n_critic for D, 1 for G, in one compiled step.
  method, params, opt_state, stats, x = _setup(
      gan_config(**{"method.n_critic": n_critic}))
  key = jax.random.PRNGKey(3)
  out = _train_step(method, params, opt_state, stats, {"image": x}, key)
  assert _adam_counts(out[1]) == {"discriminator": [n_critic],
                                  "generator": [1]}
  # Equals n_critic D updates (noise i = fold_in(key, i)), then one G update
  # on the last noise.
  method, params, opt_state, stats, x = _setup(
      sgd_config(**{"method.n_critic": n_critic}))
  out = _train_step(method, params, opt_state, stats, {"image": x}, key)
  p, o, s = params, opt_state, stats
  d_update = jax.jit(method.discriminator_update)
  for i in range(n_critic):
    z = method.noise(jax.random.fold_in(key, i), 16)
    p, o, s, _ = d_update(p, o, s, x * 2 - 1, z)
  p, o, s, _ = jax.jit(method.generator_update)(
      p, o, s, method.noise(jax.random.fold_in(key, n_critic - 1), 16))
  _assert_trees_close(out[0], p, rtol=1e-4, atol=1e-5)
  _assert_trees_close(out[2], s, rtol=1e-4, atol=1e-5)
  if n_critic > 1:  # more critic steps, another discriminator
    one = make_method(sgd_config(), (8, 8, 1))
    out1 = _train_step(one, params, opt_state, stats, {"image": x}, key)
    assert _differ(out1[0]["discriminator"], out[0]["discriminator"])


@pytest.mark.parametrize("value", [0, -1])
def test_bad_n_critic_is_a_clear_error(value):
  with pytest.raises(ValueError, match="n_critic"):
    make_method(gan_config(**{"method.n_critic": value}), (8, 8, 1))


def test_image_sides_must_allow_two_doublings():
  method = make_method(gan_config(), (6, 6, 1))
  with pytest.raises(ValueError, match="divisible by 4"):
    method.init_variables(jax.random.PRNGKey(0), jnp.zeros((2, 6, 6, 1)))


@pytest.mark.long
def test_sharded_gan_step_equals_single_device(tmp_path):
  """2 fake devices and 1, same global batch: same G, D and BN statistics
  after 6 alternating steps (both networks have BatchNorm). SGD: see
  :func:`sgd_config` (with Adam, D's BatchNorm bias — a gradient that is 0
  up to rounding — takes ±lr steps whose sign is rounding noise)."""
  states = {}
  for devices in (1, 2):
    train_and_evaluate(sgd_config(num_devices=devices,
                                  **{"optimizer.learning_rate": 0.1}),
                       str(tmp_path / str(devices)))
    states[devices] = final_state(str(tmp_path / str(devices)))[0]
  assert int(states[2]["step"]) == 6
  _assert_trees_close(states[1]["params"], states[2]["params"], rtol=1e-4,
                      atol=1e-5)
  _assert_trees_close(states[1]["batch_stats"], states[2]["batch_stats"],
                      rtol=1e-4, atol=1e-5)
  init = _setup(gan_config())[1]
  assert _differ(states[2]["params"]["generator"], init["generator"])
  assert _differ(states[2]["params"]["discriminator"], init["discriminator"])


def test_dcgan_trains_and_writes_sample_grids(tmp_path):
  results = train_and_evaluate(gan_config(figures=True), str(tmp_path))
  for name in ("samples.png", "real_vs_generated.png", "loss_curves.png"):
    assert os.path.getsize(os.path.join(tmp_path, name)) > 0
  assert np.isfinite(results["test"]["loss"])
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.train import figures  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  config, method, state = load_run(str(tmp_path))
  # d_real is D's mean probability of "real" over the test images, scaled
  # to [−1, 1], with the trained D in evaluation mode (running statistics).
  x = load_dataset(config.data).test.images.astype(np.float32) / 127.5 - 1
  logits = method.discriminator.apply(
      {"params": state.params["discriminator"],
       "batch_stats": state.batch_stats["discriminator"]}, x, train=False)
  np.testing.assert_allclose(results["test"]["d_real"],
                             np.mean(jax.nn.sigmoid(logits)), rtol=1e-4)
  paths = figures.epoch_figures(method, state.params, state.batch_stats, 6,
                                str(tmp_path))
  assert [os.path.basename(p) for p in paths] == ["samples_step000006.png"]
  samples = method.sample(state.params, state.batch_stats,
                          jax.random.PRNGKey(0), 5)
  assert samples.shape == (5, 8, 8, 1)
