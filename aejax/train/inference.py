"""A trained model's functions over a whole split, in fixed-size chunks.

Each function is compiled once for one chunk shape: the last chunk is padded
with copies of the split's last example and the padding's outputs are
dropped, so results do not depend on the split's size.
"""

from __future__ import annotations

from typing import Callable

import jax
import numpy as np

from aejax.data.sources import Split
from aejax.data.transforms import prepare_batch
from aejax.methods import base


def map_split(fn: Callable[[dict], jax.Array], split: Split,
              batch_size: int = 1000) -> np.ndarray:
  """``fn(batch)`` for every example of ``split``, concatenated (NumPy).

  Args:
    fn: a function of a prepared batch (``{"image": float32 in [0, 1] for
      images, "label", "length" for sequences}``) returning a per-example
      array; it is jitted here.
    split: the examples.
    batch_size: the chunk size (the compiled shape).
  """
  if not len(split):
    raise ValueError("The split is empty: nothing to evaluate.")
  jitted = jax.jit(lambda batch: fn(prepare_batch(batch)))
  out = []
  for start in range(0, len(split), batch_size):
    rows = np.arange(start, min(start + batch_size, len(split)))
    pad = batch_size - len(rows)
    rows = np.concatenate([rows, np.full(pad, rows[-1])])  # one shape
    part = split.take(rows)
    batch = {"image": part.images, "label": part.labels}
    if part.lengths is not None:
      batch["length"] = part.lengths
    out.append(np.asarray(jitted(batch))[:batch_size - pad])
  return np.concatenate(out)


def score_split(method, params, batch_stats, split: Split,
                batch_size: int = 1000, key: jax.Array | None = None
                ) -> np.ndarray:
  """Per-example anomaly scores (higher = more anomalous) of ``split``."""
  base.require(method, base.AnomalyScorer)
  key = jax.random.PRNGKey(0) if key is None else key
  return map_split(lambda b: method.score(params, batch_stats, b, key), split,
                   batch_size)


def encode_split(method, params, batch_stats, split: Split,
                 batch_size: int = 1000) -> np.ndarray:
  """The codes [N, L] of every example of ``split``."""
  base.require(method, base.Encoder)
  return map_split(lambda b: method.encode(params, batch_stats, b["image"]),
                   split, batch_size)
