"""Metric writers: JSON lines (always) and TensorBoard event files.

A writer has ``write(step, split, metrics)``, ``truncate_after(step)`` (drop
what a killed run logged after its last checkpoint) and ``close()``. Only
process 0 writes (:func:`default_writers` gives the other processes none).

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

from aejax.plotting import read_metrics

METRICS_FILE = "metrics.jsonl"


class JsonlWriter:
  """Appends JSON lines ``{"step", "split", metrics...}`` to a file."""

  def __init__(self, workdir: str, name: str = METRICS_FILE):
    self.path = os.path.join(workdir, name)

  def truncate_after(self, step: int) -> None:
    """Drops rows logged after ``step`` (work a killed run did not save)."""
    if not os.path.exists(self.path):
      return
    rows = [r for r in read_metrics(self.path) if r["step"] <= step]
    with open(self.path, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)

  def write(self, step: int, split: str, metrics: dict) -> None:
    row = {"step": int(step), "split": split}
    row.update({k: float(v) for k, v in metrics.items()})
    with open(self.path, "a") as f:
      f.write(json.dumps(row) + "\n")

  def close(self) -> None:
    pass


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
