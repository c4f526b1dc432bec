"""Recurrent autoencoder: masking, RepeatVector decoding, .ts data, AUROC."""

import importlib.util
import json
import os
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from aejax.config import base_config
from aejax.data import sources, timeseries
from aejax.data.pipeline import TrainBatches, eval_batches, make_mesh
from aejax.data.ts_format import TsFormatError, read_ts
from aejax.eval.anomaly import auroc
from aejax.methods import make_method
from conftest import tiny_config


def _config(cell="lstm", hidden=(8,), latent=3, loss="mse"):
  c = base_config()
  c.model.name = "recurrent"
  c.model.cell = cell
  c.model.rnn_hidden = hidden
  c.model.latent_dim = latent
  c.method.name = "recurrent_ae"
  c.method.loss = loss
  c.method.output = "identity" if loss == "mse" else "sigmoid"
  return c


def _write_ts(path, cases, labels=("a", "b"), univariate=True, extra=""):
  """Writes a .ts file of ``cases``: list of ([T_i, F] array, label)."""
  dims = cases[0][0].shape[1]
  header = ["# a test file", "@problemName Toy", "@timeStamps false",
            "@missing false", f"@univariate {str(univariate).lower()}"]
  if not univariate:
    header.append(f"@dimensions {dims}")
  header += ["@equalLength false", f"@classLabel true {' '.join(labels)}",
             extra, "@data"]
  rows = [":".join(",".join(f"{v:.6g}" for v in x[:, f]) for f in range(dims))
          + f":{label}" for x, label in cases]
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write("\n".join(header + rows) + "\n")


def _toy_set(directory, name="Toy", n=(24, 16), seed=0):
  """Class a: noisy sines of random length 6..12, 2 features; class b:
  noise. Written as <directory>/<name>/<name>_{TRAIN,TEST}.ts."""
  rng = np.random.default_rng(seed)
  for split, count in zip(("TRAIN", "TEST"), n):
    cases = []
    for i in range(count):
      length = int(rng.integers(6, 13))
      t = np.arange(length)[:, None]
      if i % 2 == 0:
        x = np.sin(0.6 * t + np.array([0.0, 1.0])) + 0.05 * rng.normal(
            size=(length, 2))
        cases.append((x, "a"))
      else:
        cases.append((rng.normal(size=(length, 2)), "b"))
    _write_ts(os.path.join(directory, name, f"{name}_{split}.ts"), cases,
              univariate=False)


# -- the .ts reader -----------------------------------------------------------

def test_read_ts_variable_length_multivariate(tmp_path):
  x0 = np.arange(6, dtype=np.float32).reshape(3, 2)
  x1 = -np.arange(10, dtype=np.float32).reshape(5, 2)
  path = str(tmp_path / "t.ts")
  _write_ts(path, [(x0, "b"), (x1, "a")], univariate=False)
  data = read_ts(path)
  assert data.problem_name == "Toy"
  assert data.class_labels == ("a", "b")
  assert data.labels == ["b", "a"]
  np.testing.assert_array_equal(data.series[0], x0)
  np.testing.assert_array_equal(data.series[1], x1)


@pytest.mark.parametrize("mutate, message", [
    (lambda s: s.split("@data")[0], "no '@data' line"),
    (lambda s: s.replace("@data\n", ""), "expected a '@key value' header"),
    (lambda s: s.replace(":a\n", ":c\n", 1), "class label 'c'"),
    (lambda s: s.replace("1,", "?,", 1), "missing value"),
    (lambda s: s.replace("1,", "x,", 1), "dimension 0"),
    (lambda s: s.replace("@timeStamps false", "@timeStamps true"),
     "@timestamps true is not supported"),
    (lambda s: s.replace("@dimensions 2", "@dimensions 3"),
     "2 dimension(s), expected 3"),
])
def test_read_ts_rejects_bad_files_naming_file_and_line(tmp_path, mutate,
                                                         message):
  path = str(tmp_path / "t.ts")
  x = np.arange(1, 7, dtype=np.float32).reshape(3, 2)
  _write_ts(path, [(x, "a"), (x + 1, "b")], univariate=False)
  with open(path) as f:
    text = mutate(f.read())
  with open(path, "w") as f:
    f.write(text)
  with pytest.raises(TsFormatError, match=re.escape(message)) as info:
    read_ts(path)
  assert path in str(info.value)


def test_read_ts_rejects_dimensions_of_unequal_length(tmp_path):
  path = str(tmp_path / "t.ts")
  with open(path, "w") as f:
    f.write("@univariate false\n@dimensions 2\n@classLabel true a\n@data\n"
            "1,2,3:4,5:a\n")
  with pytest.raises(TsFormatError, match=f"{path}:5: the dimensions have "
                     r"different lengths \[2, 3\]"):
    read_ts(path)


@pytest.mark.skipif(importlib.util.find_spec("aeon") is None,
                    reason="aeon is not installed (scripts/setup.sh does it)")
def test_bundled_italy_power_demand():
  ds = sources.time_series("ItalyPowerDemand", validation_size=7)
  assert ds.class_names == ("1", "2")
  assert (len(ds.train), len(ds.validation), len(ds.test)) == (60, 7, 1029)
  assert ds.image_shape == (24, 1) and set(ds.test.lengths) == {24}


def test_missing_aeon_says_how_to_install(monkeypatch):
  monkeypatch.setattr(timeseries.importlib.util, "find_spec", lambda _: None)
  with pytest.raises(sources.DataNotFoundError,
                     match=r"pip install --no-deps aeon==1\.6\.0"):
    timeseries.bundled_ts_dir()


def test_unknown_set_lists_the_available_ones(tmp_path):
  _toy_set(str(tmp_path))
  with pytest.raises(sources.DataNotFoundError, match=r"\['Toy'\]"):
    sources.time_series("Nope", ts_dir=str(tmp_path))


def test_time_series_dataset_pads_standardises_and_keeps_normal_class(
    tmp_path):
  _toy_set(str(tmp_path))
  ds = sources.time_series("Toy", ts_dir=str(tmp_path), validation_size=4,
                           normal_classes=(0,))
  t = ds.test.images.shape[1]
  assert ds.train.images.dtype == np.float32 and ds.image_shape == (t, 2)
  assert set(ds.train.labels) == set(ds.validation.labels) == {0}
  assert set(ds.test.labels) == {0, 1} and len(ds.test) == 16  # test whole
  mask = timeseries.step_mask(ds.train.lengths, t)[..., None]
  real = ds.train.images[np.broadcast_to(mask, ds.train.images.shape) > 0]
  np.testing.assert_allclose(real.reshape(-1, 2).mean(0), 0.0, atol=1e-5)
  np.testing.assert_allclose(real.reshape(-1, 2).std(0), 1.0, atol=1e-5)
  for split in (ds.train, ds.validation, ds.test):  # padding stays zero
    pad = 1.0 - timeseries.step_mask(split.lengths, t)
    assert np.all(split.images * pad[..., None] == 0.0)
  with pytest.raises(ValueError, match="not class indices"):
    sources.time_series("Toy", ts_dir=str(tmp_path), normal_classes=(5,))


def test_batches_carry_lengths():
  images = np.zeros((10, 7, 2), np.float32)
  split = sources.Split(images, np.zeros(10, np.int32),
                        np.array([1, 2, 3, 4, 5, 6, 7, 1, 2, 3], np.int32))
  mesh = make_mesh(1)
  train = TrainBatches(split, 4, seed=0, mesh=mesh).host_batch(0)
  assert train["length"].dtype == np.int32 and train["length"].shape == (4,)
  last = list(eval_batches(split, 8, mesh))[-1]
  np.testing.assert_array_equal(last["length"], [2, 3, 0, 0, 0, 0, 0, 0])


# -- the model ----------------------------------------------------------------

def _method(t, f, **kw):
  return make_method(_config(**kw), (t, f))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_padding_changes_neither_code_nor_loss_nor_gradient(cell):
  """A sequence padded to T or to T + k (with garbage after its end) has the
  same code, loss and gradient: the encoder stops at the real length and
  the loss masks the rest. Without the masks this would fail (checked)."""
  t, k, f = 6, 5, 3
  rng = np.random.default_rng(0)
  lengths = jnp.array([6, 2, 4, 1])
  x = rng.normal(size=(4, t, f)).astype(np.float32)
  x *= np.asarray(timeseries.step_mask(np.asarray(lengths), t))[..., None]
  garbage = rng.normal(size=(4, t + k, f)).astype(np.float32) * 10
  mask_long = timeseries.step_mask(np.asarray(lengths), t + k)[..., None]
  x_long = np.where(mask_long > 0, np.pad(x, ((0, 0), (0, k), (0, 0))),
                    garbage)
  short, long = _method(t, f, cell=cell), _method(t + k, f, cell=cell)
  params = short.init_variables(jax.random.PRNGKey(0), x)["params"]
  batch_short = {"image": jnp.asarray(x), "length": lengths}
  batch_long = {"image": jnp.asarray(x_long), "length": lengths}
  key = jax.random.PRNGKey(1)

  code_short = short.encode(params, {}, batch_short["image"], lengths)
  code_long = long.encode(params, {}, batch_long["image"], lengths)
  np.testing.assert_allclose(code_long, code_short, rtol=1e-5, atol=1e-6)
  loss = lambda m: jax.jit(lambda p, b: m.loss_fn(p, b, key, {})[0])
  grad = lambda m: jax.jit(jax.grad(lambda p, b: m.loss_fn(p, b, key, {})[0]))
  loss_s = loss(short)(params, batch_short)
  np.testing.assert_allclose(loss(long)(params, batch_long), loss_s,
                             rtol=1e-5)
  jax.tree_util.tree_map(
      lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6),
      grad(long)(params, batch_long), grad(short)(params, batch_short))
  metrics = lambda m: jax.jit(lambda p, b: m.eval_metrics(p, b, key, {}))
  metrics_s = metrics(short)(params, batch_short)
  metrics_l = metrics(long)(params, batch_long)
  for name in metrics_s:
    np.testing.assert_allclose(metrics_l[name], metrics_s[name], rtol=1e-5)

  # The same comparison without the masks differs: the test has teeth.
  unmasked = long.encode(params, {}, batch_long["image"], None)
  assert np.abs(unmasked - code_short).max() > 1e-3
  full = {"image": batch_long["image"]}  # no "length": every step counts
  assert abs(float(loss(long)(params, full)) - loss_s) > 1e-3


def test_decoder_is_fed_the_code_at_every_step():
  """RepeatVector: the decoder's only input is z, the same at each step, so
  a longer decoding extends a shorter one and z alone fixes the output."""
  t, f = 5, 2
  short, long = _method(t, f), _method(t + 4, f)
  params = short.init_variables(jax.random.PRNGKey(0),
                                jnp.zeros((1, t, f)))["params"]
  z = jax.random.normal(jax.random.PRNGKey(1), (3, 3))
  decode = lambda m: m.model.apply({"params": params}, z,
                                   method=m.model.decode)
  out_short, out_long = decode(short), decode(long)
  assert out_short.shape == (3, t, f) and out_long.shape == (3, t + 4, f)
  np.testing.assert_allclose(out_long[:, :t], out_short, rtol=1e-5)
  # The decoder's first layer takes z (latent_dim inputs), nothing else.
  assert params["decoder"]["lstm_0"]["ii"]["kernel"].shape == (3, 8)


@pytest.mark.parametrize("cell, per_layer", [
    # OptimizedLSTMCell: 4 gates × (input kernel + hidden kernel + bias).
    ("lstm", lambda i, h: 4 * (i * h + h * h + h)),
    # GRUCell: 3 input kernels with biases, 3 hidden kernels, bias on hn.
    ("gru", lambda i, h: 3 * (i * h + h) + 3 * h * h + h),
])
def test_parameter_count(cell, per_layer):
  t, f, latent = 7, 5, 3
  m = _method(t, f, cell=cell, hidden=(8, 6), latent=latent)
  params = jax.eval_shape(m.init_variables, jax.random.PRNGKey(0),
                          jnp.zeros((2, t, f)))
  count = sum(x.size for x in jax.tree_util.tree_leaves(params["params"]))
  encoder = per_layer(f, 8) + per_layer(8, 6) + 6 * latent + latent
  decoder = per_layer(latent, 6) + per_layer(6, 8) + 8 * f + f
  assert count == encoder + decoder


def test_images_are_read_row_by_row():
  c = _config(loss="bce")
  m = make_method(c, (28, 28, 1))
  images = jax.random.uniform(jax.random.PRNGKey(0), (2, 28, 28, 1))
  params = m.init_variables(jax.random.PRNGKey(1), images)["params"]
  assert params["encoder"]["lstm_0"]["ii"]["kernel"].shape == (28, 8)
  code = m.encode(params, {}, images)
  assert code.shape == (2, 3)
  assert m.reconstruct(params, {}, images).shape == (2, 28, 28, 1)
  # Rows as a [B, 28, 28] sequence set give the same code.
  rows = make_method(c, (28, 28))
  np.testing.assert_allclose(rows.encode(params, {}, images[..., 0]), code,
                             rtol=1e-5, atol=1e-6)
  metrics = m.eval_metrics(params, {"image": images}, None, {})
  sq = jnp.sum(jnp.square(m.reconstruct(params, {}, images) - images),
               axis=(1, 2, 3))
  np.testing.assert_allclose(metrics["sq_err_per_sequence"], sq, rtol=1e-5)


def test_bad_configuration_and_inputs_are_clear_errors():
  c = _config()
  c.model.name = "mlp"
  with pytest.raises(ValueError, match="needs model.name='recurrent'"):
    make_method(c, (5, 2))
  with pytest.raises(ValueError, match="Unknown model.cell 'rnn'"):
    _method(5, 2, cell="rnn")
  with pytest.raises(ValueError, match="non-empty tuple"):
    _method(5, 2, hidden=())
  with pytest.raises(ValueError, match=r"reads \[T, F\] sequences"):
    make_method(_config(), (5,))
  m = _method(5, 2)
  params = m.init_variables(jax.random.PRNGKey(0), jnp.zeros((1, 5, 2)))
  with pytest.raises(ValueError, match=r"Expected inputs of shape"):
    m.encode(params["params"], {}, jnp.zeros((1, 6, 2)))


# -- AUROC --------------------------------------------------------------------

def _pairwise_auroc(scores, positive):
  pos, neg = scores[positive], scores[~positive]
  diff = pos[:, None] - neg[None, :]
  return float(np.mean((diff > 0) + 0.5 * (diff == 0)))


def test_auroc_matches_pairwise_definition_with_ties():
  rng = np.random.default_rng(0)
  for _ in range(5):
    scores = rng.integers(0, 6, size=40).astype(float)  # many ties
    positive = rng.random(40) < 0.4
    assert auroc(scores, positive) == pytest.approx(
        _pairwise_auroc(scores, positive), abs=1e-12)
  assert auroc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
  assert auroc([4, 3, 2, 1], [0, 0, 1, 1]) == 0.0
  assert auroc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
  with pytest.raises(ValueError, match="needs both classes"):
    auroc([1, 2], [1, 1])


# -- the entry point ----------------------------------------------------------

def test_train_and_evaluate_on_a_sequence_set_writes_anomaly_report(
    tmp_path):
  from aejax.eval import anomaly
  from aejax.train.loop import train_and_evaluate
  _toy_set(str(tmp_path / "data"))
  c = tiny_config(**{
      "data.name": "ucr", "data.ts_name": "Toy",
      "data.ts_dir": str(tmp_path / "data"), "data.validation_size": 4,
      "data.normal_classes": (0,), "model.name": "recurrent", "figures": True,
      "model.rnn_hidden": (8,), "method.name": "recurrent_ae",
      "method.output": "identity", "batch_size": 8, "eval_batch_size": 24,
      "max_steps": 4})
  workdir = str(tmp_path / "run")
  results = train_and_evaluate(c, workdir)
  assert np.isfinite(results["test"]["mse"])
  assert {"reconstructions.png", "anomaly.json",
          "anomaly.png"} <= set(results["figures"])
  with open(os.path.join(workdir, "anomaly.json")) as f:
    report = json.load(f)
  assert report["num_normal"] == 8 and report["num_anomalous"] == 8
  # The AUROC is that of the trained model's masked reconstruction errors,
  # recomputed here from the checkpoint by the pairwise definition; the CLI
  # gives it too.
  from aejax.data.sources import load_dataset
  from aejax.train.loop import load_run
  config, method, state = load_run(workdir)
  test = load_dataset(config.data).test
  _, recon = method.model.apply(
      {"params": state.params}, jnp.asarray(test.images),
      lengths=jnp.asarray(test.lengths), method=method.model.encode_decode)
  mask = np.asarray(timeseries.step_mask(test.lengths,
                                         test.images.shape[1]))[..., None]
  sq_err = np.sum((np.asarray(recon) - test.images) ** 2 * mask, (1, 2))
  scores = sq_err / (test.lengths * test.images.shape[2])
  expected = _pairwise_auroc(scores, test.labels != 0)
  assert report["auroc"] == pytest.approx(expected, abs=1e-6)
  assert report["mean_score_normal"] == pytest.approx(
      scores[test.labels == 0].mean(), rel=1e-4)
  again = anomaly.main([f"--workdir={workdir}"])
  assert again["auroc"] == pytest.approx(expected, abs=1e-6)


def test_train_and_evaluate_on_image_rows():
  import tempfile
  from aejax.train.loop import train_and_evaluate
  c = tiny_config(**{"model.name": "recurrent", "model.rnn_hidden": (8,),
                     "method.name": "recurrent_ae", "max_steps": 2,
                     "figures": True})
  with tempfile.TemporaryDirectory() as workdir:
    results = train_and_evaluate(c, workdir)
  assert np.isfinite(results["test"]["sq_err_per_sequence"])
  assert "reconstructions.png" in results["figures"]
