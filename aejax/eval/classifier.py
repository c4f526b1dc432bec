r"""The project's own Fashion-MNIST classifier: the feature extractor of the
Fréchet distance (:mod:`aejax.eval.frechet`) and the judge of mode coverage.

  python -m aejax.eval.classifier --workdir=runs/classifier [--epochs=5]

Architecture: Conv(32, 3x3) - ReLU - MaxPool(2) - Conv(64, 3x3) - ReLU -
MaxPool(2) - flatten - Dense(128) - ReLU (the 128-d penultimate features) -
Dense(10). Trained with Adam(1e-3), batch 128, cross-entropy, on the
55 000-image training split (the project's 5 000 validation images held
out, ``data.split_seed = 0``), images in [0, 1], no augmentation; every
random choice (initialisation, batch order) comes from ``--seed`` (0), so
the same command gives the same classifier. Writes to the work directory
``classifier.npz`` (the parameters, flattened with "/"-joined names) and
``classifier.json`` (architecture, data, seed, validation and test
accuracy).

The Fréchet distance of Heusel et al. (2017) uses Inception-v3 features; an
ImageNet network is neither available offline nor meaningful on 28x28 grey
clothes, so — as is common for MNIST-like data — the features are those of
a classifier trained on the data set itself. Numbers are comparable only
between runs scored with the same classifier file.

References:
  Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter, "GANs Trained by a Two
  Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
  Xiao, Rasul & Vollgraf, "Fashion-MNIST", arXiv:1708.07747, 2017.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import traverse_util

PARAMS_FILE = "classifier.npz"
META_FILE = "classifier.json"


class Classifier(nn.Module):
  """The small CNN of the module docstring; ``features`` is the penultimate
  (post-ReLU) layer."""
  num_classes: int = 10
  feature_dim: int = 128

  def setup(self):
    self.conv1 = nn.Conv(32, (3, 3), padding="SAME")
    self.conv2 = nn.Conv(64, (3, 3), padding="SAME")
    self.hidden = nn.Dense(self.feature_dim)
    self.head = nn.Dense(self.num_classes)

  def features(self, x: jax.Array) -> jax.Array:
    """Images [B, H, W, C] in [0, 1] -> features [B, feature_dim]."""
    h = nn.max_pool(nn.relu(self.conv1(x)), (2, 2), (2, 2))
    h = nn.max_pool(nn.relu(self.conv2(h)), (2, 2), (2, 2))
    return nn.relu(self.hidden(h.reshape(h.shape[0], -1)))

  def __call__(self, x: jax.Array) -> jax.Array:
    """Class logits [B, num_classes]."""
    return self.head(self.features(x))


class TrainedClassifier:
  """A trained :class:`Classifier`: parameters plus batched, compiled
  ``features``, ``logits`` and ``predict`` on images in [0, 1]."""

  def __init__(self, params, meta: dict):
    self.params = params
    self.meta = meta
    self.module = Classifier(meta["num_classes"], meta["feature_dim"])
    self.image_shape = tuple(meta["image_shape"])
    self._features = jax.jit(lambda p, x: self.module.apply(
        {"params": p}, x, method=Classifier.features))
    self._logits = jax.jit(lambda p, x: self.module.apply({"params": p}, x))

  def _batched(self, fn, images: np.ndarray, batch_size: int) -> np.ndarray:
    images = np.asarray(images)
    if images.shape[1:] != self.image_shape:
      raise ValueError(f"The classifier was trained on images of shape "
                       f"{self.image_shape}, got {images.shape[1:]}.")
    out = []
    for i in range(0, len(images), batch_size):
      x = images[i:i + batch_size]
      n = len(x)
      if n < batch_size:  # pad: one compiled shape
        x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:],
                                        x.dtype)])
      out.append(np.asarray(fn(self.params, jnp.asarray(_to_unit(x))))[:n])
    return np.concatenate(out)

  def features(self, images, batch_size: int = 1000) -> np.ndarray:
    """Penultimate features [N, feature_dim] of images in [0, 1] (or uint8)."""
    return self._batched(self._features, images, batch_size)

  def logits(self, images, batch_size: int = 1000) -> np.ndarray:
    return self._batched(self._logits, images, batch_size)

  def predict(self, images, batch_size: int = 1000) -> np.ndarray:
    """Predicted class of each image."""
    return self.logits(images, batch_size).argmax(-1)


def _to_unit(x: np.ndarray) -> np.ndarray:
  """uint8 [0, 255] -> float32 [0, 1]; floats are taken as already in [0, 1]."""
  if x.dtype == np.uint8:
    return x.astype(np.float32) / 255.0
  return x.astype(np.float32)


def train_classifier(workdir: str, data_config=None, epochs: int = 5,
                     batch_size: int = 128, learning_rate: float = 1e-3,
                     seed: int = 0, max_steps: int = 0) -> dict:
  """Trains the classifier and saves it in ``workdir``; returns its metadata.

  Args:
    workdir: output directory.
    data_config: a ``config.data`` (default: the base config's
      Fashion-MNIST).
    epochs: passes over the training split.
    batch_size: batch size.
    learning_rate: Adam's learning rate.
    seed: initialisation and batch-order seed.
    max_steps: stop after this many steps (0: no limit), for tests.
  """
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  data_config = data_config or base_config().data
  dataset = load_dataset(data_config)
  num_classes = len(dataset.class_names)
  module = Classifier(num_classes)
  key = jax.random.PRNGKey(seed)
  params = module.init(key, jnp.zeros((1,) + dataset.image_shape))["params"]
  tx = optax.adam(learning_rate)
  opt_state = tx.init(params)

  @jax.jit
  def step(params, opt_state, x, y):
    def loss_fn(p):
      logits = module.apply({"params": p}, x)
      return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()
    loss, grads = jax.value_and_grad(loss_fn)(params)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  train = dataset.train
  steps_per_epoch = len(train) // batch_size
  start = time.perf_counter()
  done = 0
  for epoch in range(epochs):
    order = np.random.default_rng([seed, epoch]).permutation(len(train))
    for i in range(steps_per_epoch):
      rows = order[i * batch_size:(i + 1) * batch_size]
      params, opt_state, loss = step(
          params, opt_state, jnp.asarray(_to_unit(train.images[rows])),
          jnp.asarray(train.labels[rows]))
      done += 1
      if max_steps and done >= max_steps:
        break
    if max_steps and done >= max_steps:
      break
  train_seconds = time.perf_counter() - start
  meta = {"num_classes": num_classes, "feature_dim": module.feature_dim,
          "image_shape": list(dataset.image_shape), "data": dataset.name,
          "seed": seed, "epochs": epochs, "steps": done,
          "batch_size": batch_size, "learning_rate": learning_rate,
          "train_seconds": round(train_seconds, 1),
          "final_train_loss": float(loss)}
  trained = TrainedClassifier(params, meta)
  for name, split in (("validation", dataset.validation),
                      ("test", dataset.test)):
    meta[f"{name}_accuracy"] = float(np.mean(
        trained.predict(split.images) == split.labels))
  save_classifier(workdir, params, meta)
  return meta


def save_classifier(workdir: str, params, meta: dict) -> None:
  os.makedirs(workdir, exist_ok=True)
  flat = traverse_util.flatten_dict(jax.device_get(params), sep="/")
  np.savez(os.path.join(workdir, PARAMS_FILE), **flat)
  with open(os.path.join(workdir, META_FILE), "w") as f:
    json.dump(meta, f, indent=2)


def load_classifier(workdir: str) -> TrainedClassifier:
  """The classifier saved in ``workdir`` by :func:`train_classifier`."""
  path = os.path.join(workdir, PARAMS_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
        f"No {PARAMS_FILE} in {workdir!r}: train the classifier first with "
        f"`python -m aejax.eval.classifier --workdir={workdir}`.")
  with np.load(path) as f:
    flat = {k: jnp.asarray(f[k]) for k in f.files}
  with open(os.path.join(workdir, META_FILE)) as f:
    meta = json.load(f)
  return TrainedClassifier(traverse_util.unflatten_dict(flat, sep="/"), meta)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  print(json.dumps(train_classifier(args.workdir, epochs=args.epochs,
                                    seed=args.seed)))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
