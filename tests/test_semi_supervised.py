"""M1, M2 and M1 + M2 (Kingma, Rezende, Mohamed & Welling 2014): the bounds
and the objective of the paper, checked term by term.

M2's unlabelled bound is the expectation over q(y|x) of the labelled bound
plus the entropy of q(y|x), with the same noise (checked against NumPy);
the classifier learns from both the unlabelled term and the α-term, and
from nothing else; with every label observed M2 is a conditional VAE plus
a classifier; the batch's labels are never read, only the few drawn ones.
Training and exact resume through the loop are in tests/test_contract.py.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from aejax.config import ConfigError
from aejax.data.sources import load_dataset
from aejax.data.subsets import draw_labelled_subset
from aejax.methods import make_method
from aejax.methods.semi_supervised import NUM_CLASSES
from aejax.models.semi_supervised import M2Networks
from aejax.train.loop import train_and_evaluate

SHAPE = (8, 8, 1)


def _method(name="m2", **overrides):
  settings = {"method.name": name, "data.binarize": True,
              "method.labelled_batch_size": 8,
              "method.classifier_hidden": (16,), **overrides}
  if name == "m1m2":
    settings.update({"method.pretrain_epochs": 1, "method.m2_hidden": (16,),
                     "method.m2_latent_dim": 3})
  return make_method(tiny_config(**settings), SHAPE)


def _data(n=6, seed=1):
  k_x, k_y = jax.random.split(jax.random.PRNGKey(seed))
  x = jax.random.bernoulli(k_x, 0.3, (n,) + SHAPE).astype(jnp.float32)
  return x, jax.random.randint(k_y, (n,), 0, NUM_CLASSES)


def _params(method, x):
  return method.init_variables(jax.random.PRNGKey(0), x)["params"]


def _norms(tree):
  return [float(jnp.linalg.norm(leaf)) for leaf in
          jax.tree_util.tree_leaves(tree)]


def _log_softmax(a):
  a = a - a.max(-1, keepdims=True)
  return a - np.log(np.exp(a).sum(-1, keepdims=True))


def _np_labelled_bound(method, params, x, y, eps):
  """−L(x, y) in NumPy from the networks' raw outputs: Bernoulli
  log-likelihood + log p(y) − KL(N(μ, σ²) ‖ N(0, I))."""
  net, core = method.core.net, method.core
  flat = x.reshape(x.shape[0], -1)
  onehot = jax.nn.one_hot(y, NUM_CLASSES)
  hx = net.apply({"params": params}, flat, method=M2Networks.encode_x)
  raw = np.asarray(net.apply({"params": params}, hx, onehot,
                             method=M2Networks.posterior), np.float64)
  mean, logvar = np.split(raw, 2, -1)
  logvar = core.logvar_bound * np.tanh(logvar / core.logvar_bound)
  z = mean + np.exp(0.5 * logvar) * np.asarray(eps, np.float64)
  logits = np.asarray(net.apply({"params": params}, jnp.asarray(z, jnp.float32),
                                onehot, method=M2Networks.decode), np.float64)
  xs = np.asarray(flat, np.float64)
  log_px = np.sum(xs * -np.logaddexp(0, -logits) +
                  (1 - xs) * -np.logaddexp(0, logits), -1)
  kl = 0.5 * np.sum(mean**2 + np.exp(logvar) - logvar - 1, -1)
  return log_px - np.log(NUM_CLASSES) - kl


def test_unlabelled_bound_is_the_expected_labelled_bound_plus_entropy():
  method = _method()
  x, _ = _data()
  params = _params(method, x)
  key = jax.random.PRNGKey(3)
  eps = jax.random.normal(jax.random.split(key)[0],
                          (x.shape[0], method.core.latent_dim))
  bound_u, every, log_q = jax.jit(method.core.unlabelled_bound)(params, x,
                                                                eps)
  # The C labelled bounds, each computed on its own with the same noise.
  labelled = np.stack([_np_labelled_bound(
      method, params, x, np.full(x.shape[0], y), eps)
                       for y in range(NUM_CLASSES)])          # [C, B]
  np.testing.assert_allclose(every, labelled, rtol=1e-4, atol=1e-3)
  log_q_np = _log_softmax(np.asarray(method.core.logits(params, x),
                                     np.float64))
  np.testing.assert_allclose(log_q, log_q_np, atol=1e-5)
  q = np.exp(log_q_np)
  expected = np.sum(q * labelled.T, -1) - np.sum(q * log_q_np, -1)
  np.testing.assert_allclose(bound_u, expected, rtol=1e-4, atol=1e-3)
  # The entropy is in it: E_q[−L] alone differs by H > 0.
  assert np.all(expected - np.sum(q * labelled.T, -1) > 0.1)
  # The training loss on an unlabelled batch is −mean(U), that key's ε.
  loss, (metrics, _) = jax.jit(method.loss_fn)(params, {"image": x}, key,
                                               {})
  np.testing.assert_allclose(float(loss), -expected.mean(), rtol=1e-5)
  np.testing.assert_allclose(float(metrics["unlabelled_bound"]),
                             expected.mean(), rtol=1e-5)


def test_the_classifier_learns_from_the_unlabelled_and_the_alpha_terms():
  x, y = _data()
  grads = lambda method, batch: jax.jit(jax.grad(
      lambda p: method.loss_fn(p, batch, jax.random.PRNGKey(4), {})[0]))(
          _params(method, x))["classifier"]
  method = _method()
  labelled = {"labelled_image": x, "labelled_label": y}
  # Through U(x): Σ_y q(y|x)(−L) + H depends on q.
  assert min(_norms(grads(method, {"image": x}))) > 1e-4
  # Through α · (−log q(y|x)) on labelled examples ...
  assert min(_norms(grads(method, labelled))) > 1e-4
  # ... and only through it: −L(x, y) does not involve q(y|x).
  assert max(_norms(grads(_method(**{"method.alpha": 0.0}), labelled))) == 0
  # The α-term's weight is w = α · N / n per labelled example.
  n_train = len(load_dataset(tiny_config().data).train)
  assert method.class_weight == pytest.approx(0.1 * n_train / 100)


def test_with_every_label_observed_m2_is_a_conditional_vae_plus_a_classifier():
  method = _method()
  x, y = _data()
  params = _params(method, x)
  key = jax.random.PRNGKey(5)
  loss, (metrics, _) = method.loss_fn(
      params, {"labelled_image": x, "labelled_label": y}, key, {})
  eps = jax.random.normal(jax.random.split(key)[1],
                          (x.shape[0], method.core.latent_dim))
  cvae = -_np_labelled_bound(method, params, x, np.asarray(y), eps).mean()
  cross_entropy = -np.mean(_log_softmax(np.asarray(
      method.core.logits(params, x), np.float64))[np.arange(len(y)), y])
  np.testing.assert_allclose(
      float(loss), cvae + method.class_weight * cross_entropy, rtol=1e-5)
  np.testing.assert_allclose(float(metrics["cross_entropy"]), cross_entropy,
                             rtol=1e-5)
  # Evaluation's objective: the same, with x in both parts of the batch.
  per_example = method.eval_metrics(params, {"image": x, "label": y}, key, {})
  both, _ = method.loss_fn(params, {"image": x, "labelled_image": x,
                                    "labelled_label": y}, key, {})
  np.testing.assert_allclose(float(jnp.mean(per_example["objective"])),
                             float(both), rtol=1e-5)


def test_only_the_drawn_labels_are_read():
  method = _method(**{"method.num_labels": 20, "method.label_draw": 1})
  data = load_dataset(method.config.data)
  idx = draw_labelled_subset(data.train.labels, 20, 10, 0, 1)
  images, labels, size = method.labelled_examples()
  np.testing.assert_array_equal(images, data.train.images[idx])
  np.testing.assert_array_equal(labels, data.train.labels[idx])
  assert size == len(data.train)
  assert sorted(np.bincount(labels, minlength=10)) == [2] * 10
  x_l, y_l = method.labelled_batch(jax.random.PRNGKey(0))
  assert x_l.shape == (8,) + SHAPE and set(np.unique(x_l)) <= {0.0, 1.0}
  assert set(np.asarray(y_l)) <= set(labels)
  # The step never reads the batch's own labels.
  x, y = _data(16)
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  opt_state = method.optimizer().init(variables["params"])
  step = jax.jit(method.train_step)
  outs = [step(variables, opt_state, {"image": x, "label": labels_},
               jax.random.PRNGKey(6)) for labels_ in (y, (y + 1) % 10)]
  for a, b in zip(*(jax.tree_util.tree_leaves(o[0]) for o in outs)):
    np.testing.assert_array_equal(a, b)
  assert float(outs[0][2]["cross_entropy"]) > 0  # the labelled sub-batch


def test_m1_keeps_the_vae_and_its_classifier_apart():
  """M1's VAE gets the ELBO's gradient only, its classifier the
  cross-entropy's only (stop_gradient on μ)."""
  method = _method("m1")
  x, y = _data()
  params = _params(method, x)
  key = jax.random.PRNGKey(7)
  grad = lambda batch: jax.jit(jax.grad(lambda p: method.loss_fn(
      p, batch, key, {})[0]))(params)
  alone, both = grad({"image": x}), grad(
      {"image": x, "labelled_image": x, "labelled_label": y})
  for part in ("encoder", "decoder"):
    for a, b in zip(jax.tree_util.tree_leaves(alone[part]),
                    jax.tree_util.tree_leaves(both[part])):
      np.testing.assert_array_equal(a, b)
  assert max(_norms(alone["classifier"])) == 0
  assert min(_norms(both["classifier"])) > 1e-4
  assert method.classify(params, {}, x).shape == (6, NUM_CLASSES)


def test_m1m2_trains_m2_only_on_the_codes_of_m1():
  method = _method("m1m2")
  x, y = _data()
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  params = variables["params"]
  batch = {"image": x, "labelled_image": x, "labelled_label": y}
  grads = jax.jit(jax.grad(lambda p: method.loss_fn(
      p, batch, jax.random.PRNGKey(8), {})[0]))(params)
  assert max(_norms(grads["m1"])) == 0
  assert min(_norms(grads["m2"]["classifier"])) > 1e-5
  tx = method.optimizer()
  ones = jax.tree_util.tree_map(jnp.ones_like, params)
  updates, _ = tx.update(ones, tx.init(params), params)
  assert max(_norms(updates["m1"])) == 0 and min(_norms(updates["m2"])) > 0
  assert method.pretrain_stage(0).name == "vae"
  z1 = method.codes(params, x)
  assert z1.shape == (6, method.m1.latent_dim)
  np.testing.assert_allclose(method.classify(params, {}, x),
                             method.core.logits(params["m2"], z1), atol=1e-6)


@pytest.mark.parametrize("overrides, error, match", [
    ({"method.num_labels": 5}, ConfigError,
     r"method.num_labels=5: must be an integer >= 10"),
    ({"method.alpha": -1.0}, ConfigError, r"method.alpha=-1.0: must be"),
    ({"data.binarize": False}, ValueError, "set data.binarize=True"),
    ({"method.beta": 2.0}, ValueError, "method.beta=2.0 is not read by "
     "method 'm2'"),
    ({"model.hidden": ()}, ValueError, "at least one hidden layer"),
    ({"method.name": "m1m2", "method.pretrain_epochs": 0}, ValueError,
     "pretrain_epochs >= 1"),
    ({"method.num_labels": 100000}, ValueError,
     "more than the .* training examples"),
], ids=["few_labels", "alpha", "bernoulli", "unread", "hidden", "m1m2",
        "too_many"])
def test_bad_settings_are_refused_with_the_fix(tmp_path, overrides, error,
                                               match):
  settings = {"method.name": "m2", "data.binarize": True, **overrides}
  with pytest.raises(error, match=match):
    train_and_evaluate(tiny_config(**settings), str(tmp_path / "run"))


def test_the_classifier_learns_on_digits(tmp_path):
  """A short M2 run on 100 labelled digits classifies far above chance."""
  results = train_and_evaluate(tiny_config(**{
      "method.name": "m2", "data.binarize": True, "max_steps": 150,
      "method.labelled_batch_size": 32, "method.classifier_hidden": (32,),
      "checkpoint_every_steps": 150, "log_every_steps": 50}), str(tmp_path))
  assert results["test"]["accuracy"] > 0.6, results["test"]
  assert results["skipped_steps"] == 0
