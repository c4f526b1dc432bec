"""TFDS datasets read through `tfds.data_source` (array_record, no TensorFlow).

`load_tfds` reads a whole split of a prepared TFDS dataset into numpy arrays by
random access (`tfds.data_source`), which needs neither TensorFlow nor a
network connection once the dataset is prepared.

`prepare_fashion_mnist_tfds_from_idx` prepares the catalog's `fashion_mnist`
dataset offline, from local IDX files (e.g. Debian's `dataset-fashion-mnist`
package under /usr/share/datasets/fashion-mnist).

Why not simply run the catalog builder (`tfds.builder("fashion_mnist")`) with
the IDX files as its manual/download directory? Checked with TFDS 4.9.10, it
fails twice:

1. Checksums. TFDS finds the files in `manual_dir` under their URL file names,
   but verifies them against the SHA-256 sums registered in its
   `url_checksums/fashion_mnist.txt`, and Debian rewrote the gzip headers (new
   mtime, no file name field: each file is exactly len(name) + 1 bytes shorter
   than the registered size), so it raises `NonMatchingChecksumError`. The
   only switch around that, `DownloadConfig(register_checksums=True)`,
   rewrites the checksum file inside the installed TFDS package.
2. TensorFlow. The builder's `_generate_examples` opens files with
   `tf.io.gfile.GFile` and yields numpy images, which
   `tfds.features.Image` encodes to PNG with `tf.image.encode_png`; both import
   TensorFlow, which this project does not install.

So we subclass the catalog builder (`_FashionMNISTWithoutTF`, unregistered,
but named `fashion_mnist`) and replace only how the IDX files are obtained and
read: from `DownloadConfig(manual_dir=...)` (TFDS's mechanism for
locally-provided data) when given, else downloaded from the catalog's URL by
TFDS's download manager (which checks the registered checksums: the original
files match them); either way read with `aejax.data.idx.read_idx`, each image
yielded already PNG-encoded by Pillow, which `tfds.features.Image` accepts as
is. Everything else is inherited: version, features (image (28, 28, 1) uint8,
label ClassLabel with the 10 class names), description, citation, and the
example keys (the index in the IDX file). TFDS shuffles the stored order by
hashing those keys with the split name, so the prepared dataset holds the same
examples in the same order as one prepared by the catalog builder from the
original download; that order is not the IDX order. The catalog builder then
reads it: `tfds.data_source("fashion_mnist", data_dir=data_dir)`.

Command line (the set-up script's fallback where apt is unavailable)::

  python -m aejax.data.tfds_source [--idx_dir DIR] [--data_dir DIR]
"""

from __future__ import annotations

import argparse
import io
import os
import urllib.parse

import numpy as np
from PIL import Image
import tensorflow_datasets as tfds
from tensorflow_datasets.image_classification import mnist as tfds_mnist

from aejax.data.idx import IDX_FILES, read_idx, read_idx_split
from aejax.data.types import Split

# Examples read per `__getitems__` call in `load_tfds`.
_CHUNK = 4096


class DatasetNotPreparedError(FileNotFoundError):
  """A TFDS dataset is not prepared in the data directory."""


def load_tfds(
    name: str,
    split: str,
    data_dir: str | None,
    download: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
  """Reads one split of a prepared TFDS image dataset into memory.

  Args:
    name: TFDS name, e.g. "fashion_mnist" (also "name/config:version").
    split: split, e.g. "train", "test" or "train[:1000]".
    data_dir: TFDS data directory; None means TFDS's default
      ($TFDS_DATA_DIR or ~/tensorflow_datasets).
    download: if the dataset is not prepared, download and prepare it (in
      array_record format). Needs network access and, for most catalog
      builders, TensorFlow; leave False on offline machines.

  Returns:
    (images, labels): uint8 [N, H, W] (a trailing channel axis of size 1 is
    dropped) and int64 [N], in the dataset's stored order.

  Raises:
    DatasetNotPreparedError: the dataset is not prepared and download is False.
    ValueError: the dataset is prepared in a format other than array_record.
  """
  builder = tfds.builder(name, data_dir=data_dir)
  if not builder.is_prepared():
    if not download:
      raise DatasetNotPreparedError(
          f"TFDS dataset {name!r} is not prepared: no dataset_info.json under "
          f"{os.fspath(builder.data_dir)!r} (data_dir={data_dir!r}). Prepare "
          "it with tfds.builder(name, data_dir=...).download_and_prepare("
          "file_format='array_record') on a machine with network access, or "
          "pass download=True; for Fashion-MNIST without network use "
          "aejax.data.tfds_source.prepare_fashion_mnist_tfds_from_idx(idx_dir, "
          "data_dir), e.g. with idx_dir='/usr/share/datasets/fashion-mnist' "
          "(Debian package dataset-fashion-mnist).")
    if name == "fashion_mnist":  # The catalog builder would need TensorFlow.
      prepare_fashion_mnist_tfds(data_dir)
    else:
      builder.download_and_prepare(file_format="array_record")
  file_format = builder.info.file_format
  if file_format != tfds.core.FileFormat.ARRAY_RECORD:
    raise ValueError(
        f"TFDS dataset {name!r} in {os.fspath(builder.data_dir)!r} is stored "
        f"as {file_format.value if file_format else 'unknown format'}; "
        "tfds.data_source needs array_record. Prepare it again with "
        "download_and_prepare(file_format='array_record').")

  source = tfds.data_source(name, split=split, data_dir=data_dir,
                            download=False)
  n = len(source)
  images, labels = None, np.empty((n,), np.int64)
  for start in range(0, n, _CHUNK):
    keys = list(range(start, min(start + _CHUNK, n)))
    for i, example in zip(keys, source.__getitems__(keys)):
      image = example["image"]
      if images is None:
        images = np.empty((n, *image.shape), np.uint8)
      images[i] = image
      labels[i] = example["label"]
  if images is None:  # Empty split: shape from the features.
    images = np.empty((0, *builder.info.features["image"].shape), np.uint8)
  if images.ndim == 4 and images.shape[-1] == 1:
    images = images[..., 0]
  return images, labels


def _png(image: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(image).save(buffer, format="png")
  return buffer.getvalue()


class _FashionMNISTWithoutTF(tfds_mnist.FashionMNIST, skip_registration=True):
  """The catalog's `fashion_mnist`, generated without TensorFlow."""

  name = "fashion_mnist"
  MANUAL_DOWNLOAD_INSTRUCTIONS = (
      "Optional: the directory holding the four Fashion-MNIST IDX files "
      "({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]); without it the "
      "files are downloaded.")

  def _split_generators(self, dl_manager):
    try:
      idx_dir = dl_manager.manual_dir
    except AssertionError:  # No manual_dir given: download the originals.
      idx_dir = None
    if idx_dir is not None:
      splits = {s: read_idx_split(os.fspath(idx_dir), s) for s in IDX_FILES}
    else:
      paths = dl_manager.download({
          f"{split}/{i}": urllib.parse.urljoin(self.URL, stem + ".gz")
          for split, stems in IDX_FILES.items()
          for i, stem in enumerate(stems)})
      splits = {split: Split(read_idx(os.fspath(paths[f"{split}/0"])),
                             read_idx(os.fspath(paths[f"{split}/1"])))
                for split in IDX_FILES}
    return {split: self._generate_examples(data)
            for split, data in splits.items()}

  def _generate_examples(self, split: Split):
    images = split.images.reshape(len(split), 28, 28)
    for index, (image, label) in enumerate(zip(images, split.labels)):
      # Same keys as the catalog builder, hence the same stored order.
      yield index, {"image": _png(image), "label": int(label)}


def prepare_fashion_mnist_tfds(data_dir: str | None,
                                idx_dir: str | None = None) -> None:
  """Prepares TFDS `fashion_mnist` in data_dir without TensorFlow.

  From local IDX files when ``idx_dir`` is given (offline), else from the
  original files, downloaded and checksum-verified by TFDS. See the module
  docstring for why the catalog builder itself is not used. Afterwards
  `tfds.data_source("fashion_mnist", data_dir=data_dir)` and
  `load_tfds("fashion_mnist", split, data_dir)` read it. Does nothing if the
  dataset is already prepared there.

  Args:
    data_dir: TFDS data directory to write into (None: TFDS's default).
    idx_dir: directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz].
  """
  builder = _FashionMNISTWithoutTF(data_dir=data_dir,
                                   file_format="array_record")
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(manual_dir=idx_dir))


def prepare_fashion_mnist_tfds_from_idx(idx_dir: str, data_dir: str) -> None:
  """Offline: :func:`prepare_fashion_mnist_tfds` from local IDX files."""
  prepare_fashion_mnist_tfds(data_dir, idx_dir)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(
      description="Prepare TFDS fashion_mnist (array_record) without "
      "TensorFlow, from local IDX files or by downloading them.")
  parser.add_argument("--idx_dir", default=None,
                      help="local IDX directory (default: download)")
  parser.add_argument("--data_dir", default=None,
                      help="TFDS data directory (default: TFDS's)")
  args = parser.parse_args(argv)
  prepare_fashion_mnist_tfds(args.data_dir, args.idx_dir)
  images, _ = load_tfds("fashion_mnist", "test", args.data_dir)
  print(f"fashion_mnist prepared: {len(images)} test images readable.")


if __name__ == "__main__":
  main()
