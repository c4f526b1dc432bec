"""aejax's commands run on tcmalloc (aejax/host_allocator.py)."""

import json
import os
import subprocess
import sys

import pytest

from aejax import bench, host_allocator

needs_tcmalloc = pytest.mark.skipif(
    host_allocator.find_tcmalloc() is None or not sys.platform.startswith(
        "linux"), reason="needs Linux and libtcmalloc-minimal4 "
    "(scripts/setup.sh installs it)")


def _bench_allocator(mode: str) -> str:
  """The allocator a tiny `python -m aejax.bench` run reports."""
  env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
  env[host_allocator.ENV_VAR] = mode
  out = subprocess.run(
      [sys.executable, "-m", "aejax.bench", "--model", "dense_ae", "--batch",
       "4", "--steps", "2", "--warmup", "1"], env=env, check=True,
      capture_output=True, text=True).stdout
  return json.loads(out.strip().splitlines()[-1])["host_allocator"]


@needs_tcmalloc
def test_commands_reexecute_themselves_on_tcmalloc():
  assert _bench_allocator("tcmalloc") == "tcmalloc"
  assert _bench_allocator("system") == "system"


def test_unknown_allocator_is_a_clear_error(monkeypatch):
  monkeypatch.setenv(host_allocator.ENV_VAR, "jemalloc")
  with pytest.raises(SystemExit, match="'tcmalloc'.*'system'"):
    host_allocator.reexec_with_tcmalloc()


@needs_tcmalloc
def test_torch_reference_runs_on_the_allocator_asked_for(tmp_path,
                                                         monkeypatch):
  # A stand-in for torch_reference.py that reports its LD_PRELOAD.
  reference = tmp_path / "reference.py"
  reference.write_text(
      "import json, os\n"
      "print(json.dumps({'images_per_s': 1.0,\n"
      "                  'preload': os.environ.get('LD_PRELOAD', '')}))\n")
  # As inside an aejax command, which runs with tcmalloc preloaded.
  monkeypatch.setenv("LD_PRELOAD", host_allocator.find_tcmalloc())
  run = lambda allocator: bench.run_torch(
      sys.executable, str(reference), "dense_ae", 4, 2, 1, "/nonexistent",
      allocator)
  assert host_allocator.TCMALLOC not in run("system")["preload"]
  assert host_allocator.TCMALLOC in run("tcmalloc")["preload"]
