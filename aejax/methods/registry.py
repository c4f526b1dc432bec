"""Methods by name: ``config.method.name`` picks the class registered here."""

from __future__ import annotations

from typing import Callable

import ml_collections

from aejax.methods.base import METHODS, Method
from aejax.models.autoencoder import MODEL_FIELDS


def register_method(name: str) -> Callable[[type], type]:
  """Class decorator: makes a method selectable as ``method.name = name``."""

  def wrap(cls: type) -> type:
    if not (isinstance(cls, type) and issubclass(cls, Method)):
      raise TypeError(f"Method {name!r} must subclass aejax.methods.base."
                      f"Method (or GradientMethod), not {cls!r}.")
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


def fields_read(config) -> tuple[set[str], set[str]]:
  """The ``config.method`` and ``config.model`` fields the run reads."""
  cls = METHODS[config.method.name]
  model_fields = (MODEL_FIELDS.get(config.model.name, ())
                  if cls.models else cls.model_fields)
  return ({"name", *cls.config_fields}, {"name", *model_fields})


def _plain(value):
  """A field's value for comparison: a sub-config as a dict (ConfigDict's
  ``==`` also compares whether it is locked, as a command line's is)."""
  return value.to_dict() if isinstance(value, ml_collections.ConfigDict) else (
      value)


def check_config(config, defaults) -> None:
  """Refuses settings the chosen method and model would silently ignore.

  Args:
    config: the run's config.
    defaults: the base config (:func:`aejax.config.base_config`).

  Every field is checked first (:func:`aejax.config.check_fields`: no
  unknown fields, each value in its range or among its choices), so that a
  run refuses a bad config before it loads data or creates a directory.

  Raises:
    ValueError: for an unknown field or a value a field does not accept
      (:class:`aejax.config.ConfigError`), an unknown method or model, a
      model the method does not train, or a ``method.*`` / ``model.*``
      field set away from its default that this method / model does not
      read (naming the ones that do).
  """
  from aejax.config import ConfigError, check_fields  # pylint: disable=g-import-not-at-top
  check_fields(config, defaults)
  name = config.method.name
  if name not in METHODS:
    raise ValueError(f"Unknown method {name!r}: choose one of "
                     f"{sorted(METHODS)}.")
  cls = METHODS[name]
  if cls.models and config.model.name not in cls.models:
    raise ValueError(f"Method {name!r} trains the model(s) "
                     f"{', '.join(cls.models)}, not model.name="
                     f"{config.model.name!r}.")
  method_read, model_read = fields_read(config)
  for section, read, readers in (
      ("method", method_read, lambda f: sorted(
          n for n, c in METHODS.items() if f in c.config_fields)),
      ("model", model_read, lambda f: sorted(
          {m for m, fs in MODEL_FIELDS.items() if f in fs} |
          {n for n, c in METHODS.items() if f in c.model_fields}))):
    given, default = config[section], defaults[section]
    for field in given:
      if field in read or field not in default:
        continue
      if _plain(given[field]) != _plain(default[field]):
        raise ValueError(
            f"--config.{section}.{field}={given[field]!r} is not read by "
            f"{section} {config[section].name!r}, so it would change nothing;"
            f" it is read by: {', '.join(readers(field)) or 'none'}. Remove "
            "it, or choose one of those.")
  if "corruption" in method_read:
    from aejax.data.transforms import make_corruption  # pylint: disable=g-import-not-at-top
    try:
      make_corruption(**config.method.corruption)
    except (TypeError, ValueError) as e:
      raise ConfigError(f"--config.method.corruption: {e}") from None
