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


def test_a_stopped_run_continues_from_the_next_class(tmp_path, monkeypatch,
                                                     capsys):
  out = str(tmp_path / "one_class.json")
  argv = ["--data=digits", "--detectors=pca,iforest", "--classes=0,1,2",
          f"--out={out}"]
  real, ran = one_class.run_class, []

  def stops_at_class_2(c, *args):
    if c == 2 and not ran.count(2):
      ran.append(2)
      raise KeyboardInterrupt
    ran.append(c)
    return real(c, *args)
  monkeypatch.setattr(one_class, "run_class", stops_at_class_2)
  with pytest.raises(KeyboardInterrupt):
    one_class.main(argv)
  assert ran == [0, 1, 2]
  with open(out + ".partial") as f:
    assert sorted(json.load(f)["classes"]) == ["0", "1"]
  # Another command may not mix its classes with these.
  with pytest.raises(SystemExit, match=r"another command .*\['seed'\]"):
    one_class.main(argv + ["--seed=1"])
  result = one_class.main(argv)
  assert ran == [0, 1, 2, 2]           # only class 2 ran again
  assert result["resumed_classes"] == [0, 1]
  assert "class 0: done before" in capsys.readouterr().out
  assert len(result["detectors"]["pca"]["aurocs"]) == 3
  assert result["detectors"]["pca"]["mean"] == pytest.approx(
      sum(result["detectors"]["pca"]["aurocs"]) / 3)
  assert not (tmp_path / "one_class.json.partial").exists()
