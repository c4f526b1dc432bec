"""The method contract, checked for every registered method and its models.

A method added to the registry is tested here without writing a test: two
finite training steps compiled once, per-example evaluation metrics,
checkpoint and resume equal to an unbroken run, loading the run back, the
shapes its capabilities promise, and a clear error for each capability it
lacks. Every method also needs an experiment config under experiments/.
"""

import glob
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import final_state, tiny_config

from aejax.config import load_experiment
from aejax.data import load_dataset
from aejax.data.pipeline import TrainBatches, make_mesh
from aejax.methods import METHODS, base
from aejax.methods import make_method
from aejax.train.loop import load_run, train_and_evaluate
from aejax.train.trainer import init_state
from aejax.train.step import compile_steps

# What each method needs to run on 8x8 digits in seconds.
TINY = {
    "vae": {"data.binarize": True},
    "recurrent_ae": {"model.rnn_hidden": (16,)},
    "stacked_ae": {"method.pretrain_epochs": 1},
    "stacked_dae": {"method.pretrain_epochs": 1,
                    "method.corruption": {"name": "masking",
                                          "fraction": 0.25}},
    "aae": {"method.disc_hidden": (16, 16)},
    "dcgan": {"model.latent_dim": 8},
    "m1": {"data.binarize": True, "method.labelled_batch_size": 16},
    "m2": {"data.binarize": True, "method.labelled_batch_size": 16},
    "m1m2": {"data.binarize": True, "method.labelled_batch_size": 16,
             "method.pretrain_epochs": 1},
    "ladder": {"model.hidden": (16, 8), "method.labelled_batch_size": 16,
               "method.denoising_weights": (1000.0, 10.0, 0.1, 0.1)},
}
CAPABILITIES = (base.Encoder, base.TrainableEncoder, base.Decoder,
                base.Reconstructor, base.AnomalyScorer, base.Sampler,
                base.LikelihoodModel, base.SequenceModel)
CASES = [(name, model) for name, cls in sorted(METHODS.items())
         for model in (cls.models or (None,))]
# Resuming is the loop's, not the model's: checked for every method on its
# first model, and on the conv model (BatchNorm statistics in the state) for
# the plain AE; the other conv cases train once and load back.
RESUMED = {(name, (cls.models or (None,))[0])
           for name, cls in METHODS.items()} | {("ae", "conv")}


def _config(name, model, **overrides):
  settings = {"method.name": name, **TINY.get(name, {}), **overrides}
  if model is not None:
    settings["model.name"] = model
  return tiny_config(**settings)


def test_every_method_declares_the_contract():
  for name, cls in METHODS.items():
    assert issubclass(cls, base.Method), name
    assert not getattr(cls, "__abstractmethods__", None), (
        name, cls.__abstractmethods__)


def test_every_method_has_an_experiment_config():
  root = os.path.join(os.path.dirname(__file__), "..", "experiments")
  used = {load_experiment(path).method.name
          for path in glob.glob(os.path.join(root, "*.py"))}
  assert set(METHODS) <= used, sorted(set(METHODS) - used)


@pytest.mark.parametrize("name,model", CASES)
def test_two_finite_steps_compiled_once_and_per_example_metrics(name, model):
  config = _config(name, model)
  dataset = load_dataset(config.data)
  method = make_method(config, dataset.image_shape)
  mesh = make_mesh(1)
  state = init_state(method, config, mesh)
  train_fn, eval_fn = compile_steps(method, mesh, config.data.binarize)
  batches = TrainBatches(dataset.train, config.batch_size, 0, mesh)
  for _ in range(2):
    state, metrics = train_fn(state, next(batches))
    metrics = jax.device_get(metrics)
    assert metrics["finite"] == 1.0, metrics
    assert "loss" in metrics and np.isfinite(metrics["loss"]), metrics
  assert int(state.step) == 2 and int(state.skipped_steps) == 0
  assert train_fn._cache_size() == 1  # pylint: disable=protected-access
  batch = next(batches)
  from aejax.data.transforms import prepare_batch  # pylint: disable=g-import-not-at-top
  per_example = jax.jit(lambda s, b: method.eval_metrics(
      s.params, prepare_batch(b), jax.random.PRNGKey(0), s.batch_stats))(
          state, batch)
  assert "loss" in per_example
  for key, value in per_example.items():
    assert value.shape == (config.batch_size,), (key, value.shape)


@pytest.mark.parametrize("name,model", CASES)
def test_resumed_equals_unbroken_and_the_run_loads_back(tmp_path, name,
                                                        model):
  unbroken, broken = str(tmp_path / "unbroken"), str(tmp_path / "broken")
  results = train_and_evaluate(_config(name, model, max_steps=4), unbroken)
  assert np.isfinite(results["test"]["loss"])
  if (name, model) in RESUMED:
    train_and_evaluate(_config(name, model, max_steps=2), broken)
    resumed = train_and_evaluate(_config(name, model, max_steps=4), broken)
    assert resumed["trained_steps_this_run"] == 2
    a, pos_a = final_state(unbroken)
    b, pos_b = final_state(broken)
    assert pos_a == pos_b
    for x, y in zip(jax.tree_util.tree_leaves(a),
                    jax.tree_util.tree_leaves(b)):
      np.testing.assert_array_equal(x, y)

  config, method, state = load_run(unbroken)
  assert config.method.name == name
  p, s = state.params, state.batch_stats
  x = jnp.asarray(load_dataset(config.data).test.images[:5],
                  jnp.float32) / 255.0
  key = jax.random.PRNGKey(0)
  if isinstance(method, base.Encoder):
    z = method.encode(p, s, x)
    assert z.ndim == 2 and z.shape[0] == 5
    if isinstance(method, base.Decoder):
      assert method.decode(p, s, z).shape == x.shape
  if isinstance(method, base.Reconstructor):
    assert method.reconstruct(p, s, x).shape == x.shape
  if isinstance(method, base.AnomalyScorer):
    scores = method.score(p, s, {"image": x}, key)
    assert scores.shape == (5,) and np.all(np.isfinite(scores))
  if isinstance(method, base.Sampler):
    assert method.sample(p, s, key, 3).shape == (3,) + x.shape[1:]
  if isinstance(method, base.LikelihoodModel):
    ll = method.log_likelihood(p, s, x, key, num_samples=4, chunk=2)
    assert ll.shape == (5,) and np.all(ll < 0)
  for capability in CAPABILITIES:
    if not isinstance(method, capability):
      with pytest.raises(base.CapabilityError,
                         match=capability.capability) as error:
        base.require(method, capability)
      able = [n for n, c in METHODS.items() if issubclass(c, capability)]
      assert all(n in str(error.value) for n in able)


def test_a_setting_the_method_does_not_read_is_an_error(tmp_path):
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  config = base_config()
  config.method.beta = 4.0  # read by vae only
  with pytest.raises(ValueError, match=r"method.beta=4.0 is not read by "
                     r"method 'ae'.*read by: vae"):
    train_and_evaluate(config, str(tmp_path / "run"))
  assert not os.path.exists(tmp_path / "run")  # checked before anything
  config = base_config()
  config.model.filters = (8, 16)  # read by the conv model, not the mlp
  with pytest.raises(ValueError, match="model.filters.*read by: conv"):
    train_and_evaluate(config, str(tmp_path / "run"))
  config = base_config()
  config.method.name = "recurrent_ae"  # trains model "recurrent" only
  with pytest.raises(ValueError, match="trains the model"):
    train_and_evaluate(config, str(tmp_path / "run"))


def test_the_readme_method_example_trains(tmp_path):
  """README "Adding a method": its code registers a working method."""
  readme = open(os.path.join(os.path.dirname(__file__), "..",
                             "README.md")).read()
  section = readme.split("## Adding a method", 1)[1]
  code = section.split("```python", 1)[1].split("```", 1)[0]
  try:
    exec(compile(code, "README.md", "exec"), {})  # pylint: disable=exec-used
    cls = METHODS["sparse_l2"]
    assert issubclass(cls, base.GradientMethod)
    config = tiny_config(**{"method.name": "sparse_l2",
                            "method.sparsity_weight": 0.5})
    results = train_and_evaluate(config, str(tmp_path))
    assert np.isfinite(results["test"]["loss"])
    # The penalty is in the objective: the code shrinks with its weight.
    def code_norm(weight, workdir):
      cfg = tiny_config(**{"method.name": "sparse_l2",
                           "method.sparsity_weight": weight, "max_steps": 40})
      train_and_evaluate(cfg, workdir)
      _, method, state = load_run(workdir)
      x = jnp.asarray(load_dataset(cfg.data).test.images[:64],
                      jnp.float32) / 255.0
      return float(jnp.mean(jnp.sum(method.encode(
          state.params, state.batch_stats, x) ** 2, -1)))
    assert code_norm(1.0, str(tmp_path / "a")) < 0.5 * code_norm(
        0.0, str(tmp_path / "b"))
  finally:
    METHODS.pop("sparse_l2", None)
