"""Tests for aejax.data.tfds_source (offline, without TensorFlow)."""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds

from aejax.data import tfds_source
from aejax.data.idx import read_idx

_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"
_NUM_TRAIN = 2000  # Train examples kept: preparing all 60 000 takes ~15 s.


def _write_idx(path: str, array: np.ndarray) -> None:
  """Writes a uint8 array as an (uncompressed) IDX file."""
  header = bytes([0, 0, 0x08, array.ndim])
  header += np.asarray(array.shape, ">u4").tobytes()
  with open(path, "wb") as f:
    f.write(header + np.ascontiguousarray(array, np.uint8).tobytes())


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
  """Prepares the first train examples and the whole test set.

  Returns:
    (data_dir, {split: (images, labels) as read from the IDX files}).
  """
  if not os.path.isdir(_FASHION_MNIST_DIR):
    pytest.skip(f"{_FASHION_MNIST_DIR} is missing (Debian package "
                "dataset-fashion-mnist is not installed).")
  root = tmp_path_factory.mktemp("tfds")
  idx_dir = root / "idx"
  idx_dir.mkdir()
  for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
    array = read_idx(os.path.join(_FASHION_MNIST_DIR, stem + ".gz"))
    _write_idx(str(idx_dir / stem), array[:_NUM_TRAIN])
  for stem in ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
    os.symlink(os.path.join(_FASHION_MNIST_DIR, stem + ".gz"),
               idx_dir / (stem + ".gz"))
  data_dir = str(root / "data")
  tfds_source.prepare_fashion_mnist_tfds_from_idx(str(idx_dir), data_dir)
  expected = {
      split: tuple(read_idx(str(idx_dir / f"{stem}-{kind}-ubyte{ext}"))
                   for kind in ("images-idx3", "labels-idx1"))
      for split, stem, ext in (("train", "train", ""), ("test", "t10k", ".gz"))
  }
  return data_dir, expected


@pytest.mark.parametrize("split", ["train", "test"])
def test_load_tfds_matches_idx(prepared, split):
  data_dir, expected = prepared
  images, labels = tfds_source.load_tfds("fashion_mnist", split, data_dir)
  idx_images, idx_labels = expected[split]
  assert images.dtype == np.uint8 and images.shape == idx_images.shape
  assert labels.dtype == np.int64 and labels.shape == idx_labels.shape
  # TFDS stores examples sorted by the salted hash of their key (the IDX
  # index), exactly as the catalog builder would.
  hasher = tfds.core.hashing.Hasher(split)
  order = sorted(range(len(idx_labels)), key=hasher.hash_key)
  np.testing.assert_array_equal(images, idx_images[order])
  np.testing.assert_array_equal(labels, idx_labels[order])
  assert "tensorflow" not in sys.modules


def test_catalog_builder_reads_prepared_data(prepared):
  data_dir, _ = prepared
  builder = tfds.builder("fashion_mnist", data_dir=data_dir)
  assert builder.is_prepared()
  assert builder.info.file_format == tfds.core.FileFormat.ARRAY_RECORD
  assert builder.info.splits["train"].num_examples == _NUM_TRAIN
  assert builder.info.splits["test"].num_examples == 10_000
  assert builder.info.features["label"].names[0] == "T-shirt/top"
  example = tfds.data_source("fashion_mnist", split="test", data_dir=data_dir,
                             download=False)[0]
  assert example["image"].shape == (28, 28, 1)
  assert "tensorflow" not in sys.modules


def test_load_tfds_unprepared_dir_raises_clear_error(tmp_path):
  with pytest.raises(FileNotFoundError) as info:
    tfds_source.load_tfds("fashion_mnist", "train", str(tmp_path))
  assert isinstance(info.value, tfds_source.DatasetNotPreparedError)
  message = str(info.value)
  assert str(tmp_path) in message
  assert "prepare_fashion_mnist_tfds_from_idx" in message
  assert not os.listdir(tmp_path)  # Nothing was downloaded or written.
