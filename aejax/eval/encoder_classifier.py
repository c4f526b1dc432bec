"""A pre-trained autoencoder's encoder with a softmax head, in three variants.

The classifier of the few-label benchmark (:mod:`aejax.eval.few_labels`):
the encoder of a run whose method has the
:class:`~aejax.methods.base.TrainableEncoder` capability (its code: the
encoder's output after the method's code activation for sparse /
contractive runs, μ for a VAE) followed by ``Dense(num_classes)``
(``head_hidden=H`` puts a ``Dense(H)``-ReLU layer in between). Each variant
is a :class:`~aejax.eval.supervised.SoftmaxClassifier` (Adam, softmax
cross-entropy):

- ``frozen``: the encoder is a fixed feature extractor, run in evaluation
  mode (BatchNorm running statistics, no dropout); only ``params["head"]``
  is trained (``optax.set_to_zero`` on ``params["encoder"]``);
- ``fine_tuned``: encoder and head are trained together, in training mode
  (BatchNorm batch statistics, dropout);
- ``scratch``: like ``fine_tuned``, from a freshly initialised encoder.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

from aejax.eval.supervised import SoftmaxClassifier
from aejax.methods.base import TrainableEncoder, require

VARIANTS = ("frozen", "fine_tuned", "scratch")
# Which top-level parameter sub-trees each variant trains (None: all), and
# whether the encoder runs in training mode while it trains.
_TRAINABLE = {"frozen": ("head",), "fine_tuned": None, "scratch": None}
_TRAIN_MODE = {"frozen": False, "fine_tuned": True, "scratch": True}


class SoftmaxHead(nn.Module):
  """Class logits from a code: ``Dense(num_classes)``, or with ``hidden > 0``
  ``Dense(hidden) - ReLU - Dense(num_classes)``."""
  num_classes: int = 10
  hidden: int = 0

  @nn.compact
  def __call__(self, code: jax.Array) -> jax.Array:
    h = code
    if self.hidden:
      h = nn.relu(nn.Dense(self.hidden)(h))
    return nn.Dense(self.num_classes)(h)


class EncoderClassifier(nn.Module):
  """A pre-trainable encoder followed by a softmax head.

  Parameters: ``{"encoder": ..., "head": ...}``; ``params["encoder"]`` has
  exactly the structure of an autoencoder run's ``params["encoder"]`` (and
  ``batch_stats["encoder"]`` of its BatchNorm statistics).

  Attributes:
    encoder: the autoencoder's encoder module (e.g. ``MLPEncoder``).
    code_fn: maps the encoder's output to the code the head reads.
    num_classes: number of classes.
    head_hidden: width of the head's hidden layer (0: none).
  """
  encoder: nn.Module
  code_fn: Callable[[jax.Array], jax.Array]
  num_classes: int = 10
  head_hidden: int = 0

  def setup(self):
    self.head = SoftmaxHead(self.num_classes, self.head_hidden)

  def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
    return self.head(self.code_fn(self.encoder(x, train)))


def code_function(method) -> Callable[[jax.Array], jax.Array]:
  """The map from the method's encoder output to its code: the code
  activation of sparse / contractive methods, the mean μ for a VAE (whose
  encoder outputs μ and log σ²), else identity."""
  return require(method, TrainableEncoder).encoder_network()[1]


def build_classifier(method, num_classes: int,
                     head_hidden: int = 0) -> EncoderClassifier:
  """The classifier that reuses ``method``'s encoder."""
  encoder, code_fn = require(method, TrainableEncoder).encoder_network()
  if head_hidden < 0:
    raise ValueError(f"head_hidden must be >= 0, got {head_hidden}.")
  return EncoderClassifier(encoder.clone(parent=None), code_fn, num_classes,
                           head_hidden)


def init_variables(classifier: EncoderClassifier, key: jax.Array,
                   image_shape: Sequence[int]) -> dict:
  """Fresh ``{"params", "batch_stats"}`` of the classifier."""
  x = jnp.zeros((1,) + tuple(image_shape), jnp.float32)
  variables = dict(jax.jit(lambda k: classifier.init(k, x, train=False))(key))
  variables.setdefault("batch_stats", {})
  return {"params": variables["params"],
          "batch_stats": variables["batch_stats"]}


def with_pretrained_encoder(variables: dict, pretrained_params,
                            pretrained_batch_stats) -> dict:
  """``variables`` with the encoder's parameters (and BatchNorm statistics)
  replaced by the autoencoder's; the head is kept."""
  params = dict(variables["params"])
  if jax.tree_util.tree_structure(params["encoder"]) != (
      jax.tree_util.tree_structure(pretrained_params["encoder"])):
    raise ValueError("The pre-trained encoder's parameters do not match the "
                     "classifier's encoder.")
  params["encoder"] = pretrained_params["encoder"]
  batch_stats = dict(variables["batch_stats"])
  if "encoder" in batch_stats:
    batch_stats["encoder"] = pretrained_batch_stats["encoder"]
  return {"params": params, "batch_stats": batch_stats}


def variant_method(classifier: EncoderClassifier, variant: str,
                   image_shape: Sequence[int],
                   learning_rate: float) -> SoftmaxClassifier:
  """The method that trains ``classifier`` as ``variant`` (see the module
  docstring)."""
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r}: choose from {VARIANTS}.")
  return SoftmaxClassifier(classifier, image_shape, learning_rate,
                           trainable=_TRAINABLE[variant],
                           train_mode=_TRAIN_MODE[variant])
