"""The ladder network (Rasmus et al. 2015): its costs checked against NumPy,
each cost's reach, the running statistics, and the errors it gives.

Training and exact resume through the loop are in tests/test_contract.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from aejax.config import ConfigError
from aejax.methods import make_method
from aejax.methods.ladder import EPS, STATS_MOMENTUM
from aejax.methods.semi_supervised import NUM_CLASSES
from aejax.train.loop import train_and_evaluate

SHAPE = (8, 8, 1)
SETTINGS = {"method.name": "ladder", "model.hidden": (12, 8),
            "method.denoising_weights": (1000.0, 10.0, 0.1, 0.1),
            "method.labelled_batch_size": 8}


def _method(**overrides):
  return make_method(tiny_config(**{**SETTINGS, **overrides}), SHAPE)


def _data(n=6, seed=1):
  k_x, k_y = jax.random.split(jax.random.PRNGKey(seed))
  return (jax.random.uniform(k_x, (n,) + SHAPE),
          jax.random.randint(k_y, (n,), 0, NUM_CLASSES))


def _variables(method, x):
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  # Move every parameter off its initial value (the combinators start at
  # ẑ = 0, which would hide most of the decoder).
  leaves, tree = jax.tree_util.tree_flatten(variables["params"])
  keys = jax.random.split(jax.random.PRNGKey(1), len(leaves))
  leaves = [leaf + 0.3 * jax.random.normal(k, leaf.shape)
            for leaf, k in zip(leaves, keys)]
  return {**variables, "params": jax.tree_util.tree_unflatten(tree, leaves)}


def _np_costs(method, params, x, key):
  """Per-layer denoising costs [B] in float64 NumPy, with the noise of
  ``key`` drawn as the method draws it (one key per layer)."""
  p = jax.tree_util.tree_map(lambda a: np.asarray(a, np.float64), params)
  num_layers = method.num_layers
  keys = jax.random.split(key, num_layers + 1)
  sigma = method.noise_std

  def encode(noisy):
    h = np.asarray(x, np.float64).reshape(x.shape[0], -1)
    if noisy:
      h = h + sigma * np.asarray(jax.random.normal(keys[0], h.shape))
    zs, moments = [h], []
    for l in range(1, num_layers + 1):
      z_pre = h @ p[f"W{l}"]["kernel"]
      mean, var = z_pre.mean(0), z_pre.var(0)
      z = (z_pre - mean) / np.sqrt(var + EPS)
      if noisy:
        z = z + sigma * np.asarray(jax.random.normal(keys[l], z.shape))
      zs.append(z)
      moments.append((mean, var))
      shifted = z + p[f"beta{l}"]
      h = p["gamma"] * shifted if l == num_layers else np.maximum(shifted, 0)
    return zs, h, moments

  def bn(u):
    return (u - u.mean(0)) / np.sqrt(u.var(0) + EPS)

  def combine(z, u, l):
    a = p[f"a{l}"]
    sig = lambda t: 1 / (1 + np.exp(-t))
    mu = a[0] * sig(a[1] * u + a[2]) + a[3] * u + a[4]
    v = a[5] * sig(a[6] * u + a[7]) + a[8] * u + a[9]
    return (z - mu) * v + mu

  clean, _, moments = encode(False)
  noisy, logits, _ = encode(True)
  soft = np.exp(logits - logits.max(-1, keepdims=True))
  u = bn(soft / soft.sum(-1, keepdims=True))
  costs = [None] * (num_layers + 1)
  for l in range(num_layers, -1, -1):
    if l < num_layers:
      u = bn(z_hat @ p[f"V{l + 1}"]["kernel"])
    z_hat = combine(noisy[l], u, l)
    est = z_hat if l == 0 else (z_hat - moments[l - 1][0]) / np.sqrt(
        moments[l - 1][1] + EPS)
    costs[l] = np.sum((clean[l] - est) ** 2, -1) / method.sizes[l]
  return costs, logits


def test_the_denoising_costs_are_the_papers():
  method = _method()
  x, y = _data()
  params = _variables(method, x)["params"]
  key = jax.random.PRNGKey(3)
  costs, _ = jax.jit(method.denoising_costs)(params, x, key)
  expected, _ = _np_costs(method, params, x, key)
  assert len(costs) == 4
  for got, want in zip(costs, expected):
    np.testing.assert_allclose(got, want, rtol=2e-4, atol=1e-5)
  # The loss: the λ-weighted costs of the batch (its noise is the first
  # half of the key) plus the corrupted encoder's cross-entropy on the
  # labelled sub-batch (the second half).
  k_u, k_l = jax.random.split(key)
  loss, (metrics, _) = jax.jit(method.loss_fn)(
      params, {"image": x, "labelled_image": x, "labelled_label": y}, key,
      method.init_variables(key, x)["batch_stats"])
  unlabelled, _ = _np_costs(method, params, x, k_u)
  _, logits = _np_costs(method, params, x, k_l)
  log_q = logits - logits.max(-1, keepdims=True)
  log_q = log_q - np.log(np.exp(log_q).sum(-1, keepdims=True))
  cross_entropy = -np.mean(log_q[np.arange(len(y)), np.asarray(y)])
  denoising = sum(w * c.mean() for w, c in
                  zip(method.denoising_weights, unlabelled))
  np.testing.assert_allclose(float(metrics["cross_entropy"]), cross_entropy,
                             rtol=1e-4)
  np.testing.assert_allclose(float(loss), denoising + cross_entropy,
                             rtol=1e-4)


def test_each_cost_reaches_what_it_claims():
  x, y = _data()
  key = jax.random.PRNGKey(4)

  def grads(method, batch):
    variables = _variables(method, x)
    return jax.jit(jax.grad(lambda p: method.loss_fn(
        p, batch, key, variables["batch_stats"])[0]))(variables["params"])

  def norm(tree):
    return float(sum(jnp.sum(jnp.square(a))
                     for a in jax.tree_util.tree_leaves(tree)))

  labelled = {"labelled_image": x, "labelled_label": y}
  # Unlabelled images alone train the classifier's own weights (W1 … W3,
  # through the clean targets and the corrupted path) and the decoder.
  method = _method()
  unlabelled = grads(method, {"image": x})
  assert all(norm(unlabelled[f"W{l}"]) > 1e-6 for l in (1, 2, 3))
  assert norm(unlabelled["V1"]) > 1e-6 and norm(unlabelled["a0"]) > 1e-6
  # The labelled cross-entropy never reaches the decoder ...
  supervised = grads(method, labelled)
  assert norm(supervised["V1"]) == 0 and norm(supervised["a0"]) == 0
  # ... and a layer's weight λ⁽ˡ⁾ is all that lets its cost in: with
  # λ⁽⁰⁾ = 0 the input's combinator learns nothing.
  no_input = grads(_method(**{"method.denoising_weights":
                              (0.0, 10.0, 0.1, 0.1)}), {"image": x})
  assert norm(no_input["a0"]) == 0 and norm(no_input["a1"]) > 1e-6


def test_zero_noise_makes_the_corrupted_encoder_the_clean_one():
  method = _method(**{"method.layer_noise_std": 0.0})
  x, _ = _data()
  params = _variables(method, x)["params"]
  clean = method.encode_layers(params, x)
  noisy = method.encode_layers(params, x, jax.random.PRNGKey(5))
  for a, b in zip(jax.tree_util.tree_leaves(clean),
                  jax.tree_util.tree_leaves(noisy)):
    np.testing.assert_array_equal(a, b)


def test_running_statistics_and_per_example_evaluation():
  method = _method()
  x, y = _data(16)
  variables = _variables(method, x)
  opt_state = method.optimizer().init(variables["params"])
  step = jax.jit(method.train_step)
  outs = [step(variables, opt_state, {"image": x, "label": labels},
               jax.random.PRNGKey(6)) for labels in (y, (y + 1) % 10)]
  # The batch's labels are never read.
  for a, b in zip(*(jax.tree_util.tree_leaves(o[0]) for o in outs)):
    np.testing.assert_array_equal(a, b)
  # The running statistics move towards the clean pass's batch moments.
  _, _, moments = method.encode_layers(variables["params"], x)
  stats = outs[0][0]["batch_stats"]
  for l, (mean, var) in enumerate(moments, start=1):
    old = variables["batch_stats"][f"layer{l}"]
    np.testing.assert_allclose(
        stats[f"layer{l}"]["mean"],
        STATS_MOMENTUM * old["mean"] + (1 - STATS_MOMENTUM) * mean,
        rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        stats[f"layer{l}"]["var"],
        STATS_MOMENTUM * old["var"] + (1 - STATS_MOMENTUM) * var,
        rtol=1e-5, atol=1e-6)
  # Evaluation reads the running statistics, not the batch: an example's
  # logits do not depend on the rest of its batch.
  params = outs[0][0]["params"]
  whole = method.classify(params, stats, x)
  np.testing.assert_allclose(method.classify(params, stats, x[:3]),
                             whole[:3], rtol=1e-5, atol=1e-6)
  assert whole.shape == (16, NUM_CLASSES)
  metrics = method.eval_metrics(params, {"image": x, "label": y},
                                jax.random.PRNGKey(0), stats)
  np.testing.assert_array_equal(
      metrics["accuracy"], (jnp.argmax(whole, -1) == y).astype(jnp.float32))


@pytest.mark.parametrize("overrides, error, match", [
    ({"method.denoising_weights": (1.0, 1.0)}, ValueError,
     r"has 2 weights; .* has 4 layers to denoise .* give 4"),
    ({"method.layer_noise_std": -0.1}, ConfigError,
     r"method.layer_noise_std=-0.1: must be"),
    ({"method.denoising_weights": (1.0, -1.0, 1.0, 1.0)}, ConfigError,
     r"method.denoising_weights=.*: must be a non-empty tuple of finite"),
    ({"method.alpha": 1.0}, ValueError,
     "method.alpha=1.0 is not read by method 'ladder'"),
], ids=["weights", "noise", "negative", "unread"])
def test_bad_settings_are_refused_with_the_fix(tmp_path, overrides, error,
                                               match):
  with pytest.raises(error, match=match):
    train_and_evaluate(tiny_config(**{**SETTINGS, **overrides}),
                       str(tmp_path / "run"))
  assert not (tmp_path / "run" / "checkpoints").exists()


def test_the_classifier_learns_on_digits(tmp_path):
  """A short ladder run on 100 labelled digits classifies far above
  chance."""
  results = train_and_evaluate(tiny_config(**{
      **SETTINGS, "model.hidden": (32, 16), "max_steps": 300,
      "optimizer.learning_rate": 3e-3,
      "method.labelled_batch_size": 32, "checkpoint_every_steps": 300,
      "log_every_steps": 100}), str(tmp_path))
  assert results["test"]["accuracy"] > 0.6, results["test"]
  assert results["skipped_steps"] == 0
