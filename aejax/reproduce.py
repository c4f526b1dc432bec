r"""Reproduce a BENCHMARKS.md table with one command.

  python -m aejax.reproduce --list
  python -m aejax.reproduce reconstruction [--out=runs/reproduce]
  python -m aejax.reproduce all --quick      # every table's commands, tiny

runs the table's training and evaluation commands (as ``python -m ...``
subprocesses of this Python, each run in its own directory under ``--out``),
reads the numbers from the files they write, prints the table in the
Markdown BENCHMARKS.md holds, and compares every number with the recorded
one: within the tolerance it is "reproduced", else the difference is shown.
``<out>/<table>.md`` and ``<out>/<table>.json`` (every number, its recorded
value, tolerance and status, each command's wall time, the commit, the
versions of jax, jaxlib and flax, the CPU) are written beside the runs.

A command whose result file is already in ``--out`` is skipped, so the same
command run again after an interruption continues where it stopped (an
interrupted training run resumes from its checkpoint); a result written by a
different command there is refused. ``--quick`` runs every command with tiny
settings (scikit-learn's 8x8 digits, two training steps, a few samples) into
``runs/reproduce_quick``, each command a fork of one Python that imported
the libraries once (:class:`Zygote`): it checks that the commands work and
that every number can be read, not the numbers. ``--recorded`` prints the
recorded tables, ``--commands`` the commands a table runs.

The tables are data, in :mod:`aejax.reproduce_tables`.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import re
import resource
import subprocess
import sys
import time
from typing import Any

from aejax.reproduce_tables import (RUNS, TABLES, TABLES_BY_NAME, Derived,
                                    Metric, Row, Step, Table)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXPERIMENTS = os.path.join(ROOT, "experiments")
MANIFEST = "reproduce.json"   # per run directory: the commands that ran
QUICK_NOTE = "quick: not compared"
_PLACEHOLDER = re.compile(r"\{(\w+)(?::([\w.-]+))?\}")


class Unreadable(Exception):
  """A number could not be read from a run's files (the message says why)."""


class StepFailed(Exception):
  pass


# --- commands -------------------------------------------------------------

def first_step(run: str) -> str:
  return next(iter(RUNS[run]))


def step_args(step: Step, quick: bool) -> tuple[str, ...]:
  """The argument templates of ``step`` (``-m module`` first), with the
  ``--quick`` arguments applied: each replaces the argument of the same
  ``--flag=``, or is added."""
  if quick and step.quick_argv:
    return step.quick_argv
  args = list(step.args)
  if quick:
    for extra in step.quick:
      flag = extra.split("=", 1)[0] + "="
      args = [a for a in args if not a.startswith(flag) and a != extra]
      args.append(extra)
  return ("-m", step.module, *args)


def expand(template: str, run: str, out: str, torch_python: str = "",
           display: bool = False) -> str | None:
  """``template`` with its placeholders filled (None: leave the argument
  out, its placeholder being empty)."""
  empty = False

  def fill(match):
    nonlocal empty
    name, arg = match.groups()
    if name == "dir":
      return os.path.join(out, run)
    if name == "run":
      return os.path.join(out, arg)
    if name == "experiments":
      return "experiments" if display else EXPERIMENTS
    if name == "torch_python":
      empty = empty or not torch_python
      return torch_python
    raise ValueError(f"Unknown placeholder {match.group(0)!r} in {template!r}.")
  text = _PLACEHOLDER.sub(fill, template)
  return None if empty else text


def command(run: str, step_name: str, out: str, quick: bool,
            torch_python: str = "", display: bool = False) -> list[str]:
  """The argv of one step, after the interpreter."""
  args = step_args(RUNS[run][step_name], quick)
  expanded = (expand(a, run, out, torch_python, display) for a in args)
  return [a for a in expanded if a is not None]


def dependencies(run: str, step_name: str, quick: bool) -> list[tuple]:
  """Steps that must be done before ``(run, step_name)``: the run's first
  step, and the first step of every run its arguments name."""
  deps = []
  if step_name != first_step(run):
    deps.append((run, first_step(run)))
  for arg in step_args(RUNS[run][step_name], quick):
    for name, other in _PLACEHOLDER.findall(arg):
      if name == "run":
        deps.append((other, first_step(other)))
  return deps


def cell_metrics(table: Table, rows) -> list[Metric]:
  metrics = [c for r in rows for c in r.cells if isinstance(c, Metric)]
  return metrics + [m for _, m in table.facts]


def table_rows(table: Table, quick: bool) -> tuple[Row, ...]:
  return (tuple(table.rows[i] for i in table.quick_rows) if quick
          else table.rows)


def plan(tables, quick: bool) -> list[tuple[str, str]]:
  """Every step the tables need, each once, dependencies first."""
  ordered, seen = [], set()

  def visit(key, path=()):
    if key in seen:
      return
    if key in path:
      raise ValueError(f"The steps {path} depend on each other.")
    for dep in dependencies(*key, quick):
      visit(dep, path + (key,))
    seen.add(key)
    ordered.append(key)

  for table in tables:
    for m in cell_metrics(table, table_rows(table, quick)):
      visit((m.run, m.step or first_step(m.run)))
  return ordered


def result_path(out: str, run: str, step_name: str) -> str:
  step = RUNS[run][step_name]
  return os.path.join(out, run, step.result or f"out_{step_name}.json")


def _manifest(run_dir: str) -> dict:
  path = os.path.join(run_dir, MANIFEST)
  if not os.path.exists(path):
    return {}
  with open(path) as f:
    return json.load(f)


def _identity(run: str, step_name: str, quick: bool, torch_python: str):
  """What makes two commands the same, wherever --out lies."""
  return {"args": list(step_args(RUNS[run][step_name], quick)),
          "torch_python": bool(torch_python and any(
              "{torch_python}" in a for a in RUNS[run][step_name].args))}


def command_env() -> dict:
  """The environment of every command: unbuffered output, and a persistent
  compilation cache (``$JAX_COMPILATION_CACHE_DIR``, else aejax's)."""
  env = dict(os.environ, PYTHONUNBUFFERED="1")
  env.setdefault("JAX_COMPILATION_CACHE_DIR", os.path.expanduser(
      os.path.join("~", ".cache", "aejax", "xla")))
  return env


# The zygote's program: import the libraries every command imports, then
# fork one child per request (a JSON line on stdin: argv after the
# interpreter, environment, stdout and stderr paths) and answer with the
# child's exit status and CPU seconds. Nothing here defines absl flags (the
# commands define theirs when they run) or starts a JAX backend (a fork
# after that would deadlock).
_ZYGOTE = r"""
import json, os, runpy, signal, sys, traceback
import numpy, jax, flax.linen, optax, orbax.checkpoint, sklearn.datasets
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot
import aejax.train.loop, aejax.eval.trained, aejax.plotting
on_ctrl_c = signal.signal(signal.SIGINT, signal.SIG_IGN)  # for the command
print("ready", flush=True)
for line in sys.stdin:
  request = json.loads(line)
  pid = os.fork()
  if pid == 0:
    code = 1
    try:
      signal.signal(signal.SIGINT, on_ctrl_c)
      out = os.open(request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      err = os.open(request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
      os.dup2(out, 1)
      os.dup2(err, 2)
      sys.stdin.close()
      os.chdir(request["cwd"])
      os.environ.clear()
      os.environ.update(request["env"])
      argv = request["argv"]
      try:
        if argv[0] == "-m":
          sys.argv = [argv[1]] + argv[2:]
          runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:  # -c CODE ARGS
          sys.argv = ["-c"] + argv[2:]
          exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__"})
        code = 0
      except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None
                                                        else 1)
        if not isinstance(e.code, (int, type(None))):
          print(e.code, file=sys.stderr)
      except BaseException:
        traceback.print_exc()
    finally:
      sys.stdout.flush()
      sys.stderr.flush()
      os._exit(code)
  _, status, usage = os.wait4(pid, 0)
  print(json.dumps({"returncode": os.waitstatus_to_exitcode(status),
                    "cpu_seconds": usage.ru_utime + usage.ru_stime}),
        flush=True)
"""


class Zygote:
  """Runs ``-m module ...`` and ``-c code ...`` commands as forks of one
  Python that imported JAX, Flax, Orbax, scikit-learn, matplotlib and aejax
  once: ``--quick`` runs ~30 commands of a few seconds each, of which the
  imports were ~3 s. The command still runs as its ``__main__``, in its own
  process, with its own environment and output files.
  """

  def __init__(self):
    # pylint: disable=g-import-not-at-top
    from aejax import host_allocator
    # What the commands' own re-exec would give them (children inherit it).
    env = host_allocator.tcmalloc_env(command_env())
    self._process = subprocess.Popen(
        [sys.executable, "-c", _ZYGOTE], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, env=env, text=True)
    if self._process.stdout.readline().strip() != "ready":
      self.close()
      raise RuntimeError("The --quick command server did not start.")
    self._env = env

  def can_run(self, argv: list[str], env: dict) -> bool:
    """Whether a fork runs ``argv`` as a new Python would: a module or code
    (not a script), under the settings JAX read when the zygote imported
    it."""
    jax_vars = lambda e: {k: v for k, v in e.items() if k.startswith("JAX_")}
    return argv[0] in ("-m", "-c") and jax_vars(env) == jax_vars(self._env)

  def run(self, argv: list[str], env: dict, stdout_path: str,
          stderr_path: str) -> tuple[int, float]:
    """``(exit status, CPU seconds)`` of ``python *argv``."""
    if self._env.get("LD_PRELOAD"):
      env = dict(env, LD_PRELOAD=self._env["LD_PRELOAD"])
    self._process.stdin.write(json.dumps({
        "argv": argv, "env": env, "cwd": os.getcwd(),
        "stdout": stdout_path, "stderr": stderr_path}) + "\n")
    self._process.stdin.flush()
    answer = self._process.stdout.readline()
    if not answer:
      raise RuntimeError("The --quick command server stopped.")
    reply = json.loads(answer)
    return reply["returncode"], reply["cpu_seconds"]

  def close(self) -> None:
    if self._process.stdin:
      self._process.stdin.close()
    self._process.wait()


def run_step(run: str, step_name: str, out: str, quick: bool,
             torch_python: str = "", log=print,
             zygote: Zygote | None = None) -> dict:
  """Runs one step unless its result exists (as a fork of ``zygote`` if
  given, else as a new Python); returns what happened."""
  run_dir = os.path.join(out, run)
  path = result_path(out, run, step_name)
  identity = _identity(run, step_name, quick, torch_python)
  manifest = _manifest(run_dir)
  done_before = manifest.get(step_name, {})
  argv = command(run, step_name, out, quick, torch_python)
  shown = " ".join(["python"] + command(run, step_name, out, quick,
                                        torch_python, display=True))
  if os.path.exists(path):
    if done_before and done_before.get("identity") != identity:
      raise StepFailed(
          f"{run_dir} holds the result of another command for {step_name!r} "
          f"(it ran {done_before.get('command')!r}). Give another --out, or "
          "delete that directory to run it again.")
    log(f"  {run}/{step_name}: done before ({os.path.relpath(path)})")
    return {"run": run, "step": step_name, "command": shown,
            "skipped": True, "seconds": done_before.get("seconds")}
  os.makedirs(run_dir, exist_ok=True)
  log(f"  {run}/{step_name}: {shown}")
  stdout_path = os.path.join(run_dir, f"log_{step_name}.out")
  stderr_path = os.path.join(run_dir, f"log_{step_name}.err")
  env = command_env()
  start = time.perf_counter()
  if zygote is not None and zygote.can_run(argv, env):
    returncode, cpu = zygote.run(argv, env, stdout_path, stderr_path)
  else:
    cpu_start = _children_cpu()
    with open(stdout_path, "w") as stdout, open(stderr_path, "w") as stderr:
      process = subprocess.Popen([sys.executable] + argv, stdout=stdout,
                                 stderr=stderr, env=env)
      try:
        returncode = process.wait()
      except KeyboardInterrupt:  # the child got the signal too: let it stop
        process.wait()
        raise
    cpu = _children_cpu() - cpu_start
  seconds = round(time.perf_counter() - start, 1)
  cpu_seconds = round(cpu, 1)
  if returncode:
    with open(stderr_path) as f:
      tail = "".join(f.readlines()[-15:])
    raise StepFailed(f"{run}/{step_name} failed (exit {returncode}) after "
                     f"{seconds} s: {shown}\n{tail.rstrip()}\n(log: "
                     f"{stderr_path})")
  if not RUNS[run][step_name].result:
    with open(stdout_path) as f:
      lines = [json.loads(l) for l in f if l.startswith("{")]
    with open(path, "w") as f:
      json.dump(lines, f, indent=1)
  if not os.path.exists(path):
    raise StepFailed(f"{run}/{step_name} ended without writing {path}.")
  manifest[step_name] = {"identity": identity, "command": shown,
                         "seconds": seconds, "cpu_seconds": cpu_seconds,
                         "quick": quick, "finished": _now()}
  with open(os.path.join(run_dir, MANIFEST), "w") as f:
    json.dump(manifest, f, indent=2)
  log(f"    done in {seconds} s ({cpu_seconds} s of CPU)")
  return {"run": run, "step": step_name, "command": shown, "skipped": False,
          "seconds": seconds, "cpu_seconds": cpu_seconds}


def _children_cpu() -> float:
  """User + system CPU seconds of the finished child processes."""
  usage = resource.getrusage(resource.RUSAGE_CHILDREN)
  return usage.ru_utime + usage.ru_stime


# --- numbers --------------------------------------------------------------

def _load(path: str):
  if not os.path.exists(path):
    raise Unreadable(f"no {path}")
  with open(path) as f:
    if path.endswith(".jsonl"):
      return [json.loads(l) for l in f if l.strip()]
    return json.load(f)


def lookup(data, key: tuple) -> Any:
  """``data`` at ``key``: dict keys, list indices, and ``{field: value}``
  selectors (the last list element holding those items and the key that
  follows)."""
  for i, k in enumerate(key):
    if isinstance(k, dict):
      following = key[i + 1] if i + 1 < len(key) else None
      matches = [d for d in data if isinstance(d, dict) and all(
          d.get(f) == v for f, v in k.items()) and (
              following is None or following in d)]
      if not matches:
        raise Unreadable(f"no entry with {k} and {following!r}")
      data = matches[-1]
    elif isinstance(k, int):
      if not isinstance(data, list) or not data:
        raise Unreadable(f"no element {k} in {type(data).__name__}")
      data = data[k]
    else:
      if not isinstance(data, dict) or k not in data:
        raise Unreadable(f"no key {k!r}")
      data = data[k]
  return data


REDUCERS = {
    "min": lambda v: min(v.values() if isinstance(v, dict) else v),
    "max": lambda v: max(v.values() if isinstance(v, dict) else v),
    "count_below_1": lambda v: sum(1 for a in v if a < 1.0),
}


def read_metric(metric: Metric, out: str) -> tuple[Any, Any]:
  """(value, spread) of ``metric`` from the files under ``out``."""
  step_name = metric.step or first_step(metric.run)
  path = (os.path.join(out, metric.run, metric.file) if metric.file
          else result_path(out, metric.run, step_name))
  data = _load(path)
  value = lookup(data, metric.key)
  if metric.reduce:
    value = REDUCERS[metric.reduce](value)
  spread = lookup(data, metric.spread) if metric.spread else None
  return value, spread


def derive(cell: Derived, values: dict) -> Any:
  a, b = values.get(cell.a), values.get(cell.b)
  if a is None or b is None:
    raise Unreadable(f"needs {cell.a!r} and {cell.b!r}")
  return a / b if cell.op == "ratio" else a - b


def allowed(cell, recorded) -> float:
  return (cell.tol or 0.0) + (cell.rel or 0.0) * abs(recorded)


def compare(cell, value, recorded) -> tuple[str, Any]:
  """("reproduced" | "differs", difference) of value vs recorded."""
  if isinstance(recorded, list):
    if not isinstance(value, list) or len(value) != len(recorded):
      return "differs", None
    diffs = [v - r for v, r in zip(value, recorded)]
    ok = all(abs(d) <= allowed(cell, r) + 1e-9
             for d, r in zip(diffs, recorded))
    return ("reproduced" if ok else "differs"), diffs
  diff = value - recorded
  return ("reproduced" if abs(diff) <= allowed(cell, recorded) + 1e-9
          else "differs"), diff


def fmt(cell, value) -> str:
  if value is None:
    return "–"
  if isinstance(value, list):
    return " ".join(cell.fmt.format(v) for v in value)
  if "d}" in cell.fmt:
    value = int(round(value))
  return cell.fmt.format(value)


def fmt_spread(cell, spread) -> str:
  return "" if spread is None else " ± " + cell.fmt.replace("+", "").format(
      spread)


def evaluate(table: Table, out: str, quick: bool, torch_python: str = "",
             recorded_only: bool = False, failed=()) -> dict:
  """Every cell of the table's rows: value, spread, recorded, status."""
  rows = []
  for row in table_rows(table, quick and not recorded_only):
    cells, values = [], {}
    for column, cell in zip(table.metric_columns, row.cells):
      entry = {"column": column}
      if cell is None:
        entry["text"] = "–"
        cells.append(entry)
        continue
      entry["recorded"] = cell.recorded
      if isinstance(cell, Metric):
        entry["recorded_spread"] = cell.spread_recorded
      if recorded_only:
        value = cell.recorded
        spread = getattr(cell, "spread_recorded", None)
        entry["text"] = (fmt(cell, value) + fmt_spread(cell, spread)
                         if value is not None else "–")
        cells.append(entry)
        continue
      try:
        if isinstance(cell, Metric) and cell.needs == "torch_python" and (
            not torch_python):
          raise Unreadable("not run: needs --torch_python")
        if isinstance(cell, Metric) and (cell.run, cell.step or first_step(
            cell.run)) in failed:
          raise Unreadable("its command failed")
        if isinstance(cell, Metric):
          value, spread = read_metric(cell, out)
        else:
          value, spread = derive(cell, values), None
      except Unreadable as e:
        entry.update(text="–", status="unreadable", why=str(e))
        if "needs --torch_python" in str(e):
          entry["status"] = "not run"
        cells.append(entry)
        continue
      values[column] = value
      entry.update(value=value, spread=spread,
                   text=fmt(cell, value) + fmt_spread(cell, spread))
      if quick:
        entry["status"] = QUICK_NOTE
      elif cell.recorded is None:
        entry["status"] = "no recorded value"
      else:
        entry["status"], entry["difference"] = compare(cell, value,
                                                       cell.recorded)
        entry["tolerance"] = (
            [allowed(cell, r) for r in cell.recorded]
            if isinstance(cell.recorded, list) else allowed(cell,
                                                            cell.recorded))
      cells.append(entry)
    rows.append({"labels": list(row.labels), "cells": cells})
  facts = []
  for label, metric in table.facts:
    entry = {"label": label, "recorded": metric.recorded}
    if recorded_only:
      entry["text"] = fmt(metric, metric.recorded)
    else:
      try:
        value, _ = read_metric(metric, out)
        entry.update(value=value, text=fmt(metric, value))
        if quick:
          entry["status"] = QUICK_NOTE
        else:
          entry["status"], entry["difference"] = compare(
              metric, value, metric.recorded)
          entry["tolerance"] = allowed(metric, metric.recorded)
      except Unreadable as e:
        entry.update(text="–", status="unreadable", why=str(e))
    facts.append(entry)
  return {"rows": rows, "facts": facts}


def markdown(table: Table, evaluated: dict) -> str:
  """The table as BENCHMARKS.md holds it."""
  columns = table.label_columns + table.metric_columns
  lines = ["| " + " | ".join(columns) + " |",
           "|" + "---|" * len(columns)]
  for row in evaluated["rows"]:
    texts = row["labels"] + [c["text"] for c in row["cells"]]
    lines.append("| " + " | ".join(texts) + " |")
  for fact in evaluated["facts"]:
    lines.append(f"\n{fact['label']}: {fact['text']}")
  return "\n".join(lines)


def _signed(difference) -> str:
  if isinstance(difference, list):
    return "[" + " ".join(f"{d:+g}" for d in difference) + "]"
  return f"{difference:+.4g}" if difference is not None else "?"


def comparison_lines(table: Table, evaluated: dict) -> list[str]:
  """One line per number: reproduced, or the difference."""
  lines = []
  entries = [(" · ".join(r["labels"] + [c["column"]]), c)
             for r in evaluated["rows"] for c in r["cells"] if "status" in c]
  entries += [(f["label"], f) for f in evaluated["facts"] if "status" in f]
  for where, c in entries:
    status = c["status"]
    if status == "reproduced":
      lines.append(f"  ✓ {where}: {c['text']} (recorded {_rec(c)})")
    elif status == "differs":
      tol = c["tolerance"]
      tol = max(tol) if isinstance(tol, list) else tol
      lines.append(f"  ✗ {where}: {c['text']}, recorded {_rec(c)}: "
                   f"{_signed(c.get('difference'))} (tolerance "
                   f"±{tol:.3g})")
    elif status in ("unreadable", "not run"):
      lines.append(f"  ? {where}: {c['why']}")
    elif status == "no recorded value":
      lines.append(f"  · {where}: {c['text']} (no recorded value)")
  return lines


def _rec(entry) -> str:
  r = entry["recorded"]
  return " ".join(map(str, r)) if isinstance(r, list) else f"{r:g}"


# --- context --------------------------------------------------------------

def _now() -> str:
  return datetime.datetime.now(datetime.timezone.utc).strftime(
      "%Y-%m-%d %H:%M UTC")


def versions() -> dict:
  out = {"python": platform.python_version()}
  for package in ("jax", "jaxlib", "flax", "optax", "numpy"):
    try:
      out[package] = importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
      out[package] = None
  return out


def commit() -> str:
  try:
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                          capture_output=True, text=True, check=True
                          ).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "aejax",
                            "experiments"], cwd=ROOT, capture_output=True,
                           text=True, check=True).stdout.strip()
  except (OSError, subprocess.CalledProcessError):
    return "unknown (not a git checkout)"
  return head + (" + uncommitted changes" if dirty else "")


def hardware() -> dict:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      names = [l.split(":", 1)[1].strip() for l in f
               if l.startswith("model name")]
    cpu = names[0] if names else cpu
  except OSError:
    pass
  load = os.getloadavg() if hasattr(os, "getloadavg") else None
  return {"cpu": cpu, "cpu_count": os.cpu_count(),
          "load_average_at_start": [round(x, 2) for x in load] if load
          else None}


def expected_seconds(table: Table) -> tuple[float, bool]:
  """Sum of the recorded wall times of the table's steps (each step once),
  and whether every one of them is recorded."""
  total, complete = 0.0, True
  for run, step_name in plan([table], quick=False):
    wall = RUNS[run][step_name].wall_s
    if wall is None:
      complete = False
    else:
      total += wall
  return total, complete


def duration(seconds: float) -> str:
  if seconds < 60:
    return f"{seconds:.0f} s"
  minutes = seconds / 60
  if minutes < 90:
    return f"{minutes:.0f} min"
  return f"{minutes / 60:.1f} h"


def expected_wall_time(table: Table) -> str:
  """``expected_seconds`` as BENCHMARKS.md and ``--list`` show it."""
  seconds, complete = expected_seconds(table)
  return (("" if complete else "≥ ") + duration(seconds)) if seconds else (
      "not recorded")


def list_tables() -> str:
  lines = []
  for table in TABLES:
    wall = expected_wall_time(table)
    steps = len(plan([table], quick=False))
    lines.append(f"{table.name:15s} {wall:>12s} {steps:3d}  {table.title}")
  return ("table           wall time¹ commands\n"
          + "\n".join(lines) + "\n¹ on a 2-core CPU: the sum of the wall "
          "times BENCHMARKS.md records for the table's commands (≥: some "
          "are not recorded)")


# --- the command ----------------------------------------------------------

def reproduce(names, out: str, quick: bool = False, torch_python: str = "",
              log=print) -> dict:
  """Runs the tables ``names`` into ``out``; returns each table's report."""
  tables = [TABLES_BY_NAME[n] for n in names]
  os.makedirs(out, exist_ok=True)
  context = {"commit": commit(), "versions": versions(),
             "hardware": hardware(), "started": _now(), "quick": quick,
             "out": os.path.abspath(out)}
  steps, failed, errors = {}, set(), []
  todo = plan(tables, quick)
  log(f"{len(todo)} commands for {', '.join(names)} in {out}"
      + (" (quick)" if quick else ""))
  # --quick's commands are seconds long: fork them from one Python that
  # imported the libraries once. Full runs start a new Python each.
  zygote = Zygote() if quick else None
  try:
    for key in todo:
      if any(dep in failed for dep in dependencies(*key, quick)):
        failed.add(key)
        errors.append(f"{key[0]}/{key[1]}: not run, a command it needs "
                      "failed")
        continue
      try:
        steps[key] = run_step(*key, out, quick, torch_python, log, zygote)
      except StepFailed as e:
        failed.add(key)
        errors.append(str(e))
        log(f"    FAILED: {e}")
  finally:
    if zygote is not None:
      zygote.close()
  reports = {}
  for table in tables:
    evaluated = evaluate(table, out, quick, torch_python, failed=failed)
    table_steps = [steps[k] for k in plan([table], quick) if k in steps]
    report = dict(context, table=table.name, title=table.title, **evaluated,
                  steps=table_steps,
                  seconds=round(sum(s["seconds"] or 0 for s in table_steps
                                    if not s["skipped"]), 1))
    report["markdown"] = markdown(table, evaluated)
    statuses = [c.get("status") for r in evaluated["rows"]
                for c in r["cells"]] + [f.get("status")
                                        for f in evaluated["facts"]]
    report["counts"] = {s: statuses.count(s) for s in sorted(
        set(filter(None, statuses)))}
    with open(os.path.join(out, f"{table.name}.json"), "w") as f:
      json.dump(report, f, indent=2, default=_jsonable)
    with open(os.path.join(out, f"{table.name}.md"), "w") as f:
      f.write(f"## {table.title}\n\n{report['markdown']}\n")
    log(f"\n## {table.title}\n\n{report['markdown']}\n")
    log(f"`python -m aejax.reproduce {table.name}"
        + (" --quick" if quick else "") + f"` at {context['commit']}; "
        f"jax {context['versions']['jax']}, jaxlib "
        f"{context['versions']['jaxlib']}, flax {context['versions']['flax']}"
        f"; {context['hardware']['cpu']} ({context['hardware']['cpu_count']}"
        f" CPUs); commands run now: {report['seconds']} s")
    lines = [l for l in comparison_lines(table, evaluated)
             if not quick or l.startswith("  ?")]
    if lines:
      log("\n".join(lines))
    counts = ", ".join(f"{n} {s}" for s, n in report["counts"].items())
    log(f"{table.name}: {counts}")
    reports[table.name] = report
  if errors:
    log("\nFailed:\n" + "\n".join(errors))
  return {"tables": reports, "errors": errors}


def _jsonable(value):
  if isinstance(value, float) and not math.isfinite(value):
    return str(value)
  raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(
      description=__doc__.split("\n\n")[0].splitlines()[0],
      epilog="tables: " + ", ".join(t.name for t in TABLES))
  parser.add_argument("tables", nargs="*",
                      help="table names, or 'all' (see --list)")
  parser.add_argument("--list", action="store_true",
                      help="list the tables with their expected wall time")
  parser.add_argument("--quick", action="store_true",
                      help="tiny settings: check the commands, not the "
                      "numbers")
  parser.add_argument("--out", default=None,
                      help="where the runs go (default runs/reproduce, or "
                      "runs/reproduce_quick with --quick)")
  parser.add_argument("--torch_python", default="",
                      help="a Python with torch, for the throughput table's "
                      "PyTorch columns (aejax.bench --torch_python)")
  parser.add_argument("--recorded", action="store_true",
                      help="print the recorded tables; run nothing")
  parser.add_argument("--commands", action="store_true",
                      help="print the commands the tables run; run nothing")
  args = parser.parse_args(argv)
  if args.list:
    print(list_tables())
    return 0
  names = [t.name for t in TABLES] if args.tables == ["all"] else args.tables
  unknown = [n for n in names if n not in TABLES_BY_NAME]
  if unknown or not names:
    parser.error(f"unknown table(s) {unknown}; choose from "
                 f"{[t.name for t in TABLES]} or 'all'" if unknown else
                 "name a table (or 'all'); --list lists them")
  out = args.out or os.path.join("runs", "reproduce_quick" if args.quick
                                 else "reproduce")
  if args.recorded:
    for name in names:
      table = TABLES_BY_NAME[name]
      print(f"## {table.title}\n\n"
            + markdown(table, evaluate(table, out, False,
                                       recorded_only=True)) + "\n")
    return 0
  if args.commands:
    for name in names:
      print(f"# {name}")
      for run, step_name in plan([TABLES_BY_NAME[name]], args.quick):
        print("python " + " ".join(command(run, step_name, out, args.quick,
                                           args.torch_python, display=True)))
    return 0
  try:
    result = reproduce(names, out, args.quick, args.torch_python)
  except KeyboardInterrupt:
    print("\nStopped: run the same command again to continue.",
          file=sys.stderr)
    return 130
  unreadable = [t for t, r in result["tables"].items()
                if r["counts"].get("unreadable")]
  if unreadable:
    print(f"Numbers that could not be read: {', '.join(unreadable)}",
          file=sys.stderr)
  return 1 if result["errors"] or unreadable else 0


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  sys.exit(main())
