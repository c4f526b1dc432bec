"""The types every data source returns, and the constants they share.

A module of its own so that the sources (:mod:`aejax.data.sources`,
:mod:`aejax.data.idx`, :mod:`aejax.data.timeseries`,
:mod:`aejax.data.tfds_source`) and light modules such as
:mod:`aejax.config` can name them without importing each other: imports in
``aejax/data`` point one way, towards this module.
"""

from __future__ import annotations

import dataclasses

import numpy as np

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")


class DataNotFoundError(FileNotFoundError):
  """A data set is not where the configuration says it is."""


@dataclasses.dataclass(frozen=True)
class Split:
  """One split: ``images`` uint8[N, H, W, C] and ``labels`` int32[N].

  For sequences, ``images`` is float32 [N, T, F] (time, features), padded
  with zeros after each sequence's end, and ``lengths`` int32[N] holds the
  real lengths (``None``: every example is whole).
  """
  images: np.ndarray
  labels: np.ndarray
  lengths: np.ndarray | None = None

  def __len__(self) -> int:
    return len(self.images)

  def take(self, rows: np.ndarray) -> "Split":
    """The examples at ``rows`` (indices or a boolean mask)."""
    return Split(self.images[rows], self.labels[rows],
                 None if self.lengths is None else self.lengths[rows])


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Train / validation / test splits of one data set."""
  name: str
  train: Split
  validation: Split
  test: Split
  class_names: tuple[str, ...]

  @property
  def image_shape(self) -> tuple[int, ...]:
    return tuple(self.train.images.shape[1:])
