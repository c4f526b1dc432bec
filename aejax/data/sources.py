"""Image data sets as uint8 arrays with train / validation / test splits.

Every source returns images as ``uint8[N, H, W, C]`` (scaling to [0, 1] happens
on the device, in :func:`aejax.data.transforms.prepare_batch`) and labels as
``int32[N]``. The validation split is held out of the training split with a
fixed seed (``config.data.split_seed``), so it never depends on the training
seed.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from aejax.data.idx import read_idx

DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


class DataNotFoundError(FileNotFoundError):
  """A data set is not where the configuration says it is."""


@dataclasses.dataclass(frozen=True)
class Split:
  """One split: ``images`` uint8[N, H, W, C] and ``labels`` int32[N]."""
  images: np.ndarray
  labels: np.ndarray

  def __len__(self) -> int:
    return len(self.images)


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


def _find_idx_file(directory: str, stem: str) -> str | None:
  for name in (stem + ".gz", stem):
    path = os.path.join(directory, name)
    if os.path.exists(path):
      return path
  return None


def read_idx_split(directory: str, split: str) -> Split:
  """Reads the ``train`` or ``test`` split of an MNIST-style IDX directory."""
  paths = [_find_idx_file(directory, stem) for stem in IDX_FILES[split]]
  if None in paths:
    missing = [s for s, p in zip(IDX_FILES[split], paths) if p is None]
    raise DataNotFoundError(
        f"No IDX files {missing} (.gz or plain) in {directory!r}. On Debian or "
        "Ubuntu install Fashion-MNIST with `apt-get install "
        "dataset-fashion-mnist` (it lands in "
        f"{DEFAULT_FASHION_MNIST_DIR}), or point --config.data.idx_dir at a "
        "directory holding the four IDX files.")
  images, labels = (read_idx(p) for p in paths)
  if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
    raise ValueError(
        f"IDX files in {directory!r} do not form an image data set: images "
        f"have shape {images.shape}, labels {labels.shape} (expected "
        "[N, H, W] and [N]).")
  return Split(images[..., None], labels.astype(np.int32))


def _tfds_split(name: str, split: str, data_dir: str | None,
                download: bool) -> Split:
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
  return (Split(train.images[rest], train.labels[rest]),
          Split(train.images[val], train.labels[val]))


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


def load_dataset(data_config) -> Dataset:
  """Builds the data set named by ``config.data`` (see ``aejax.config``)."""
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
                   "'fashion_mnist' or 'digits'.")
