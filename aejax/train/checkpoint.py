"""Orbax checkpoints of the full training state and the data position.

Each checkpoint holds two items: ``state`` (the :class:`TrainState` pytree)
and ``data`` (JSON: step, epoch, index in epoch, batch size, seeds). Orbax
writes each step into a temporary directory and renames it when complete, so
a run killed mid-write leaves the previous checkpoint intact; the last
``keep`` checkpoints are kept. Saving is asynchronous: the training loop goes
on while the arrays are written.
"""

from __future__ import annotations

import os

import jax
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint exists but cannot be used to resume."""


class Checkpointer:
  """Saves and restores ``(state, data_position)`` under ``workdir/checkpoints``.

  Args:
    workdir: the run's work directory.
    keep: how many of the latest checkpoints to keep.
    asynchronous: write in a background thread.
  """

  def __init__(self, workdir: str, keep: int = 3, asynchronous: bool = True):
    self.directory = os.path.join(os.path.abspath(workdir), "checkpoints")
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True,
        enable_async_checkpointing=asynchronous)
    self._manager = ocp.CheckpointManager(
        self.directory, options=options, item_names=("state", "data"))

  def latest_step(self) -> int | None:
    return self._manager.latest_step()

  def save(self, step: int, state, data_position: dict) -> None:
    self._manager.save(step, args=ocp.args.Composite(
        state=ocp.args.StandardSave(state),
        data=ocp.args.JsonSave(data_position)))

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
      restored = self._manager.restore(step, args=ocp.args.Composite(
          state=ocp.args.StandardRestore(abstract_state),
          data=ocp.args.JsonRestore()))
    except Exception as e:  # Orbax raises many kinds; we add the remedy.
      raise CheckpointError(
          f"Could not restore checkpoint {step} from {self.directory}: "
          f"{type(e).__name__}: {e}\nIt was written by a different model or "
          "config, or it is damaged. Use a new --workdir, or delete that "
          "checkpoint directory to resume from an earlier one.") from e
    return restored.state, restored.data

  def wait(self) -> None:
    """Blocks until any asynchronous save has finished."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()


def abstract_like(state, sharding) -> object:
  """ShapeDtypeStructs of ``state`` placed with ``sharding``."""
  return jax.tree_util.tree_map(
      lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=sharding),
      state)
