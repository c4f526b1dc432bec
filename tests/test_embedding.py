"""python -m aejax.eval.embedding: 5-NN accuracy and trustworthiness of
codes, for a run and for PCA."""

import json
import os

import numpy as np
import pytest

from aejax.eval import embedding


def _blobs(n, d=20, seed=0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, 3, n)
  pixels = (rng.random((n, d)) * 60 + labels[:, None] * 90).astype(np.uint8)
  return pixels, labels


def test_metrics_tell_a_faithful_code_from_a_random_one():
  pixels, labels = _blobs(400)
  train, test = pixels[:300], pixels[300:]
  faithful = lambda x: x.astype(np.float32) / 255.0   # the pixels themselves
  good = embedding.embedding_metrics(
      faithful(train), labels[:300], faithful(test), labels[300:], test,
      subset=100)
  rng = np.random.default_rng(1)
  bad = embedding.embedding_metrics(
      rng.normal(size=(300, 2)), labels[:300], rng.normal(size=(100, 2)),
      labels[300:], test, subset=100)
  assert good["trustworthiness"] == pytest.approx(1.0)
  assert good["knn_accuracy"] == 1.0
  assert bad["trustworthiness"] < 0.7 and bad["knn_accuracy"] < 0.6
  assert good["subset"] == 100 and bad["code_dim"] == 2


def test_nan_codes_are_one_clear_error():
  pixels, labels = _blobs(50)
  codes = np.zeros((50, 2))
  codes[3, 1] = np.nan
  with pytest.raises(ValueError, match="training codes hold NaN"):
    embedding.embedding_metrics(codes, labels, codes[:10], labels[:10],
                                pixels[:10])


def test_subset_is_fixed_and_sorted():
  a = embedding.subset_indices(10000, 5000)
  assert len(set(a)) == 5000 and np.all(np.diff(a) > 0)
  np.testing.assert_array_equal(a, embedding.subset_indices(10000, 5000))
  np.testing.assert_array_equal(embedding.subset_indices(10, 50),
                                np.arange(10))


def test_pca_command_writes_the_result_and_the_scatter(tmp_path, capsys):
  out = str(tmp_path / "pca2")
  result = embedding.main(["--pca=2", "--dataset=digits", f"--output_dir={out}",
                           "--subset=200"])
  assert json.loads(capsys.readouterr().out) == result
  with open(os.path.join(out, embedding.RESULT_FILE)) as f:
    assert json.load(f) == result
  assert os.path.getsize(os.path.join(out, embedding.FIGURE_FILE)) > 1000
  # PCA-2 of the digits keeps much of the classes, far from all.
  assert 0.4 < result["knn_accuracy"] < 0.9
  assert 0.7 < result["trustworthiness"] < 1.0


def test_bad_arguments_are_one_line(tmp_path, capsys):
  for argv in ([], ["--pca=2"], [f"--workdir={tmp_path}/nothing"]):
    with pytest.raises(SystemExit):
      embedding.main(argv)
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "error:" in err, err
