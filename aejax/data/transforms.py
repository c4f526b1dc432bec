"""On-device input transforms: scaling, dynamic binarisation and corruptions.

All functions are pure and jit-friendly; every random draw takes an explicit
key. Corruptions follow Vincent et al. (2008, 2010): additive Gaussian noise,
masking noise (a random fraction of inputs set to 0) and salt-and-pepper noise
(a random fraction set to 0 or 1 with equal probability).

References:
  Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust
  Features with Denoising Autoencoders", ICML 2008.
  Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
  Autoencoders", JMLR 11, 2010.
"""

from __future__ import annotations

import inspect
from typing import Callable

import jax
import jax.numpy as jnp


def prepare_batch(batch: dict, key: jax.Array | None = None,
                  binarize: bool = False) -> dict:
  """Scales uint8 images to float32 in [0, 1]; optionally binarises them.

  Float data (sequences, codes) pass through unscaled.

  Dynamic binarisation (a fresh Bernoulli draw with the pixel intensity as its
  probability, every time an image is seen) is the protocol of Burda et al.
  (2016) for MNIST likelihoods.
  """
  images = batch["image"]
  if images.dtype == jnp.uint8:
    images = images.astype(jnp.float32) / 255.0
  if binarize:
    images = jax.random.bernoulli(key, images).astype(jnp.float32)
  return {**batch, "image": images}


def gaussian_noise(x: jax.Array, key: jax.Array, mean: float = 0.0,
                   std: float = 0.5, clip_min: float | None = 0.0,
                   clip_max: float | None = 1.0) -> jax.Array:
  """x + N(mean, std²), clipped to [clip_min, clip_max] (None: no clipping).

  The seed-002 denoiser uses mean 0.5, std 0.5, clipped to [0, 1].
  """
  noisy = x + mean + std * jax.random.normal(key, x.shape, x.dtype)
  if clip_min is not None or clip_max is not None:
    noisy = jnp.clip(noisy, clip_min, clip_max)
  return noisy


def masking_noise(x: jax.Array, key: jax.Array,
                  fraction: float = 0.25) -> jax.Array:
  """Sets each input to 0 independently with probability ``fraction``."""
  keep = jax.random.bernoulli(key, 1.0 - fraction, x.shape)
  return jnp.where(keep, x, jnp.zeros_like(x))


def salt_and_pepper(x: jax.Array, key: jax.Array, fraction: float = 0.1,
                    low: float = 0.0, high: float = 1.0) -> jax.Array:
  """Sets a ``fraction`` of inputs to ``low`` or ``high`` (coin flip each)."""
  k_hit, k_salt = jax.random.split(key)
  hit = jax.random.bernoulli(k_hit, fraction, x.shape)
  salt = jax.random.bernoulli(k_salt, 0.5, x.shape)
  return jnp.where(hit, jnp.where(salt, high, low).astype(x.dtype), x)


CORRUPTIONS: dict[str, Callable[..., jax.Array]] = {
    "gaussian": gaussian_noise,
    "masking": masking_noise,
    "salt_and_pepper": salt_and_pepper,
}


def make_corruption(name: str, **kwargs) -> Callable[[jax.Array, jax.Array],
                                                     jax.Array]:
  """Returns ``corrupt(x, key)`` for a corruption named in :data:`CORRUPTIONS`.

  Args:
    name: ``"gaussian"``, ``"masking"`` or ``"salt_and_pepper"``.
    **kwargs: that corruption's parameters; unknown ones are an error.
  """
  if name not in CORRUPTIONS:
    raise ValueError(f"Unknown corruption {name!r}: choose one of "
                     f"{sorted(CORRUPTIONS)}.")
  fn = CORRUPTIONS[name]
  allowed = set(inspect.signature(fn).parameters) - {"x", "key"}
  unknown = set(kwargs) - allowed
  if unknown:
    raise ValueError(f"Corruption {name!r} takes {sorted(allowed)}, not "
                     f"{sorted(unknown)}.")
  return lambda x, key: fn(x, key, **kwargs)
