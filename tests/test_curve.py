"""python -m aejax.eval.curve: test error against training time from the
checkpoints a run kept."""

import json
import os

import pytest
from conftest import tiny_config

from aejax.eval import curve
from aejax.train.loop import train_and_evaluate


def test_seconds_add_up_epochs_and_prorate_a_checkpoint_inside_one():
  rows = [{"step": 10, "split": "epoch", "seconds": 4.0, "steps": 10},
          {"step": 10, "split": "validation", "loss": 1.0},
          {"step": 20, "split": "epoch", "seconds": 6.0, "steps": 10}]
  pretrain = [{"layer": 0, "step": 10, "split": "epoch", "seconds": 1.5,
               "steps": 10}]
  seconds = curve.training_seconds(rows, pretrain)
  assert seconds(10) == 5.5
  assert seconds(15) == pytest.approx(5.5 + 3.0)
  assert seconds(20) == 11.5
  assert seconds(25) is None   # past the last epoch record: unknown
  assert curve.training_seconds(rows, [])(20) == 10.0


def test_the_last_point_is_the_runs_test_number(tmp_path):
  workdir = str(tmp_path / "run")
  # digits: 81 steps of 16 an epoch; a checkpoint every 30 and at the end.
  config = tiny_config(max_steps=-1, num_epochs=2, keep_checkpoints=0,
                       checkpoint_every_steps=30, log_every_steps=30)
  results = train_and_evaluate(config, workdir)
  result = curve.main([f"--workdir={workdir}"])
  points = result["points"]
  assert [p["step"] for p in points] == [30, 60, 90, 120, 150, 162]
  assert points[-1]["test"] == results["test"]["sq_err_per_image"]
  assert points[0]["test"] > points[-1]["test"]   # it trained
  times = [p["seconds"] for p in points]
  assert times == sorted(times) and times[0] > 0
  assert points[-1]["validation"] == results["validation"]["sq_err_per_image"]
  with open(os.path.join(workdir, curve.RESULT_FILE)) as f:
    assert json.load(f)["points"] == points
  assert os.path.exists(os.path.join(workdir, curve.FIGURE_FILE))
  with pytest.raises(ValueError, match="--metric=psnr_db: the run's "):
    curve.test_curve(workdir, "psnr_db")


def test_a_directory_without_a_run_or_checkpoints_is_one_clear_error(
    tmp_path):
  with pytest.raises(FileNotFoundError, match="not a work directory"):
    curve.test_curve(str(tmp_path))
  assert not os.listdir(tmp_path)   # and nothing was written there
  (tmp_path / "run.json").write_text("{}")
  with pytest.raises(FileNotFoundError, match="holds no checkpoint"):
    curve.test_curve(str(tmp_path))
