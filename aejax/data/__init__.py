"""Data sets, on-device transforms and sharded batching.

The names below are imported on first use (PEP 562): ``import aejax.data``,
and :mod:`aejax.config` (which reads a constant of :mod:`aejax.data.types`),
do not import JAX, which :mod:`~aejax.data.transforms` and
:mod:`~aejax.data.pipeline` need.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "aejax.data.types": ("Dataset", "DataNotFoundError", "Split"),
    "aejax.data.sources": ("digits", "fashion_mnist", "load_dataset",
                           "time_series"),
    "aejax.data.ts_format": ("TsFormatError", "read_ts"),
    "aejax.data.idx": ("IdxFormatError", "read_idx"),
    "aejax.data.transforms": ("gaussian_noise", "make_corruption",
                              "masking_noise", "prepare_batch",
                              "salt_and_pepper"),
    "aejax.data.pipeline": ("TrainBatches", "eval_batches", "make_mesh"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items()
              for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
  module = _MODULE_OF.get(name)
  if module is None:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  value = getattr(importlib.import_module(module), name)
  globals()[name] = value  # later look-ups skip __getattr__
  return value


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))
