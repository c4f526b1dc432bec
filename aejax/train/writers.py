"""Metric writers: JSON lines (always) and TensorBoard event files.

A writer has ``write(step, split, metrics)``, ``truncate_after(step)`` (drop
what a killed run logged after its last checkpoint) and ``close()``; it may
have ``rewind(step, rows_at_step)``, the exact form a resumed run uses (the
checkpoint says how many rows its step had). Only process 0 writes
(:func:`default_writers` gives the other processes none).

After any number of kills and Ctrl-Cs and a final successful run,
``metrics.jsonl`` equals an unbroken run's row for row, except the
wall-clock fields :data:`WALL_CLOCK_FIELDS` (``steps_per_s`` of ``train``
rows, ``seconds`` of ``epoch`` rows).

TensorBoard: with ``tensorboardX`` installed (it needs no TensorFlow) and
``config.tensorboard`` on (the default), every row is also an event in the
work directory, tagged ``<split>/<metric>``, so ``tensorboard --logdir
runs/`` shows every run beside the others.
"""

from __future__ import annotations

import importlib.util
import json
import os

import jax
from absl import logging

METRICS_FILE = "metrics.jsonl"
# Fields that measure time, not the run: they differ between two runs of the
# same command, interrupted or not.
WALL_CLOCK_FIELDS = frozenset({"steps_per_s", "seconds"})


class JsonlWriter:
  """Appends JSON lines ``{"step", "split", metrics...}`` to a file."""

  def __init__(self, workdir: str, name: str = METRICS_FILE):
    self.path = os.path.join(workdir, name)

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after ``step`` (work a killed run did not save)."""
    self.rewind(step, None)

  def rewind(self, step: int, rows_at_step: int | None) -> None:
    """Keeps the rows before ``step`` and the first ``rows_at_step`` rows at
    it (``None``: all): what was written when checkpoint ``step`` was
    saved. A torn last line (a kill mid-write) goes too."""
    if not os.path.exists(self.path):
      return
    kept, at_step = [], 0
    for row in read_rows(self.path):
      if row["step"] == step:
        at_step += 1
      if row["step"] < step or (row["step"] == step and (
          rows_at_step is None or at_step <= rows_at_step)):
        kept.append(row)
    tmp = self.path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in kept)
    os.replace(tmp, self.path)

  def write(self, step: int, split: str, metrics: dict) -> None:
    row = {"step": int(step), "split": split}
    row.update({k: float(v) for k, v in metrics.items()})
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


def read_rows(path: str):
  """The rows of a JSON-lines file; a line that does not parse (the torn
  end of a killed write) and anything after it are dropped."""
  with open(path) as f:
    for line in f:
      try:
        yield json.loads(line)
      except json.JSONDecodeError:
        logging.warning("%s: dropping a torn line and what follows it.",
                        path)
        return


class TensorBoardWriter:
  """Scalars as TensorBoard events (tensorboardX), ``<split>/<metric>``.

  A resumed run opens a new event file; TensorBoard shows the latest value
  written for a step, so the steps a killed run logged after its last
  checkpoint are drawn over by the resumed run's.
  """

  def __init__(self, workdir: str):
    from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
    self._writer = SummaryWriter(logdir=workdir, flush_secs=30)

  def truncate_after(self, step: int) -> None:
    del step

  def write(self, step: int, split: str, metrics: dict) -> None:
    for name, value in metrics.items():
      self._writer.add_scalar(f"{split}/{name}", float(value), int(step))

  def close(self) -> None:
    self._writer.close()


def tensorboard_available() -> bool:
  return importlib.util.find_spec("tensorboardX") is not None


def default_writers(workdir: str, tensorboard: bool = True,
                    also=()) -> list:
  """The writers of a run in ``workdir``: none outside process 0; else
  ``metrics.jsonl``, TensorBoard events when asked for and installed, and
  ``also``."""
  if jax.process_index() != 0:
    return []
  os.makedirs(workdir, exist_ok=True)
  writers = [JsonlWriter(workdir), *also]
  if tensorboard:
    if tensorboard_available():
      writers.append(TensorBoardWriter(workdir))
    else:
      logging.info("tensorboardX is not installed: no TensorBoard events "
                   "(pip install tensorboardX).")
  return writers
