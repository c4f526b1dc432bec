r"""The project's own Fashion-MNIST classifier: the feature extractor of the
Fréchet distance (:mod:`aejax.eval.frechet`) and the judge of mode coverage.

  python -m aejax.eval.classifier --workdir=runs/classifier [--epochs=5]

Architecture: Conv(32, 3x3) - ReLU - MaxPool(2) - Conv(64, 3x3) - ReLU -
MaxPool(2) - flatten - Dense(128) - ReLU (the 128-d penultimate features) -
Dense(10). Trained with Adam(1e-3), batch 128, cross-entropy, on the
55 000-image training split (the project's 5 000 validation images held
out, ``data.split_seed = 0``), images in [0, 1], no augmentation; every
random choice (initialisation, batch order) comes from ``--seed`` (0), so
the same command gives the same classifier. It is a
:class:`~aejax.eval.supervised.SoftmaxClassifier` trained through the
project's loop (:func:`aejax.eval.supervised.fit_classifier`): compiled
sharded steps, epoch ``e`` shuffled by ``numpy.random.default_rng([seed,
e])``, validated after every epoch. The work directory holds its Orbax
checkpoints (``checkpoints/``; the same command run again resumes an
interrupted training), ``metrics.jsonl`` and, once trained,
``classifier.json`` (architecture, data, seed, validation and test
accuracy); :func:`load_classifier` reads it back. (Directories written by
earlier versions, with a ``classifier.npz``, are refused: train again.)

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

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from aejax.eval.supervised import (SoftmaxClassifier, classifier_mesh,
                                   fit_classifier, initial_state)
from aejax.train.checkpoint import Checkpointer, CheckpointError, abstract_like

META_FILE = "classifier.json"
OLD_PARAMS_FILE = "classifier.npz"  # the format before Orbax checkpoints
EVAL_BATCH_SIZE = 1000


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

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    """Class logits [B, num_classes] (no dropout or BatchNorm: ``train``
    changes nothing)."""
    del train
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


def classifier_method(meta: dict) -> SoftmaxClassifier:
  """The method that trains (and rebuilds) the classifier of ``meta``."""
  return SoftmaxClassifier(Classifier(meta["num_classes"],
                                      meta["feature_dim"]),
                           meta["image_shape"], meta["learning_rate"],
                           train_mode=False)


def _initial_state(method: SoftmaxClassifier, seed: int, mesh=None):
  """Parameters from ``PRNGKey(seed)``; the step key (unused: the network
  draws nothing) from its own stream."""
  key = jax.random.PRNGKey(seed)
  images = jnp.zeros((1,) + method.image_shape, jnp.float32)
  return initial_state(method, method.init_variables(key, images),
                       jax.random.fold_in(key, 1), mesh)


def train_classifier(workdir: str, data_config=None, epochs: int = 5,
                     batch_size: int = 128, learning_rate: float = 1e-3,
                     seed: int = 0, max_steps: int = 0, num_devices: int = 0,
                     progress_bar: bool = False) -> dict:
  """Trains the classifier in ``workdir`` (resuming it there) and returns
  its metadata (also written to ``classifier.json``).

  Args:
    workdir: output directory.
    data_config: a ``config.data`` (default: the base config's
      Fashion-MNIST).
    epochs: passes over the training split.
    batch_size: batch size.
    learning_rate: Adam's learning rate.
    seed: initialisation and batch-order seed.
    max_steps: stop after this many steps (0: no limit), for tests.
    num_devices: devices of the data mesh (0: the most that split the batch
      sizes evenly).
    progress_bar: show the loop's progress bar.
  """
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  data_config = data_config or base_config().data
  dataset = load_dataset(data_config)
  meta = {"num_classes": len(dataset.class_names),
          "feature_dim": Classifier.feature_dim,
          "image_shape": list(dataset.image_shape), "data": dataset.name,
          "seed": seed, "batch_size": batch_size,
          "learning_rate": learning_rate}
  method = classifier_method(meta)
  mesh = classifier_mesh(batch_size, EVAL_BATCH_SIZE, num_devices)
  steps_per_epoch = len(dataset.train) // batch_size
  steps = epochs * steps_per_epoch
  if max_steps:
    steps = min(steps, max_steps)
  _, report = fit_classifier(
      method, _initial_state(method, seed, mesh), dataset.train,
      dataset.validation, workdir=workdir, steps=steps,
      batch_size=batch_size, seed=seed, mesh=mesh, test=dataset.test,
      eval_every=steps_per_epoch, eval_batch_size=EVAL_BATCH_SIZE,
      log_every=steps_per_epoch, checkpoint_every=steps_per_epoch,
      progress_bar=progress_bar, desc="classifier", spec=meta)
  meta.update(epochs=epochs, steps=steps,
              train_seconds=round(report["train_seconds"], 1),
              trained_steps_this_run=report["trained_steps"],
              final_train_loss=report["final_train_loss"],
              validation_accuracy=report["validation_accuracy"],
              test_accuracy=report["test_accuracy"],
              format="orbax")
  with open(os.path.join(workdir, META_FILE), "w") as f:
    json.dump(meta, f, indent=2)
  return meta


def load_classifier(workdir: str) -> TrainedClassifier:
  """The classifier trained in ``workdir`` by :func:`train_classifier`
  (its latest checkpoint), on the default device."""
  command = f"`python -m aejax.eval.classifier --workdir={workdir}`"
  meta_path = os.path.join(workdir, META_FILE)
  checkpointer = (Checkpointer(workdir, asynchronous=False)
                  if os.path.isdir(os.path.join(workdir, "checkpoints"))
                  else None)
  try:
    done = (os.path.exists(meta_path) and checkpointer is not None and
            checkpointer.latest_step() is not None)
    if not done:
      if os.path.exists(os.path.join(workdir, OLD_PARAMS_FILE)):
        raise CheckpointError(
            f"{workdir!r} holds a classifier in the old format "
            f"({OLD_PARAMS_FILE}), which this version no longer reads "
            "(classifiers are now Orbax checkpoints of the training loop). "
            f"Train it again with {command}; Fréchet distances are "
            "comparable only between runs scored with the same classifier.")
      if checkpointer is not None and checkpointer.latest_step() is not None:
        raise FileNotFoundError(
            f"The classifier in {workdir!r} has not finished training: run "
            f"{command} again to resume it.")
      raise FileNotFoundError(
          f"No trained classifier in {workdir!r}: train the classifier first "
          f"with {command}.")
    with open(meta_path) as f:
      meta = json.load(f)
    method = classifier_method(meta)
    abstract = jax.eval_shape(lambda: _initial_state(method, meta["seed"]))
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    state, _ = checkpointer.restore(abstract_like(abstract, device))
  finally:
    if checkpointer is not None:
      checkpointer.close()
  return TrainedClassifier(state.params, meta)


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--epochs", type=int, default=5)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--num_devices", type=int, default=0,
                      help="devices of the data mesh (0: the most that "
                      "split the batches)")
  parser.add_argument("--progress_bar", action="store_true")
  args = parser.parse_args(argv)
  print(json.dumps(train_classifier(args.workdir, epochs=args.epochs,
                                    seed=args.seed,
                                    num_devices=args.num_devices,
                                    progress_bar=args.progress_bar)))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
