"""Stacked / deep autoencoders: tied weights and greedy layer-wise training."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import (experiment_config, final_state, requires_fashion_mnist,
                      tiny_config)

from aejax.config import base_config
from aejax.data import load_dataset, make_mesh
from aejax.methods import make_method
from aejax.models import build_model
from aejax.train.loop import train_and_evaluate
from aejax.train.pretrain import pretrain_layerwise

SHAPE = (8, 8, 1)


def _count(tree):
  return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def _deep(tied):
  c = base_config().model
  c.hidden, c.latent_dim, c.tied = (1000, 500, 250), 30, tied
  return build_model(c, (28, 28, 1))


def test_tied_deep_ae_has_no_decoder_kernels_and_half_the_parameters():
  """784-1000-500-250-30 (Hinton & Salakhutdinov 2006), tied and untied."""
  x = jnp.zeros((2, 28, 28, 1))
  untied, tied = (jax.jit(_deep(t).init)(jax.random.PRNGKey(0), x)["params"]
                  for t in (False, True))
  widths = [784, 1000, 500, 250, 30]
  kernels = sum(a * b for a, b in zip(widths, widths[1:]))
  enc_biases, dec_biases = sum(widths[1:]), sum(widths[:-1])
  assert _count(untied) == 2 * kernels + enc_biases + dec_biases
  assert _count(tied) == kernels + enc_biases + dec_biases
  assert 0.49 < _count(tied) / _count(untied) < 0.51
  # The decoder owns biases only, one per layer, mirroring the encoder.
  leaves = jax.tree_util.tree_flatten_with_path(tied["decoder"])[0]
  assert all(path[-1].key == "bias" for path, _ in leaves)
  assert [tied["decoder"][f"TiedDense_{j}"]["bias"].shape for j in range(4)
          ] == [(250,), (500,), (1000,), (784,)]
  # The encoder's layout is that of the untied model.
  assert (jax.tree_util.tree_structure(tied["encoder"]) ==
          jax.tree_util.tree_structure(untied["encoder"]))
  for v in (True, False):
    assert _deep(v).apply({"params": tied if v else untied}, x).shape == x.shape


def test_tied_decoder_is_the_transposed_encoder():
  """Decoding by hand with W_iᵀ gives the model's output, and gradients of a
  decoder-only function reach the encoder's kernels (they are shared)."""
  model = _deep(True)
  x = jax.random.uniform(jax.random.PRNGKey(0), (3, 28, 28, 1))
  params = jax.jit(model.init)(jax.random.PRNGKey(1), x)["params"]
  z = jax.random.normal(jax.random.PRNGKey(2), (3, 30))
  h = z
  for i in reversed(range(4)):
    enc = params["encoder"][f"Dense_{i}"]["kernel"]
    h = h @ enc.T + params["decoder"][f"TiedDense_{3 - i}"]["bias"]
    h = jax.nn.relu(h) if i else h
  out = model.apply({"params": params}, z, method=model.decode)
  np.testing.assert_allclose(out.reshape(3, -1), h, rtol=1e-5, atol=1e-5)

  def decoder_grads(model, params):
    decode_sum = lambda p: jnp.sum(model.apply({"params": p}, z,
                                               method=model.decode))
    return jax.jit(jax.grad(decode_sum))(params)

  grads = decoder_grads(model, params)
  for i in range(4):
    assert float(jnp.abs(grads["encoder"][f"Dense_{i}"]["kernel"]).max()) > 0
  # Control: in the untied model the decoder does not touch the encoder.
  untied = _deep(False)
  grads = decoder_grads(untied, jax.jit(untied.init)(jax.random.PRNGKey(1),
                                                     x)["params"])
  assert float(jnp.abs(grads["encoder"]["Dense_0"]["kernel"]).max()) == 0


def test_tied_model_initialised_through_decode_alone():
  model = _deep(True)
  variables = jax.jit(lambda k, z: model.init(k, z, method=model.decode))(
      jax.random.PRNGKey(0), jnp.zeros((1, 30)))
  assert set(variables["params"]) == {"encoder", "decoder"}


@pytest.mark.parametrize("overrides,message", [
    ({"model.name": "conv", "model.tied": True}, "tied=True .* mlp model only"),
    ({"model.name": "conv", "method.name": "stacked_ae",
      "method.pretrain_epochs": 1}, "pre-trains the layers of an mlp"),
    ({"method.name": "stacked_ae", "method.pretrain_epochs": -1},
     "pretrain_epochs must be a non-negative integer"),
])
def test_bad_deep_config_is_a_clear_error(overrides, message):
  with pytest.raises(ValueError, match=message):
    make_method(tiny_config(**overrides), SHAPE)


# -- greedy layer-wise pre-training -------------------------------------------


def _pretrain(tmp_path, num_devices=1, **overrides):
  config = tiny_config(**{"method.name": "stacked_ae",
                          "method.pretrain_epochs": 2,
                          "model.hidden": (32, 16), "num_devices": num_devices,
                          **overrides})
  dataset = load_dataset(config.data)
  method = make_method(config, dataset.image_shape)
  x = jnp.zeros((config.batch_size,) + dataset.image_shape)
  init = method.init_variables(jax.random.PRNGKey(0), x)["params"]
  mesh = make_mesh(config.num_devices)
  params = pretrain_layerwise(method, init, dataset, mesh, str(tmp_path),
                              config)
  rows = [json.loads(l) for l in open(tmp_path / "pretrain.jsonl")]
  return method, dataset, init, params, rows


def _val_sq_err(method, params, dataset):
  x = jnp.asarray(dataset.validation.images, jnp.float32) / 255.0
  out = method.reconstruct(params, {}, x)
  return float(jnp.mean(jnp.sum((out - x).reshape(len(x), -1) ** 2, -1)))


@pytest.mark.parametrize("tied", [False, True])
def test_greedy_pretraining_trains_every_layer(tmp_path, tied):
  method, dataset, init, params, rows = _pretrain(tmp_path,
                                                  **{"model.tied": tied})
  # Every layer's parameters (encoder layer and its mirror) moved.
  for layer in range(3):
    before, after = (method.layer_params(p, layer) for p in (init, params))
    for (path, a), b in zip(jax.tree_util.tree_flatten_with_path(before)[0],
                            jax.tree_util.tree_leaves(after)):
      assert not np.allclose(a, b), (layer, path)
  # Each shallow AE reduced its own validation reconstruction loss.
  for layer in range(3):
    val = [r["loss"] for r in rows
           if r["layer"] == layer and r["split"] == "validation"]
    assert len(val) == 3 and val[-1] < 0.8 * val[0], (layer, val)
  # Stacked, the pre-trained layers already reconstruct better than the init.
  assert _val_sq_err(method, params, dataset) < 0.7 * _val_sq_err(
      method, init, dataset)


def test_each_layer_is_pretrained_on_the_trained_lower_layers_codes(
    tmp_path):
  """Layer l's shallow AE sees the clean codes of layers 0..l−1 as trained:
  its first validation loss (step 0, before its own training) equals its
  initial reconstruction MSE of those codes, computed here by hand from the
  final parameters of the layers below and the initial ones of layer l.
  (Codes of the untrained layers, or the images, would give other values.)
  Pre-training covers every layer: layer 2 (the code layer) has rows too."""
  method, dataset, init, params, rows = _pretrain(tmp_path)
  relu = lambda v: np.maximum(v, 0.0)
  sigmoid = lambda v: 1.0 / (1.0 + np.exp(-v))
  as64 = lambda tree: jax.tree_util.tree_map(
      lambda v: np.asarray(v, np.float64), tree)
  h = dataset.validation.images.reshape(len(dataset.validation), -1) / 255.0
  for layer in range(3):
    first = [r for r in rows
             if r["layer"] == layer and r["split"] == "validation"]
    assert first and first[0]["step"] == 0, (layer, first)
    p0 = as64(method.layer_params(init, layer))
    code_fn = (lambda v: v) if layer == 2 else relu
    out_fn = sigmoid if layer == 0 else relu
    code = code_fn(h @ p0["encoder"]["kernel"] + p0["encoder"]["bias"])
    out = out_fn(code @ p0["decoder"]["kernel"] + p0["decoder"]["bias"])
    expected = np.mean((out - h) ** 2)
    assert first[0]["loss"] == pytest.approx(expected, rel=1e-4), layer
    trained = as64(method.layer_params(params, layer))
    h = code_fn(h @ trained["encoder"]["kernel"] + trained["encoder"]["bias"])


def test_pretraining_is_sharded_like_training(tmp_path):
  """2 devices and 1 device, same global batch: the same pre-trained net."""
  *_, one, _ = _pretrain(tmp_path / "1", num_devices=1)
  *_, two, _ = _pretrain(tmp_path / "2", num_devices=2)
  for a, b in zip(jax.tree_util.tree_leaves(one),
                  jax.tree_util.tree_leaves(two)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_stacked_dae_corrupts_the_input_of_every_layer():
  for name, keyed in (("stacked_dae", True), ("stacked_ae", False)):
    method = make_method(tiny_config(**{
        "method.name": name, "model.hidden": (32, 16),
        "method.corruption": {"name": "masking", "fraction": 0.3}}), SHAPE)
    x = jnp.zeros((16,) + SHAPE)
    params = method.init_variables(jax.random.PRNGKey(0), x)["params"]
    for layer in range(3):
      shallow = method.shallow_autoencoder(layer)
      width = method.layer_params(params, layer)["encoder"]["kernel"].shape[0]
      codes = jax.random.uniform(jax.random.PRNGKey(layer), (16, width))
      loss = lambda k: float(shallow.loss_fn(
          method.layer_params(params, layer), {"image": codes},
          jax.random.PRNGKey(k), {})[0])
      assert (loss(1) != loss(2)) == keyed, (name, layer)


def test_stacked_dae_trains_through_the_loop(tmp_path):
  config = tiny_config(**{
      "method.name": "stacked_dae", "method.pretrain_epochs": 1,
      "method.corruption": {"name": "masking", "fraction": 0.25},
      "max_steps": 2})
  results = train_and_evaluate(config, str(tmp_path))
  rows = [json.loads(l) for l in open(tmp_path / "pretrain.jsonl")]
  assert {r["layer"] for r in rows} == {0, 1}
  assert np.isfinite(results["test"]["sq_err_per_image"])
  assert "psnr_noisy" in results["test"]  # evaluated as a denoiser


def test_pretrained_run_resumes_bit_for_bit(tmp_path):
  """Pre-training runs once, before step 0; a resumed run skips it and ends
  where an unbroken one does."""
  overrides = {"method.name": "stacked_ae", "method.pretrain_epochs": 1,
               "model.tied": True}
  unbroken, broken = str(tmp_path / "unbroken"), str(tmp_path / "broken")
  train_and_evaluate(tiny_config(**overrides), unbroken)
  train_and_evaluate(tiny_config(**overrides, max_steps=3), broken)
  os.remove(os.path.join(broken, "pretrain.jsonl"))
  second = train_and_evaluate(tiny_config(**overrides), broken)
  assert second["trained_steps_this_run"] == 3
  assert not os.path.exists(os.path.join(broken, "pretrain.jsonl"))
  a, pos_a = final_state(unbroken)
  b, pos_b = final_state(broken)
  assert pos_a == pos_b
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)


@requires_fashion_mnist
def test_deep_experiment_config_builds_the_2006_network(tmp_path):
  config = experiment_config("deep_ae_fashion_mnist")
  assert tuple(config.model.hidden) == (1000, 500, 250)
  assert config.model.latent_dim == 30
  assert config.method.pretrain_epochs > 0
  # Two steps of fine-tuning (pre-training full epochs is the real run's).
  config.method.pretrain_epochs = 0
  config.max_steps, config.progress_bar = 2, False
  results = train_and_evaluate(config, str(tmp_path))
  assert results["step"] == 2
  assert np.isfinite(results["test"]["sq_err_per_image"])
