r"""A tiny run for tests/test_faults.py, with one fault injected.

  AEJAX_TEST_FAULT=<signal>:<where>:<step> python -m aejax.main \
      --config=tests/faults_config.py --workdir=...

``signal``: ``KILL`` or ``INT``; ``where``: ``pull`` (in the train log,
just before the window's metrics are pulled to the host), ``save`` (just
after a checkpoint write has started, while it is written), ``step`` (after
a step, before its hooks) or ``test`` (just after the test row is written);
``step``: the step (ignored for ``test``). No fault without the variable.
Scikit-learn's digits, batch 64: 20 steps per epoch; 30 steps; a train row
every 3 steps and a checkpoint every 4, so that windows span checkpoints.
"""

import os
import signal

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.name = "digits"
  c.model.hidden = (32,)
  c.model.latent_dim = 4
  c.batch_size = 64
  c.eval_batch_size = 64
  c.max_steps = 30
  c.log_every_steps = 3
  c.checkpoint_every_steps = 4
  c.keep_checkpoints = 2
  c.num_figure_images = 4
  c.progress_bar = False
  c.tensorboard = False
  c.num_devices = 1
  fault = os.environ.get("AEJAX_TEST_FAULT")
  if fault:
    _inject(*fault.split(":"))
  return c


def _inject(sig: str, where: str, step: str) -> None:
  """Patches the loop so that this process sends itself ``sig`` at
  ``where`` in step ``step``."""
  from aejax.train import checkpoint, hooks, writers  # pylint: disable=g-import-not-at-top
  number = getattr(signal, "SIG" + sig)
  step = int(step)
  fire = lambda: os.kill(os.getpid(), number)

  if where == "pull":
    after_step = hooks.TrainLog.after_step

    def pull(self, loop, metrics):
      if loop.step == step and loop.at(self.every):
        fire()
      return after_step(self, loop, metrics)
    hooks.TrainLog.after_step = pull
  elif where == "step":
    after_step = hooks.FirstStep.after_step

    def first(self, loop, metrics):
      if loop.step == step:
        fire()
      return after_step(self, loop, metrics)
    hooks.FirstStep.after_step = first
  elif where == "save":
    save = checkpoint.Checkpointer.save

    def saving(self, at, *args, **kwargs):
      save(self, at, *args, **kwargs)
      if at == step:
        fire()
    checkpoint.Checkpointer.save = saving
  elif where == "test":
    write = writers.JsonlWriter.write

    def written(self, at, split, metrics):
      write(self, at, split, metrics)
      if split == "test":
        fire()
    writers.JsonlWriter.write = written
  else:
    raise ValueError(f"Unknown fault place {where!r}.")
