"""Labelled subsets of a training split: the few-label draws.

One draw function serves every few-label path — the pre-trained encoder's
classifiers (:mod:`aejax.eval.few_labels`) and the semi-supervised methods
(:mod:`aejax.methods.semi_supervised`), which read their labelled examples
with it — so that a given ``(seed, n, draw)`` is the same subset in both,
and paired differences compare classifiers on identical labels.

References:
  Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
  Generative Models", NIPS 2014 (class-balanced labelled subsets, §4.1).
"""

from __future__ import annotations

import numpy as np

SAMPLINGS = ("balanced", "uniform")


def draw_labelled_subset(labels: np.ndarray, n: int, num_classes: int,
                         seed: int, draw: int,
                         sampling: str = "balanced") -> np.ndarray:
  """Sorted indices of ``n`` labelled examples among ``labels``.

  Args:
    labels: int labels of the training split.
    n: number of labelled examples, ``num_classes <= n <= len(labels)``.
    num_classes: number of classes.
    seed: base seed.
    draw: which draw (different draws give different subsets).
    sampling: ``"balanced"`` (``n // C`` per class, the ``n mod C`` others
      in distinct random classes) or ``"uniform"`` (without replacement).
  """
  if sampling not in SAMPLINGS:
    raise ValueError(f"Unknown sampling {sampling!r}: choose from "
                     f"{SAMPLINGS}.")
  if not num_classes <= n <= len(labels):
    raise ValueError(
        f"n_labels={n} must be between the number of classes "
        f"({num_classes}) and the size of the training split "
        f"({len(labels)}).")
  rng = np.random.default_rng([seed, n, draw])
  if sampling == "uniform":
    return np.sort(rng.choice(len(labels), n, replace=False))
  per_class = np.full(num_classes, n // num_classes)
  per_class[rng.choice(num_classes, n % num_classes, replace=False)] += 1
  chosen = []
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    if len(members) < per_class[c]:
      raise ValueError(
          f"Class {c} has {len(members)} training examples, fewer than the "
          f"{per_class[c]} a class-balanced draw of {n} needs; use fewer "
          "labels or --sampling=uniform.")
    chosen.append(rng.choice(members, per_class[c], replace=False))
  return np.sort(np.concatenate(chosen))
