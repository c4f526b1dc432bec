"""PNG figures: loss curves and image grids (matplotlib, Agg backend)."""

from __future__ import annotations

import json
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


def loss_curves(metrics_path: str, out_path: str, key: str = "loss") -> str:
  """Train (per logging window) and validation (per epoch) loss vs step."""
  rows = read_metrics(metrics_path)
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
  ax.set_title("training and validation loss")
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def image_rows(rows: Sequence[tuple[str, np.ndarray]], out_path: str,
               title: str = "") -> str:
  """One row of images per ``(label, images[N, H, W, C])`` pair, values [0, 1]."""
  n = max(len(images) for _, images in rows)
  fig, axes = plt.subplots(len(rows), n, figsize=(1.1 * n, 1.2 * len(rows)),
                           squeeze=False)
  for r, (label, images) in enumerate(rows):
    images = np.clip(np.asarray(images, np.float32), 0.0, 1.0)
    for c in range(n):
      ax = axes[r, c]
      ax.set_xticks([])
      ax.set_yticks([])
      if c < len(images):
        img = images[c]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray",
                  vmin=0.0, vmax=1.0)
      if c == 0:
        ax.set_ylabel(label, fontsize=8)
  if title:
    fig.suptitle(title, fontsize=9)
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
