"""aejax: the autoencoder family in JAX/Flax.

The names a researcher types::

  import aejax
  config = aejax.base_config()
  results = aejax.train_and_evaluate(config, "runs/ae")

``import aejax`` is light: each name is imported on first use (PEP 562), so
importing the package imports neither JAX nor Orbax, Matplotlib or TFDS.
Python imports this file before any ``python -m aejax.<module>`` command, so
it is also where such a command re-executes itself on tcmalloc
(:mod:`aejax.host_allocator`), before anything heavy is imported.
"""

from __future__ import annotations

import importlib

from aejax import host_allocator as _host_allocator

_host_allocator.reexec_for_command()

__version__ = "0.1.0"

_EXPORTS = {
    "aejax.config": ("base_config",),
    "aejax.data.sources": ("fashion_mnist", "digits", "load_dataset"),
    "aejax.estimators": ("Autoencoder", "AnomalyDetector"),
    "aejax.eval.trained": ("load", "TrainedModel"),
    "aejax.methods": ("METHODS", "make_method", "register_method"),
    "aejax.models": ("MODELS", "build_model"),
    "aejax.train.loop": ("load_run", "train_and_evaluate"),
}
_MODULE_OF = {name: module for module, names in _EXPORTS.items()
              for name in names}
# Subpackages that ``import aejax`` used to import, so ``aejax.models`` etc.
# still work after a bare ``import aejax``.
_SUBPACKAGES = ("config", "data", "models", "losses", "methods", "train",
                "eval")

__all__ = list(_MODULE_OF)


def __getattr__(name: str):
  if name in _SUBPACKAGES:
    return importlib.import_module(f"aejax.{name}")
  module = _MODULE_OF.get(name)
  if module is None:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  value = getattr(importlib.import_module(module), name)
  globals()[name] = value  # later look-ups skip __getattr__
  return value


def __dir__() -> list[str]:
  return sorted(set(globals()) | set(__all__))
