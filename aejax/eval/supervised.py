"""Softmax classifiers as methods of the contract, trained through the loop.

The project's supervised models — the few-label classifiers of
:mod:`aejax.eval.few_labels` and the feature classifier of
:mod:`aejax.eval.classifier` — are :class:`SoftmaxClassifier` methods (a
:class:`~aejax.methods.base.GradientMethod`, not registered: a tool builds
one per run) and train with :func:`fit_classifier`, i.e. through
:func:`aejax.train.trainer.fit`: the compiled, sharded step, per-epoch shuffles
of the training split (``TrainBatches``), the non-finite guard, Orbax
checkpoints and resume, ``metrics.jsonl``. A run lives in its own work
directory; running it again continues it (or, when it is done, only
evaluates it).

Loss: the batch mean of the per-example softmax cross-entropy on integer
labels (nats); evaluation metrics per example: ``loss`` and ``accuracy``
(0/1), averaged over a split by the loop's evaluation.
"""

from __future__ import annotations

import json
import os
import time
from typing import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections
import optax

from aejax import losses
from aejax.data.pipeline import make_mesh, replicated
from aejax.data.types import Split
from aejax.methods.base import GradientMethod
from aejax.plotting import read_metrics
from aejax.train.checkpoint import CheckpointError
from aejax.train.hooks import Hook, Validation, evaluate
from aejax.train.trainer import fit
from aejax.train.state import TrainState
from aejax.train.step import compile_steps
from aejax.train.writers import METRICS_FILE, default_writers

SPEC_FILE = "classifier_spec.json"  # the settings a resumed run must share
LAST_STEP_FILE = "last_step.json"   # the last step's training metrics


class SoftmaxClassifier(GradientMethod):
  """A Flax classifier trained with Adam on softmax cross-entropy.

  Args:
    module: the network, called as ``module(x, train)`` on images in
      [0, 1]; returns class logits. BatchNorm statistics (if any) live in
      the ``batch_stats`` collection, dropout draws from the ``dropout``
      stream.
    image_shape: one image's shape.
    learning_rate: Adam's (constant) learning rate.
    trainable: the top-level parameter sub-trees the optimizer updates
      (``None``: all). The others are frozen: ``optax.set_to_zero`` in an
      ``optax.multi_transform`` (no optimizer state), no gradient flows
      into them, and the step passes them through bit-identical.
    train_mode: run the module in training mode in the training step
      (BatchNorm batch statistics, updated running statistics, dropout);
      ``False``: evaluation mode throughout (a frozen feature extractor).
  """

  name = "softmax_classifier"

  def __init__(self, module: nn.Module, image_shape: Sequence[int],
               learning_rate: float, *,
               trainable: Sequence[str] | None = None,
               train_mode: bool = True):
    config = ml_collections.ConfigDict({
        "method": {"name": self.name},
        "optimizer": {"name": "adam", "learning_rate": float(learning_rate),
                      "b1": 0.9, "b2": 0.999, "grad_clip_norm": 0.0}})
    super().__init__(config, tuple(image_shape))
    self.module = module
    self.learning_rate = float(learning_rate)
    self.trainable = None if trainable is None else tuple(trainable)
    self.train_mode = bool(train_mode)
    adam = super().optimizer()  # optax.adam(learning_rate)
    if self.trainable is None:
      self._classifier_tx = adam
    else:
      self._classifier_tx = optax.multi_transform(
          {"trained": adam, "frozen": optax.set_to_zero()}, self._labels)

  def _labels(self, params: dict) -> dict:
    return {k: "trained" if k in self.trainable else "frozen" for k in params}

  def _frozen(self, params: dict) -> tuple[str, ...]:
    if self.trainable is None:
      return ()
    return tuple(k for k in params if k not in self.trainable)

  def optimizer(self) -> optax.GradientTransformation:
    return self._classifier_tx

  def init_variables(self, key, images):
    variables = dict(self.module.init(key, images[:1], train=False))
    return {"params": variables["params"],
            "batch_stats": variables.get("batch_stats", {})}

  def logits(self, params, batch_stats, x: jax.Array) -> jax.Array:
    """Evaluation-mode class logits of images ``x`` in [0, 1]."""
    return self.module.apply({"params": params, "batch_stats": batch_stats},
                             x, train=False)

  def _per_example(self, logits, labels):
    return (optax.softmax_cross_entropy_with_integer_labels(logits, labels),
            (jnp.argmax(logits, -1) == labels).astype(jnp.float32))

  def loss_fn(self, params, batch, key, batch_stats):
    # No gradient into the frozen sub-trees: XLA drops their backward pass.
    params = {k: jax.lax.stop_gradient(v) if k in self._frozen(params) else v
              for k, v in params.items()}
    variables = {"params": params, "batch_stats": batch_stats}
    if self.train_mode:
      logits, updates = self.module.apply(
          variables, batch["image"], train=True, rngs={"dropout": key},
          mutable=["batch_stats"])
      batch_stats = updates.get("batch_stats", batch_stats)
    else:
      logits = self.module.apply(variables, batch["image"], train=False)
    cross_entropy, correct = self._per_example(logits, batch["label"])
    loss = losses.batch_mean(cross_entropy)
    return loss, ({"loss": loss, "accuracy": losses.batch_mean(correct)},
                  batch_stats)

  def train_step(self, variables, opt_state, batch, key):
    """:meth:`GradientMethod.train_step`, with the frozen sub-trees passed
    through as they were (their zero update would still turn a ``-0.0``
    into ``+0.0``)."""
    new, opt_state, metrics, finite = super().train_step(
        variables, opt_state, batch, key)
    frozen = self._frozen(variables["params"])
    if frozen:
      new = {**new, "params": {**new["params"], **{
          k: variables["params"][k] for k in frozen}}}
    return new, opt_state, metrics, finite

  def eval_metrics(self, params, batch, key, batch_stats):
    del key
    cross_entropy, correct = self._per_example(
        self.logits(params, batch_stats, batch["image"]), batch["label"])
    return {"loss": cross_entropy, "accuracy": correct}


def initial_state(method: SoftmaxClassifier, variables: dict,
                  key: jax.Array, mesh=None) -> TrainState:
  """Step 0 from ``variables`` (``{"params", "batch_stats"}``): the
  optimizer's initial state and ``key`` (step ``s`` draws from
  ``fold_in(key, s)``), replicated over ``mesh`` when given.

  With a mesh the state is a copy: the compiled step donates (deletes) the
  state it is given, and ``variables`` (a pre-trained encoder, a shared
  initial head) serve several runs.
  """
  params = variables["params"]
  missing = set(method.trainable or ()) - set(params)
  if missing:
    raise ValueError(f"trainable names {sorted(missing)}, which the "
                     f"parameters lack (they have {sorted(params)}).")
  state = TrainState(step=jnp.zeros((), jnp.int32), params=params,
                     opt_state=method.optimizer().init(params),
                     batch_stats=variables.get("batch_stats", {}), key=key,
                     skipped_steps=jnp.zeros((), jnp.int32))
  if mesh is None:
    return state
  return jax.device_put(state, replicated(mesh), may_alias=False)


def evaluate_classifier(method: SoftmaxClassifier, state: TrainState,
                        split: Split, batch_size: int, mesh) -> dict:
  """Mean ``loss`` and ``accuracy`` over ``split`` (the loop's evaluation:
  evaluation mode, padded batches of ``batch_size``)."""
  _, eval_fn = compile_steps(method, mesh, binarize=False)
  return evaluate(eval_fn, state, split, batch_size, mesh,
                  jax.random.PRNGKey(0))


def classifier_mesh(batch_size: int, eval_batch_size: int,
                    num_devices: int = 0):
  """The data mesh: ``num_devices`` devices, or with 0 the most devices
  (at most all) that split both batch sizes evenly."""
  if num_devices:
    return make_mesh(num_devices)
  count = max(d for d in range(1, len(jax.devices()) + 1)
              if batch_size % d == 0 and eval_batch_size % d == 0)
  return make_mesh(count)


def check_spec(workdir: str, spec: dict) -> None:
  """Records ``spec`` in ``workdir``, or checks it against the recorded one:
  a run resumes only with the settings it started with."""
  spec = json.loads(json.dumps(spec))
  path = os.path.join(workdir, SPEC_FILE)
  if os.path.exists(path):
    with open(path) as f:
      saved = json.load(f)
    changed = sorted(k for k in set(saved) | set(spec)
                     if saved.get(k) != spec.get(k))
    if changed:
      raise CheckpointError(
          f"{workdir!r} holds a classifier run with other settings ("
          + ", ".join(f"{k}: {saved.get(k)!r} there, {spec.get(k)!r} now"
                      for k in changed)
          + "). Resuming would not continue the same run: use another "
          "output directory, or delete that one.")
    return
  os.makedirs(workdir, exist_ok=True)
  with open(path, "w") as f:
    json.dump(spec, f, indent=2)


class LastStep(Hook):
  """Writes the last step's training metrics to ``LAST_STEP_FILE`` (before
  the final checkpoint, so a finished run always has it)."""

  def __init__(self, workdir: str):
    self.path = os.path.join(workdir, LAST_STEP_FILE)

  def after_step(self, loop, metrics):
    if loop.step == loop.total_steps:
      row = {k: float(v) for k, v in jax.device_get(metrics).items()
             if k != "finite"}
      with open(self.path, "w") as f:
        json.dump({"step": loop.step, **row}, f)


def fit_classifier(method: SoftmaxClassifier, state: TrainState, train: Split,
                   validation: Split, *, workdir: str, steps: int,
                   batch_size: int, seed: int, mesh, test: Split | None = None,
                   eval_every: int = 0, eval_batch_size: int = 1000,
                   log_every: int = 100, checkpoint_every: int = 500,
                   progress_bar: bool = False, desc: str = "classifier",
                   spec: dict | None = None) -> tuple[TrainState, dict]:
  """Trains ``method`` from ``state`` for ``steps`` steps in ``workdir``
  (resuming its latest checkpoint) and evaluates it.

  Args:
    method: the classifier.
    state: the initial state (:func:`initial_state`); ignored when
      ``workdir`` holds a checkpoint.
    train: the training examples; the batch of step ``s`` is ``TrainBatches``'
      (epoch ``e`` shuffled by ``numpy.random.default_rng([seed, e])``, the
      last partial batch dropped).
    validation: evaluated every ``eval_every`` steps (0: only at the end).
    workdir: the run's own directory (checkpoints, ``metrics.jsonl``).
    steps: total optimizer steps (a finished run asked for more continues).
    batch_size: examples per step (at most ``len(train)``).
    seed: the batch-order seed.
    mesh: the device mesh (:func:`classifier_mesh`).
    test: also evaluated at the end, if given.
    eval_every: validation period in steps.
    eval_batch_size: examples per evaluation batch.
    log_every: period of the ``train`` rows of ``metrics.jsonl``.
    checkpoint_every: checkpoint period in steps (and at the end, and on
      Ctrl-C).
    progress_bar: show a progress bar.
    desc: the progress bar's label.
    spec: settings recorded in ``workdir`` and required of a resumed run
      (:func:`check_spec`); batch size, seed and training-set size are
      checked by the loop anyway.

  Returns:
    ``(final state, report)``; the report has ``final_train_loss`` and
    ``final_batch_accuracy`` (the last step's), ``validation_accuracy``,
    ``validation_loss`` [, ``test_accuracy``, ``test_loss``],
    ``validation_curve`` (``[[step, accuracy], ...]`` at multiples of
    ``eval_every``; with ``eval_every > 0``), ``skipped_steps``,
    ``train_seconds`` and ``trained_steps`` of this call.
  """
  if spec is not None:
    check_spec(workdir, spec)
  eval_key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5EED)
  writers = default_writers(workdir, tensorboard=False)
  start = time.perf_counter()
  try:
    state, loop, parts = fit(
        method, state, train, validation, mesh=mesh, workdir=workdir,
        total_steps=steps, batch_size=batch_size,
        eval_batch_size=eval_batch_size, seed=seed, binarize=False,
        log_every=min(log_every, steps), checkpoint_every=checkpoint_every,
        eval_key=eval_key, writers=writers, progress_bar=progress_bar,
        extra_hooks=[LastStep(workdir)], desc=desc,
        validate_every=eval_every or steps)
    train_seconds = time.perf_counter() - start
    trained = loop.step - parts["start_step"]
    # The loop validated at its last step, unless it had nothing to do.
    last = next(h.last for h in loop.hooks if isinstance(h, Validation))
    if not trained or last is None:
      last = evaluate(parts["eval_fn"], state, validation, eval_batch_size,
                      mesh, eval_key)
    report = {"validation_accuracy": last["accuracy"],
              "validation_loss": last["loss"]}
    if test is not None:
      metrics = evaluate(parts["eval_fn"], state, test, eval_batch_size, mesh,
                         eval_key)
      report.update(test_accuracy=metrics["accuracy"],
                    test_loss=metrics["loss"])
  finally:
    for writer in writers:
      writer.close()
  with open(os.path.join(workdir, LAST_STEP_FILE)) as f:
    final = json.load(f)
  if final["step"] != steps:
    raise CheckpointError(
        f"The run in {workdir!r} has trained {int(state.step)} steps, not "
        f"{steps}: use another output directory, or delete that one.")
  report.update(final_train_loss=final["loss"],
                final_batch_accuracy=final["accuracy"],
                skipped_steps=int(state.skipped_steps),
                train_seconds=train_seconds, trained_steps=trained)
  if eval_every > 0:
    report["validation_curve"] = [
        [r["step"], r["accuracy"]]
        for r in read_metrics(os.path.join(workdir, METRICS_FILE))
        if r["split"] == "validation" and r["step"] % eval_every == 0]
  return state, report
