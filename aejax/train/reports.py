"""Anomaly-detection reports: AUROC by average ranks, JSON and histograms.

AUROC = P(score of an anomaly > score of a normal example), ties counting
one half (the Mann-Whitney U statistic over n_anomalous · n_normal),
computed exactly from average ranks.

References:
  Hanley & McNeil, "The Meaning and Use of the Area under a Receiver
  Operating Characteristic (ROC) Curve", Radiology 143, 1982.
"""

from __future__ import annotations

import json
import os

import numpy as np

from aejax.plotting import plt

ANOMALY_FILE = "anomaly.json"


def average_ranks(x: np.ndarray) -> np.ndarray:
  """1-based ranks of ``x``; tied values share the mean of their ranks."""
  _, inverse, counts = np.unique(np.asarray(x), return_inverse=True,
                                 return_counts=True)
  ends = np.cumsum(counts)
  return ((ends - counts + 1 + ends) / 2.0)[inverse.ravel()]


def auroc(scores: np.ndarray, positive: np.ndarray) -> float:
  """Area under the ROC curve of ``scores`` for the boolean ``positive``.

  Equals P(s⁺ > s⁻) + ½ P(s⁺ = s⁻) over all positive/negative pairs.
  """
  scores = np.asarray(scores, np.float64).ravel()
  positive = np.asarray(positive, bool).ravel()
  if scores.shape != positive.shape:
    raise ValueError(f"{scores.shape[0]} scores but {positive.shape[0]} "
                     "labels.")
  n_pos, n_neg = int(positive.sum()), int((~positive).sum())
  if not n_pos or not n_neg:
    raise ValueError(f"AUROC needs both classes; got {n_pos} positive and "
                     f"{n_neg} negative examples.")
  if not np.all(np.isfinite(scores)):
    raise ValueError("AUROC of non-finite scores.")
  rank_sum = average_ranks(scores)[positive].sum()
  return float((rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def anomaly_report(scores: np.ndarray, labels: np.ndarray, normal_classes,
                   class_names=None) -> dict:
  """AUROC of normal (``labels`` in ``normal_classes``) vs the rest, overall
  and for each other class alone (keyed by class name when ``class_names``
  is given, else by class index)."""
  normal_classes = sorted(int(c) for c in normal_classes)
  anomalous = ~np.isin(labels, normal_classes)
  name = (lambda c: class_names[c]) if class_names else str
  by_class = {}
  for c in sorted(set(labels[anomalous].tolist())):
    pick = ~anomalous | (labels == c)
    by_class[name(c)] = auroc(scores[pick], anomalous[pick])
  report = {
      "auroc": auroc(scores, anomalous),
      "normal_classes": normal_classes,
      "num_normal": int((~anomalous).sum()),
      "num_anomalous": int(anomalous.sum()),
      "mean_score_normal": float(scores[~anomalous].mean()),
      "mean_score_anomalous": float(scores[anomalous].mean()),
      "auroc_by_class": by_class,
  }
  if class_names:
    report["normal_class_names"] = [name(c) for c in normal_classes]
  return report


def write_anomaly_report(report: dict, scores: np.ndarray, labels: np.ndarray,
                 workdir: str, title: str = "", draw: bool = True
                         ) -> list[str]:
  """Writes ``anomaly.json`` and (``draw``) the score histograms
  ``anomaly.png``."""
  json_path = os.path.join(workdir, ANOMALY_FILE)
  with open(json_path, "w") as f:
    json.dump(report, f, indent=2)
  if not draw:
    return [json_path]
  anomalous = ~np.isin(labels, report["normal_classes"])
  fig, ax = plt.subplots(figsize=(6, 4))
  bins = np.histogram_bin_edges(np.log10(np.maximum(scores, 1e-12)), 40)
  for mask, label in ((~anomalous, "normal"), (anomalous, "anomalous")):
    ax.hist(np.log10(np.maximum(scores[mask], 1e-12)), bins, alpha=0.6,
            density=True, label=f"{label} ({int(mask.sum())})")
  ax.set_xlabel("log10 reconstruction error (anomaly score)")
  ax.set_ylabel("density")
  ax.legend()
  ax.set_title(f"{title} AUROC {report['auroc']:.3f}".strip())
  fig.tight_layout()
  png_path = os.path.join(workdir, "anomaly.png")
  fig.savefig(png_path, dpi=100)
  plt.close(fig)
  return [json_path, png_path]
