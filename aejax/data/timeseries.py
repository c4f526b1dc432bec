"""UCR/UEA time-series classification sets as padded float sequences.

A set ``<name>`` is the pair of files ``<dir>/<name>/<name>_TRAIN.ts`` and
``_TEST.ts`` (the archive's layout). By default ``<dir>`` is the copy that
the ``aeon`` package ships inside its wheel (``aeon/datasets/data``: GunPoint,
ItalyPowerDemand, JapaneseVowels, BasicMotions, ArrowHead, OSULeaf, ...),
found without importing aeon (which would pull in numba, pandas and
scikit-learn): ``pip install --no-deps aeon==1.6.0`` is all it takes, and
``scripts/setup.sh`` does it.

Sequences become a :class:`~aejax.data.types.Split` whose ``images`` are
float32 [N, T, F] (time, features), zero-padded after each sequence's end to
the longest length T in the set, with ``lengths`` int32[N]. Labels are the
index of each case's class in the header's ``@classLabel`` list.

References:
  Dau et al., "The UCR Time Series Archive", IEEE/CAA J. Autom. Sinica 6,
  2019. Bagnall et al., "The UEA multivariate time series classification
  archive, 2018", arXiv:1811.00075.
"""

from __future__ import annotations

import importlib.util
import os

import numpy as np

from aejax.data.ts_format import TsFormatError, read_ts
from aejax.data.types import DataNotFoundError, Split

AEON_VERSION = "1.6.0"
INSTALL_HINT = (f"pip install --no-deps aeon=={AEON_VERSION} (or run "
                "scripts/setup.sh)")


def bundled_ts_dir() -> str:
  """``aeon/datasets/data`` of the installed aeon, without importing aeon."""
  spec = importlib.util.find_spec("aeon")
  if spec is None or not spec.submodule_search_locations:
    raise DataNotFoundError(
        "The time-series sets are read from the copy shipped in the 'aeon' "
        f"package, which is not installed: `{INSTALL_HINT}`, or point "
        "--config.data.ts_dir at a directory of <name>/<name>_TRAIN.ts files.")
  return os.path.join(list(spec.submodule_search_locations)[0], "datasets",
                      "data")


def pad_sequences(series: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
  """Zero-pads [T_i, F] arrays to float32 [N, max T_i, F]; returns lengths."""
  lengths = np.array([len(s) for s in series], np.int32)
  out = np.zeros((len(series), lengths.max(), series[0].shape[1]), np.float32)
  for i, s in enumerate(series):
    out[i, :len(s)] = s
  return out, lengths


def read_ts_split(directory: str, name: str, split: str
                  ) -> tuple[list[np.ndarray], np.ndarray, tuple[str, ...]]:
  """Series, int32 labels and class names of ``<name>_<TRAIN|TEST>.ts``."""
  path = os.path.join(directory, name, f"{name}_{split.upper()}.ts")
  if not os.path.exists(path):
    available = (sorted(d for d in os.listdir(directory)
                        if os.path.isdir(os.path.join(directory, d)))
                 if os.path.isdir(directory) else [])
    raise DataNotFoundError(
        f"No time-series file {path!r}. Sets in {directory!r}: "
        f"{available or 'none (not a directory)'}.")
  data = read_ts(path)
  if data.labels is None:
    raise TsFormatError(f"{path}: the set has no class labels "
                        "(@classLabel false); labels are needed to score "
                        "anomalies by class.")
  index = {c: i for i, c in enumerate(data.class_labels)}
  return (data.series, np.array([index[c] for c in data.labels], np.int32),
          data.class_labels)


def ts_train_test(name: str, ts_dir: str = "") -> tuple[Split, Split,
                                                       tuple[str, ...]]:
  """The TRAIN and TEST splits of set ``name``, padded to one length.

  Args:
    name: the set, e.g. ``"ItalyPowerDemand"`` or ``"JapaneseVowels"``.
    ts_dir: directory holding ``<name>/<name>_TRAIN.ts``; ``""`` = aeon's.

  Returns:
    ``(train, test, class_names)``; both splits have the same T and F.
  """
  directory = ts_dir or bundled_ts_dir()
  train_series, train_labels, classes = read_ts_split(directory, name, "train")
  test_series, test_labels, test_classes = read_ts_split(directory, name,
                                                         "test")
  if test_classes != classes:
    raise TsFormatError(f"{name}: TRAIN declares classes {list(classes)} but "
                        f"TEST declares {list(test_classes)}.")
  dims = {s.shape[1] for s in train_series + test_series}
  if len(dims) != 1:
    raise TsFormatError(f"{name}: TRAIN and TEST have different numbers of "
                        f"dimensions {sorted(dims)}.")
  x, lengths = pad_sequences(train_series + test_series)
  n = len(train_series)
  return (Split(x[:n], train_labels, lengths[:n]),
          Split(x[n:], test_labels, lengths[n:]), classes)


def step_mask(lengths: np.ndarray, num_steps: int) -> np.ndarray:
  """float32 [N, T]: 1 at steps t < length, 0 on padding."""
  return (np.arange(num_steps)[None, :] < lengths[:, None]).astype(np.float32)


def standardize(splits: list[Split], reference: Split) -> list[Split]:
  """Scales each feature to zero mean, unit variance over ``reference``'s
  real (unpadded) steps; padding stays 0."""
  mask = step_mask(reference.lengths, reference.images.shape[1])[..., None]
  count = mask.sum()
  mean = (reference.images * mask).sum((0, 1)) / count
  var = (np.square(reference.images - mean) * mask).sum((0, 1)) / count
  std = np.sqrt(np.maximum(var, 1e-12))
  out = []
  for s in splits:
    m = step_mask(s.lengths, s.images.shape[1])[..., None]
    out.append(Split(((s.images - mean) / std * m).astype(np.float32),
                     s.labels, s.lengths))
  return out
