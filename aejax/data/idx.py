"""Reader for the IDX format of (Fashion-)MNIST, with integrity checks.

The IDX format (LeCun et al., http://yann.lecun.com/exdb/mnist/) is a big-endian
header -- two zero bytes, a type code, the number of dimensions, then one uint32
per dimension -- followed by the raw array. Files may be gzip-compressed.
:func:`read_idx_split` reads a split of an MNIST-style directory of them.
"""

from __future__ import annotations

import gzip
import os

import numpy as np

from aejax.data.types import DEFAULT_FASHION_MNIST_DIR, DataNotFoundError, Split

IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}

# IDX type code -> numpy dtype (big-endian where it matters).
_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


class IdxFormatError(ValueError):
  """An IDX file is corrupt, truncated or not an IDX file at all."""


def _read_bytes(path: str) -> bytes:
  """The file's bytes, gunzipped if it starts with gzip's magic 1f 8b."""
  try:
    with open(path, "rb") as f:
      raw = f.read()
    return gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
  except (OSError, EOFError) as e:  # gzip.BadGzipFile is an OSError.
    raise IdxFormatError(
        f"Could not read IDX file {path!r}: {e}. The file is corrupt or "
        "truncated; reinstall the data set (for Fashion-MNIST: "
        "`apt-get install --reinstall dataset-fashion-mnist`).") from e


def parse_idx(raw: bytes, path: str = "<bytes>") -> np.ndarray:
  """Parses the bytes of one IDX file into an array, checking magic and size."""
  if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
    magic = raw[:4].hex() if raw else "(empty file)"
    raise IdxFormatError(
        f"{path!r} is not an IDX file: bad magic number {magic} (expected "
        "0x0000 then a type code 08/09/0B/0C/0D/0E and the number of "
        "dimensions). Reinstall or re-download the data set.")
  dtype = _IDX_DTYPES[raw[2]]
  ndim = raw[3]
  header_len = 4 + 4 * ndim
  if len(raw) < header_len:
    raise IdxFormatError(f"{path!r} is truncated inside its header.")
  shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, offset=4))
  expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
  actual = len(raw) - header_len
  if actual != expected:
    raise IdxFormatError(
        f"{path!r} has {actual} data bytes but its header declares shape "
        f"{shape} ({expected} bytes): the file is "
        f"{'truncated' if actual < expected else 'longer than declared'}. "
        "Reinstall or re-download the data set.")
  data = np.frombuffer(raw, dtype, offset=header_len).reshape(shape)
  return data.astype(dtype.newbyteorder("="), copy=True)


def read_idx(path: str) -> np.ndarray:
  """Reads an IDX file (gzipped or not) into a native-endian numpy array."""
  if not os.path.exists(path):
    raise FileNotFoundError(path)
  return parse_idx(_read_bytes(path), path)


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
