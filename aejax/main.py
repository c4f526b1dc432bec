r"""Command-line entry point.

  python -m aejax.main --config=experiments/ae_fashion_mnist.py \
      --workdir=runs/ae [--config.num_epochs=5 ...]

Running the same command again resumes from the last checkpoint in workdir.

Many processes (one per host, :mod:`aejax.train.distributed`): the same
command in every process, plus where they meet::

  python -m aejax.main --config=... --workdir=/shared/runs/ae \
      --coordinator_address=HOST0:1234 --num_processes=2 --process_id=I

or ``--distributed`` alone under SLURM (``srun``), Open MPI (``mpirun``) or a
Kubernetes indexed Job, which JAX reads the three from. The work directory
must be one that every process sees (checkpoints are written by all).
A mistake in the command, the config or the work directory, and a fault
while training (a full disk, divergence), end with one line on stderr that
names the fix (exit status 1; ``--verbosity=1`` adds the traceback); Ctrl-C
or SIGTERM stops at the end of a step with a checkpoint (status 130 / 143).
"""

from __future__ import annotations

import errno
import os
import sys

from absl import app, flags, logging
import ml_collections
from ml_collections import config_flags

from aejax import host_allocator

FLAGS = flags.FLAGS
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for metrics, "
                               "checkpoints and figures.", required=True)
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.environ.get("JAX_COMPILATION_CACHE_DIR",
                                        os.path.expanduser("~/.cache/aejax/xla")),
    "Persistent XLA compilation cache ('' disables it; default: "
    "$JAX_COMPILATION_CACHE_DIR, else ~/.cache/aejax/xla).")
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
_DISTRIBUTED = flags.DEFINE_bool(
    "distributed", False, "Join a run over many processes "
    "(jax.distributed); what the three flags below leave out is read from "
    "the cluster (SLURM, Open MPI, a Kubernetes indexed Job). Implied by "
    "any of them.")
_COORDINATOR = flags.DEFINE_string(
    "coordinator_address", None, "HOST:PORT of process 0, the same for "
    "every process of a multi-process run.")
_NUM_PROCESSES = flags.DEFINE_integer(
    "num_processes", None, "How many processes the run has.")
_PROCESS_ID = flags.DEFINE_integer(
    "process_id", None, "This process's index, 0 .. num_processes - 1.")
_INIT_TIMEOUT = flags.DEFINE_integer(
    "initialization_timeout", 300, "Seconds to wait for every process of "
    "a multi-process run to arrive.")
_HEARTBEAT_TIMEOUT = flags.DEFINE_integer(
    "heartbeat_timeout", 60, "Seconds after which a silent process of a "
    "multi-process run is taken for dead and the others stop.")
flags.mark_flags_as_required(["config"])


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO lines from Orbax and TFDS, which log every file they touch,
  and the tracebacks of Orbax's background threads (a failed save is
  reported once, by aejax.train.checkpoint)."""

  def filter(self, record):
    noisy = ("/orbax/", "/tensorflow_datasets/")
    if not any(n in record.pathname for n in noisy):
      return True
    if record.levelno <= logging.logging.INFO:
      return False
    message = record.getMessage()  # TensorStore's specs run to pages
    record.msg = message if len(message) < 300 else message[:300] + " ..."
    record.args, record.exc_info, record.exc_text = None, None, None
    return True


def _quiet_closed_loops(hook):
  """``sys.unraisablehook`` without TensorStore's leftovers of a checkpoint
  fault, which aejax.train.checkpoint reports once: "Event loop is closed"
  (a write that fails after Orbax has closed its event loop) and the
  never-awaited reads of a damaged checkpoint (pages of TensorStore spec)."""

  def unraisablehook(unraisable):
    text = str(unraisable.exc_value)
    if text == "Event loop is closed" or "See full TensorStore details" in (
        text):
      return
    hook(unraisable)
  return unraisablehook


def _fail(message: str, at_once: bool = False) -> None:
  """Ends the command with one line on stderr (status 1); ``at_once``
  without waiting for other threads (a failed save's writes, which would
  print their own failures for a while). In a multi-process run the others
  are told, and stop too; this process does not wait for them."""
  sys.stderr.write(f"error: {message}\n")
  sys.stderr.flush()
  from aejax.train import distributed  # pylint: disable=g-import-not-at-top
  if distributed.report_stop(message):
    at_once = True
  if at_once:
    sys.stdout.flush()
    os._exit(1)  # pylint: disable=protected-access
  sys.exit(1)


def _first_line(e: BaseException) -> str:
  lines = [l.strip() for l in str(e).strip().strip("'\"").splitlines()]
  return next((l for l in lines if l), type(e).__name__)


def _parse_flags(argv):
  """absl's flag parsing; a bad ``--config.<field>`` is one line that names
  the field (and the one meant, for a misspelling)."""
  try:
    return app.parse_flags_with_usage(argv)
  except Exception as e:  # pylint: disable=broad-exception-caught
    # ml_collections raises AttributeError, KeyError, TypeError, ValueError.
    from aejax.config import base_config, field_paths, suggest  # pylint: disable=g-import-not-at-top
    known = field_paths(base_config())
    for arg in argv[1:]:
      if arg.startswith("--config."):
        path = arg[len("--config."):].split("=", 1)[0]
        if path not in known and not path.startswith("method.corruption."):
          _fail(f"{arg}: the config has no field {path!r}"
                f"{suggest(path, known)}.")
    _fail(f"{_first_line(e)}")


# Errors that are the user's to fix: one line, not a traceback.
def _user_errors():
  from aejax.train.checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
  from aejax.train.workdir import RunMismatchError, WorkdirBusyError  # pylint: disable=g-import-not-at-top
  return (ValueError, FloatingPointError, CheckpointError, RunMismatchError,
          WorkdirBusyError, FileNotFoundError)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  sys.unraisablehook = _quiet_closed_loops(sys.unraisablehook)
  config = FLAGS.config
  if not isinstance(config, ml_collections.ConfigDict):  # failed to load
    path = config_flags.get_config_filename(FLAGS["config"])
    where = path.split(":", 1)[0]
    _fail(f"--config={path}: "
          + ("no such file." if not os.path.isfile(where) else
             "the file does not load (run it with python to see why)."))
  import jax  # pylint: disable=g-import-not-at-top
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", _CACHE.value)
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
      jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  joining = (_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value)
  if _DISTRIBUTED.value or joining != (None,) * 3:
    from aejax.train import distributed  # pylint: disable=g-import-not-at-top
    try:  # before anything touches a JAX backend
      distributed.initialize(*joining,
                             initialization_timeout=_INIT_TIMEOUT.value,
                             heartbeat_timeout=_HEARTBEAT_TIMEOUT.value)
    except ValueError as e:
      _fail(str(e))
  from aejax.train.checkpoint import CheckpointSaveError, free_space  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import train_and_evaluate  # pylint: disable=g-import-not-at-top
  logging.info("Config:\n%s", config)
  try:
    train_and_evaluate(config, _WORKDIR.value)
  except KeyboardInterrupt as e:
    name = e.args[0] if e.args else "SIGINT"
    sys.stderr.write(f"Stopped ({name}): run the same command to resume.\n")
    sys.exit(143 if name == "SIGTERM" else 130)
  except _user_errors() as e:
    logging.debug("The error's traceback:", exc_info=True)
    _fail(str(e), at_once=isinstance(e, CheckpointSaveError))
  except OSError as e:
    logging.debug("The error's traceback:", exc_info=True)
    space = (f" ({free_space(e.filename or _WORKDIR.value)} there)"
             if e.errno == errno.ENOSPC else "")
    _fail(f"{e}{space}")


def run():
  """Console-script entry point (``aejax --config=... --workdir=...``)."""
  # `python -m aejax.main` has re-executed on tcmalloc already, in
  # aejax/__init__.py; the console script does it here, before JAX loads.
  host_allocator.reexec_with_tcmalloc()
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run()
