"""The method contract: what every method is, and what a trained model can do.

A method is one class registered by name (:mod:`aejax.methods.registry`):

* :class:`Method` declares the few members the training loop uses: the
  initial variables for an example batch, the optax optimizer (built once
  from ``config.optimizer``), the body of the compiled training step and
  per-example evaluation metrics.
* :class:`GradientMethod` is a method trained by gradient descent on one
  pure loss: its only required member is ``loss_fn``, and it owns the
  finite-check-and-skip update. Alternating methods (AAE, GAN) subclass
  :class:`Method` and write their ``train_step`` themselves.
* Capabilities are small abstract bases a method also inherits when its
  trained model can do the thing: :class:`Encoder`, :class:`Decoder`,
  :class:`Reconstructor`, :class:`AnomalyScorer`, :class:`Sampler`,
  :class:`LikelihoodModel`, :class:`TrainableEncoder` (and :class:`Denoiser`, :class:`PriorMatcher`,
  :class:`LayerwisePretrained` for the figures and the loop). Code that
  needs one asks with :func:`require`, which raises a
  :class:`CapabilityError` naming the methods that have it; nothing looks
  for members with ``hasattr`` or compares method names.

Conventions: ``params`` and ``batch_stats`` are pytrees (``batch_stats`` is
``{}`` for models without BatchNorm); a batch is ``{"image": float32[B,
...] in [0, 1], "label": int32[B], "length": int32[B] (sequences)}``; every
random draw takes an explicit key.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import optax

from aejax.methods.optimizers import make_optimizer


Variables = dict[str, Any]   # {"params": ..., "batch_stats": ...}

# name -> method class; filled by aejax.methods.registry.register_method.
METHODS: dict[str, type] = {}


class CapabilityError(ValueError):
  """A method was asked for something its trained model cannot do."""


def all_finite(tree) -> jax.Array:
  """True when every floating-point leaf of ``tree`` is finite."""
  leaves = [x for x in jax.tree_util.tree_leaves(tree)
            if jnp.issubdtype(x.dtype, jnp.inexact)]
  return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


def keep_if(finite: jax.Array, new, old):
  """``new`` if ``finite``, else ``old`` (trees of the same structure).

  One ``lax.cond``, not a select per leaf: XLA fused a copy of the whole
  finiteness check into every leaf's select (the conv AAE's step grew ~8x,
  its compile time ~3x).
  """
  return jax.lax.cond(finite, lambda: new, lambda: old)


class Method(abc.ABC):
  """A training objective with its model(s) and optimizer.

  Subclasses are registered with
  :func:`aejax.methods.registry.register_method` and constructed as
  ``cls(config, image_shape)``.

  Attributes:
    name: the registered name (``config.method.name``).
    config: the run's config.
    image_shape: one example's shape, e.g. ``(28, 28, 1)`` or ``(T, F)``.
    models: the ``config.model.name`` values it trains (``()``: it builds
      its own networks and reads no ``model.name``).
    config_fields: the ``config.method`` fields it reads (besides ``name``);
      :func:`aejax.methods.registry.check_config` refuses a run that sets
      another one away from its default.
    model_fields: with ``models == ()``, the ``config.model`` fields its own
      networks read.
    samples_every_epoch: the loop draws a fixed-noise sample grid after
      every epoch (generators whose progress is judged by eye, the GAN).
  """
  name: ClassVar[str] = ""
  models: ClassVar[tuple[str, ...]] = ()
  config_fields: ClassVar[tuple[str, ...]] = ()
  model_fields: ClassVar[tuple[str, ...]] = ()
  samples_every_epoch: ClassVar[bool] = False

  def __init__(self, config, image_shape: tuple[int, ...]):
    self.config = config
    self.image_shape = tuple(image_shape)

  @abc.abstractmethod
  def init_variables(self, key: jax.Array, images: jax.Array) -> Variables:
    """Initial ``{"params": ..., "batch_stats": ...}`` for batches like
    ``images``."""

  @abc.abstractmethod
  def optimizer(self):
    """The optax transformation(s) the step applies; pure, built once."""

  @abc.abstractmethod
  def train_step(self, variables: Variables, opt_state, batch: dict,
                 key: jax.Array) -> tuple[Variables, Any, dict, jax.Array]:
    """The body of the compiled training step (one batch).

    Args:
      variables: ``{"params", "batch_stats"}``.
      opt_state: the state of :meth:`optimizer`.
      batch: the prepared batch (pixels in [0, 1], binarised if asked).
      key: this step's key.

    Returns:
      ``(variables, opt_state, metrics, finite)``: the new variables and
      optimizer state (the old ones where ``finite`` is false: a non-finite
      update is skipped), scalar metrics including ``loss``, and whether the
      update was finite.
    """

  @abc.abstractmethod
  def eval_metrics(self, params, batch: dict, key: jax.Array,
                   batch_stats) -> dict[str, jax.Array]:
    """Per-example evaluation metrics, each of shape [B]; ``loss`` among
    them. The evaluation averages them over the real examples."""


class GradientMethod(Method):
  """A method trained by descent on one pure loss (all but AAE and GAN).

  Subclasses write :meth:`loss_fn`; the step, its finite check and the
  optimizer (``config.optimizer`` through optax) come from here.
  """

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    self._tx = make_optimizer(config.optimizer)

  def optimizer(self) -> optax.GradientTransformation:
    return self._tx

  @abc.abstractmethod
  def loss_fn(self, params, batch: dict, key: jax.Array, batch_stats):
    """Pure training loss.

    Returns:
      ``(loss, (metrics, new_batch_stats))``; ``loss`` is a scalar (the
      batch mean of per-example terms plus any batch-level penalty) and
      ``metrics`` are scalars, ``loss`` among them.
    """

  def train_step(self, variables, opt_state, batch, key):
    """One optimizer step on :meth:`loss_fn`, skipped if not finite.

    Finiteness is checked on the loss and the gradients, before the update,
    and the update runs under ``lax.cond``: a skipped step costs nothing, and
    a taken one is the plain fused optimizer update (selecting between new
    and old parameters and optimizer state afterwards took ~40% of a small
    MLP's step on XLA:CPU). Finite gradients give finite updates because
    :func:`aejax.methods.optimizers.make_optimizer` refuses non-finite
    learning rates.
    """
    params, old_stats = variables["params"], variables["batch_stats"]
    grad_fn = jax.value_and_grad(self.loss_fn, has_aux=True)
    (loss, (metrics, batch_stats)), grads = grad_fn(params, batch, key,
                                                    old_stats)
    finite = jnp.isfinite(loss) & all_finite(grads)
    tx = self.optimizer()

    def update(operands):
      params, opt_state, grads = operands
      updates, opt_state = tx.update(grads, opt_state, params)
      return optax.apply_updates(params, updates), opt_state

    params, opt_state = jax.lax.cond(finite, update, lambda ops: ops[:2],
                                     (params, opt_state, grads))
    batch_stats = keep_if(finite, batch_stats, old_stats)
    return ({"params": params, "batch_stats": batch_stats}, opt_state,
            metrics, finite)


# -- capabilities --------------------------------------------------------------


class Encoder(abc.ABC):
  """The trained model maps inputs to codes."""
  capability = "encode inputs to codes"

  @abc.abstractmethod
  def encode(self, params, batch_stats, x: jax.Array) -> jax.Array:
    """Codes [B, L] of inputs ``x`` (evaluation mode; a VAE's posterior
    mean)."""


class TrainableEncoder(Encoder):
  """The encoder is a network a downstream model can reuse and fine-tune
  (the few-label classifiers of :mod:`aejax.eval.few_labels`)."""
  capability = "lend its encoder network to a classifier"

  @abc.abstractmethod
  def encoder_network(self):
    """``(module, code_fn)``: the encoder as a Flax module called as
    ``module(x, train)``, whose parameters are ``params["encoder"]`` (and
    BatchNorm statistics ``batch_stats["encoder"]``), and the map from its
    output to the code (a VAE's μ, a sparse code's activation)."""


class SequenceModel(abc.ABC):
  """The model reads variable-length sequences [B, T, F] with their
  lengths (``batch["length"]``); padding after a sequence's end changes
  nothing."""
  capability = "read variable-length sequences"

  @abc.abstractmethod
  def lengths(self, batch: dict) -> jax.Array:
    """The batch's sequence lengths [B] (T for each when absent)."""


class Decoder(abc.ABC):
  """The trained model maps codes to the data space."""
  capability = "decode codes"

  @abc.abstractmethod
  def decode(self, params, batch_stats, z: jax.Array) -> jax.Array:
    """Outputs in the data space (pixels in [0, 1]) for codes z [N, L]."""


class Reconstructor(abc.ABC):
  """The trained model reconstructs its input."""
  capability = "reconstruct inputs"

  @abc.abstractmethod
  def reconstruct(self, params, batch_stats, x: jax.Array) -> jax.Array:
    """The evaluation-mode reconstruction of ``x``, same shape."""


class AnomalyScorer(abc.ABC):
  """The trained model scores how unusual each example is."""
  capability = "score examples for anomaly detection"

  @abc.abstractmethod
  def score(self, params, batch_stats, batch: dict,
            key: jax.Array) -> jax.Array:
    """Per-example anomaly score [B]: higher is more anomalous."""


class Sampler(abc.ABC):
  """The trained model generates new examples."""
  capability = "sample new examples"

  @abc.abstractmethod
  def sample(self, params, batch_stats, key: jax.Array, n: int) -> jax.Array:
    """``n`` generated examples in the data space (pixels in [0, 1])."""


class LikelihoodModel(abc.ABC):
  """The trained model gives (an estimate of) log p(x)."""
  capability = "estimate log-likelihoods"

  @abc.abstractmethod
  def log_likelihood(self, params, batch_stats, x: jax.Array, key: jax.Array,
                     num_samples: int = 5000, chunk: int = 500) -> jax.Array:
    """Per-example log p(x) estimate in nats [B] from ``num_samples``
    samples, drawn ``chunk`` at a time (memory O(chunk))."""


class Denoiser(abc.ABC):
  """The method trains on corrupted inputs (figures show noisy/denoised)."""
  capability = "corrupt inputs"

  @abc.abstractmethod
  def corrupt(self, images: jax.Array, key: jax.Array) -> jax.Array:
    """What the network sees for clean ``images``."""


class PriorMatcher(abc.ABC):
  """The method matches its codes to a prior it can sample (AAE)."""
  capability = "sample its code prior"

  @abc.abstractmethod
  def prior_sample(self, key: jax.Array, n: int) -> jax.Array:
    """``n`` draws z ~ p(z), [n, L]."""


class LayerwisePretrained(abc.ABC):
  """The loop pre-trains the method's layers greedily before step 0.

  Stage ``l`` of :attr:`num_pretrain_stages` is a :class:`GradientMethod`
  trained on the codes of the stages below (the training loop does it with
  the same compiled step and machinery as the main run).
  """
  capability = "pre-train layer by layer"

  @property
  @abc.abstractmethod
  def num_pretrain_stages(self) -> int:
    """Number of stages (0: no pre-training)."""

  @abc.abstractmethod
  def pretrain_stage(self, stage: int) -> GradientMethod:
    """The method that trains stage ``stage`` (its ``encode(params, x)``
    maps the stage's inputs to the next stage's inputs)."""

  @abc.abstractmethod
  def stage_params(self, params, stage: int):
    """Stage ``stage``'s parameters, taken from the deep model's."""

  @abc.abstractmethod
  def with_stage_params(self, params, stage: int, stage_params):
    """The deep model's parameters with stage ``stage``'s replaced."""


def require(method, capability: type):
  """``method`` if it has ``capability``, else a :class:`CapabilityError`.

  The message names the capability and the registered methods that have it.
  """
  if isinstance(method, capability):
    return method
  able = sorted(name for name, cls in METHODS.items()
                if issubclass(cls, capability))
  raise CapabilityError(
      f"Method {method.name!r} cannot {capability.capability} (it has no "
      f"{capability.__name__} capability). Methods that can: "
      f"{', '.join(able) or 'none'}.")
