r"""Unsupervised pre-training for a classifier with few labels (seed 003).

  python -m aejax.eval.few_labels --workdir=runs/deep_ae_fashion_mnist_18ep \
      --labels=100,1000 --draws=3

The exercise of seed 003: "train a deep autoencoder on the whole data set
(labelled and unlabelled), reuse its lower half — every layer up to and
including the code layer — for a classifier, train the classifier on the
labelled data; with very few labels, freeze the reused layers". Here:

* **pre-training**: any run of an autoencoder method (``--workdir``, written
  by ``python -m aejax.main``; e.g. ``experiments/deep_ae_fashion_mnist.py``)
  trained on the whole training split without its labels;
* **classifier** = the run's encoder (its code: the encoder's output, after
  the method's code activation for sparse / contractive runs, μ for a VAE)
  followed by a softmax head, ``Dense(num_classes)`` on the code as in the
  seed (``--head_hidden=H`` puts a ``Dense(H)``-ReLU layer in between);
* **labelled subsets**: ``n`` images of the training split, drawn with
  ``numpy.random.default_rng([seed, n, draw])``; class-balanced by default
  (``n // C`` per class, the ``n mod C`` remaining images in distinct random
  classes; ``--sampling=uniform`` draws ``n`` images uniformly without
  replacement). The validation split is held out of the training split by
  the data loader, so no subset can contain a validation image;
* three **variants**, with identical initial head, hyper-parameters, number
  of steps, batch order and step keys:

  - ``frozen``: the pre-trained encoder is a fixed feature extractor (run in
    evaluation mode: BatchNorm uses its running statistics, no dropout); only
    the head is trained;
  - ``fine_tuned``: the pre-trained encoder and the head are trained together
    (training mode: BatchNorm batch statistics, dropout on);
  - ``scratch``: the same classifier with a freshly initialised encoder,
    trained like ``fine_tuned`` — the no-pre-training baseline;

* **protocol**: Adam (``--learning_rate``, constant), softmax cross-entropy,
  batch ``min(--batch_size, n)`` from per-epoch shuffles of the subset, a
  fixed number of steps (``--steps``, 2 000) for every variant and subset
  size. No early stopping, and nothing is chosen per run; validation accuracy
  is reported beside test accuracy. The default of 2 000 steps was set from
  the validation curves of draw 0 on the deep autoencoder
  (``--eval_every=250``): fine-tuned and scratch classifiers plateau within
  250 steps and stay flat to 2 000 (±0.002), while the frozen encoder's
  linear head is still creeping up (+0.003 over the last 500 steps at 100
  labels), so more steps favour the frozen variant, if anything.

Writes ``few_labels.json`` (protocol, every (n, variant, draw) result, and
mean ± sample standard deviation over draws per (n, variant)) and
``few_labels.png`` (test accuracy vs number of labels, error bars = ± one
standard deviation) into the work directory (or ``--output_dir``), and prints
a Markdown table.

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 313, 2006.
  Bengio, Lamblin, Popovici & Larochelle, "Greedy Layer-Wise Training of Deep
  Networks", NIPS 2007.
  Erhan, Bengio, Courville, Manzagol, Vincent & Bengio, "Why Does
  Unsupervised Pre-training Help Deep Learning?", JMLR 11, 2010.
  Géron, "Hands-On Machine Learning", 2nd ed., ch. 17 (seed 003's source).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import time
from typing import Any, Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct

from aejax.data.sources import Dataset, Split
from aejax.methods.base import TrainableEncoder, require

VARIANTS = ("frozen", "fine_tuned", "scratch")
# Which top-level parameter collections each variant trains, and whether the
# encoder runs in training mode (BatchNorm batch statistics, dropout).
_TRAINABLE = {"frozen": ("head",), "fine_tuned": ("encoder", "head"),
              "scratch": ("encoder", "head")}
_TRAIN_ENCODER = {"frozen": False, "fine_tuned": True, "scratch": True}
SAMPLINGS = ("balanced", "uniform")
RESULTS_FILE = "few_labels.json"
FIGURE_FILE = "few_labels.png"


# -- the classifier ------------------------------------------------------------


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
  """The classifier that reuses ``method``'s encoder (see module docstring)."""
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


# -- training ------------------------------------------------------------------


class ClassifierState(struct.PyTreeNode):
  """Parameters, BatchNorm statistics, the optimizer state of the trainable
  part only, and the base key (step ``s`` uses ``fold_in(key, s)``)."""
  step: jax.Array
  params: Any
  batch_stats: Any
  opt_state: Any
  key: jax.Array


def _split_params(params: dict, variant: str) -> tuple[dict, dict]:
  keys = _TRAINABLE[variant]
  return ({k: v for k, v in params.items() if k in keys},
          {k: v for k, v in params.items() if k not in keys})


def _optimizer(learning_rate: float) -> optax.GradientTransformation:
  return optax.adam(learning_rate)


def create_state(variables: dict, variant: str, learning_rate: float,
                 key: jax.Array) -> ClassifierState:
  """The initial state of one variant: Adam's state covers only the
  variant's trainable collections."""
  trainable, _ = _split_params(variables["params"], variant)
  tx = _optimizer(learning_rate)
  return ClassifierState(step=jnp.zeros((), jnp.int32),
                         params=variables["params"],
                         batch_stats=variables["batch_stats"],
                         opt_state=tx.init(trainable), key=key)


@functools.lru_cache(maxsize=None)
def make_train_step(classifier: EncoderClassifier, variant: str,
                    learning_rate: float):
  """The compiled training step of one variant (built once per arguments).

  ``step(state, images uint8[B, ...], labels int32[B]) -> (state, metrics)``.
  Only the variant's trainable collections are differentiated and updated;
  the others are passed through untouched (bit-identical).
  """
  if variant not in VARIANTS:
    raise ValueError(f"Unknown variant {variant!r}: choose from {VARIANTS}.")
  train_encoder = _TRAIN_ENCODER[variant]
  tx = _optimizer(learning_rate)

  def loss_fn(trainable, frozen, batch_stats, x, y, key):
    variables = {"params": {**frozen, **trainable},
                 "batch_stats": batch_stats}
    if train_encoder:
      logits, updates = classifier.apply(
          variables, x, train=True, rngs={"dropout": key},
          mutable=["batch_stats"])
      batch_stats = updates.get("batch_stats", batch_stats)
    else:
      logits = classifier.apply(variables, x, train=False)
    per_example = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    loss = jnp.mean(per_example)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == y)
    return loss, (batch_stats, {"loss": loss, "accuracy": accuracy})

  def step(state: ClassifierState, images: jax.Array, labels: jax.Array):
    key = jax.random.fold_in(state.key, state.step)
    x = images.astype(jnp.float32) / 255.0
    trainable, frozen = _split_params(state.params, variant)
    grads, (batch_stats, metrics) = jax.grad(loss_fn, has_aux=True)(
        trainable, frozen, state.batch_stats, x, labels, key)
    updates, opt_state = tx.update(grads, state.opt_state, trainable)
    trainable = optax.apply_updates(trainable, updates)
    return state.replace(step=state.step + 1,
                         params={**frozen, **trainable},
                         batch_stats=batch_stats,
                         opt_state=opt_state), metrics

  return jax.jit(step)


def batch_indices(n: int, batch_size: int, steps: int,
                  rng: np.random.Generator) -> np.ndarray:
  """``[steps, batch_size]`` row indices from per-epoch shuffles of ``n``."""
  per_epoch = n // batch_size
  epochs = -(-steps // per_epoch)
  rows = np.concatenate([rng.permutation(n)[:per_epoch * batch_size]
                         for _ in range(epochs)])
  return rows[:steps * batch_size].reshape(steps, batch_size)


def train_variant(classifier: EncoderClassifier, variables: dict,
                  variant: str, subset: Split, *, steps: int,
                  learning_rate: float, key: jax.Array, order: np.ndarray,
                  eval_every: int = 0, validation: Split | None = None
                  ) -> tuple[ClassifierState, dict]:
  """Trains one variant from ``variables`` on ``subset``.

  Args:
    classifier: the classifier module.
    variables: initial ``{"params", "batch_stats"}`` (pre-trained encoder for
      ``frozen`` / ``fine_tuned``, fresh for ``scratch``).
    variant: one of :data:`VARIANTS`.
    subset: the labelled training images.
    steps: optimizer steps.
    learning_rate: Adam's learning rate.
    key: base key of the step keys (dropout).
    order: ``[steps, batch_size]`` rows of ``subset`` per step.
    eval_every: if > 0 (and ``validation`` is given), record the validation
      accuracy every this many steps (a diagnostic; nothing is selected).
    validation: the validation split.

  Returns:
    ``(final state, {"loss", "accuracy"} of the last step
    [+ "validation_curve": [[step, accuracy], ...]])``.
  """
  state = create_state(variables, variant, learning_rate, key)
  step = make_train_step(classifier, variant, learning_rate)
  images = jnp.asarray(subset.images)
  labels = jnp.asarray(subset.labels)
  metrics, curve = None, []
  for s in range(1, steps + 1):
    rows = jnp.asarray(order[s - 1])
    state, metrics = step(state, images[rows], labels[rows])
    if eval_every > 0 and validation is not None and s % eval_every == 0:
      curve.append([s, accuracy(classifier, state.params, state.batch_stats,
                                validation)])
  out = {k: float(v) for k, v in jax.device_get(metrics).items()}
  if curve:
    out["validation_curve"] = curve
  return state, out


def accuracy(classifier: EncoderClassifier, params, batch_stats,
             split: Split, batch_size: int = 1000) -> float:
  """Share of ``split`` classified correctly (evaluation mode)."""
  predict = _predict_fn(classifier)
  correct = 0
  for i in range(0, len(split), batch_size):
    x = split.images[i:i + batch_size]
    n = len(x)
    if n < batch_size:  # pad: one compiled shape
      x = np.concatenate([x, np.zeros((batch_size - n,) + x.shape[1:],
                                      x.dtype)])
    pred = np.asarray(predict(params, batch_stats, jnp.asarray(x)))[:n]
    correct += int(np.sum(pred == split.labels[i:i + n]))
  return correct / len(split)


@functools.lru_cache(maxsize=None)
def _predict_fn(classifier: EncoderClassifier) -> Callable:
  """Compiled ``(params, batch_stats, uint8 images) -> predicted classes``."""
  return jax.jit(lambda p, bs, x: jnp.argmax(
      classifier.apply({"params": p, "batch_stats": bs},
                       x.astype(jnp.float32) / 255.0, train=False), -1))


# -- labelled subsets ----------------------------------------------------------


def draw_labelled_subset(labels: np.ndarray, n: int, num_classes: int,
                         seed: int, draw: int,
                         sampling: str = "balanced") -> np.ndarray:
  """Sorted indices of ``n`` labelled examples among ``labels``.

  Args:
    labels: int labels of the training split.
    n: number of labelled examples, ``num_classes <= n <= len(labels)``.
    num_classes: number of classes.
    seed: base seed.
    draw: which draw (different draws give different subsets).
    sampling: ``"balanced"`` (``n // C`` per class, the ``n mod C`` others
      in distinct random classes) or ``"uniform"`` (without replacement).
  """
  if sampling not in SAMPLINGS:
    raise ValueError(f"Unknown sampling {sampling!r}: choose from "
                     f"{SAMPLINGS}.")
  if not num_classes <= n <= len(labels):
    raise ValueError(
        f"n_labels={n} must be between the number of classes "
        f"({num_classes}) and the size of the training split "
        f"({len(labels)}).")
  rng = np.random.default_rng([seed, n, draw])
  if sampling == "uniform":
    return np.sort(rng.choice(len(labels), n, replace=False))
  per_class = np.full(num_classes, n // num_classes)
  per_class[rng.choice(num_classes, n % num_classes, replace=False)] += 1
  chosen = []
  for c in range(num_classes):
    members = np.flatnonzero(labels == c)
    if len(members) < per_class[c]:
      raise ValueError(
          f"Class {c} has {len(members)} training examples, fewer than the "
          f"{per_class[c]} a class-balanced draw of {n} needs; use fewer "
          "labels or --sampling=uniform.")
    chosen.append(rng.choice(members, per_class[c], replace=False))
  return np.sort(np.concatenate(chosen))


# -- the benchmark -------------------------------------------------------------


def _check_positive(**values) -> None:
  for name, value in values.items():
    if not value > 0:
      raise ValueError(f"{name} must be positive, got {value}.")


def few_label_benchmark(workdir: str, labels: Sequence[int] = (100, 1000),
                        draws: int = 3,
                        variants: Sequence[str] = VARIANTS, *,
                        steps: int = 2000, batch_size: int = 100,
                        learning_rate: float = 1e-3, head_hidden: int = 0,
                        sampling: str = "balanced", seed: int = 0,
                        eval_every: int = 0, output_dir: str | None = None,
                        dataset: Dataset | None = None,
                        verbose: bool = True) -> dict:
  """Runs the few-label comparison on a pre-trained autoencoder run.

  Args:
    workdir: work directory of the pre-training run (``python -m
      aejax.main``).
    labels: numbers of labelled training images.
    draws: labelled subsets drawn per number.
    variants: a subset of :data:`VARIANTS`.
    steps: optimizer steps per classifier (the same for every variant).
    batch_size: examples per step (at most the number of labels).
    learning_rate: Adam's learning rate.
    head_hidden: hidden width of the softmax head (0: ``Dense(C)`` only).
    sampling: ``"balanced"`` or ``"uniform"`` (see
      :func:`draw_labelled_subset`).
    seed: base seed of subsets, initialisation, batch order and step keys.
    eval_every: record validation accuracy every this many steps (0: only
      at the end); a diagnostic, used for no choice.
    output_dir: where to write the JSON and the figure (default:
      ``workdir``).
    dataset: the data (default: ``load_dataset`` of the run's config).
    verbose: print one line per trained classifier.

  Returns:
    What ``few_labels.json`` holds.
  """
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  labels = [int(n) for n in labels]
  variants = list(variants)
  _check_positive(draws=draws, steps=steps, batch_size=batch_size,
                  learning_rate=learning_rate)
  if not labels:
    raise ValueError("Give at least one number of labels.")
  unknown = [v for v in variants if v not in VARIANTS]
  if unknown or not variants:
    raise ValueError(f"Unknown variants {unknown}: choose from {VARIANTS}.")
  if sampling not in SAMPLINGS:
    raise ValueError(f"Unknown sampling {sampling!r}: choose from "
                     f"{SAMPLINGS}.")
  start = time.perf_counter()
  config, method, pretrained = load_run(workdir)
  dataset = dataset or load_dataset(config.data)
  if tuple(dataset.image_shape) != tuple(method.image_shape):
    raise ValueError(f"The run was trained on images of shape "
                     f"{method.image_shape}, the data has "
                     f"{dataset.image_shape}.")
  num_classes = len(dataset.class_names)
  for n in labels:
    if not num_classes <= n <= len(dataset.train):
      raise ValueError(
          f"n_labels={n} must be between the number of classes "
          f"({num_classes}) and the size of the training split "
          f"({len(dataset.train)}).")
  classifier = build_classifier(method, num_classes, head_hidden)

  rows = []
  for n in labels:
    for draw in range(draws):
      idx = draw_labelled_subset(dataset.train.labels, n, num_classes, seed,
                                 draw, sampling)
      subset = Split(dataset.train.images[idx], dataset.train.labels[idx])
      bs = min(batch_size, n)
      order = batch_indices(n, bs, steps,
                            np.random.default_rng([seed, n, draw, 1]))
      k_init, k_train = jax.random.split(
          jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n),
                             draw))
      fresh = init_variables(classifier, k_init, dataset.image_shape)
      for variant in variants:
        variables = fresh if variant == "scratch" else (
            with_pretrained_encoder(fresh, pretrained.params,
                                    pretrained.batch_stats))
        t0 = time.perf_counter()
        state, last = train_variant(
            classifier, variables, variant, subset, steps=steps,
            learning_rate=learning_rate, key=k_train, order=order,
            eval_every=eval_every, validation=dataset.validation)
        row = {"n_labels": n, "variant": variant, "draw": draw,
               "train_seconds": round(time.perf_counter() - t0, 2),
               "final_train_loss": last["loss"],
               "final_batch_accuracy": last["accuracy"]}
        if "validation_curve" in last:
          row["validation_curve"] = last["validation_curve"]
        for name, split in (("validation", dataset.validation),
                            ("test", dataset.test)):
          row[f"{name}_accuracy"] = accuracy(classifier, state.params,
                                             state.batch_stats, split)
        rows.append(row)
        if verbose:
          print(f"n={n} draw={draw} {variant:10s} test "
                f"{row['test_accuracy']:.4f} val "
                f"{row['validation_accuracy']:.4f} "
                f"({row['train_seconds']:.1f} s)", flush=True)

  summary = summarize(rows)
  result = {
      "workdir": os.path.abspath(workdir),
      "pretrained": {"method": config.method.name,
                     "model": config.model.to_dict(),
                     "step": int(pretrained.step)},
      "data": {"name": dataset.name, "train": len(dataset.train),
               "validation": len(dataset.validation),
               "test": len(dataset.test)},
      "protocol": {"labels": labels, "draws": draws, "variants": variants,
                   "steps": steps, "batch_size": batch_size,
                   "optimizer": f"adam({learning_rate})",
                   "head": (f"Dense({head_hidden})-ReLU-Dense({num_classes})"
                            if head_hidden else f"Dense({num_classes})"),
                   "sampling": sampling, "seed": seed,
                   "selection": "none: fixed number of steps",
                   "std": "sample standard deviation over draws (ddof=1)"},
      "summary": summary,
      "runs": rows,
      "seconds": round(time.perf_counter() - start, 1),
      "jax": jax.__version__,
      "device": str(jax.devices()[0].device_kind),
      "cpu_count": os.cpu_count(),
  }
  out = output_dir or workdir
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, RESULTS_FILE), "w") as f:
    json.dump(result, f, indent=2)
  plot_accuracy(summary, os.path.join(out, FIGURE_FILE),
                title=f"{config.method.name} encoder, {dataset.name}")
  return result


def _mean_std(values) -> dict:
  values = np.asarray(values, np.float64)
  return {"mean": float(values.mean()),
          "std": float(values.std(ddof=1)) if len(values) > 1 else 0.0}


def summarize(rows: list[dict]) -> dict:
  """Test accuracy over draws per number of labels and variant.

  Returns:
    ``{n: {variant: {"mean", "std", "test_accuracy": [per draw],
    "validation_accuracy": [...], "minus_scratch": {"mean", "std"}}}}``;
    ``minus_scratch`` (pre-trained variants, when ``scratch`` ran) is the
    paired difference with the scratch classifier of the same draw, which
    removes the spread due to the subset itself.
  """
  summary: dict = {}
  for row in sorted(rows, key=lambda r: r["draw"]):
    cell = summary.setdefault(str(row["n_labels"]), {}).setdefault(
        row["variant"], {"test_accuracy": [], "validation_accuracy": []})
    cell["test_accuracy"].append(row["test_accuracy"])
    cell["validation_accuracy"].append(row["validation_accuracy"])
  for cells in summary.values():
    for cell in cells.values():
      cell.update(_mean_std(cell["test_accuracy"]))
    scratch = cells.get("scratch")
    for variant, cell in cells.items():
      if scratch and variant != "scratch" and len(
          cell["test_accuracy"]) == len(scratch["test_accuracy"]):
        cell["minus_scratch"] = _mean_std(
            np.subtract(cell["test_accuracy"], scratch["test_accuracy"]))
  return summary


def plot_accuracy(summary: dict, path: str, title: str = "") -> str:
  """Test accuracy vs number of labels, ± one standard deviation (the
  variants drawn slightly apart on the log axis)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  ns = sorted(summary, key=int)
  fig, ax = plt.subplots(figsize=(6, 4))
  for i, variant in enumerate(VARIANTS):
    points = [(int(n), summary[n][variant]) for n in ns
              if variant in summary[n]]
    if points:
      shift = 1.04**(i - 1)  # side by side, so that error bars stay apart
      ax.errorbar([p[0] * shift for p in points],
                  [p[1]["mean"] for p in points],
                  yerr=[p[1]["std"] for p in points], marker="o", capsize=4,
                  label=variant.replace("_", "-"))
  ax.set_xscale("log")
  ax.set_xlabel("labelled training images")
  ax.set_ylabel("test accuracy")
  ax.grid(True, alpha=0.3)
  ax.legend()
  ax.set_title(f"few labels: {title}" if title else "few labels")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
  return path


def markdown_table(result: dict) -> str:
  """One row per number of labels, one column per variant: test accuracy
  mean ± std over draws, and the paired difference with scratch."""
  variants = result["protocol"]["variants"]
  paired = [v for v in variants if v != "scratch" and "scratch" in variants]
  lines = ["| labels | " + " | ".join(variants) + "".join(
      f" | {v} − scratch" for v in paired) + " |",
           "|---|" + "---|" * (len(variants) + len(paired))]
  for n, cells in sorted(result["summary"].items(), key=lambda t: int(t[0])):
    entries = [f"{cells[v]['mean']:.4f} ± {cells[v]['std']:.4f}"
               for v in variants]
    entries += [f"{cells[v]['minus_scratch']['mean']:+.4f} ± "
                f"{cells[v]['minus_scratch']['std']:.4f}" for v in paired]
    lines.append(f"| {n} | " + " | ".join(entries) + " |")
  return "\n".join(lines)


def _int_list(text: str) -> list[int]:
  try:
    return [int(t) for t in text.split(",") if t.strip()]
  except ValueError:
    raise argparse.ArgumentTypeError(
        f"expected comma-separated integers, got {text!r}") from None


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True,
                      help="work directory of the pre-trained autoencoder")
  parser.add_argument("--labels", type=_int_list, default=[100, 1000])
  parser.add_argument("--draws", type=int, default=3)
  parser.add_argument("--variants", default=",".join(VARIANTS))
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--batch_size", type=int, default=100)
  parser.add_argument("--learning_rate", type=float, default=1e-3)
  parser.add_argument("--head_hidden", type=int, default=0)
  parser.add_argument("--sampling", choices=SAMPLINGS, default="balanced")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--eval_every", type=int, default=0,
                      help="record validation accuracy every N steps")
  parser.add_argument("--output_dir", default=None)
  args = parser.parse_args(argv)
  result = few_label_benchmark(
      args.workdir, args.labels, args.draws,
      [v for v in args.variants.split(",") if v], steps=args.steps,
      batch_size=args.batch_size, learning_rate=args.learning_rate,
      head_hidden=args.head_hidden, sampling=args.sampling, seed=args.seed,
      eval_every=args.eval_every, output_dir=args.output_dir)
  print(markdown_table(result))
  print(json.dumps({"summary": {n: {v: [round(c["mean"], 4),
                                        round(c["std"], 4)]
                                    for v, c in cells.items()}
                                for n, cells in result["summary"].items()},
                    "seconds": result["seconds"]}))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
