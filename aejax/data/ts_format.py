"""A strict reader for the ``.ts`` format of the UCR/UEA time-series archive.

The format (Bagnall et al.; the files sktime and aeon ship) is a header of
``@key value`` lines, ``#`` comment lines, an ``@data`` line, then one case per
line: the case's dimensions separated by ``:``, each a comma-separated list of
values, and, when ``@classLabel true``, the class label as the last field::

  @problemName ItalyPowerDemand
  @univariate true
  @equalLength true
  @seriesLength 24
  @classLabel true 1 2
  @data
  -0.71,-1.18,...,-0.27:1

Only what the models here can use is accepted: no time stamps, no missing
values (``?``), every dimension of a case of the same length, and the number
of dimensions, the series length and the class labels as the header declares.
Anything else is a :class:`TsFormatError` naming the file and line.
"""

from __future__ import annotations

import dataclasses

import numpy as np


class TsFormatError(ValueError):
  """A ``.ts`` file is malformed or uses a feature this reader rejects."""


@dataclasses.dataclass(frozen=True)
class TsData:
  """The cases of one ``.ts`` file.

  Attributes:
    problem_name: the ``@problemName``.
    series: one float32 array [T_i, F] per case (time, dimensions).
    labels: the class label of each case as written (``None`` without labels).
    class_labels: the labels the header declares, in its order.
  """
  problem_name: str
  series: list[np.ndarray]
  labels: list[str] | None
  class_labels: tuple[str, ...]


def _bool(value: str, path: str, lineno: int, key: str) -> bool:
  if value.lower() not in ("true", "false"):
    raise TsFormatError(f"{path}:{lineno}: @{key} must be 'true' or 'false', "
                        f"got {value!r}.")
  return value.lower() == "true"


def _int(value: str, path: str, lineno: int, key: str) -> int:
  try:
    n = int(value)
  except ValueError:
    n = 0
  if n <= 0:
    raise TsFormatError(f"{path}:{lineno}: @{key} must be a positive "
                        f"integer, got {value!r}.")
  return n


def read_ts(path: str) -> TsData:
  """Reads and checks one ``.ts`` file.

  Args:
    path: the file.

  Returns:
    Its cases as a :class:`TsData`.

  Raises:
    TsFormatError: the file is malformed, truncated, or uses time stamps or
      missing values; the message names the file and line.
  """
  try:
    with open(path, encoding="utf-8") as f:
      lines = f.read().splitlines()
  except (OSError, UnicodeDecodeError) as e:
    raise TsFormatError(f"Could not read {path!r}: {e}") from e

  header: dict[str, tuple[str, int]] = {}  # key -> (value, line number)
  class_labels: tuple[str, ...] = ()
  has_labels = False
  data_start = None
  for lineno, raw in enumerate(lines, 1):
    line = raw.strip()
    if not line or line.startswith("#"):
      continue
    if not line.startswith("@"):
      raise TsFormatError(f"{path}:{lineno}: expected a '@key value' header "
                          f"line or @data before the data: {line[:40]!r}.")
    key, _, value = line[1:].partition(" ")
    key, value = key.lower(), value.strip()
    if key == "data":
      data_start = lineno
      break
    if key == "classlabel":
      words = value.split()
      has_labels = bool(words) and _bool(words[0], path, lineno, "classLabel")
      class_labels = tuple(words[1:])
      if has_labels and not class_labels:
        raise TsFormatError(f"{path}:{lineno}: @classLabel true declares no "
                            "labels.")
    elif key in ("timestamps", "missing"):
      if _bool(value, path, lineno, key):
        raise TsFormatError(
            f"{path}:{lineno}: @{key} true is not supported (series must be "
            "plain values without time stamps or missing values).")
    elif key == "targetlabel" and _bool(value, path, lineno, key):
      raise TsFormatError(f"{path}:{lineno}: regression targets "
                          "(@targetLabel true) are not supported.")
    header[key] = (value, lineno)
  if data_start is None:
    raise TsFormatError(f"{path}: no '@data' line; the file is truncated or "
                        "not a .ts file.")

  def get(key, parse, default=None):
    if key not in header:
      return default
    value, lineno = header[key]
    return parse(value, path, lineno, key)

  univariate = get("univariate", _bool, True)
  num_dims = 1 if univariate else get("dimensions", _int)
  equal_length = get("equallength", _bool, True)
  series_length = get("serieslength", _int) if equal_length else None

  series, labels = [], [] if has_labels else None
  for lineno in range(data_start + 1, len(lines) + 1):
    line = lines[lineno - 1].strip()
    if not line or line.startswith("#"):
      continue
    fields = line.split(":")
    if has_labels:
      label = fields.pop().strip()
      if label not in class_labels:
        raise TsFormatError(f"{path}:{lineno}: class label {label!r} is not "
                            f"one of the declared {list(class_labels)}.")
      labels.append(label)
    if num_dims is None:
      num_dims = len(fields)
    if len(fields) != num_dims:
      raise TsFormatError(f"{path}:{lineno}: {len(fields)} dimension(s), "
                          f"expected {num_dims}.")
    dims = []
    for d, text in enumerate(fields):
      if "?" in text or "(" in text:
        raise TsFormatError(f"{path}:{lineno}: dimension {d} holds a missing "
                            "value '?' or a time stamp, which are not "
                            "supported.")
      try:
        dims.append(np.array([float(v) for v in text.split(",")], np.float32))
      except ValueError as e:
        raise TsFormatError(f"{path}:{lineno}: dimension {d}: {e}.") from e
    lengths = {len(v) for v in dims}
    if len(lengths) != 1:
      raise TsFormatError(f"{path}:{lineno}: the dimensions have different "
                          f"lengths {sorted(lengths)}.")
    length = lengths.pop()
    if series_length is not None and length != series_length:
      raise TsFormatError(f"{path}:{lineno}: series of length {length}, but "
                          f"@seriesLength is {series_length}.")
    values = np.stack(dims, axis=1)
    if not np.all(np.isfinite(values)):
      raise TsFormatError(f"{path}:{lineno}: non-finite values.")
    series.append(values)
  if not series:
    raise TsFormatError(f"{path}: no cases after '@data' (truncated file?).")
  return TsData(header.get("problemname", ("", 0))[0], series, labels,
                class_labels)
