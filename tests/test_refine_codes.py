"""python -m aejax.eval.refine_codes: codes refined by optimisation through
a trained decoder."""

import json
import os

import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from aejax.eval import refine_codes
from aejax.methods import CapabilityError
from aejax.train.loop import load_run, train_and_evaluate


@pytest.fixture(scope="module")
def trained_ae(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("refine") / "ae")
  results = train_and_evaluate(tiny_config(max_steps=40), workdir)
  return workdir, results


def test_zero_steps_give_the_runs_own_test_error(trained_ae):
  workdir, results = trained_ae
  result = refine_codes.refine_run(workdir, steps=0, figure_images=0)
  test = result["test"]
  assert test["encoder"] == test["refined"]
  np.testing.assert_allclose(test["encoder"],
                             results["test"]["sq_err_per_image"], rtol=1e-5)
  assert test["images"] == 297 and result["validation"]["images"] == 200


def test_refining_lowers_each_images_error_on_its_own(trained_ae):
  workdir, _ = trained_ae
  result = refine_codes.main([f"--workdir={workdir}", "--steps=50",
                              "--learning_rate=0.05"])
  for split in ("validation", "test"):
    r = result[split]
    assert r["refined"] < 0.95 * r["encoder"], r
    assert r["images_improved"] > 0.9 * r["images"], r
  with open(os.path.join(workdir, refine_codes.RESULT_FILE)) as f:
    assert json.load(f)["test"] == result["test"]
  assert os.path.exists(os.path.join(workdir, refine_codes.FIGURE_FILE))
  # An image's refined code does not depend on the rest of its batch.
  _, method, state = load_run(workdir)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(8, 8, 8, 1)),
                  jnp.float32)
  _, whole = refine_codes.refine(method, state.params, state.batch_stats, x,
                                 20, 0.05)
  _, part = refine_codes.refine(method, state.params, state.batch_stats,
                                x[:3], 20, 0.05)
  np.testing.assert_allclose(part, whole[:3], rtol=1e-5, atol=1e-6)


def test_a_method_without_an_encoder_and_decoder_is_refused(tmp_path):
  workdir = str(tmp_path / "ladder")
  train_and_evaluate(tiny_config(**{
      "method.name": "ladder", "model.hidden": (8,), "max_steps": 2,
      "method.denoising_weights": (1.0, 1.0, 1.0),
      "method.labelled_batch_size": 8}), workdir)
  with pytest.raises(CapabilityError, match="cannot encode inputs to codes"):
    refine_codes.refine_run(workdir)
  with pytest.raises(ValueError, match="give steps >= 0"):
    refine_codes.refine_run(workdir, steps=-1)
  with pytest.raises(SystemExit):
    refine_codes.main([f"--workdir={tmp_path / 'missing'}"])
