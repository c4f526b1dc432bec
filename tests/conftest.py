"""Test set-up: 4 fake CPU devices, so sharding is exercised on one CPU."""

import os

# XLA:CPU aborts the whole process when a cross-device rendezvous waits more
# than 40 s. One CI run died of a silent abort on an XLA thread during an
# 8-device test (never reproduced here); a late rendezvous on the shared
# 2-core machine is a cause that fits. Wait longer: a slow test stays slow.
# The tests' programs are tiny and most of a test's time is compiling them:
# LLVM's optimisation level 0 compiles the same HLO ~25 % faster in CPU time
# (tests/test_contract.py: 440 s -> 320 s of CPU); only the machine code
# differs, and with it float rounding in places (tests/test_bench.py's vmap
# comment). The setting reaches the tests' subprocesses through the
# environment; the main job and the benchmarks keep XLA's default.
os.environ["XLA_FLAGS"] = " ".join(filter(None, [
    os.environ.get("XLA_FLAGS"),
    "--xla_cpu_collective_call_terminate_timeout_seconds=600",
    "--xla_backend_optimization_level=0"]))

import jax  # noqa: E402

jax.config.update("jax_num_cpu_devices", 4)
jax.config.update("jax_platforms", "cpu")
# One persistent compilation cache for every test process (pytest-xdist's
# workers and later runs): most of a tiny test's time is compiling its steps.
# The commands the tests run as subprocesses (aejax.reproduce --quick,
# the launcher's processes) read the same cache through the environment.
os.environ["JAX_COMPILATION_CACHE_DIR"] = os.environ.get(
    "AEJAX_TEST_XLA_CACHE",
    os.path.join(os.path.expanduser("~"), ".cache", "aejax", "xla-tests"))
jax.config.update("jax_compilation_cache_dir",
                  os.environ["JAX_COMPILATION_CACHE_DIR"])
# Every program, however small: subprocesses too (through the environment).
os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] = "0"
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)

import pytest  # noqa: E402

FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

requires_fashion_mnist = pytest.mark.skipif(
    not os.path.exists(os.path.join(FASHION_MNIST_DIR,
                                    "train-images-idx3-ubyte.gz")),
    reason="Debian's dataset-fashion-mnist is not installed "
           "(scripts/setup.sh installs it)")


def tiny_config(**overrides):
  """A seconds-long run on scikit-learn's 8x8 digits, on one device.

  Tests about sharding say ``num_devices=2`` (or 4) themselves; the rest
  run on one device, which is faster on a 2-core machine than fake devices
  whose collectives wait on each other. Two devices already tell a global
  reduction (of gradients, BatchNorm statistics, penalties) from a
  per-device one.
  """
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  c = base_config()
  c.data.name = "digits"
  c.model.hidden = (32,)
  c.model.latent_dim = 4
  c.model.filters = (4, 8)
  c.batch_size = 16
  c.eval_batch_size = 64
  c.max_steps = 6
  c.log_every_steps = 2
  c.checkpoint_every_steps = 3
  c.num_figure_images = 4
  c.figures = False   # a test about figures says figures=True
  c.progress_bar = False
  c.num_devices = 1
  for key, value in overrides.items():
    node = c
    *path, leaf = key.split(".")
    for p in path:
      node = node[p]
    node[leaf] = value
  return only_fields_read(c, keep=overrides)


def only_fields_read(c, keep=()):
  """``c`` with the method/model fields its method and model do not read
  reset to their defaults, except those named in ``keep`` (tiny_config sets
  the small sizes of every model, which the run would refuse as ignored
  settings; a test's own overrides stay, so it can test that refusal)."""
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.methods.registry import METHODS, fields_read  # pylint: disable=g-import-not-at-top
  if c.method.name not in METHODS:
    return c
  defaults = base_config()
  for section, read in zip(("method", "model"), fields_read(c)):
    for field in c[section]:
      if (field not in read and field in defaults[section] and
          f"{section}.{field}" not in keep):
        c[section][field] = defaults[section][field]
  return c


def experiment_config(name):
  """``experiments/<name>.py``'s ``get_config()``, on one device."""
  from aejax.config import load_experiment  # pylint: disable=g-import-not-at-top
  config = load_experiment(os.path.join(os.path.dirname(__file__), "..",
                                        "experiments", name + ".py"))
  config.num_devices = 1
  return config


def final_state(workdir):
  """``(state, data position)`` of the latest checkpoint in ``workdir``."""
  from aejax.train.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    return checkpointer.restore()
  finally:
    checkpointer.close()


def pytest_configure(config):
  config.addinivalue_line(
      "markers", "long: takes tens of seconds (it runs first, see below)")


def pytest_collection_modifyitems(items):
  """Tests marked long run first, the rest in their usual order.

  With ``--dist=worksteal`` a worker that runs out of tests takes the other's
  last queued ones; when those are short, both workers finish together
  instead of one idling through the other's last long test.
  """
  items.sort(key=lambda item: item.get_closest_marker("long") is None)
