"""A work directory belongs to one run: its lock and its saved settings.

* :class:`WorkdirLock`: one process at a time trains in a work directory.
  The lock is ``flock`` on ``workdir/.lock``: the kernel releases it when the
  process exits, however it exits (a SIGKILL too), so a lock is never
  stale; the file names the holder for the message the next process gets.
* :func:`check_same_run`: a work directory that holds a run (its
  ``run.json`` and a checkpoint) resumes only with the same settings, apart
  from the ones that do not change what is computed
  (:data:`RESUMABLE_CHANGES`: how long to train, logging, devices, ...).
* :func:`write_json`: the run's files are replaced whole (write, then
  rename), never left half-written.
"""

from __future__ import annotations

import datetime
import fcntl
import glob
import json
import os
import shutil
import socket
import sys

LOCK_FILE = ".lock"

# Settings a resumed run may change: they say how long to train and how to
# log, check, checkpoint, show or place the run, not what a step computes.
RESUMABLE_CHANGES = frozenset({
    "num_epochs", "max_steps", "num_devices", "eval_batch_size",
    "log_every_steps", "checkpoint_every_steps", "keep_checkpoints",
    "max_nonfinite_steps", "divergence_factor", "divergence_windows",
    "num_figure_images", "progress_bar", "tensorboard", "data.source",
    "data.idx_dir", "data.tfds_data_dir", "data.download"})


class WorkdirBusyError(RuntimeError):
  """Another process is training in this work directory."""


class RunMismatchError(RuntimeError):
  """The work directory holds a run with other settings."""


_HELD: dict[str, int] = {}  # realpath -> depth, locks this process holds


class WorkdirLock:
  """Holds ``workdir`` for this process (creating it), re-entrant.

  On an exception, a directory this lock created that holds nothing but the
  lock file is removed again: a command that fails before writing anything
  leaves nothing behind.
  """

  def __init__(self, workdir: str):
    self.workdir = os.path.abspath(workdir)
    self.path = os.path.join(self.workdir, LOCK_FILE)
    self._fd, self._created = None, False

  def __enter__(self):
    key = os.path.realpath(self.workdir)
    if _HELD.get(key):
      _HELD[key] += 1
      return self
    self._created = not os.path.isdir(self.workdir)
    os.makedirs(self.workdir, exist_ok=True)
    fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = _read_holder(fd)
      os.close(fd)
      raise WorkdirBusyError(
          f"Work directory {self.workdir} is in use by {holder}: wait for "
          "it to finish, or use another --workdir.") from None
    os.ftruncate(fd, 0)
    os.write(fd, json.dumps({
        "pid": os.getpid(), "host": socket.gethostname(),
        "since": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": " ".join(sys.argv)[:300]}).encode())
    self._fd = fd
    _HELD[os.path.realpath(self.workdir)] = 1
    return self

  def __exit__(self, exc_type, exc, tb):
    key = os.path.realpath(self.workdir)
    _HELD[key] -= 1
    if _HELD[key] or self._fd is None:
      return
    del _HELD[key]
    fcntl.flock(self._fd, fcntl.LOCK_UN)
    os.close(self._fd)
    self._fd = None
    if exc_type is not None and self._created and set(
        os.listdir(self.workdir)) <= {LOCK_FILE}:
      shutil.rmtree(self.workdir, ignore_errors=True)


def _read_holder(fd: int) -> str:
  try:
    info = json.loads(os.pread(fd, 4096, 0).decode() or "{}")
  except (OSError, ValueError):
    info = {}
  if not info:
    return "another process"
  return (f"process {info.get('pid')} on {info.get('host')} (since "
          f"{info.get('since')}: {info.get('command')})")


def write_json(path: str, obj, **kwargs) -> None:
  """Writes ``obj`` as JSON to ``path`` whole: a temporary file, then a
  rename over ``path``."""
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(obj, f, **kwargs)
  os.replace(tmp, path)


def _flat(tree, prefix=""):
  out = {}
  for key, value in tree.items():
    if isinstance(value, dict):
      out.update(_flat(value, f"{prefix}{key}."))
    else:
      out[prefix + key] = value
  return out


def _show(value) -> str:
  return repr(tuple(value)) if isinstance(value, list) else repr(value)


def has_checkpoints(workdir: str) -> bool:
  """Whether ``workdir`` holds training progress (a checkpoint of the run or
  of a pre-training stage)."""
  for pattern in ("checkpoints/*", "pretrain/stage_*/checkpoints/*"):
    if any(os.path.basename(p).isdigit()
           for p in glob.glob(os.path.join(workdir, pattern))):
      return True
  return False


def check_same_run(workdir: str, saved_config: dict, config: dict,
                   defaults: dict) -> None:
  """Refuses to resume a run with other settings.

  Args:
    workdir: the work directory (for the message).
    saved_config: the config in its ``run.json`` (JSON).
    config: the config asked for now (JSON).
    defaults: the base config (JSON): a field the saved run predates
      matches when it holds its default.

  Raises:
    RunMismatchError: naming each changed setting, its saved value and the
      one asked for.
  """
  saved, asked, default = _flat(saved_config), _flat(config), _flat(defaults)
  changed = []
  for path in sorted(set(saved) | set(asked)):
    if path in RESUMABLE_CHANGES or path not in asked:
      continue
    before = saved.get(path, default.get(path))
    if path not in saved and path not in default:
      continue
    if before != asked[path]:
      changed.append(f"{path}={_show(before)}, you asked for "
                     f"{_show(asked[path])}")
  if changed:
    raise RunMismatchError(
        f"This work directory ({workdir}) holds a run with "
        + "; ".join(changed) + ": use a new --workdir (or the same "
        "settings, to resume that run).")
