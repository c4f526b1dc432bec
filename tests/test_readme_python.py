"""README "Use a trained model from Python": its snippets run as written.

The first one runs on a tiny VAE run in place of runs/vae_fashion_mnist
(tests/test_trained.py, which trains that run anyway).
"""

import os

import numpy as np
import pytest

README = os.path.join(os.path.dirname(__file__), "..", "README.md")
SECTION = "## Use a trained model from Python"


def snippets() -> list[str]:
  with open(README) as f:
    text = f.read()
  section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
  return [block.split("```", 1)[0]
          for block in section.split("```python\n")[1:]]


def run_snippet(code: str) -> dict:
  namespace = {}
  exec(compile(code, "README.md", "exec"), namespace)  # pylint: disable=exec-used
  return namespace


def test_the_section_has_three_snippets():
  blocks = snippets()
  assert len(blocks) == 3
  assert 'aejax.load("runs/vae_fashion_mnist")' in blocks[0]


def test_autoencoder_in_a_pipeline(capsys):
  ns = run_snippet(snippets()[1])
  assert ns["search"].best_params_ == {"autoencoder__latent_dim": 16}
  assert "autoencoder__latent_dim" in capsys.readouterr().out


def test_anomaly_detector_as_a_pyod_detector():
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  ns = run_snippet(snippets()[2])
  truth = np.r_[np.zeros(int(np.sum(ns["y"] == 0)) - 150), np.ones(300)]
  assert roc_auc_score(truth, ns["test_scores"]) > 0.9
  assert set(np.unique(ns["labels"])) <= {0, 1}
  assert ns["proba"].shape == (len(truth), 2)
  assert ns["confidence"].shape == (len(truth),)
  assert ns["train_scores"].shape == (150,)
  assert ns["threshold"] == pytest.approx(
      np.percentile(ns["train_scores"], 90))
