"""Training and validation report the objective under the same name.

For methods whose training loss is not the plain reconstruction loss (a
sparsity or contractive penalty, a β-weighted KL, a k-sample bound),
``objective`` in the training metrics and in the per-example evaluation
metrics is the same quantity: on one batch, with the same randomness, the
evaluation's batch mean equals the training loss. ``loss_curves.png`` plots
it for both splits.
"""

import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

from aejax.methods import make_method
from aejax.train.loop import train_and_evaluate

SHAPE = (8, 8, 1)


@pytest.mark.parametrize("overrides", [
    {"method.name": "sparse_l1", "method.sparsity_weight": 0.5},
    {"method.name": "sparse_kl", "method.sparsity_weight": 0.5},
    {"method.name": "contractive", "method.contractive_weight": 0.5},
    {"method.name": "vae", "method.beta": 4.0, "data.binarize": True},
], ids=["sparse_l1", "sparse_kl", "contractive", "beta_vae"])
def test_validation_objective_is_the_training_loss(overrides):
  method = make_method(tiny_config(**overrides), SHAPE)
  x = jax.random.bernoulli(jax.random.PRNGKey(1), 0.3,
                           (16,) + SHAPE).astype(jnp.float32)
  variables = method.init_variables(jax.random.PRNGKey(0), x)
  params, stats = variables["params"], variables["batch_stats"]
  key = jax.random.PRNGKey(2)
  per_example = method.eval_metrics(params, {"image": x}, key, stats)
  # The VAE's evaluation draws its posterior sample with split(key)[0].
  train_key = (jax.random.split(key)[0] if overrides["method.name"] == "vae"
               else key)
  loss, (metrics, _) = method.loss_fn(params, {"image": x}, train_key, stats)
  assert per_example["objective"].shape == (16,)
  np.testing.assert_allclose(float(jnp.mean(per_example["objective"])),
                             float(loss), rtol=2e-5)
  np.testing.assert_allclose(float(metrics["objective"]), float(loss))
  # ... and it is not the reconstruction alone.
  assert abs(float(jnp.mean(per_example["objective"])) -
             float(jnp.mean(per_example["loss"]))) > 1e-3


def test_loss_curves_plot_the_objective_of_both_splits(tmp_path):
  results = train_and_evaluate(tiny_config(**{
      "method.name": "sparse_kl", "method.sparsity_weight": 0.5,
      "figures": True}),
                               str(tmp_path))
  rows = [json.loads(line) for line in open(tmp_path / "metrics.jsonl")]
  for split in ("train", "validation"):
    assert all("objective" in r for r in rows if r["split"] == split)
  assert "loss_curves.png" in results["figures"]
