"""python -m aejax.one_class: the GEOM one-class protocol, on a tiny setting
(8x8 digits, class 0, two epochs); the full Fashion-MNIST table is a
benchmark, not a test."""

import json

import pytest

from aejax import one_class


def test_quick_one_class_run_on_digits(tmp_path, capsys):
  out = str(tmp_path / "one_class.json")
  result = one_class.main(["--quick", "--data=digits", "--classes=0",
                           f"--out={out}"])
  assert set(result["detectors"]) == {"ae", "vae", "vae_iwae", "pca",
                                      "iforest"}
  for name, row in result["detectors"].items():
    assert 0.0 <= row["per_class"]["0"] <= 100.0, name
    assert row["mean"] == row["per_class"]["0"]
  # Digit 0 is easy to tell from the rest: PCA's reconstruction error and
  # even a two-epoch autoencoder rank most anomalies above normal digits.
  assert result["detectors"]["pca"]["mean"] > 80
  assert result["detectors"]["ae"]["mean"] > 60
  with open(out) as f:
    assert json.load(f)["classes"] == [0]
  assert "| pca |" in capsys.readouterr().out
  with pytest.raises(SystemExit):
    one_class.main(["--detectors=nope", f"--out={out}"])
