"""The benchmark's on-device variants compute what the per-step loop does."""

import jax
import jax.numpy as jnp
import numpy as np
from conftest import tiny_config

from aejax.bench import scan_steps, vmapped_seeds
from aejax.data import load_dataset
from aejax.data.pipeline import make_mesh
from aejax.methods import make_method
from aejax.train.state import create_train_state, optimizer_for
from aejax.train.step import compile_steps

STEPS, BATCH = 5, 16


def _setup(**overrides):
  config = tiny_config(**{"method.name": "dae", "model.name": "conv",
                          **overrides})  # BatchNorm, corruption keys
  dataset = load_dataset(config.data)
  method = make_method(config, dataset.image_shape)
  tx = optimizer_for(method, config.optimizer)
  images = jnp.asarray(dataset.train.images[:STEPS * BATCH]).reshape(
      (STEPS, BATCH) + dataset.image_shape)
  return config, method, tx, images


def _loop(config, method, tx, images, seed):
  train, _ = compile_steps(method, tx, make_mesh(1), config.data.binarize)
  state = create_train_state(method, tx, seed, images[0])
  for b in images:
    state, _ = train(state, {"image": b})
  return state


def _assert_same(a, b):
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


def test_scan_over_steps_equals_the_step_loop():
  config, method, tx, images = _setup()
  scanned = scan_steps(method, tx, config.data.binarize)
  state = create_train_state(method, tx, 0, images[0])
  state, metrics = scanned(state, {"image": images})
  assert metrics["loss"].shape == (STEPS,)
  assert int(state.step) == STEPS
  _assert_same(state, _loop(config, method, tx, images, 0))


def test_vmap_over_seeds_equals_one_run_per_seed():
  config, method, tx, images = _setup()
  states, step = vmapped_seeds(method, tx, config.data.binarize, [0, 3],
                               images[0])
  for b in images:
    states, _ = step(states, {"image": b})
  for i, seed in enumerate([0, 3]):
    _assert_same(jax.tree_util.tree_map(lambda v, i=i: v[i], states),
                 _loop(config, method, tx, images, seed))
  # Different seeds really are different models.
  first = jax.tree_util.tree_leaves(states.params)[0]
  assert not np.allclose(first[0], first[1])
