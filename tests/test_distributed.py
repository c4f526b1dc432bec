"""Many processes on jax.distributed, on loopback (127.0.0.1) only.

Each run is N real processes started by :mod:`aejax.launch_local`, each with
its own 2 CPU devices (not this test process's 4) and gloo collectives.

Tolerance, 2 processes x 2 devices against 1 process x 4 devices:
``rtol=1e-5, atol=1e-6`` (the GAN, trained with SGD: ``rtol=1e-4,
atol=1e-5``, as in tests/test_gan.py). The global batches, keys and
programs are the same; what differs is who sums the four devices' partial
gradients and BatchNorm statistics: gloo across processes or XLA within
one, in another order, so float32 sums differ in their last bits
(measured: at most 1.2e-7 on parameters of size ~0.1 after 30 steps). A
resumed run against the unbroken run in the same layout is bit for bit.
"""

import json
import os
import pickle
import subprocess
import sys
import time

import jax
import numpy as np
import pytest
from conftest import final_state, tiny_config

from aejax import launch_local
from aejax.train.checkpoint import Checkpointer, abstract_like
from aejax.train.loop import train_and_evaluate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAULTS_CONFIG = os.path.join(REPO, "tests", "faults_config.py")
CACHE = os.environ.get("AEJAX_TEST_XLA_CACHE", os.path.join(
    os.path.expanduser("~"), ".cache", "aejax", "xla-tests"))
TIMEOUT = 240  # seconds for one launch, on a busy 2-core machine

# The runs of test (a)-(c), in one multi-process session: a worker joins
# the run, then trains each pickled config in its work directory.
WORKER = """
import pickle, sys
import jax
jax.config.update("jax_compilation_cache_dir", {cache!r})
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.2)
from aejax.train import distributed
from aejax.train.loop import train_and_evaluate
flag = dict(a[2:].split("=", 1) for a in sys.argv[1:])
distributed.initialize(flag["coordinator_address"],
                       int(flag["num_processes"]), int(flag["process_id"]),
                       initialization_timeout=60, heartbeat_timeout=20)
with open({configs!r}, "rb") as f:
  configs = pickle.load(f)
for name, config in configs.items():
  train_and_evaluate(config, {workdir!r} + "/" + name)
"""


def configs():
  """(a) the MLP autoencoder, (b) the conv denoiser with BatchNorm, (c)
  the DCGAN (SGD, see tests/test_gan.py's sgd_config)."""
  return {
      "mlp_ae": tiny_config(**{"method.name": "ae", "model.name": "mlp"}),
      # Process 0 alone draws the figures (from a host copy of the state).
      "conv_dae": tiny_config(**{"method.name": "dae", "model.name": "conv",
                                 "figures": True}),
      "dcgan": tiny_config(**{"method.name": "dcgan", "model.latent_dim": 8,
                              "optimizer.name": "sgd",
                              "optimizer.learning_rate": 0.1}),
  }


def _wait(procs, timeout=TIMEOUT):
  outputs = []
  for proc in procs:
    try:
      outputs.append(proc.communicate(timeout=timeout)[0])
    except subprocess.TimeoutExpired:
      for p in procs:
        p.kill()
      raise
  return [p.returncode for p in procs], outputs


def _restore(workdir, like):
  """The latest checkpoint of a multi-process run, into this process."""
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    return checkpointer.restore(abstract_like(
        like, jax.sharding.SingleDeviceSharding(jax.devices()[0])))
  finally:
    checkpointer.close()


def _assert_close(a, b, **tolerance):
  flat_a, tree_a = jax.tree_util.tree_flatten(a)
  flat_b, tree_b = jax.tree_util.tree_flatten(b)
  assert tree_a == tree_b
  for x, y in zip(flat_a, flat_b):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), **tolerance)


def _rows(workdir):
  rows = [json.loads(l) for l in open(os.path.join(workdir,
                                                   "metrics.jsonl"))]
  return [{k: v for k, v in r.items() if k not in ("steps_per_s", "seconds")}
          for r in rows]


@pytest.mark.long
def test_two_processes_train_as_one_process_of_four_devices(tmp_path):
  """(a) MLP AE, (b) conv DAE with BatchNorm, (c) DCGAN: 2 processes x 2
  devices reach the parameters, BatchNorm statistics and test metrics of
  1 process x 4 devices; process 0 alone writes the records."""
  multi = str(tmp_path / "multi")
  multi_configs = configs()
  for config in multi_configs.values():
    config.num_devices = 0
  with open(tmp_path / "configs.pkl", "wb") as f:
    pickle.dump(multi_configs, f)
  worker = WORKER.format(cache=CACHE, configs=str(tmp_path / "configs.pkl"),
                         workdir=multi)
  procs = launch_local.start([], 2, 2, command=[sys.executable, "-c",
                                                worker])
  for name, config in configs().items():  # meanwhile, the references
    config.num_devices = 4
    train_and_evaluate(config, str(tmp_path / name))
  codes, outputs = _wait(procs)
  assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
  for name in configs():
    reference, position = final_state(str(tmp_path / name))
    state, multi_position = _restore(os.path.join(multi, name), reference)
    assert multi_position == position
    assert int(state["step"]) == 6
    gan = name == "dcgan"
    tolerance = dict(rtol=1e-4, atol=1e-5) if gan else dict(rtol=1e-5,
                                                            atol=1e-6)
    _assert_close(state["params"], reference["params"], **tolerance)
    _assert_close(state["batch_stats"], reference["batch_stats"],
                  **tolerance)
    with open(os.path.join(multi, name, "results.json")) as f:
      results = json.load(f)
    with open(tmp_path / name / "results.json") as f:
      expected = json.load(f)
    for key, value in expected["test"].items():
      np.testing.assert_allclose(results["test"][key], value, **tolerance)
    assert len(_rows(os.path.join(multi, name))) == len(
        _rows(str(tmp_path / name)))
    assert os.path.exists(os.path.join(multi, name, "loss_curves.png")) == (
        name == "conv_dae")
  # The BatchNorm comparison compared something.
  assert jax.tree_util.tree_leaves(reference["batch_stats"])


@pytest.mark.long
def test_a_killed_process_stops_the_other_and_all_resume(tmp_path):
  """Process 1 is killed (SIGKILL) at step 10: process 0 stops within the
  heartbeat timeout with one line naming it. Both started again, the run
  resumes from its last checkpoint and ends where an unbroken run ends
  (1 process x 4 devices, same tolerance), with its metrics rows."""
  workdir = str(tmp_path / "run")
  args = [f"--config={FAULTS_CONFIG}", f"--workdir={workdir}",
          "--config.num_devices=0", f"--compilation_cache={CACHE}",
          "--heartbeat_timeout=5"]
  procs = launch_local.start(args, 2, 2, envs=[
      {}, {"AEJAX_TEST_FAULT": "KILL:step:10"}])
  assert procs[1].wait(timeout=TIMEOUT) == -9
  killed = time.monotonic()
  codes, outputs = _wait(procs[:1], timeout=60)
  stopped = time.monotonic() - killed
  assert codes == [1], outputs[0][-3000:]
  errors = [l for l in outputs[0].splitlines() if l.startswith("error:")]
  assert len(errors) == 1, outputs[0][-3000:]
  assert "process 1 of 2 has not been heard from for 5 s" in errors[0]
  assert "start all processes again" in errors[0].lower()
  assert stopped < 30, stopped
  assert os.listdir(os.path.join(workdir, "checkpoints"))

  reference = str(tmp_path / "reference")  # meanwhile, unbroken
  procs = launch_local.start(args, 2, 2)
  config = _faults_config()
  config.num_devices = 4
  train_and_evaluate(config, reference)
  codes, outputs = _wait(procs)
  assert codes == [0, 0], outputs[0][-3000:] + outputs[1][-3000:]
  assert "Resumed" in outputs[0]
  expected, position = final_state(reference)
  state, resumed_position = _restore(workdir, expected)
  assert resumed_position == position
  _assert_close(state, expected, rtol=1e-5, atol=1e-6)
  rows, expected_rows = _rows(workdir), _rows(reference)
  assert [(r["step"], r["split"]) for r in rows] == [
      (r["step"], r["split"]) for r in expected_rows]
  for row, expected_row in zip(rows, expected_rows):
    assert row.keys() == expected_row.keys()
    for key, value in expected_row.items():
      if key != "split":
        np.testing.assert_allclose(row[key], value, rtol=1e-5, atol=1e-6)


def _faults_config():
  from aejax.config import load_experiment  # pylint: disable=g-import-not-at-top
  return load_experiment(FAULTS_CONFIG)


def test_a_process_that_never_arrives_is_one_line_in_bounded_time(tmp_path):
  """Process 0 of 2 alone: it stops after --initialization_timeout with a
  line that names the coordinator."""
  port = launch_local.free_port()
  start = time.monotonic()
  proc = subprocess.run(
      [sys.executable, "-m", "aejax.main", f"--config={FAULTS_CONFIG}",
       f"--workdir={tmp_path / 'run'}", "--initialization_timeout=3",
       f"--coordinator_address=127.0.0.1:{port}", "--num_processes=2",
       "--process_id=0"], env=launch_local.child_env(2),
      capture_output=True, text=True, timeout=120, check=False)
  assert proc.returncode == 1
  errors = [l for l in proc.stderr.splitlines() if l.startswith("error:")]
  assert errors == [
      f"error: process 0 of 2: not all processes reached the coordinator at "
      f"127.0.0.1:{port} within 3 s. Start every process with the same "
      "--coordinator_address (the host of process 0 and a free port) and "
      "--num_processes, each with its own --process_id; or raise "
      "--initialization_timeout."], proc.stderr[-3000:]
  assert time.monotonic() - start < 60
  assert not os.path.exists(tmp_path / "run")


def test_bad_process_settings_are_one_line(tmp_path):
  for flags, message in (
      (["--num_processes=2", "--process_id=2",
        "--coordinator_address=127.0.0.1:1"],
       "error: --process_id=2 is out of range for --num_processes=2"),
      (["--num_processes=2", "--process_id=0",
        "--coordinator_address=nohost"],
       "error: --coordinator_address='nohost': expected HOST:PORT")):
    proc = subprocess.run(
        [sys.executable, "-m", "aejax.main", f"--config={FAULTS_CONFIG}",
         f"--workdir={tmp_path / 'run'}", *flags],
        env=launch_local.child_env(2), capture_output=True, text=True,
        timeout=120, check=False)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(message), (
        proc.stderr[-2000:])
