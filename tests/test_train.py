"""The training loop: smoke run, sharding, resuming, divergence."""

import json
import os

import jax
import numpy as np
import pytest
from conftest import (experiment_config, final_state, requires_fashion_mnist,
                      tiny_config)

from aejax.train.loop import train_and_evaluate


def _assert_trees_equal(a, b, **tolerance):
  flat_a, tree_a = jax.tree_util.tree_flatten(a)
  flat_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b):
    if tolerance:
      np.testing.assert_allclose(x, y, **tolerance)
    else:
      np.testing.assert_array_equal(x, y)


@pytest.mark.long
@requires_fashion_mnist
def test_smoke_real_experiment_two_steps(tmp_path):
  """The seed-002 denoiser config for 2 steps writes every promised file."""
  config = experiment_config("dae_conv_fashion_mnist")
  config.max_steps = 2
  config.progress_bar = False
  workdir = str(tmp_path / "run")
  results = train_and_evaluate(config, workdir)
  for name in ("metrics.jsonl", "results.json", "loss_curves.png",
               "denoising.png"):
    assert os.path.getsize(os.path.join(workdir, name)) > 0, name
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["2"]
  rows = [json.loads(l) for l in open(os.path.join(workdir, "metrics.jsonl"))]
  assert {r["split"] for r in rows} == {"train", "validation", "test"}
  assert results["step"] == 2
  assert np.isfinite(results["test"]["psnr"])
  assert results["test"]["psnr"] > results["test"]["psnr_noisy"] - 10
  with open(os.path.join(workdir, "denoising.png"), "rb") as f:
    assert f.read(8) == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_sharded_training_equals_single_device(tmp_path, model):
  """4 devices and 1 device, same global batch -> same parameters."""
  states = {}
  for devices in (1, 4):
    config = tiny_config(**{"model.name": model, "num_devices": devices,
                            "method.name": "dae"})
    train_and_evaluate(config, str(tmp_path / str(devices)))
    states[devices] = final_state(str(tmp_path / str(devices)))[0]
  assert int(states[4]["step"]) == 6
  _assert_trees_equal(states[1]["params"], states[4]["params"], rtol=2e-5,
                      atol=2e-6)
  _assert_trees_equal(states[1]["batch_stats"], states[4]["batch_stats"],
                      rtol=2e-5, atol=2e-6)
  # The runs did learn something (the comparison is not of two inits).
  init = tiny_config(**{"model.name": model})
  assert not np.allclose(
      jax.tree_util.tree_leaves(states[4]["params"])[0],
      jax.tree_util.tree_leaves(_init_params(init))[0])


def _init_params(config):
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from aejax.methods import make_method  # pylint: disable=g-import-not-at-top
  from aejax.train.state import create_train_state  # pylint: disable=g-import-not-at-top
  method = make_method(config, (8, 8, 1))
  state = create_train_state(method, config.seed, jnp.zeros((16, 8, 8, 1)))
  return state.params


@pytest.mark.parametrize("model", ["mlp", "conv"])
def test_resumed_run_equals_unbroken_run_bit_for_bit(tmp_path, model):
  unbroken, broken = str(tmp_path / "unbroken"), str(tmp_path / "broken")
  train_and_evaluate(tiny_config(**{"model.name": model}), unbroken)
  first = train_and_evaluate(
      tiny_config(**{"model.name": model, "max_steps": 3}), broken)
  assert first["step"] == 3
  second = train_and_evaluate(tiny_config(**{"model.name": model}), broken)
  assert second["trained_steps_this_run"] == 3
  a, pos_a = final_state(unbroken)
  b, pos_b = final_state(broken)
  assert pos_a == pos_b
  _assert_trees_equal(a, b)
  # Metrics of the resumed run continue the first run's without duplicates.
  steps = [json.loads(l)["step"] for l in open(os.path.join(
      broken, "metrics.jsonl")) if json.loads(l)["split"] == "train"]
  assert steps == sorted(set(steps))


def test_resuming_with_another_batch_size_is_refused(tmp_path):
  train_and_evaluate(tiny_config(max_steps=2), str(tmp_path))
  with pytest.raises(RuntimeError, match="batch_size=16"):
    train_and_evaluate(tiny_config(batch_size=32), str(tmp_path))


@pytest.fixture
def nan_loss(monkeypatch):
  """Makes the autoencoder's training loss (and so its gradients) NaN."""
  from aejax.methods.autoencoder import Autoencoder  # pylint: disable=g-import-not-at-top
  loss_fn = Autoencoder.loss_fn

  def poisoned(self, *args, **kwargs):
    loss, aux = loss_fn(self, *args, **kwargs)
    return loss * float("nan"), aux

  monkeypatch.setattr(Autoencoder, "loss_fn", poisoned)


def test_diverging_run_stops_with_a_clear_message(tmp_path, nan_loss):
  config = tiny_config(max_nonfinite_steps=3)
  with pytest.raises(FloatingPointError, match="Training diverged: the last 4 "
                     "steps"):
    train_and_evaluate(config, str(tmp_path))


def test_non_finite_learning_rate_is_refused(tmp_path):
  config = tiny_config(**{"optimizer.learning_rate": float("nan")})
  with pytest.raises(ValueError, match="learning_rate=nan: must be a finite"):
    train_and_evaluate(config, str(tmp_path))


def test_non_finite_updates_are_skipped_and_counted(tmp_path, nan_loss):
  """With NaN gradients every update is skipped: params stay finite."""
  config = tiny_config(max_steps=4)
  results = train_and_evaluate(config, str(tmp_path))
  assert results["skipped_steps"] == 4
  state, _ = final_state(str(tmp_path))
  _assert_trees_equal(state["params"], _init_params(config))
  rows = [json.loads(l) for l in open(os.path.join(tmp_path, "metrics.jsonl"))]
  assert [r["skipped_steps"] for r in rows if r["split"] == "train"] == [2, 4]


def test_load_run_rebuilds_the_trained_model(tmp_path):
  results = train_and_evaluate(tiny_config(), str(tmp_path))
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  config, method, state = load_run(str(tmp_path))
  assert config.max_steps == 6 and int(state.step) == 6
  from aejax.data import digits  # pylint: disable=g-import-not-at-top
  x = np.asarray(digits().test.images, np.float32) / 255.0
  recon = np.asarray(method.reconstruct(state.params, state.batch_stats, x))
  sq_err = ((recon - x) ** 2).reshape(len(x), -1).sum(1).mean()
  assert sq_err == pytest.approx(results["test"]["sq_err_per_image"],
                                 rel=1e-4)
  with pytest.raises(FileNotFoundError, match="not a work directory"):
    load_run(str(tmp_path / "checkpoints"))


def test_cosine_learning_rate_decay():
  """SGD's update is −lr(t)·g: lr falls along a half cosine from
  learning_rate to learning_rate·final_lr_fraction and then stays."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  from aejax.train.state import make_optimizer  # pylint: disable=g-import-not-at-top
  config = tiny_config(**{"optimizer.name": "sgd",
                          "optimizer.learning_rate": 0.5,
                          "optimizer.decay_steps": 4,
                          "optimizer.final_lr_fraction": 0.1})
  tx = make_optimizer(config.optimizer)
  params = {"w": jnp.zeros(())}
  state = tx.init(params)
  rates = []
  for _ in range(6):
    updates, state = tx.update({"w": jnp.ones(())}, state, params)
    rates.append(-float(updates["w"]))
  expected = [0.05 + 0.45 * 0.5 * (1 + np.cos(np.pi * t / 4)) for t in
              range(4)] + [0.05, 0.05]
  np.testing.assert_allclose(rates, expected, rtol=1e-5)
  constant = make_optimizer(tiny_config(**{"optimizer.name": "sgd",
                                           "optimizer.learning_rate": 0.5}
                                        ).optimizer)
  updates, _ = constant.update({"w": jnp.ones(())}, constant.init(params),
                               params)
  assert float(updates["w"]) == -0.5
  with pytest.raises(ValueError, match="decay_steps"):
    make_optimizer(tiny_config(**{"optimizer.decay_steps": -1}).optimizer)


def _tensorboard_scalars(path):
  """``{tag: [(step, value)]}`` from a TensorBoard event file (TFRecords)."""
  import struct  # pylint: disable=g-import-not-at-top
  from tensorboardX.proto import event_pb2  # pylint: disable=g-import-not-at-top
  scalars = {}
  with open(path, "rb") as f:
    while header := f.read(12):
      (length,) = struct.unpack("<Q", header[:8])
      event = event_pb2.Event.FromString(f.read(length))
      f.read(4)
      for value in event.summary.value:
        scalars.setdefault(value.tag, []).append((event.step,
                                                  value.simple_value))
  return scalars


def test_tensorboard_events_hold_the_metrics_rows(tmp_path):
  pytest.importorskip("tensorboardX")
  import glob  # pylint: disable=g-import-not-at-top
  train_and_evaluate(tiny_config(), str(tmp_path / "on"))
  (events,) = glob.glob(str(tmp_path / "on" / "events.out.tfevents.*"))
  scalars = _tensorboard_scalars(events)
  rows = [json.loads(line) for line in open(tmp_path / "on" /
                                              "metrics.jsonl")]
  train = [(r["step"], r["loss"]) for r in rows if r["split"] == "train"]
  assert [s for s, _ in scalars["train/loss"]] == [s for s, _ in train]
  np.testing.assert_allclose([v for _, v in scalars["train/loss"]],
                             [v for _, v in train], rtol=1e-6)
  assert "validation/loss" in scalars and "test/loss" in scalars
  train_and_evaluate(tiny_config(tensorboard=False), str(tmp_path / "off"))
  assert not glob.glob(str(tmp_path / "off" / "events.out.tfevents.*"))


def test_figures_false_draws_nothing_but_keeps_the_anomaly_report(tmp_path):
  results = train_and_evaluate(tiny_config(**{
      "max_steps": 2, "data.normal_classes": (0,), "figures": False}),
                               str(tmp_path))
  assert results["figures"] == ["anomaly.json"]
  assert not list(tmp_path.glob("*.png"))
  with open(tmp_path / "anomaly.json") as f:
    assert 0.0 <= json.load(f)["auroc"] <= 1.0
