"""PNG figures: loss curves, image grids, code scatters (matplotlib, Agg).

Drawing only: these functions take NumPy arrays and write PNGs. Which
figures a run writes is chosen by the method's capabilities in
:mod:`aejax.train.figures`.
"""

from __future__ import annotations

import json
import math
import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
import numpy as np


def read_metrics(path: str) -> list[dict]:
  """Reads a JSON-lines metrics file."""
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def loss_curves(metrics_path: str, out_path: str, key: str | None = None
                ) -> str:
  """Train (per logging window) and validation (per epoch) ``key`` vs step.

  ``key`` defaults to ``objective`` (the quantity training minimises, which
  methods with a penalty, a β or a k-sample bound report under that name in
  training and validation alike) where the rows have it, else ``loss``.
  """
  rows = read_metrics(metrics_path)
  if key is None:
    key = ("objective" if any("objective" in r for r in rows
                              if r.get("split") == "validation") else "loss")
  fig, ax = plt.subplots(figsize=(6, 4))
  for split, style in (("train", "-"), ("validation", "o-")):
    points = [(r["step"], r[key]) for r in rows
              if r.get("split") == split and key in r]
    if points:
      steps, values = zip(*points)
      ax.plot(steps, values, style, label=f"{split} {key}", markersize=4)
  ax.set_xlabel("step")
  ax.set_ylabel(key)
  ax.set_yscale("log")
  ax.grid(True, alpha=0.3)
  ax.legend()
  ax.set_title(f"training and validation {key}")
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def image_rows(rows: Sequence[tuple[str, np.ndarray]], out_path: str,
               title: str = "") -> str:
  """One row of images per ``(label, images[N, H, W, C])`` pair, values [0, 1].

  The rows are tiled into one mosaic (white gaps between images) drawn as a
  single image, so a 15 x 15 latent plane costs what one image costs (one
  matplotlib axes per image took seconds to lay out).
  """
  n = max(len(images) for _, images in rows)
  height, width, channels = next(np.shape(images)[1:] for _, images in rows
                                 if len(images))
  gap = max(1, height // 14)
  mosaic = np.ones((len(rows) * (height + gap) - gap,
                    n * (width + gap) - gap, channels), np.float32)
  for r, (_, images) in enumerate(rows):
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    for c, img in enumerate(images):
      top, left = r * (height + gap), c * (width + gap)
      mosaic[top:top + height, left:left + width] = img
  fig, ax = plt.subplots(figsize=(max(1.1 * n, 3.0), 1.2 * len(rows)))
  ax.imshow(mosaic[..., 0] if channels == 1 else mosaic, cmap="gray",
            vmin=0.0, vmax=1.0, interpolation="nearest")
  ax.set_xticks([])
  ax.set_yticks([r * (height + gap) + height / 2 for r in range(len(rows))],
                [label for label, _ in rows], fontsize=8)
  ax.tick_params(length=0)
  for spine in ax.spines.values():
    spine.set_visible(False)
  if title:
    ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def latent_scatter(codes: np.ndarray, labels: np.ndarray, out_path: str,
                   class_names: Sequence[str] | None = None,
                   title: str = "test codes by class") -> str:
  """Scatter of 2-d codes coloured by class label."""
  fig, ax = plt.subplots(figsize=(6, 5))
  points = ax.scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10",
                      s=3, alpha=0.7, vmin=-0.5, vmax=9.5)
  bar = fig.colorbar(points, ax=ax, ticks=range(10))
  if class_names:
    bar.ax.set_yticklabels(class_names, fontsize=7)
  ax.set_xlabel("z₁")
  ax.set_ylabel("z₂")
  ax.set_title(title)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def codes_vs_prior(codes: np.ndarray, labels: np.ndarray, prior: np.ndarray,
                   out_path: str, class_names=None, title: str = "") -> str:
  """Two panels on shared axes: prior samples, and codes coloured by class."""
  fig, axes = plt.subplots(1, 2, figsize=(11, 5), sharex=True, sharey=True)
  axes[0].scatter(prior[:, 0], prior[:, 1], s=2, alpha=0.4, c="grey")
  axes[0].set_title(f"{len(prior)} prior samples z ~ p(z)", fontsize=9)
  points = axes[1].scatter(codes[:, 0], codes[:, 1], c=labels, cmap="tab10",
                           s=2, alpha=0.6, vmin=-0.5, vmax=9.5)
  axes[1].set_title(f"{len(codes)} test codes E(x), by class", fontsize=9)
  bar = fig.colorbar(points, ax=axes[1], ticks=range(10))
  if class_names:
    bar.ax.set_yticklabels(class_names, fontsize=7)
  lim = np.percentile(np.abs(np.concatenate([codes, prior])), 99.5)
  lim = max(float(lim) * 1.1, 1e-3) if math.isfinite(lim) else 5.0
  for ax in axes:
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("z₁")
  axes[0].set_ylabel("z₂")
  fig.suptitle(f"{title}: aggregate posterior vs prior", fontsize=10)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def sequence_rows(x: np.ndarray, recon: np.ndarray, lengths: np.ndarray,
                  labels: np.ndarray, out_path: str, title: str = "") -> str:
  """One panel per sequence: input (solid) and reconstruction (dashed) of
  its first ≤ 3 features over its real steps."""
  n = len(x)
  fig, axes = plt.subplots(1, n, figsize=(2.2 * n, 2.2), squeeze=False)
  for i, ax in enumerate(axes[0]):
    steps = np.arange(lengths[i])
    for f in range(min(x.shape[-1], 3)):
      line, = ax.plot(steps, x[i, :lengths[i], f], lw=1.2)
      ax.plot(steps, recon[i, :lengths[i], f], "--", lw=1.2,
              color=line.get_color())
    ax.set_title(f"label {labels[i]}, L={lengths[i]}", fontsize=7)
    ax.tick_params(labelsize=6)
  fig.suptitle(title, fontsize=8)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def linear_path(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
  """(1 − t)·a + t·b for each t."""
  return np.stack([(1 - t) * a + t * b for t in ts])


def slerp_path(a: np.ndarray, b: np.ndarray, ts: np.ndarray) -> np.ndarray:
  """Spherical interpolation (White 2016, "Sampling Generative Networks")."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  cos = np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12)
  omega = np.arccos(np.clip(cos, -1.0, 1.0))
  if omega < 1e-6:
    return linear_path(a, b, ts)
  return np.stack([(np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) /
                   np.sin(omega) for t in ts])


def metric_curve(points: list[dict], metric: str, out_path: str,
                 title: str = "") -> str:
  """Test (line) and validation (dots) ``metric`` against training minutes;
  ``points`` as :func:`aejax.eval.curve.test_curve` gives them."""
  timed = [p for p in points if p["seconds"] is not None]
  fig, ax = plt.subplots(figsize=(6, 4))
  ax.plot([p["seconds"] / 60 for p in timed], [p["test"] for p in timed],
          "-", label=f"test {metric}")
  valid = [p for p in timed if p.get("validation") is not None]
  if valid:
    ax.plot([p["seconds"] / 60 for p in valid],
            [p["validation"] for p in valid], "o", markersize=3,
            label=f"validation {metric}")
  ax.set_xlabel("training time (minutes)")
  ax.set_ylabel(metric)
  ax.grid(True, alpha=0.3)
  ax.legend()
  ax.set_title(title or f"{metric} against training time")
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path
