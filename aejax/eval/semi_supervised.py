r"""Few labels, semi-supervised: M1, M2, M1 + M2 and the ladder network
against scratch.

  python -m aejax.eval.semi_supervised --output_dir=runs/semi_supervised \
      --labels=100,1000 --draws=3

For each number n of labels and each draw d (the class-balanced draws of
:mod:`aejax.eval.few_labels`: ``numpy.random.default_rng([seed, n, d])``
over the training split, the validation split held out by the loader):

* ``m1``, ``m2``, ``m1m2``, ``ladder``, ``ladder_supervised``: one run of
  ``experiments/<variant>_fashion_mnist.py``
  (:func:`aejax.train.loop.train_and_evaluate`) with ``method.num_labels=n``,
  ``method.label_draw=d`` and ``seed``, in ``<output_dir>/runs/n<n>_draw<d>_
  <variant>``; its test accuracy is the classifier's (q(y|x) for M2, the
  clean encoder for the ladder) on the test split at the end of the run,
  from ``results.json``; ``ladder_supervised`` is the ladder with every
  denoising weight 0 (the same network, noise and batch normalisation,
  trained on the labelled cross-entropy alone: what the ladder's
  unlabelled cost adds);
* ``scratch``: M2's classifier network alone (an MLP with the experiment's
  ``method.classifier_hidden``, on grey levels), trained on the same n
  images with the protocol of :mod:`aejax.eval.few_labels` (Adam,
  ``--scratch_steps`` steps of batch ``min(100, n)``, through
  :func:`aejax.eval.supervised.fit_classifier`).

Nothing is selected on the test split, and nothing per run: every run
trains for the fixed length its experiment config states; validation
accuracy is recorded beside test accuracy. The summary is
:func:`aejax.eval.few_labels.summarize`: mean ± sample standard deviation
over draws and the paired difference with scratch on the same draw.
Every run resumes where it stopped when the command is run again.

Writes ``semi_supervised.json`` and prints a Markdown table.

References:
  Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
  Generative Models", NIPS 2014.
  Rasmus, Valpola, Honkala, Berglund & Raiko, "Semi-Supervised Learning
  with Ladder Networks", NIPS 2015.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Sequence

import flax.linen as nn
import jax

from aejax.config import load_experiment, set_field
from aejax.data.sources import load_dataset
from aejax.data.subsets import draw_labelled_subset
from aejax.eval.few_labels import print_result, summarize
from aejax.eval.supervised import (SoftmaxClassifier, check_spec,
                                   classifier_mesh, fit_classifier,
                                   initial_state)
from aejax.methods.registry import fields_read
from aejax.models.semi_supervised import MLP
from aejax.train.loop import train_and_evaluate

METHODS = ("scratch", "m1", "m2", "m1m2", "ladder", "ladder_supervised")
RESULTS_FILE = "semi_supervised.json"
EXPERIMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                           "..", "experiments")
# --quick: the digits, a few steps (a check that every path runs; the
# ladder's weights, ladder_supervised's too, fit its one hidden layer).
QUICK = {"data.name": "digits", "max_steps": 3, "method.pretrain_epochs": 1,
         "eval_batch_size": 100, "checkpoint_every_steps": 3,
         "model.hidden": (32,), "model.latent_dim": 4,
         "method.classifier_hidden": (32,), "method.m2_hidden": (16,),
         "method.m2_latent_dim": 4, "method.labelled_batch_size": 16,
         "method.denoising_weights": (1000.0, 1.0, 0.1)}


class ScratchClassifier(nn.Module):
  """M2's q(y|x) network as a plain classifier (``module(x, train)``)."""
  hidden: Sequence[int] = (500,)
  activation: str = "elu"
  num_classes: int = 10

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    return MLP(tuple(self.hidden), self.num_classes, self.activation)(x)


def experiment_config(experiments: str, method: str, n: int, draw: int,
                      seed: int, overrides: dict):
  """``experiments/<method>_fashion_mnist.py`` for labels ``(n, draw)``."""
  config = load_experiment(os.path.join(experiments,
                                        f"{method}_fashion_mnist.py"))
  settings = {"seed": seed, "method.num_labels": n, "method.label_draw": draw,
              "progress_bar": False, "tensorboard": False, **overrides}
  method_read, model_read = fields_read(config)
  for field, value in settings.items():
    section, _, name = field.partition(".")
    if (section == "method" and name not in method_read) or (
        section == "model" and name not in model_read):
      continue  # another method's setting (--quick sets them all)
    set_field(config, field, value)
  return config


def _scratch(config, dataset, n: int, draw: int, seed: int, workdir: str,
             steps: int, learning_rate: float) -> dict:
  idx = draw_labelled_subset(dataset.train.labels, n,
                             len(dataset.class_names), seed, draw)
  subset = dataset.train.take(idx)
  module = ScratchClassifier(tuple(config.method.classifier_hidden),
                             config.model.activation,
                             len(dataset.class_names))
  method = SoftmaxClassifier(module, dataset.image_shape, learning_rate)
  batch_size = min(100, n)
  mesh = classifier_mesh(batch_size, 100, 1)
  key = jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n),
                           draw)
  k_init, k_train = jax.random.split(key)
  variables = method.init_variables(
      k_init, (dataset.train.images[:1] / 255.0).astype("float32"))
  spec = {"n_labels": n, "draw": draw, "seed": seed, "steps": steps,
          "learning_rate": learning_rate,
          "hidden": list(config.method.classifier_hidden)}
  check_spec(workdir, spec)
  state = initial_state(method, variables, k_train, mesh)
  _, report = fit_classifier(
      method, state, subset, dataset.validation, workdir=workdir,
      steps=steps, batch_size=batch_size, seed=seed, mesh=mesh,
      test=dataset.test, eval_batch_size=100,
      checkpoint_every=max(steps // 4, 1), spec=spec)
  return {"validation_accuracy": report["validation_accuracy"],
          "test_accuracy": report["test_accuracy"],
          "train_seconds": round(report["train_seconds"], 2)}


def semi_supervised_benchmark(output_dir: str,
                              labels: Sequence[int] = (100, 1000),
                              draws: int = 3,
                              methods: Sequence[str] = METHODS, *,
                              seed: int = 0, experiments: str = EXPERIMENTS,
                              scratch_steps: int = 2000,
                              scratch_learning_rate: float = 1e-3,
                              overrides: dict | None = None,
                              verbose: bool = True) -> dict:
  """Runs the comparison; returns what ``semi_supervised.json`` holds.

  Args:
    output_dir: where the runs and the JSON go.
    labels: numbers of labelled training images.
    draws: labelled subsets per number.
    methods: a subset of :data:`METHODS`.
    seed: the runs' seed (subsets, initialisation, batch order).
    experiments: the directory of ``<method>_fashion_mnist.py``.
    scratch_steps: optimizer steps of the scratch classifier.
    scratch_learning_rate: its Adam rate.
    overrides: ``{"config.field": value}`` for every run (and the data of
      the scratch classifier).
    verbose: print one line per run.
  """
  unknown = [m for m in methods if m not in METHODS]
  if unknown or not methods:
    raise ValueError(f"Unknown methods {unknown}: choose from {METHODS}.")
  if draws < 1 or not labels:
    raise ValueError("Give at least one number of labels and one draw.")
  overrides = dict(overrides or {})
  start = time.perf_counter()
  data_config = experiment_config(experiments, "m2", labels[0], 0, seed,
                                  overrides)
  dataset = load_dataset(data_config.data)
  rows = []
  for n in labels:
    for draw in range(draws):
      for method in methods:
        workdir = os.path.join(output_dir, "runs",
                               f"n{n}_draw{draw}_{method}")
        config = experiment_config(experiments, "m2" if method == "scratch"
                                   else method, n, draw, seed, overrides)
        t = time.perf_counter()
        if method == "scratch":
          row = _scratch(config, dataset, n, draw, seed, workdir,
                         scratch_steps, scratch_learning_rate)
        else:
          results = train_and_evaluate(config, workdir)
          row = {"validation_accuracy": results["validation"]["accuracy"],
                 "test_accuracy": results["test"]["accuracy"],
                 "train_seconds": round(results["train_seconds"], 2),
                 "step": results["step"]}
        row = {"n_labels": n, "variant": method, "draw": draw, **row,
               "wall_seconds": round(time.perf_counter() - t, 1)}
        rows.append(row)
        if verbose:
          print(f"n={n} draw={draw} {method:8s} test "
                f"{row['test_accuracy']:.4f} val "
                f"{row['validation_accuracy']:.4f} "
                f"({row['wall_seconds']:.0f} s)", flush=True)
  result = {
      "protocol": {"labels": list(labels), "draws": draws,
                   "variants": list(methods), "seed": seed,
                   "experiments": {m: f"{m}_fashion_mnist.py"
                                   for m in methods if m != "scratch"},
                   "overrides": {k: str(v) for k, v in overrides.items()},
                   "scratch": f"MLP{tuple(data_config.method.classifier_hidden)}"
                              f", adam({scratch_learning_rate}), "
                              f"{scratch_steps} steps, batch min(100, n)",
                   "selection": "none: fixed lengths, test untouched",
                   "std": "sample standard deviation over draws (ddof=1)"},
      "data": {"name": dataset.name, "train": len(dataset.train),
               "validation": len(dataset.validation),
               "test": len(dataset.test)},
      "summary": summarize(rows),
      "runs": rows,
      "seconds": round(time.perf_counter() - start, 1),
      "jax": jax.__version__,
      "device": str(jax.devices()[0].device_kind),
      "cpu_count": os.cpu_count(),
  }
  os.makedirs(output_dir, exist_ok=True)
  with open(os.path.join(output_dir, RESULTS_FILE), "w") as f:
    json.dump(result, f, indent=2)
  return result


def _ints(text: str) -> list[int]:
  return [int(t) for t in text.split(",") if t.strip()]


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output_dir", required=True)
  parser.add_argument("--labels", type=_ints, default=[100, 1000])
  parser.add_argument("--draws", type=int, default=3)
  parser.add_argument("--methods", default=",".join(METHODS))
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--experiments", default=EXPERIMENTS)
  parser.add_argument("--scratch_steps", type=int, default=2000)
  parser.add_argument("--scratch_learning_rate", type=float, default=1e-3)
  parser.add_argument("--set", action="append", default=[],
                      help="config.field=value for every run (repeatable)")
  parser.add_argument("--quick", action="store_true",
                      help="digits, a few steps: a check that it all runs")
  args = parser.parse_args(argv)
  overrides = dict(QUICK) if args.quick else {}
  for item in args.set:
    field, _, value = item.partition("=")
    overrides[field] = json.loads(value)
  result = semi_supervised_benchmark(
      args.output_dir, args.labels, args.draws,
      [m for m in args.methods.split(",") if m], seed=args.seed,
      experiments=args.experiments,
      scratch_steps=3 if args.quick else args.scratch_steps,
      scratch_learning_rate=args.scratch_learning_rate, overrides=overrides)
  print_result(result)


if __name__ == "__main__":
  main()
