"""Run aejax's commands on tcmalloc: XLA:CPU's step buffers stay allocated.

XLA:CPU allocates each step's temporaries with ``malloc`` (tens of MiB at
batch 128 for the conv models; a transposed convolution's column matrix
alone is 29 MiB). glibc's malloc serves blocks that large with ``mmap`` (or
from per-thread heaps that it unmaps when they empty) and gives them back to
the kernel on ``free``, so every step page-faults its working set in again.
tcmalloc keeps freed pages for reuse. Measured on the 2-core CPU
(BENCHMARKS.md, "Runs D and E"): 100 conv-VAE steps at batch 128 cost the
process 2.4 million minor page faults on glibc and 0.17 million on
tcmalloc, and ran at 958 against 1 529 images/s; the MLP is no slower on
tcmalloc. glibc's own knobs (one arena, no ``mmap``, no trimming) recover
the conv speed too, but the single arena costs the MLP 10-15%, so we do not
use them.

An allocator must be chosen before the process starts, so aejax's commands
call :func:`reexec_with_tcmalloc` first: it re-executes the same command
line with Debian's ``libtcmalloc_minimal.so.4`` (package
``libtcmalloc-minimal4``, which ``scripts/setup.sh`` installs) in
``LD_PRELOAD``. ``python -m aejax.<module>`` does so from
``aejax/__init__.py`` (:func:`reexec_for_command`), which Python imports
before the module, so the first process imports nothing heavy (neither
JAX nor absl) that the second would import again; the ``aejax`` console
script does so in :func:`aejax.main.run`. ``AEJAX_HOST_ALLOCATOR=system``
keeps the system allocator. From Python, start the interpreter that way
yourself::

  LD_PRELOAD=libtcmalloc_minimal.so.4 python my_script.py
"""

from __future__ import annotations

import os
import sys

ENV_VAR = "AEJAX_HOST_ALLOCATOR"
TCMALLOC = "libtcmalloc_minimal.so.4"
SEARCH_DIRS = ("/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
               "/usr/lib64", "/usr/lib", "/usr/local/lib")


def find_tcmalloc() -> str | None:
  """The path of libtcmalloc_minimal.so.4, or None if it is not installed."""
  for directory in SEARCH_DIRS:
    path = os.path.join(directory, TCMALLOC)
    if os.path.exists(path):
      return path
  return None


def current() -> str:
  """The allocator this process runs on: "tcmalloc", "jemalloc" or "system"."""
  try:
    with open("/proc/self/maps") as maps:
      libraries = maps.read()
  except OSError:
    return "system"
  for name in ("tcmalloc", "jemalloc"):
    if f"lib{name}" in libraries:
      return name
  return "system"


_noted_missing = False  # the "not found" note is printed once per process


def _requested() -> str:
  mode = os.environ.get(ENV_VAR, "tcmalloc")
  if mode not in ("tcmalloc", "system"):
    raise SystemExit(f"${ENV_VAR}={mode!r}: use 'tcmalloc' (the default) or "
                     "'system' (the C library's malloc).")
  return mode


def reexec_with_tcmalloc() -> None:
  """Re-runs this process's command line with tcmalloc preloaded.

  Returns (and the command runs on as it is) when tcmalloc is already
  loaded, when ``$AEJAX_HOST_ALLOCATOR`` is ``system``, when this is not
  Linux, or when the library is not installed (then with a one-line note,
  once per process).
  Call it first in a ``__main__`` block, before JAX starts.
  """
  global _noted_missing
  if _requested() == "system" or not sys.platform.startswith("linux"):
    return
  if current() != "system" or TCMALLOC in os.environ.get("LD_PRELOAD", ""):
    return  # already preloaded (or tried: ld.so says why it failed)
  path = find_tcmalloc()
  if path is None:
    if _noted_missing:
      return
    _noted_missing = True
    print(f"[aejax] {TCMALLOC} not found (apt-get install "
          "libtcmalloc-minimal4, or run scripts/setup.sh): running on the "
          "system malloc; conv models train up to 1.6x slower on CPU. Set "
          f"{ENV_VAR}=system to silence this.", file=sys.stderr)
    return
  env = _preloaded(dict(os.environ), path)
  sys.stdout.flush()
  sys.stderr.flush()
  # orig_argv: the interpreter's own options and "-m module" included.
  os.execve(sys.executable, [sys.executable] + sys.orig_argv[1:], env)


def _preloaded(env: dict, path: str) -> dict:
  return dict(env, LD_PRELOAD=" ".join(filter(None, [path,
                                                      env.get("LD_PRELOAD")])))


def tcmalloc_env(env: dict) -> dict:
  """``env`` as :func:`reexec_with_tcmalloc` would run a command under it:
  with tcmalloc preloaded, unless ``$AEJAX_HOST_ALLOCATOR`` is ``system``,
  this is not Linux, it is preloaded already or it is not installed (then
  ``env`` unchanged). For a process that starts commands without their
  re-exec (aejax.reproduce's zygote)."""
  if (_requested() == "system" or not sys.platform.startswith("linux") or
      TCMALLOC in env.get("LD_PRELOAD", "")):
    return env
  path = find_tcmalloc()
  return env if path is None else _preloaded(env, path)


def command_module() -> str | None:
  """The module ``python -m <module>`` is about to run, or None.

  Not None only while ``-m`` imports the packages above the module (then
  ``sys.argv[0]`` is ``"-m"``; afterwards it is the module's file): the
  module's name is the element of ``sys.orig_argv`` just before the
  command's own arguments, ``sys.argv[1:]`` (or the rest of ``-m<module>``).
  """
  if not sys.argv or sys.argv[0] != "-m":
    return None
  orig_argv = getattr(sys, "orig_argv", [])
  i = len(orig_argv) - len(sys.argv)
  if i < 1:
    return None
  arg = orig_argv[i]
  if not arg.startswith("-"):  # "-m", "aejax.main"
    return arg
  _, m, module = arg.partition("m")  # "-maejax.main" (or "-Imaejax.main")
  return module if m and module else None


def reexec_for_command() -> None:
  """:func:`reexec_with_tcmalloc` if this is ``python -m aejax.<module>``.

  ``aejax/__init__.py`` calls it, before it imports anything else. Any other
  process (``import aejax`` in a script or notebook, pytest, ``python -m
  pytest``) carries on as it is.
  """
  module = command_module()
  if module is not None and (module == "aejax" or
                             module.startswith("aejax.")):
    reexec_with_tcmalloc()
