"""A run never loses work (issue 16): kills and Ctrl-Cs leave exact records,
a work directory holds one run, checkpoint faults and config mistakes end
in one clear message, finite divergence is stopped."""

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import sys

import jax
import numpy as np
import pytest
from conftest import final_state, tiny_config

from aejax.config import ConfigError, load_experiment
from aejax.train.checkpoint import CheckpointError, CheckpointSaveError
from aejax.train.hooks import DivergenceError
from aejax.train.loop import load_run, train_and_evaluate
from aejax.train.workdir import (LOCK_FILE, RunMismatchError, WorkdirBusyError,
                                 WorkdirLock)
from aejax.train.writers import WALL_CLOCK_FIELDS

TESTS = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(TESTS)
FAULTS_CONFIG = os.path.join(TESTS, "faults_config.py")


def _rows(workdir):
  with open(os.path.join(workdir, "metrics.jsonl")) as f:
    return [json.loads(line) for line in f]


def _without_wall_clock(rows):
  return [{k: v for k, v in r.items() if k not in WALL_CLOCK_FIELDS}
          for r in rows]


def _assert_trees_equal(a, b):
  flat_a, tree_a = jax.tree_util.tree_flatten(a)
  flat_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b):
    np.testing.assert_array_equal(x, y)


def _main(workdir, *flags, fault=None, timeout=300):
  """``python -m aejax.main`` on tests/faults_config.py (or ``flags``)."""
  env = dict(os.environ, JAX_PLATFORMS="cpu")
  env.pop("AEJAX_TEST_FAULT", None)
  if fault:
    env["AEJAX_TEST_FAULT"] = fault
  cache = jax.config.jax_compilation_cache_dir or ""
  command = [sys.executable, "-m", "aejax.main", f"--workdir={workdir}",
             f"--compilation_cache={cache}"]
  if not any(f.startswith("--config=") for f in flags):
    command.append(f"--config={FAULTS_CONFIG}")
  return subprocess.run(command + list(flags), cwd=ROOT, env=env,
                        capture_output=True, text=True, timeout=timeout)


# 2. Exact records across interruptions (the killer test).


@pytest.mark.long
def test_kills_and_ctrl_cs_leave_the_unbroken_run_bit_for_bit(tmp_path,
                                                             caplog):
  """SIGKILL and SIGINT a real `python -m aejax.main` at random steps: in the
  metrics pull (before the first checkpoint, and later), while a checkpoint
  is written, after the test row. Parameters and metrics.jsonl (but for
  wall-clock fields) then equal an unbroken run's; results.json sums the
  contributing processes' seconds; running it again does nothing and says
  so. AEJAX_KILLER_SEED=<n> repeats a draw."""
  seed = int(os.environ.get("AEJAX_KILLER_SEED", random.randrange(10**6)))
  rng = random.Random(seed)
  # 30 steps; train rows every 3 steps, checkpoints every 4, an epoch = 20.
  pull = rng.choice([6, 9])                   # a train row between saves
  save = rng.choice([s for s in (12, 16) if s > pull])
  save_int = rng.choice([20, 24])             # 20: the epoch's end too
  faults = ["KILL:pull:3",  # before the first checkpoint
            f"INT:pull:{pull}", f"KILL:save:{save}", f"INT:save:{save_int}",
            "KILL:test:0"]
  broken = str(tmp_path / "broken")
  for fault in faults:
    result = _main(broken, fault=fault)
    expected = -signal.SIGKILL if fault.startswith("KILL") else 130
    assert result.returncode == expected, (seed, fault, result.stderr[-3000:])
    if expected == 130:
      assert result.stderr.endswith(
          "Stopped (SIGINT): run the same command to resume.\n")
  result = _main(broken)
  assert result.returncode == 0, (seed, result.stderr[-3000:])

  unbroken = str(tmp_path / "unbroken")
  expected = train_and_evaluate(load_experiment(FAULTS_CONFIG), unbroken)
  state, position = final_state(broken)
  unbroken_state, unbroken_position = final_state(unbroken)
  assert int(state["step"]) == 30 and position["step"] == 30
  _assert_trees_equal(state, unbroken_state)
  assert _without_wall_clock(_rows(broken)) == _without_wall_clock(
      _rows(unbroken)), f"seed {seed}: {faults}"
  with open(os.path.join(broken, "results.json")) as f:
    results = json.load(f)
  assert results["test"] == expected["test"]
  # The last process only evaluated: the seconds are the earlier ones'.
  assert results["processes"] >= 2
  assert results["train_seconds"] > 2 * results["train_seconds_this_process"]

  # A finished run, run again: nothing to do (it says so), nothing written.
  before = open(os.path.join(broken, "metrics.jsonl")).read()
  again = train_and_evaluate(load_experiment(FAULTS_CONFIG), broken)
  assert again == results
  assert "finished at step 30: nothing to do" in caplog.text
  assert open(os.path.join(broken, "metrics.jsonl")).read() == before


def test_a_resumed_train_row_averages_the_whole_window(tmp_path):
  """Ctrl-C between two train rows: the resumed run's row averages the
  same steps as the unbroken run's (the checkpoint keeps the window)."""
  from aejax.train import hooks  # pylint: disable=g-import-not-at-top
  unbroken, broken = str(tmp_path / "unbroken"), str(tmp_path / "broken")
  config = tiny_config(max_steps=6, log_every_steps=3,
                       checkpoint_every_steps=6)
  train_and_evaluate(config, unbroken)
  after_step = hooks.TrainLog.after_step

  def interrupt_at_2(self, loop, metrics):
    after_step(self, loop, metrics)
    if loop.step == 2:
      os.kill(os.getpid(), signal.SIGINT)  # in the middle of the window

  hooks.TrainLog.after_step = interrupt_at_2
  try:
    with pytest.raises(KeyboardInterrupt):
      train_and_evaluate(config, broken)
  finally:
    hooks.TrainLog.after_step = after_step
  assert final_state(broken)[1]["step"] == 2
  train_and_evaluate(config, broken)
  assert _without_wall_clock(_rows(broken)) == _without_wall_clock(
      _rows(unbroken))


# 1. Nothing the user trained is deleted or overwritten.


def test_keep_checkpoints_zero_keeps_them_all(tmp_path):
  settings = dict(max_steps=6, checkpoint_every_steps=2)
  train_and_evaluate(tiny_config(keep_checkpoints=0, **settings),
                     str(tmp_path / "all"))
  assert sorted(os.listdir(tmp_path / "all" / "checkpoints"),
                key=int) == ["2", "4", "6"]
  train_and_evaluate(tiny_config(keep_checkpoints=1, **settings),
                     str(tmp_path / "one"))
  assert os.listdir(tmp_path / "one" / "checkpoints") == ["6"]
  load_run(str(tmp_path / "one"))
  with pytest.raises(ConfigError, match="keep_checkpoints=-1: must be an "
                     r"integer >= 0 \(0: keep all\)"):
    train_and_evaluate(tiny_config(keep_checkpoints=-1, **settings),
                       str(tmp_path / "refused"))


def test_a_changed_setting_is_refused_before_anything_is_written(
    tmp_path, monkeypatch):
  workdir = str(tmp_path)
  train_and_evaluate(tiny_config(**{"model.hidden": (64,), "max_steps": 2}),
                     workdir)
  with open(tmp_path / "run.json") as f:
    saved = f.read()
  # Refused before any data is loaded.
  monkeypatch.setattr("aejax.train.loop.load_dataset", None)
  with pytest.raises(RunMismatchError, match=(
      r"holds a run with model.hidden=\(64,\), you asked for \(32,\): use a "
      "new --workdir")):
    train_and_evaluate(tiny_config(**{"model.hidden": (32,)}), workdir)
  with open(tmp_path / "run.json") as f:
    assert f.read() == saved
  config, _, state = load_run(workdir)
  assert tuple(config.model.hidden) == (64,) and int(state.step) == 2


# 3. One run at a time in a work directory.


def test_a_second_process_is_refused_and_a_dead_holder_releases(tmp_path):
  workdir = str(tmp_path)
  holder = subprocess.Popen(
      [sys.executable, "-c", "import sys, time; from aejax.train.workdir "
       "import WorkdirLock\nwith WorkdirLock(sys.argv[1]):\n  print('held',"
       " flush=True); time.sleep(600)", workdir],
      cwd=ROOT, stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline() == "held\n"
    with pytest.raises(WorkdirBusyError, match=(
        f"in use by process {holder.pid} on .*: wait for it to finish, or "
        "use another --workdir")):
      train_and_evaluate(tiny_config(max_steps=2), workdir)
  finally:
    holder.kill()  # a SIGKILL: the kernel drops its lock
    holder.wait()
  train_and_evaluate(tiny_config(max_steps=2), workdir)
  assert [r["split"] for r in _rows(workdir)].count("test") == 1
  # Released on an error too.
  with pytest.raises(RunMismatchError):
    train_and_evaluate(tiny_config(seed=1), workdir)
  with WorkdirLock(workdir):
    pass


def test_a_failed_command_leaves_no_empty_work_directory(tmp_path):
  workdir = tmp_path / "new"
  with pytest.raises(ValueError, match="batch_size=4096 is larger than"):
    train_and_evaluate(tiny_config(batch_size=4096), str(workdir))
  assert not workdir.exists()


# 4. Checkpoint faults.


def _largest_file(directory):
  files = [os.path.join(d, f) for d, _, fs in os.walk(directory) for f in fs]
  return max(files, key=os.path.getsize)


@pytest.mark.parametrize("damage", ["truncated", "partial"])
def test_a_damaged_latest_checkpoint_falls_back_to_an_intact_one(
    tmp_path, caplog, damage):
  workdir = str(tmp_path)
  config = tiny_config(max_steps=6, checkpoint_every_steps=2)
  train_and_evaluate(config, workdir)
  latest = tmp_path / "checkpoints" / "6"
  if damage == "truncated":
    path = _largest_file(latest / "state")
    with open(path, "r+b") as f:
      f.truncate(os.path.getsize(path) // 2)
  else:  # what a copy cut short leaves: the state's arrays are gone
    shutil.rmtree(latest / "state" / "ocdbt.process_0")
  results = train_and_evaluate(tiny_config(max_steps=8,
                                           checkpoint_every_steps=2), workdir)
  assert results["trained_steps_this_run"] == 4  # from step 4
  assert "Checkpoint 6 in" in caplog.text and "resuming from checkpoint 4" in (
      caplog.text)
  assert (tmp_path / "damaged_checkpoints" / "6").is_dir()
  assert sorted(os.listdir(tmp_path / "checkpoints"), key=int) == [
      "4", "6", "8"]
  steps = [r["step"] for r in _rows(workdir) if r["split"] == "train"]
  assert steps == [2, 4, 6, 8]


def test_checkpoints_of_another_model_are_refused_not_moved(tmp_path):
  workdir = str(tmp_path)
  train_and_evaluate(tiny_config(max_steps=2), workdir)
  os.remove(tmp_path / "run.json")  # a work directory without its settings
  with pytest.raises(CheckpointError, match="nor any of the 0 older ones"):
    train_and_evaluate(tiny_config(**{"model.hidden": (8,)}), workdir)
  assert os.listdir(tmp_path / "checkpoints") == ["2"]


def test_a_failed_save_stops_training_at_once(tmp_path, monkeypatch):
  """A write error in Orbax's background thread (a full disk, simulated)
  stops the run at the next step with one message; the last good
  checkpoint stays."""
  from orbax.checkpoint._src.handlers import json_checkpoint_handler  # pylint: disable=g-import-not-at-top
  handler = json_checkpoint_handler.JsonCheckpointHandler
  save_fn = handler._save_fn  # pylint: disable=protected-access

  async def disk_full(self, x, directory):
    if x.get("step", 0) >= 4:  # the data item of checkpoint 4
      raise OSError(errno.ENOSPC, "No space left on device")
    return await save_fn(self, x, directory)

  monkeypatch.setattr(handler, "_save_fn", disk_full)
  steps = []
  from aejax.train import hooks  # pylint: disable=g-import-not-at-top
  after_step = hooks.FirstStep.after_step
  monkeypatch.setattr(hooks.FirstStep, "after_step", lambda self, loop, m: (
      steps.append(loop.step), after_step(self, loop, m)))
  workdir = str(tmp_path)
  with pytest.raises(CheckpointSaveError) as raised:
    train_and_evaluate(tiny_config(max_steps=20, checkpoint_every_steps=2,
                                   keep_checkpoints=1), workdir)
  message = str(raised.value)
  assert message.startswith(f"Could not write checkpoint 4 to "
                            f"{tmp_path}/checkpoints (OSError: [Errno 28] "
                            "No space left on device; ")
  assert " free there). Training stopped; the last good checkpoint is step " \
         "2." in message and "\n" not in message
  assert max(steps) <= 6  # at once: not the 20 steps asked for
  assert final_state(workdir)[1]["step"] == 2


def _can_mount_tmpfs():
  probe = subprocess.run(
      ["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
      capture_output=True)
  return probe.returncode == 0


def test_a_full_disk_stops_with_one_message(tmp_path):
  """A real full disk: the checkpoints directory on a 300 KiB tmpfs (in a
  private mount namespace) that fills up after a few checkpoints."""
  if shutil.which("unshare") is None or not _can_mount_tmpfs():
    pytest.skip("no tmpfs (unshare -rm + mount) on this machine; "
                "test_a_failed_save_stops_training_at_once simulates it")
  workdir = tmp_path / "run"
  (workdir / "checkpoints").mkdir(parents=True)
  cache = jax.config.jax_compilation_cache_dir or ""
  script = (
      f"mount -t tmpfs -o size=300k tmpfs {workdir}/checkpoints && "
      f"cd {ROOT} && {sys.executable} -m aejax.main --config={FAULTS_CONFIG} "
      f"--workdir={workdir} --compilation_cache={cache} "
      "--config.keep_checkpoints=0 --config.checkpoint_every_steps=1 "
      f"2>{tmp_path}/stderr.txt; echo $? > {tmp_path}/rc.txt; ls "
      f"{workdir}/checkpoints > {tmp_path}/listing.txt")
  subprocess.run(["unshare", "-rm", "sh", "-c", script], cwd=tmp_path,
                 env=dict(os.environ, JAX_PLATFORMS="cpu"), timeout=300,
                 check=True)
  stderr = (tmp_path / "stderr.txt").read_text()
  assert (tmp_path / "rc.txt").read_text() == "1\n", stderr[-3000:]
  errors = [l for l in stderr.splitlines() if l.startswith("error:")]
  assert len(errors) == 1, stderr[-3000:]
  assert "No space left on device" in errors[0] and " free there)" in (
      errors[0]) and f"{workdir}/checkpoints" in errors[0]
  assert "Traceback" not in stderr
  listing = (tmp_path / "listing.txt").read_text().split()
  good = errors[0].split("the last good checkpoint is step ")[1].split(".")[0]
  assert good in listing


# 5. Config errors: one message, before any data or directory.


@pytest.mark.parametrize("overrides, message", [
    ({"log_every_steps": 0}, "log_every_steps=0: must be an integer >= 1"),
    ({"data.validation_size": 0},
     "data.validation_size=0: must be an integer >= 1"),
    ({"batch_size": 0}, "batch_size=0: must be an integer >= 1"),
    ({"max_nonfinite_steps": 0},
     "max_nonfinite_steps=0: must be an integer >= 1"),
    ({"num_epochs": 0, "max_steps": -1}, "num_epochs=0 trains nothing"),
    ({"model.dropout_rate": 1.0}, r"dropout_rate=1.0: must be a finite "
     r"number >= 0 and < 1"),
    ({"model.activation": "relu6"}, "activation='relu6': must be one of"),
    ({"optimizer.b2": 1.5}, "b2=1.5: must be a finite number >= 0 and < 1"),
])
def test_a_bad_field_is_one_message_before_anything(tmp_path, monkeypatch,
                                                    overrides, message):
  monkeypatch.setattr("aejax.train.loop.load_dataset", None)
  workdir = tmp_path / "run"
  with pytest.raises(ConfigError, match=message) as raised:
    train_and_evaluate(tiny_config(**overrides), str(workdir))
  assert "\n" not in str(raised.value)
  assert not workdir.exists()


def test_an_unknown_field_names_the_one_meant(tmp_path):
  config = tiny_config()
  config.batchsize = 64
  with pytest.raises(ConfigError, match=r"--config.batchsize: the config has"
                     r" no such field \(did you mean --config.batch_size\?\)"):
    train_and_evaluate(config, str(tmp_path / "run"))


def test_the_config_choices_are_the_code_s_own():
  from aejax import config  # pylint: disable=g-import-not-at-top
  from aejax.data.transforms import CORRUPTIONS  # pylint: disable=g-import-not-at-top,unused-import
  from aejax.methods import vae  # pylint: disable=g-import-not-at-top
  from aejax.models import activations, recurrent  # pylint: disable=g-import-not-at-top
  assert set(config.ACTIVATIONS) == set(activations.ACTIVATIONS)
  assert config.FIELD_RULES["method.likelihood"]("nope") == (
      "one of " + ", ".join(map(repr, vae.LIKELIHOODS)))
  assert config.FIELD_RULES["model.cell"]("nope") == (
      "one of " + ", ".join(map(repr, recurrent.CELLS)))
  assert set(config.FIELD_RULES) | {"method.corruption"} == set(
      config.field_paths(config.base_config()))


@pytest.mark.parametrize("flags, message", [
    (["--config.batchsize=64"], "error: --config.batchsize=64: the config has"
     " no field 'batchsize' (did you mean --config.batch_size?).\n"),
    (["--config=experiments/nope.py"],
     "error: --config=experiments/nope.py: no such file.\n"),
])
def test_a_command_line_mistake_is_one_line(tmp_path, flags, message):
  workdir = tmp_path / "run"
  result = _main(str(workdir), *flags, timeout=120)
  assert result.returncode == 1
  assert result.stderr.splitlines()[-1] + "\n" == message
  assert "Traceback" not in result.stderr
  assert not workdir.exists()


# 6. Finite divergence.


def test_a_finite_divergence_stops_and_keeps_the_checkpoint_before_it(
    tmp_path, monkeypatch):
  """Gradient ascent (the loss's sign flipped for the gradient only): the
  loss rises from 0.24 to 10^6 over 40 steps, finite all the way."""
  from aejax.methods.autoencoder import Autoencoder  # pylint: disable=g-import-not-at-top
  loss_fn = Autoencoder.loss_fn

  def ascent(self, *args, **kwargs):
    loss, aux = loss_fn(self, *args, **kwargs)
    return -loss, aux

  monkeypatch.setattr(Autoencoder, "loss_fn", ascent)
  workdir = str(tmp_path)
  config = tiny_config(**{"max_steps": 40, "checkpoint_every_steps": 2,
                          "method.output": "identity",
                          "optimizer.learning_rate": 1e-2})
  with pytest.raises(DivergenceError, match=(
      "Training diverged: the mean training loss stayed above .* for 5 "
      "train rows in a row, up to step 14 .* the last checkpoint from before"
      " the rise, step 4, is kept")):
    train_and_evaluate(config, workdir)
  rows = [r for r in _rows(workdir) if r["split"] == "train"]
  assert rows[1]["step"] == 4 and rows[1]["loss"] < 10 * rows[0]["loss"]
  assert rows[-1]["loss"] > 100 * rows[0]["loss"]
  assert final_state(workdir)[1]["step"] == 4
  assert os.listdir(os.path.join(workdir, "checkpoints")) == ["4"] or (
      sorted(os.listdir(os.path.join(workdir, "checkpoints")), key=int)[-1]
      == "4")
  assert LOCK_FILE in os.listdir(workdir)
