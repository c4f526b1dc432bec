"""Stacked autoencoders with greedy layer-wise pre-training.

``stacked_ae`` and ``stacked_dae`` are the ``ae`` and ``dae`` methods with a
``pretrain`` step that the training loop runs before step 0 (not when it
resumes). For an MLP 784-h₁-…-h_k-d it trains one shallow autoencoder per
layer, input side first:

  AE₁: x  -> act(x W₁ + b₁)   = h₁ -> out(h₁ V₁ + c₁)   ≈ x
  AE₂: h₁ -> act(h₁ W₂ + b₂)  = h₂ -> act(h₂ V₂ + c₂)   ≈ h₁
  …
  AE_L: h_{L-1} -> h_{L-1} W_L + b_L = z (linear code) -> act(z V_L + c_L)

each on the (clean) codes of the layers below, frozen. ``(W_l, b_l)`` become
encoder layer l and ``(V_l, c_l)`` the decoder layer that mirrors it; with
``model.tied=True`` the shallow AEs are tied too (``V_l = W_lᵀ``) and only
``c_l`` is the decoder's. Every shallow AE is exactly the piece of the deep
network it initialises: the decoder half of AE_l ends in the non-linearity
that follows that layer in the deep decoder (the method's output activation
for AE₁, the hidden activation for the others). AE₁ minimises the method's loss
(``method.loss``); the others the mean squared error of their input code.
End-to-end training of the whole stack ("fine-tuning") is then the ordinary
``ae`` / ``dae`` training that the loop runs.

With ``stacked_dae`` each shallow AE sees its input corrupted by the method's
corruption (the codes handed to the next layer are computed from clean
inputs), as in stacked denoising autoencoders. The corruption is applied as
configured to every layer's input: masking or salt-and-pepper noise suit
hidden codes; Gaussian noise clipped to [0, 1] suits [0, 1]-valued codes
(sigmoid activations) only. Pre-training uses no dropout.

Settings: ``method.pretrain_epochs`` epochs per layer (0: no pre-training,
the method is then plain ``ae`` / ``dae``), with ``config.optimizer``,
``config.batch_size`` and the training split of the run. Each layer's steps
are the project's compiled training step (:func:`aejax.train.step.
compile_steps`) on batches sharded like the main loop's; per-epoch losses go
to ``workdir/pretrain.jsonl``. Pre-training is a pure function of the config
and data, so a run killed before its first checkpoint repeats it exactly.

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Bengio, Lamblin, Popovici & Larochelle, "Greedy Layer-Wise Training of Deep
  Networks", NIPS 2007.
  Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
  Autoencoders: Learning Useful Representations in a Deep Network with a
  Local Denoising Criterion", JMLR 11, 2010.
"""

from __future__ import annotations

import json
import os
import time
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from absl import logging

from aejax import losses
from aejax.data.pipeline import TrainBatches, eval_batches, replicated
from aejax.data.sources import Split
from aejax.data.transforms import prepare_batch
from aejax.methods.autoencoder import Autoencoder, DenoisingAutoencoder
from aejax.methods.registry import register_method
from aejax.models.activations import get_activation
from aejax.train.state import TrainState, make_optimizer
from aejax.train.step import compile_steps

PRETRAIN_FILE = "pretrain.jsonl"
_PRETRAIN_STREAM = 0x57AC  # fold_in constant: pre-training keys' own stream


class ShallowAutoencoder:
  """The one-hidden-layer AE that pre-trains one layer of a deep MLP AE.

  Its parameters are ``{"encoder": {"kernel", "bias"}, "decoder": {"bias"}
  [+ "kernel" when untied]}``, the same leaves as the deep model's encoder
  layer and the decoder layer that mirrors it. It offers the ``loss_fn`` /
  ``eval_metrics`` interface of a method, so the project's compiled steps
  train and evaluate it.

  Args:
    code_fn: the encoder layer's non-linearity.
    output_fn: the non-linearity after the decoder layer.
    loss_name: ``"mse"`` or ``"bce"`` (see :mod:`aejax.losses`).
    corrupt: ``corrupt(x, key)``, what the encoder sees (identity for AE).
  """

  def __init__(self, code_fn: Callable, output_fn: Callable, loss_name: str,
               corrupt: Callable):
    self.code_fn = code_fn
    self.output_fn = output_fn
    self.loss_name = loss_name
    self.corrupt = corrupt

  def encode(self, params, x: jax.Array) -> jax.Array:
    enc = params["encoder"]
    return self.code_fn(jnp.dot(x, enc["kernel"]) + enc["bias"])

  def logits(self, params, x: jax.Array) -> jax.Array:
    dec = params["decoder"]
    kernel = dec["kernel"] if "kernel" in dec else params["encoder"]["kernel"].T
    return jnp.dot(self.encode(params, x), kernel) + dec["bias"]

  def _per_example(self, params, batch, key):
    x = batch["image"].reshape(batch["image"].shape[0], -1)
    logits = self.logits(params, self.corrupt(x, key))
    output = self.output_fn(logits)
    return (losses.reconstruction_loss(self.loss_name, logits, output, x),
            losses.sum_squared_error(output, x))

  def loss_fn(self, params, batch, key, batch_stats):
    per_example, _ = self._per_example(params, batch, key)
    loss = losses.batch_mean(per_example)
    return loss, ({"loss": loss}, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    del batch_stats
    loss, sq_err = self._per_example(params, batch, key)
    return {"loss": loss, "sq_err": sq_err}


class GreedyLayerwisePretraining:
  """Mixin: greedy layer-wise pre-training for an MLP autoencoder method.

  Combine it with a method class (``class M(GreedyLayerwisePretraining,
  Autoencoder)``); it uses that class's ``corrupt``, ``loss_name`` and
  ``output_fn``. See the module docstring for what it does.
  """

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    if config.model.name != "mlp":
      raise ValueError(f"Method {self.name!r} pre-trains the layers of an mlp "
                       f"model, not {config.model.name!r}.")
    epochs = config.method.get("pretrain_epochs", 0)
    if not isinstance(epochs, int) or epochs < 0:
      raise ValueError(f"method.pretrain_epochs must be a non-negative "
                       f"integer, got {epochs!r}.")
    self.pretrain_epochs = epochs
    self.tied = bool(config.model.get("tied", False))
    self.num_layers = len(tuple(config.model.hidden)) + 1

  # -- the layers of the deep model -------------------------------------------

  def layer_params(self, params, layer: int) -> dict:
    """Encoder layer ``layer`` and its mirror in the decoder, as one tree."""
    mirror = self.num_layers - 1 - layer
    name = f"TiedDense_{mirror}" if self.tied else f"Dense_{mirror}"
    return {"encoder": dict(params["encoder"][f"Dense_{layer}"]),
            "decoder": dict(params["decoder"][name])}

  def with_layer_params(self, params, layer: int, new: dict) -> dict:
    """``params`` with encoder layer ``layer`` and its mirror replaced."""
    mirror = self.num_layers - 1 - layer
    name = f"TiedDense_{mirror}" if self.tied else f"Dense_{mirror}"
    params = {k: dict(v) for k, v in params.items()}
    params["encoder"][f"Dense_{layer}"] = new["encoder"]
    params["decoder"][name] = new["decoder"]
    return params

  def shallow_autoencoder(self, layer: int) -> ShallowAutoencoder:
    """The shallow AE that pre-trains layer ``layer`` (0 = input side)."""
    act = get_activation(self.config.model.activation)
    identity = lambda x: x
    first, last = layer == 0, layer == self.num_layers - 1
    return ShallowAutoencoder(
        code_fn=identity if last else act,
        output_fn=self.output_fn if first else act,
        loss_name=self.loss_name if first else "mse",
        corrupt=self.corrupt)

  # -- pre-training -----------------------------------------------------------

  def pretrain(self, params, batch_stats, dataset, mesh, workdir):
    """Greedy layer-wise pre-training; returns ``(params, batch_stats)``.

    Args:
      params: the deep model's initial parameters (replicated).
      batch_stats: its BatchNorm statistics (returned unchanged).
      dataset: the run's :class:`aejax.data.Dataset`.
      mesh: the device mesh; batches are sharded over its ``data`` axis.
      workdir: where ``pretrain.jsonl`` is (re)written.
    """
    if self.pretrain_epochs == 0:
      return params, batch_stats
    os.makedirs(workdir, exist_ok=True)
    log_path = os.path.join(workdir, PRETRAIN_FILE)
    open(log_path, "w").close()
    train, validation = dataset.train, dataset.validation
    params = jax.device_get(params)
    for layer in range(self.num_layers):
      start = time.perf_counter()
      shallow = self.shallow_autoencoder(layer)
      trained = self._train_layer(layer, shallow,
                                  self.layer_params(params, layer), train,
                                  validation, mesh, log_path)
      params = self.with_layer_params(params, layer, trained)
      if layer < self.num_layers - 1:  # Clean codes feed the next layer.
        train, validation = (self._codes(shallow, trained, split, mesh)
                             for split in (train, validation))
      _append(log_path, {"layer": layer, "split": "done",
                         "seconds": time.perf_counter() - start})
    return params, batch_stats

  def _train_layer(self, layer, shallow, layer_params, train, validation,
                   mesh, log_path):
    # Imported here: aejax.train.loop imports the methods.
    from aejax.train.loop import evaluate  # pylint: disable=g-import-not-at-top
    config = self.config
    tx = make_optimizer(config.optimizer)
    key = jax.random.fold_in(jax.random.fold_in(
        jax.random.PRNGKey(config.seed), _PRETRAIN_STREAM), layer)
    k_state, k_eval = jax.random.split(key)
    state = jax.device_put(TrainState(
        step=jnp.zeros((), jnp.int32), params=layer_params,
        opt_state=tx.init(layer_params), batch_stats={}, key=k_state,
        skipped_steps=jnp.zeros((), jnp.int32)), replicated(mesh))
    # Dynamic binarisation applies to images, not to codes.
    binarize = config.data.binarize and layer == 0
    train_fn, eval_fn = compile_steps(shallow, tx, mesh, binarize)
    batches = TrainBatches(train, config.batch_size, config.seed, mesh)

    def log(epoch, split, metrics):
      row = {"layer": layer, "epoch": epoch, "step": int(state.step),
             "split": split, **{k: float(v) for k, v in metrics.items()}}
      _append(log_path, row)
      return row

    row = log(0, "validation", evaluate(eval_fn, state, validation,
                                        config.eval_batch_size, mesh, k_eval))
    logging.info("Pre-training layer %d: validation loss %.4g before.", layer,
                 row["loss"])
    for epoch in range(1, self.pretrain_epochs + 1):
      window = []
      for _ in range(batches.steps_per_epoch):
        state, metrics = train_fn(state, next(batches))
        window.append(metrics)
      window = jax.device_get(window)
      log(epoch, "train", {"loss": np.mean([m["loss"] for m in window]),
                           "skipped_steps": state.skipped_steps})
      row = log(epoch, "validation", evaluate(
          eval_fn, state, validation, config.eval_batch_size, mesh, k_eval))
      logging.info("Pre-training layer %d, epoch %d: validation loss %.4g.",
                   layer, epoch, row["loss"])
    return jax.device_get(state.params)

  def _codes(self, shallow, layer_params, split, mesh) -> Split:
    """The layer's clean codes of every example of ``split`` (float32)."""
    encode = jax.jit(lambda p, b: shallow.encode(
        p, prepare_batch(b)["image"].reshape(b["image"].shape[0], -1)),
                     out_shardings=replicated(mesh))
    layer_params = jax.device_put(layer_params, replicated(mesh))
    chunks = [jax.device_get(encode(layer_params, b))
              for b in eval_batches(split, self.config.eval_batch_size, mesh)]
    codes = np.concatenate(chunks)[:len(split)]
    return Split(codes.astype(np.float32), split.labels)


def _append(path: str, row: dict) -> None:
  with open(path, "a") as f:
    f.write(json.dumps(row) + "\n")


@register_method("stacked_ae")
class StackedAutoencoder(GreedyLayerwisePretraining, Autoencoder):
  """``ae`` after greedy layer-wise pre-training (Hinton & Salakhutdinov 2006;
  Bengio et al. 2007)."""


@register_method("stacked_dae")
class StackedDenoisingAutoencoder(GreedyLayerwisePretraining,
                                  DenoisingAutoencoder):
  """``dae`` after layer-wise denoising pre-training: stacked denoising
  autoencoders (Vincent et al. 2010)."""
