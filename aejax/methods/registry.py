"""Methods by name: ``config.method.name`` picks the class registered here."""

from __future__ import annotations

from typing import Callable

METHODS: dict[str, type] = {}


def register_method(name: str) -> Callable[[type], type]:
  """Class decorator: makes a method selectable as ``method.name = name``."""

  def wrap(cls: type) -> type:
    if name in METHODS:
      raise ValueError(f"Method {name!r} is registered twice.")
    METHODS[name] = cls
    cls.name = name
    return cls

  return wrap


def make_method(config, image_shape):
  """Builds the method named by ``config.method.name``."""
  name = config.method.name
  if name not in METHODS:
    raise ValueError(f"Unknown method {name!r}: choose one of "
                     f"{sorted(METHODS)}.")
  return METHODS[name](config, tuple(image_shape))
