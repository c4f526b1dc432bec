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


@pytest.mark.parametrize("argv, orig_argv, module", [
    (["-m", "--help"], ["py", "-m", "aejax.main", "--help"], "aejax.main"),
    (["-m"], ["py", "-X", "importtime", "-m", "aejax.eval.pca"],
     "aejax.eval.pca"),
    (["-m", "-k"], ["py", "-maejax.bench", "-k"], "aejax.bench"),
    (["-m", "-q"], ["py", "-m", "pytest", "-q"], "pytest"),
    # After -m has found the module, and in every other kind of process.
    (["/x/aejax/main.py"], ["py", "-m", "aejax.main"], None),
    (["-c"], ["py", "-c", "import aejax"], None),
    (["/x/bin/pytest", "-q"], ["py", "/x/bin/pytest", "-q"], None),
])
def test_command_module(monkeypatch, argv, orig_argv, module):
  monkeypatch.setattr(sys, "argv", argv)
  monkeypatch.setattr(sys, "orig_argv", orig_argv)
  assert host_allocator.command_module() == module


@pytest.mark.parametrize("module, mode, reexecutes", [
    ("aejax.main", "tcmalloc", True),
    ("aejax.eval.frechet", "tcmalloc", True),
    ("aejax.main", "system", False),
    ("pytest", "tcmalloc", False),
    ("aejaxy", "tcmalloc", False),
])
def test_reexec_for_command_only_reruns_aejax_modules(
    monkeypatch, module, mode, reexecutes):
  calls = []
  monkeypatch.setattr(sys, "argv", ["-m", "--flag"])
  monkeypatch.setattr(sys, "orig_argv", ["py", "-m", module, "--flag"])
  monkeypatch.setattr(sys, "platform", "linux")
  monkeypatch.setenv(host_allocator.ENV_VAR, mode)
  monkeypatch.delenv("LD_PRELOAD", raising=False)
  monkeypatch.setattr(host_allocator, "current", lambda: "system")
  monkeypatch.setattr(host_allocator, "find_tcmalloc",
                      lambda: "/lib/" + host_allocator.TCMALLOC)
  monkeypatch.setattr(os, "execve", lambda *args: calls.append(args))
  host_allocator.reexec_for_command()
  if reexecutes:
    (executable, argv, env), = calls
    assert argv == [executable, "-m", module, "--flag"]
    assert env["LD_PRELOAD"] == "/lib/" + host_allocator.TCMALLOC
  else:
    assert not calls


def test_missing_tcmalloc_is_noted_once(monkeypatch, capsys):
  monkeypatch.setattr(sys, "platform", "linux")
  monkeypatch.delenv(host_allocator.ENV_VAR, raising=False)
  monkeypatch.delenv("LD_PRELOAD", raising=False)
  monkeypatch.setattr(host_allocator, "current", lambda: "system")
  monkeypatch.setattr(host_allocator, "find_tcmalloc", lambda: None)
  monkeypatch.setattr(host_allocator, "_noted_missing", False)
  host_allocator.reexec_for_command()  # not a command: no note
  assert not capsys.readouterr().err
  host_allocator.reexec_with_tcmalloc()
  host_allocator.reexec_with_tcmalloc()  # e.g. again in the command's main
  assert capsys.readouterr().err.count("not found") == 1


def _imported_twice(args, mode):
  """Which of some modules a command imports twice (before and after a
  re-exec), read from ``python -X importtime``; also its exit code."""
  env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}
  env[host_allocator.ENV_VAR] = mode
  run = subprocess.run([sys.executable, "-X", "importtime", "-m", *args],
                       env=env, capture_output=True, text=True)
  counts = {}
  for line in run.stderr.splitlines():
    if line.startswith("import time:"):
      name = line.rsplit("|", 1)[-1].strip()
      counts[name] = counts.get(name, 0) + 1
  watched = ("aejax.host_allocator", "absl", "ml_collections", "jax")
  return {m for m in watched if counts.get(m, 0) > 1}, run.returncode


@needs_tcmalloc
@pytest.mark.parametrize("args", [["aejax.main", "--help"], ["aejax.config"]])
def test_commands_reexecute_before_heavy_imports(args):
  # aejax/__init__.py re-executes the command after importing only
  # host_allocator: absl (and JAX, where the command imports it) load once.
  twice, code = _imported_twice(args, "tcmalloc")
  assert twice == {"aejax.host_allocator"}
  twice_system, code_system = _imported_twice(args, "system")
  assert twice_system == set()
  assert code == code_system  # absl's --help exits 1
