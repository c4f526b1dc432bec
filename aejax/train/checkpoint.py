"""Orbax checkpoints of the full training state and the data position.

Each checkpoint holds three items: ``state`` (the :class:`TrainState`
pytree), ``data`` (JSON: step, epoch, index in epoch, batch size, seeds, rows
written at the step) and ``hooks`` (JSON: what the loop's hooks need to
continue their records exactly, wall-clock seconds among them; absent from
older checkpoints). Orbax writes each
step into a temporary directory and renames it when complete, so a run
killed mid-write leaves the previous checkpoint intact (the temporary
directory is removed when the next run starts). Saving is asynchronous: the
training loop goes on while the arrays are written.

What is never lost:

* ``keep`` newest checkpoints are kept (``0``: all); an older one is deleted
  only after a newer one is known to be complete, so the latest good
  checkpoint always survives a failed save.
* A save that fails (a full disk, no permission) raises
  :class:`CheckpointSaveError` as soon as the loop sees it (the next step),
  naming the directory and its free space.
* A damaged or partial latest checkpoint is moved to
  ``workdir/damaged_checkpoints/<step>`` and the newest intact one is
  restored (:meth:`Checkpointer.restore_intact`), with a warning.

Many processes (:mod:`aejax.train.distributed`): every process makes the
same calls, in the same order (Orbax's barriers pair them); Orbax writes the
replicated state and the JSON items from process 0 to the shared work
directory. A finished asynchronous save is then confirmed at the next save
or at the end, not as soon as one process sees it (each process would see
it at another step); process 0 moves damaged checkpoints aside.
"""

from __future__ import annotations

import errno
import os
import shutil
import time

import jax
import orbax.checkpoint as ocp
from absl import logging

DAMAGED_DIR = "damaged_checkpoints"


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be used to resume."""


class CheckpointSaveError(CheckpointError):
  """A checkpoint could not be written; training stopped."""


def _first_line(e: BaseException) -> str:
  text = str(e).strip().splitlines()
  line = text[0].split(" See full TensorStore details")[0] if text else ""
  line = line if len(line) <= 200 else line[:200] + " ..."
  return f"{type(e).__name__}: {line}" if line else type(e).__name__


def _cause(e: BaseException) -> str:
  """A write error in a few words (TensorStore's run to pages)."""
  text = str(e)
  for code, words in ((errno.ENOSPC, "No space left on device"),
                      (errno.EACCES, "Permission denied"),
                      (errno.EROFS, "Read-only file system"),
                      (errno.EDQUOT, "Disk quota exceeded")):
    if getattr(e, "errno", None) == code or words in text:
      return f"{type(e).__name__}: [Errno {code}] {words}"
  return _first_line(e)


def free_space(path: str) -> str:
  """``"1.2 MiB free"`` on the file system of ``path`` (or its parent)."""
  while path and not os.path.exists(path):
    path = os.path.dirname(path)
  try:
    free = shutil.disk_usage(path or ".").free
  except OSError:
    return "free space unknown"
  for unit in ("bytes", "KiB", "MiB", "GiB"):
    if free < 1024 or unit == "GiB":
      return (f"{free} bytes free" if unit == "bytes" else
              f"{free:.1f} {unit} free")
    free /= 1024
  return ""


class Checkpointer:
  """Saves and restores ``(state, data_position)`` under ``workdir/checkpoints``.

  Args:
    workdir: the run's work directory.
    keep: how many of the latest checkpoints to keep (``0``: all).
    asynchronous: write in a background thread.
    cleanup: remove the temporary directories of unfinished saves (only
      for the one process that trains in ``workdir``: another process's
      save in progress is one of those).
  """

  def __init__(self, workdir: str, keep: int = 3, asynchronous: bool = True,
               cleanup: bool = False):
    if keep < 0:
      raise ValueError(f"keep={keep}: keep the newest keep >= 1 checkpoints, "
                       "or 0 to keep them all.")
    self.workdir = os.path.abspath(workdir)
    self.directory = os.path.join(self.workdir, "checkpoints")
    self.keep = keep
    self._asynchronous, self._cleanup = asynchronous, cleanup
    self._pending = None  # the step of a save not yet known to be complete
    self._manager = self._open()

  def _open(self):
    # Retention is ours (_prune), not Orbax's: Orbax deletes the old steps
    # even when the new one failed to finalize.
    options = ocp.CheckpointManagerOptions(
        max_to_keep=None, create=True, cleanup_tmp_directories=self._cleanup,
        enable_async_checkpointing=self._asynchronous)
    return ocp.CheckpointManager(self.directory, options=options,
                                 item_names=("state", "data", "hooks"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def all_steps(self) -> list[int]:
    return sorted(self._manager.all_steps())

  def _save_failed(self, step: int, e: BaseException) -> CheckpointSaveError:
    return CheckpointSaveError(
        f"Could not write checkpoint {step} to {self.directory} "
        f"({_cause(e)}; {free_space(self.directory)} there). Training "
        f"stopped; the last good checkpoint is "
        f"{self._last_good(step)}. Free space (or fix the permissions) and "
        "run the same command to resume.")

  def _last_good(self, failed: int) -> str:
    steps = [s for s in self.all_steps() if s != failed and os.path.isdir(
        os.path.join(self.directory, str(s)))]
    return f"step {steps[-1]}" if steps else "none (nothing was saved)"

  def save(self, step: int, state, data_position: dict,
           hooks: dict | None = None) -> None:
    """Starts writing checkpoint ``step`` (waits for the previous one).

    Raises:
      CheckpointSaveError: this save or the previous one failed.
    """
    self.wait()
    items = {"state": ocp.args.StandardSave(state),
             "data": ocp.args.JsonSave(data_position)}
    if hooks is not None:
      items["hooks"] = ocp.args.JsonSave(hooks)
    try:
      self._manager.save(step, args=ocp.args.Composite(**items))
    except Exception as e:  # Orbax raises many kinds (OSError, ValueError)
      raise self._save_failed(step, e) from None
    self._pending = step
    if not self._asynchronous:
      self._confirm()

  def poll(self) -> None:
    """Cheap check between steps: confirms a finished asynchronous save
    (then prunes old checkpoints) or raises its failure.

    Raises:
      CheckpointSaveError: the last save failed.
    """
    if jax.process_count() > 1:
      return  # at the next save, in step with the other processes
    if self._pending is not None and not self._manager.is_saving_in_progress():
      self._confirm()

  def _confirm(self) -> None:
    step, self._pending = self._pending, None
    try:
      self._manager.wait_until_finished()
      self._manager.check_for_errors()
    except Exception as e:
      raise self._save_failed(step, e) from None
    if not os.path.isdir(os.path.join(self.directory, str(step))):
      # Orbax logged the failure in its thread and did not rename the
      # temporary directory.
      self._manager.reload()
      raise self._save_failed(step, OSError(
          "the checkpoint was not completed"))
    self._prune()

  def _prune(self) -> None:
    if self.keep:
      for step in self.all_steps()[:-self.keep]:
        self._manager.delete(step)

  def restore(self, abstract_state=None, step: int | None = None):
    """Restores ``(state, data_position)``; ``step`` defaults to the latest.

    Args:
      abstract_state: a pytree of ``jax.ShapeDtypeStruct`` (with shardings)
        that says the structure, shapes and placement to restore into;
        ``None`` restores the saved tree as nested dicts of arrays.
      step: which checkpoint.
    """
    step = self.latest_step() if step is None else step
    if step is None:
      raise CheckpointError(f"No checkpoint in {self.directory}.")
    try:
      return self._restore(abstract_state, step)
    except Exception as e:  # Orbax raises many kinds; we add the remedy.
      raise CheckpointError(
          f"Could not restore checkpoint {step} from {self.directory} "
          f"({_first_line(e)}): it was written by a different model or "
          "config, or it is damaged. Use a new --workdir, or move that "
          "checkpoint directory away to resume from an earlier one."
      ) from None

  def _restore(self, abstract_state, step: int):
    restored = self._manager.restore(step, args=ocp.args.Composite(
        state=ocp.args.StandardRestore(abstract_state),
        data=ocp.args.JsonRestore()))
    if not isinstance(restored.data, dict):
      raise ValueError(f"its data item is {type(restored.data).__name__}, "
                       "not a JSON object")
    return restored.state, restored.data

  def _hooks(self, step: int) -> dict:
    if not os.path.isdir(os.path.join(self.directory, str(step), "hooks")):
      return {}  # an older checkpoint
    return self._manager.restore(step, args=ocp.args.Composite(
        hooks=ocp.args.JsonRestore())).hooks

  def restore_intact(self, abstract_state):
    """Restores the newest checkpoint that can be read.

    Newer checkpoints that cannot be read while an older one can are
    damaged (a run killed as it wrote, a disk error, a truncated file): each
    is moved to ``workdir/damaged_checkpoints/<step>`` with a warning, so
    that the run continues from the older one and saves over those steps
    again. If none can be read (another model's checkpoints, say), nothing
    is moved and the newest one's error is raised.

    Returns:
      ``(state, data_position, hook_records, step)``, or ``None`` without
      checkpoints.
    """
    steps = self.all_steps()
    failures = []
    for step in reversed(steps):
      try:
        state, data = self._restore(abstract_state, step)
        hooks = self._hooks(step)
      except Exception as e:  # pylint: disable=broad-exception-caught
        failures.append((step, e))
        continue
      for bad, e in failures:
        moved = self._move_aside(bad)
        if jax.process_count() > 1:
          from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
          multihost_utils.sync_global_devices(f"aejax: moved {bad} aside")
        logging.warning(
            "Checkpoint %d in %s is damaged (%s): moved to %s; resuming from "
            "checkpoint %d, the newest intact one.", bad, self.directory,
            _first_line(e), moved, step)
      if failures:
        self._manager = self._reopen()
      return state, data, hooks, step
    if failures:
      step, e = failures[0]
      raise CheckpointError(
          f"Could not restore checkpoint {step} from {self.directory} "
          f"({_first_line(e)}), nor any of the {len(steps) - 1} older ones: "
          "they were written by a different model or config. Use a new "
          "--workdir.")
    return None

  def _move_aside(self, step: int) -> str:
    target = os.path.join(self.workdir, DAMAGED_DIR, str(step))
    if jax.process_index() != 0:
      return target  # process 0 moves it
    if os.path.exists(target):
      target += time.strftime(".%Y%m%d-%H%M%S")
    os.makedirs(os.path.dirname(target), exist_ok=True)
    os.rename(os.path.join(self.directory, str(step)), target)
    return target

  def _reopen(self):
    self._manager.close()
    return self._open()

  def wait(self) -> None:
    """Blocks until any asynchronous save has finished.

    Raises:
      CheckpointSaveError: it failed.
    """
    if self._pending is not None:
      self._confirm()

  def close(self) -> None:
    try:
      self.wait()
    finally:
      try:
        self._manager.close()
      except Exception as e:  # pylint: disable=broad-exception-caught
        # A failed save, already raised as CheckpointSaveError.
        logging.warning("Closing the checkpoints in %s: %s", self.directory,
                        _first_line(e))


def abstract_like(state, sharding) -> object:
  """ShapeDtypeStructs of ``state`` placed with ``sharding``."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      state)
