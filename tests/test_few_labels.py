"""Pre-training for few labels: each variant trains what it says it trains.

frozen: only the head moves, the encoder (and its BatchNorm statistics) stay
bit-identical and run in evaluation mode; fine_tuned: the pre-trained encoder
moves too; scratch: never sees the pre-trained weights. Labelled subsets are
reproducible draws from the training split only. Every classifier trains
through the project's loop, in its own directory: an interrupted benchmark
resumes where it stopped and ends with the same numbers.

(Whether pre-training beats scratch is measured on Fashion-MNIST in
BENCHMARKS.md; on the tiny digits runs these tests can afford, a 4-d code
trained for a few steps does not show it reliably, so no test claims it.)
"""

import hashlib
import json
import os
import shutil
import types

import jax
import numpy as np
import pytest
from conftest import tiny_config

from aejax.data.pipeline import make_mesh
from aejax.data.sources import Split, load_dataset
from aejax.eval import encoder_classifier as ec
from aejax.eval import few_labels as fl
from aejax.eval import supervised
from aejax.methods.base import CapabilityError
from aejax.train.checkpoint import CheckpointError
from aejax.train.loop import load_run, train_and_evaluate


def _run(tmp_path_factory, name, **overrides):
  workdir = str(tmp_path_factory.mktemp(name))
  train_and_evaluate(tiny_config(**overrides), workdir)
  return workdir


@pytest.fixture(scope="module")
def conv_run(tmp_path_factory):
  """A conv AE with BatchNorm (running statistics in its encoder)."""
  return _run(tmp_path_factory, "conv", **{"model.name": "conv",
                                           "max_steps": 4})


@pytest.fixture(scope="module")
def mlp_runs(tmp_path_factory):
  """Two MLP AEs with dropout, same architecture, different weights."""
  return [_run(tmp_path_factory, f"mlp{seed}", seed=seed, max_steps=4,
               **{"model.dropout_rate": 0.3}) for seed in (0, 1)]


def _setup(workdir, n=20, draw=0):
  config, method, pretrained = load_run(workdir)
  data = load_dataset(config.data)
  classifier = ec.build_classifier(method, len(data.class_names))
  idx = fl.draw_labelled_subset(data.train.labels, n, 10, seed=0, draw=draw)
  subset = Split(data.train.images[idx], data.train.labels[idx])
  fresh = ec.init_variables(classifier, jax.random.PRNGKey(0),
                            data.image_shape)
  return data, classifier, pretrained, subset, fresh


def _train(workdir, classifier, variables, variant, subset, steps=5, key=1):
  """``steps`` steps of ``variant`` through the loop in a new ``workdir``."""
  validation = load_dataset(tiny_config().data).validation
  state, _ = fl.train_variant(classifier, variables, variant, subset,
                              validation, workdir=str(workdir), steps=steps,
                              batch_size=10, learning_rate=1e-2,
                              key=jax.random.PRNGKey(key), seed=0,
                              mesh=make_mesh(1))
  return state


def _leaves(tree):
  return [np.asarray(x) for x in jax.tree_util.tree_leaves(tree)]


def _identical(a, b) -> bool:
  """Bit-identical pytrees (same structure, same bytes)."""
  return (jax.tree_util.tree_structure(a) == jax.tree_util.tree_structure(b)
          and all(x.dtype == y.dtype and x.tobytes() == y.tobytes()
                  for x, y in zip(_leaves(a), _leaves(b))))


def _all_differ(a, b) -> bool:
  return all(not np.array_equal(x, y) for x, y in zip(_leaves(a), _leaves(b)))


def test_the_classifier_reuses_the_runs_encoder_exactly(conv_run):
  data, classifier, pretrained, _, fresh = _setup(conv_run)
  variables = ec.with_pretrained_encoder(fresh, pretrained.params,
                                         pretrained.batch_stats)
  assert _identical(variables["params"]["encoder"],
                    pretrained.params["encoder"])
  assert _identical(variables["batch_stats"]["encoder"],
                    pretrained.batch_stats["encoder"])
  assert _identical(variables["params"]["head"], fresh["params"]["head"])
  # Its code is the autoencoder's code.
  _, method, _ = load_run(conv_run)
  x = data.test.images[:5].astype(np.float32) / 255.0
  code = method.model.apply({"params": pretrained.params,
                             "batch_stats": pretrained.batch_stats}, x,
                            method=method.model.encode)
  head = variables["params"]["head"]["Dense_0"]
  np.testing.assert_allclose(
      classifier.apply(variables, x),
      np.asarray(code) @ np.asarray(head["kernel"]) + np.asarray(head["bias"]),
      rtol=1e-5, atol=1e-5)


def test_frozen_trains_the_head_only_and_keeps_batchnorm_statistics(
    conv_run, tmp_path):
  data, classifier, pretrained, subset, fresh = _setup(conv_run)
  start = ec.with_pretrained_encoder(fresh, pretrained.params,
                                     pretrained.batch_stats)
  state = _train(tmp_path, classifier, start, "frozen", subset)
  assert int(state.step) == 5
  assert _identical(state.params["encoder"], pretrained.params["encoder"])
  assert _identical(state.batch_stats, start["batch_stats"])
  assert _all_differ(state.params["head"], start["params"]["head"])
  # The optimizer holds (Adam) state for the head only.
  frozen, tuned = (ec.variant_method(classifier, v, data.image_shape, 1e-2)
                   .optimizer().init(start["params"])
                   for v in ("frozen", "fine_tuned"))
  head = len(_leaves(start["params"]["head"]))
  assert len(_leaves(frozen)) == 2 * head + 1  # μ, ν of the head; count
  assert len(_leaves(tuned)) == 2 * len(_leaves(start["params"])) + 1


def test_fine_tuned_trains_the_encoder_and_its_batchnorm_statistics(
    conv_run, tmp_path):
  _, classifier, pretrained, subset, fresh = _setup(conv_run)
  start = ec.with_pretrained_encoder(fresh, pretrained.params,
                                     pretrained.batch_stats)
  state = _train(tmp_path, classifier, start, "fine_tuned", subset)
  assert _all_differ(state.params["encoder"], pretrained.params["encoder"])
  assert _all_differ(state.batch_stats["encoder"],
                     pretrained.batch_stats["encoder"])
  assert _all_differ(state.params["head"], start["params"]["head"])


def test_dropout_is_on_when_the_encoder_trains_and_off_when_frozen(
    mlp_runs, tmp_path):
  _, classifier, pretrained, subset, fresh = _setup(mlp_runs[0])
  start = ec.with_pretrained_encoder(fresh, pretrained.params,
                                     pretrained.batch_stats)
  train = lambda variant, k, name: _train(
      tmp_path / name, classifier, start, variant, subset, key=k).params
  # The step key only feeds dropout: it matters iff dropout is active.
  frozen = [train("frozen", k, f"frozen{k}") for k in (1, 2)]
  assert _identical(*frozen)
  tuned = [train("fine_tuned", k, f"tuned{k}") for k in (1, 2)]
  assert not _identical(*tuned)
  assert _identical(train("fine_tuned", 1, "again"),
                    tuned[0])  # keyed: reproducible


def test_accuracy_is_evaluation_mode(conv_run):
  """BatchNorm running statistics at evaluation: the batch size is moot."""
  data, classifier, pretrained, _, fresh = _setup(conv_run)
  v = ec.with_pretrained_encoder(fresh, pretrained.params,
                                 pretrained.batch_stats)
  method = ec.variant_method(classifier, "fine_tuned", data.image_shape, 1e-3)
  mesh = make_mesh(1)
  state = supervised.initial_state(method, v, jax.random.PRNGKey(0), mesh)
  accuracy = lambda batch_size: supervised.evaluate_classifier(
      method, state, data.test, batch_size, mesh)["accuracy"]
  assert accuracy(7) == accuracy(1000)


def test_scratch_never_reads_the_pretrained_weights(mlp_runs,
                                                    tmp_path_factory):
  """Same data and seeds, two different pre-trained runs: the scratch
  classifiers are identical, the pre-trained ones are not."""
  results = [fl.few_label_benchmark(
      w, [20], 1, steps=3, batch_size=10, verbose=False,
      output_dir=str(tmp_path_factory.mktemp("out")))["runs"]
             for w in mlp_runs]
  by = [{r["variant"]: r for r in rows} for rows in results]
  for key in ("final_train_loss", "test_accuracy", "validation_accuracy"):
    assert by[0]["scratch"][key] == by[1]["scratch"][key]
  assert by[0]["frozen"]["final_train_loss"] != by[1]["frozen"][
      "final_train_loss"]
  assert by[0]["fine_tuned"]["final_train_loss"] != by[1]["fine_tuned"][
      "final_train_loss"]
  # And the scratch encoder differs from the pre-trained one to begin with.
  _, _, pretrained, _, fresh = _setup(mlp_runs[0])
  assert _all_differ(fresh["params"]["encoder"], pretrained.params["encoder"])


def _row_hashes(images):
  return {hashlib.sha1(x.tobytes()).hexdigest() for x in images}


def test_subset_draws_are_reproducible_balanced_and_from_train_only():
  data = load_dataset(tiny_config().data)
  labels = data.train.labels
  draw = lambda d, n=25, s="balanced": fl.draw_labelled_subset(
      labels, n, 10, seed=0, draw=d, sampling=s)
  np.testing.assert_array_equal(draw(0), draw(0))
  assert not np.array_equal(draw(0), draw(1))
  for d in range(3):
    idx = draw(d)
    assert len(np.unique(idx)) == 25
    counts = np.bincount(labels[idx], minlength=10)
    assert sorted(counts) == [2] * 5 + [3] * 5  # 25 = 10·2 + 5 one more
    uniform = draw(d, 30, "uniform")
    assert len(np.unique(uniform)) == 30
  # Indices are rows of the training split, which excludes validation and
  # test (digits has no duplicate images across splits): no drawn image is
  # a held-out one.
  held_out = _row_hashes(data.validation.images) | _row_hashes(
      data.test.images)
  for d in range(3):
    assert not _row_hashes(data.train.images[draw(d, 100)]) & held_out


def test_bad_inputs_are_refused_clearly(mlp_runs, tmp_path):
  with pytest.raises(FileNotFoundError, match="not a work directory"):
    fl.few_label_benchmark(str(tmp_path), [20], 1, steps=1)
  train_size = len(load_dataset(tiny_config().data).train)
  for n in (5, train_size + 1):
    with pytest.raises(ValueError, match="between the number of classes"):
      fl.few_label_benchmark(mlp_runs[0], [n], 1, steps=1)
  with pytest.raises(ValueError, match="Unknown variants"):
    fl.few_label_benchmark(mlp_runs[0], [20], 1, ["frozen", "linear"],
                           steps=1)
  with pytest.raises(ValueError, match="draws must be positive"):
    fl.few_label_benchmark(mlp_runs[0], [20], 0, steps=1)
  with pytest.raises(CapabilityError, match="TrainableEncoder"):
    ec.build_classifier(types.SimpleNamespace(name="dcgan", model=None), 10)
  labels = np.repeat(np.arange(10), [1] + [20] * 9)
  with pytest.raises(ValueError, match="Class 0 has 1 training examples"):
    fl.draw_labelled_subset(labels, 20, 10, seed=0, draw=0)


def test_cli_writes_results_and_figure(mlp_runs, tmp_path, capsys):
  out = str(tmp_path / "out")
  fl.main([f"--workdir={mlp_runs[0]}", "--labels=10,20", "--draws=2",
           "--steps=2", "--batch_size=8", f"--output_dir={out}"])
  assert "| labels | frozen | fine_tuned | scratch | frozen − scratch |" in (
      capsys.readouterr().out)
  with open(os.path.join(out, fl.RESULTS_FILE)) as f:
    result = json.load(f)
  assert os.path.getsize(os.path.join(out, fl.FIGURE_FILE)) > 0
  assert len(result["runs"]) == 2 * 2 * 3
  for n in ("10", "20"):
    for variant in fl.VARIANTS:
      cell = result["summary"][n][variant]
      assert len(cell["test_accuracy"]) == 2
      assert cell["mean"] == pytest.approx(np.mean(cell["test_accuracy"]))
      assert cell["std"] == pytest.approx(np.std(cell["test_accuracy"],
                                                 ddof=1))
    by_draw = {(r["variant"], r["draw"]): r["test_accuracy"]
               for r in result["runs"] if r["n_labels"] == int(n)}
    paired = [by_draw["fine_tuned", d] - by_draw["scratch", d]
              for d in range(2)]
    assert result["summary"][n]["fine_tuned"]["minus_scratch"][
        "mean"] == pytest.approx(np.mean(paired))


def test_an_interrupted_benchmark_resumes_with_the_same_numbers(
    mlp_runs, tmp_path, capsys):
  """Kill one run after its step-4 checkpoint: the next call skips the
  finished runs, trains that one from step 4 and gives the same rows."""
  out = str(tmp_path / "out")
  bench = lambda **kw: fl.few_label_benchmark(
      mlp_runs[0], [20], 1, ["frozen", "fine_tuned"], steps=6, batch_size=10,
      eval_every=2, checkpoint_every=2, output_dir=out, **kw)
  first = bench()
  run = fl.run_dir(out, 20, "fine_tuned", 0)
  assert sorted(os.listdir(os.path.join(run, "checkpoints"))) == ["2", "4",
                                                                 "6"]
  # What a kill between the checkpoints of steps 4 and 6 leaves behind.
  shutil.rmtree(os.path.join(run, "checkpoints", "6"))
  for name in (fl.ROW_FILE, supervised.LAST_STEP_FILE):
    os.remove(os.path.join(run, name))
  capsys.readouterr()
  again = bench()
  printed = capsys.readouterr().out
  assert "frozen     test" in printed and "done before" in printed
  assert "resumed: 2 steps" in printed
  strip = lambda rows: [{k: v for k, v in r.items() if k != "train_seconds"}
                        for r in rows]
  assert strip(again["runs"]) == strip(first["runs"])
  assert [p[0] for p in again["runs"][1]["validation_curve"]] == [2, 4, 6]
  # Other settings in the same directory are refused, not mixed in.
  with pytest.raises(CheckpointError, match="learning_rate"):
    bench(learning_rate=1e-2)
