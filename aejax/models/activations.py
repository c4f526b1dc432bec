"""Activations by name, so a config can choose one."""

from __future__ import annotations

import functools
from typing import Callable

import flax.linen as nn
import jax

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": nn.relu,
    "leaky_relu": functools.partial(nn.leaky_relu, negative_slope=0.2),
    "sigmoid": nn.sigmoid,
    "tanh": nn.tanh,
    "gelu": nn.gelu,
    "elu": nn.elu,
    "identity": lambda x: x,
}


def get_activation(name: str) -> Callable[[jax.Array], jax.Array]:
  if name not in ACTIVATIONS:
    raise ValueError(f"Unknown activation {name!r}: choose one of "
                     f"{sorted(ACTIVATIONS)}.")
  return ACTIVATIONS[name]
