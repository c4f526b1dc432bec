"""Keep XLA:CPU's per-step buffers in the heap instead of fresh pages.

XLA:CPU allocates each step's temporaries with ``malloc`` (tens of MiB at
batch 128 for the conv models: a transposed convolution's column matrix
alone is 29 MiB). With glibc's defaults those blocks are ``mmap``-ed and
returned to the kernel on every ``free``, so every step page-faults its
whole working set in again (about 22 000 minor faults per conv-VAE step at
batch 128, measured with ``/usr/bin/time -f %R``), and XLA's worker threads
each get their own arena, whose freed tops are given back with
``madvise``. Three ``mallopt`` settings keep freed blocks for reuse:

* ``M_ARENA_MAX = 1``: every thread allocates from the main heap;
* ``M_MMAP_MAX = 0``: large blocks come from the heap, not from ``mmap``;
* ``M_TRIM_THRESHOLD = 2 GiB``: the heap is not trimmed after each step.

Peak memory is unchanged; the process just keeps what it has used. The
effect is what ``LD_PRELOAD``-ing tcmalloc gives (as TensorFlow and several
JAX training stacks do) without re-executing the process. BENCHMARKS.md has
the measurements.

``import aejax`` applies them (glibc on Linux only), which must come before
JAX starts its CPU backend: threads that already own an arena keep it.
Set ``AEJAX_HOST_ALLOCATOR=system`` to leave glibc's defaults alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys

ENV_VAR = "AEJAX_HOST_ALLOCATOR"

# glibc's <malloc.h> parameter numbers.
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8

SETTINGS = ((M_ARENA_MAX, 1), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 2**31 - 1))

_applied = False


def glibc_tunables() -> str:
  """``SETTINGS`` as a ``GLIBC_TUNABLES`` value, for another process (the
  benchmark gives it to PyTorch's reference for a like-for-like ratio)."""
  names = {M_ARENA_MAX: "arena_max", M_MMAP_MAX: "mmap_max",
           M_TRIM_THRESHOLD: "trim_threshold"}
  return ":".join(f"glibc.malloc.{names[p]}={v}" for p, v in SETTINGS)


def applied() -> bool:
  """Whether :func:`tune_host_allocator` has changed this process's glibc."""
  return _applied


def _glibc():
  """The process's glibc, or None on other C libraries and platforms."""
  if not sys.platform.startswith("linux"):
    return None
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.gnu_get_libc_version.restype = ctypes.c_char_p
    libc.gnu_get_libc_version()
  except (OSError, AttributeError):
    return None  # musl and friends have no mallopt worth setting
  return libc


def tune_host_allocator() -> bool:
  """Applies ``SETTINGS`` with glibc's ``mallopt``; True if all took effect.

  Does nothing (returns False) when ``$AEJAX_HOST_ALLOCATOR`` is
  ``system``, when the C library is not glibc, or when another allocator
  (tcmalloc, jemalloc) was preloaded, since it owns ``malloc`` then.
  """
  global _applied
  if _applied:
    return True
  mode = os.environ.get(ENV_VAR, "tuned")
  if mode not in ("tuned", "system"):
    raise ValueError(f"${ENV_VAR}={mode!r}: use 'tuned' (the default, keeps "
                     "XLA's freed buffers for reuse) or 'system' (glibc's "
                     "defaults).")
  if mode == "system" or "malloc" in os.environ.get("LD_PRELOAD", ""):
    return False
  libc = _glibc()
  if libc is None:
    return False
  try:
    from jax._src import xla_bridge
    late = xla_bridge.backends_are_initialized()
  except (ImportError, AttributeError):
    late = False
  if late:
    logging.warning(
        "aejax was imported after JAX started its backend: XLA's threads "
        "keep glibc's per-thread arenas, so steps page-fault their buffers "
        "in again each time (up to ~40%% slower on CPU). Import aejax "
        "before running any JAX computation.")
  _applied = all(libc.mallopt(param, value) == 1 for param, value in SETTINGS)
  return _applied
