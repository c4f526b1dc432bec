"""Data sets as arrays with train / validation / test splits.

Every image source returns images as ``uint8[N, H, W, C]`` (scaling to [0, 1]
happens on the device, in :func:`aejax.data.transforms.prepare_batch`) and
labels as ``int32[N]``. Sequence sources (:mod:`aejax.data.timeseries`)
return float32 [N, T, F] in the same field, zero-padded, with ``lengths``.
The validation split is held out of the training split with a
fixed seed (``config.data.split_seed``), so it never depends on the training
seed.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from aejax.data import timeseries
# Re-exported: the types and constants are defined in aejax.data.types (and
# the IDX directory reader in aejax.data.idx) so that the modules below
# sources need not import it.
from aejax.data.idx import IDX_FILES, read_idx_split  # pylint: disable=unused-import
from aejax.data.types import (DEFAULT_FASHION_MNIST_DIR,  # pylint: disable=unused-import
                              FASHION_MNIST_CLASSES, DataNotFoundError,
                              Dataset, Split)


def _tfds_split(name: str, split: str, data_dir: str | None,
                download: bool) -> Split:
  # Here, not at the top: tensorflow_datasets takes over a second to import,
  # and most runs read IDX files.
  from aejax.data import tfds_source  # pylint: disable=g-import-not-at-top
  images, labels = tfds_source.load_tfds(name, split, data_dir,
                                         download=download)
  if images.ndim == 3:
    images = images[..., None]
  return Split(images, labels.astype(np.int32))


def _hold_out(train: Split, size: int, seed: int) -> tuple[Split, Split]:
  if not 0 <= size < len(train):
    raise ValueError(
        f"validation_size={size} must be in [0, {len(train)}) for a training "
        f"split of {len(train)} examples.")
  order = np.random.default_rng(seed).permutation(len(train))
  val, rest = np.sort(order[:size]), np.sort(order[size:])
  return train.take(rest), train.take(val)


def fashion_mnist(source: str = "auto",
                  idx_dir: str = DEFAULT_FASHION_MNIST_DIR,
                  tfds_data_dir: str | None = None,
                  validation_size: int = 5000,
                  split_seed: int = 0,
                  download: bool = False) -> Dataset:
  """Fashion-MNIST (Xiao et al. 2017): 60 000 train and 10 000 test images.

  Args:
    source: ``"idx"`` reads the IDX files in ``idx_dir``; ``"tfds"`` reads a
      prepared TFDS data set through ``tfds.data_source`` (array_record, no
      TensorFlow); ``"auto"`` takes ``idx_dir`` when it exists, else TFDS.
    idx_dir: directory of the four IDX files (Debian's
      ``dataset-fashion-mnist`` installs them in
      ``/usr/share/datasets/fashion-mnist``).
    tfds_data_dir: TFDS data directory (``None``: TFDS's default).
    validation_size: images held out of the 60 000 for validation.
    split_seed: seed of the validation hold-out.
    download: let TFDS download and prepare the data when it is absent.

  Returns:
    A :class:`Dataset` of uint8 images [N, 28, 28, 1].

  References:
    Xiao, Rasul & Vollgraf, "Fashion-MNIST: a Novel Image Dataset for
    Benchmarking Machine Learning Algorithms", arXiv:1708.07747, 2017.
  """
  if source not in ("auto", "idx", "tfds"):
    raise ValueError(f"Unknown data source {source!r}: use 'auto', 'idx' or "
                     "'tfds'.")
  use_idx = source == "idx" or (source == "auto" and os.path.isdir(idx_dir))
  if use_idx:
    train, test = (read_idx_split(idx_dir, s) for s in ("train", "test"))
  else:
    try:
      train, test = (_tfds_split("fashion_mnist", s, tfds_data_dir, download)
                     for s in ("train", "test"))
    except FileNotFoundError as e:
      if source == "tfds":
        raise
      raise DataNotFoundError(
          f"Fashion-MNIST not found: no IDX directory at {idx_dir!r}, and "
          f"TFDS says: {e} Install it with `apt-get install "
          "dataset-fashion-mnist`, or set --config.data.idx_dir, or "
          "--config.data.download=True where the network is reachable.") from e
  train, validation = _hold_out(train, validation_size, split_seed)
  return Dataset("fashion_mnist", train, validation, test,
                 FASHION_MNIST_CLASSES)


def digits(validation_size: int = 200, test_size: int = 297,
           split_seed: int = 0) -> Dataset:
  """scikit-learn's bundled 8x8 handwritten digits (1797 images), for tiny runs.

  Pixel values 0..16 are mapped to 0..255 so that every source is uint8.
  The test split is held out first, then validation, both with ``split_seed``.
  """
  from sklearn import datasets  # pylint: disable=g-import-not-at-top
  bunch = datasets.load_digits()
  images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
  everything = Split(images, bunch.target.astype(np.int32))
  rest, test = _hold_out(everything, test_size, split_seed + 1)
  train, validation = _hold_out(rest, validation_size, split_seed)
  return Dataset("digits", train, validation, test,
                 tuple(str(d) for d in range(10)))


def keep_classes(dataset: Dataset, classes) -> Dataset:
  """Train and validation restricted to ``classes``; test kept whole.

  The one-class (anomaly detection) protocol: fit on "normal" examples only,
  then score every test example.
  """
  classes = sorted({int(c) for c in classes})
  bad = [c for c in classes if not 0 <= c < len(dataset.class_names)]
  if bad:
    raise ValueError(f"normal_classes {bad} are not class indices of "
                     f"{dataset.name} (0..{len(dataset.class_names) - 1}: "
                     f"{list(dataset.class_names)}).")
  train, val = (s.take(np.isin(s.labels, classes))
                for s in (dataset.train, dataset.validation))
  if not len(train) or not len(val):
    raise ValueError(f"normal_classes {classes} leave {len(train)} training "
                     f"and {len(val)} validation examples of {dataset.name}; "
                     "both need at least one (raise data.validation_size?).")
  return dataclasses.replace(dataset, train=train, validation=val)


def time_series(name: str, ts_dir: str = "", validation_size: int = 8,
                split_seed: int = 0, normal_classes=(),
                standardize: bool = True) -> Dataset:
  """A UCR/UEA set (see :mod:`aejax.data.timeseries`) as float sequences.

  Args:
    name: the set, e.g. ``"ItalyPowerDemand"`` or ``"JapaneseVowels"``.
    ts_dir: directory of ``<name>/<name>_TRAIN.ts``; ``""``: aeon's copy.
    validation_size: sequences held out of TRAIN for validation.
    split_seed: seed of the validation hold-out.
    normal_classes: if not empty, train and validation keep these classes
      only (see :func:`keep_classes`).
    standardize: scale each feature to zero mean and unit variance over the
      (remaining) training split's real steps.
  """
  train, test, classes = timeseries.ts_train_test(name, ts_dir)
  train, validation = _hold_out(train, validation_size, split_seed)
  dataset = Dataset(name, train, validation, test, classes)
  if normal_classes:
    dataset = keep_classes(dataset, normal_classes)
  if standardize:
    train, validation, test = timeseries.standardize(
        [dataset.train, dataset.validation, dataset.test], dataset.train)
    dataset = dataclasses.replace(dataset, train=train,
                                  validation=validation, test=test)
  return dataset


def load_dataset(data_config) -> Dataset:
  """Builds the data set named by ``config.data`` (see ``aejax.config``)."""
  if data_config.name == "ucr":
    return time_series(
        data_config.ts_name, ts_dir=data_config.ts_dir,
        validation_size=data_config.validation_size,
        split_seed=data_config.split_seed,
        normal_classes=tuple(data_config.normal_classes),
        standardize=data_config.standardize)
  dataset = _load_images(data_config)
  if data_config.get("normal_classes"):
    dataset = keep_classes(dataset, data_config.normal_classes)
  return dataset


def _load_images(data_config) -> Dataset:
  if data_config.name == "fashion_mnist":
    return fashion_mnist(
        source=data_config.source,
        idx_dir=data_config.idx_dir,
        tfds_data_dir=data_config.tfds_data_dir or None,
        validation_size=data_config.validation_size,
        split_seed=data_config.split_seed,
        download=data_config.download)
  if data_config.name == "digits":
    return digits(validation_size=min(data_config.validation_size, 200),
                  split_seed=data_config.split_seed)
  raise ValueError(f"Unknown data set {data_config.name!r}: choose "
                   "'fashion_mnist', 'digits' or 'ucr' (with data.ts_name).")
