"""aejax's glibc settings keep freed blocks for reuse (aejax/host_allocator.py)."""

import json
import os
import subprocess
import sys

import pytest

from aejax import host_allocator

glibc_only = pytest.mark.skipif(host_allocator._glibc() is None,  # pylint: disable=protected-access
                                reason="needs Linux with glibc")

# Allocates, touches and frees a 64 MiB block 10 times after `import aejax`;
# prints the minor page faults that cost and whether the settings applied.
_CHURN = r"""
import ctypes, json, resource
import aejax
from aejax import host_allocator
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
size = 64 << 20
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
  block = libc.malloc(size)
  ctypes.memset(block, 1, size)
  libc.free(block)
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"faults": faults, "applied": host_allocator.applied()}))
"""


def _churn(mode: str) -> dict:
  env = {k: v for k, v in os.environ.items()
         if k not in ("LD_PRELOAD", "GLIBC_TUNABLES")}
  env[host_allocator.ENV_VAR] = mode
  out = subprocess.run([sys.executable, "-c", _CHURN], env=env, check=True,
                       capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])


@glibc_only
def test_tuned_allocator_reuses_freed_blocks_instead_of_faulting_them_in():
  tuned, system = _churn("tuned"), _churn("system")
  assert tuned["applied"] and not system["applied"]
  pages = (64 << 20) // os.sysconf("SC_PAGE_SIZE")
  # glibc's defaults mmap and unmap the block: every round faults it in.
  assert system["faults"] > 8 * pages
  # Tuned, only the first round does.
  assert tuned["faults"] < 2 * pages


@glibc_only
def test_the_test_process_runs_tuned():
  # conftest imports jax but starts no backend before aejax is imported.
  assert host_allocator.applied()


def test_unknown_mode_is_a_clear_error(monkeypatch):
  monkeypatch.setattr(host_allocator, "_applied", False)
  monkeypatch.setenv(host_allocator.ENV_VAR, "tcmalloc")
  with pytest.raises(ValueError, match="'tuned'.*'system'"):
    host_allocator.tune_host_allocator()


def test_glibc_tunables_name_the_same_settings():
  assert host_allocator.glibc_tunables() == (
      "glibc.malloc.arena_max=1:glibc.malloc.mmap_max=0:"
      "glibc.malloc.trim_threshold=2147483647")
