r"""Command-line entry point.

  python -m aejax.main --config=experiments/ae_fashion_mnist.py \
      --workdir=runs/ae [--config.num_epochs=5 ...]

Running the same command again resumes from the last checkpoint in workdir.
"""

from __future__ import annotations

import os

from absl import app, flags, logging
from ml_collections import config_flags

from aejax import host_allocator

FLAGS = flags.FLAGS
_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for metrics, "
                               "checkpoints and figures.", required=True)
_CACHE = flags.DEFINE_string(
    "compilation_cache", os.path.expanduser("~/.cache/aejax/xla"),
    "Persistent XLA compilation cache ('' disables it).")
config_flags.DEFINE_config_file("config", None, "Experiment config file.",
                                lock_config=True)
flags.mark_flags_as_required(["config"])


class _QuietLibraries(logging.logging.Filter):
  """Drops INFO lines from Orbax and TFDS, which log every file they touch."""

  def filter(self, record):
    noisy = ("/orbax/", "/tensorflow_datasets/")
    return record.levelno > logging.logging.INFO or not any(
        n in record.pathname for n in noisy)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.get_absl_handler().addFilter(_QuietLibraries())
  import jax  # pylint: disable=g-import-not-at-top
  if _CACHE.value:
    jax.config.update("jax_compilation_cache_dir", _CACHE.value)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
  from aejax.train.loop import train_and_evaluate  # pylint: disable=g-import-not-at-top
  logging.info("Config:\n%s", FLAGS.config)
  train_and_evaluate(FLAGS.config, _WORKDIR.value)


def run():
  """Console-script entry point (``aejax --config=... --workdir=...``)."""
  # `python -m aejax.main` has re-executed on tcmalloc already, in
  # aejax/__init__.py; the console script does it here, before JAX loads.
  host_allocator.reexec_with_tcmalloc()
  app.run(main)


if __name__ == "__main__":
  run()
