"""One compilation per step function: no recompilation after the first use,
across epochs, evaluations, checkpoints, the dropped last partial training
batch and the padded last evaluation batch."""

import jax
import pytest
from conftest import tiny_config

from aejax.train import loop, trainer

_BACKEND_COMPILE = "/jax/core/compile/backend_compile_duration"
# With the persistent compilation cache (tests/conftest.py), a program found
# there is loaded instead of compiled: count those loads as compilations.
_CACHE_HIT = "/jax/compilation_cache/cache_hits"


@pytest.mark.parametrize("overrides", [
    {},  # MLP autoencoder
    {"model.name": "conv", "method.name": "dae"},  # BatchNorm + corruption
], ids=["mlp_ae", "conv_dae"])
def test_steps_compile_once_per_run(tmp_path, monkeypatch, overrides):
  # digits: 1300 training images, batch 16 -> 81 steps per epoch, 4 images
  # dropped; validation 200 and test 297 are not multiples of 64 (padded).
  config = tiny_config(**{"max_steps": -1, "num_epochs": 3,
                          "checkpoint_every_steps": 0, "num_devices": 2,
                          "log_every_steps": 10, **overrides})
  compiles = []
  listener = lambda event, duration, **kw: (
      compiles.append(event) if event == _BACKEND_COMPILE else None)
  hits = lambda event, **kw: (
      compiles.append(event) if event == _CACHE_HIT else None)
  jax.monitoring.register_event_duration_secs_listener(listener)
  jax.monitoring.register_event_listener(hits)

  steps, compiles_before_step = {}, []
  real_compile_steps = trainer.compile_steps

  def spy(*args, **kwargs):
    train, evaluate = real_compile_steps(*args, **kwargs)
    steps.update(train=train, evaluate=evaluate)

    def counted_train(state, batch):
      compiles_before_step.append(len(compiles))
      return train(state, batch)

    return counted_train, evaluate

  monkeypatch.setattr(trainer, "compile_steps", spy)
  try:
    results = loop.train_and_evaluate(config, str(tmp_path))
  finally:
    jax.monitoring.unregister_event_duration_listener(listener)
    jax.monitoring.unregister_event_listener(hits)

  steps_per_epoch = 1300 // 16
  assert results["step"] == len(compiles_before_step) == 3 * steps_per_epoch
  # Each jitted step holds exactly one executable ...
  assert steps["train"]._cache_size() == 1
  assert steps["evaluate"]._cache_size() == 1
  # ... and from the second epoch on (after the first validation pass and
  # checkpoint) to the last step, nothing at all was compiled.
  first_of_epoch_2 = compiles_before_step[steps_per_epoch]
  assert compiles_before_step[-1] == first_of_epoch_2, (
      f"{compiles_before_step[-1] - first_of_epoch_2} compilations during "
      "epochs 2-3")
  # The step itself compiled once: the counter grew between the first and
  # second step (that compile included), then stayed flat within epoch 1.
  assert compiles_before_step[1] > compiles_before_step[0]
  assert compiles_before_step[steps_per_epoch - 1] == compiles_before_step[1]
