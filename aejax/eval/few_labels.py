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
* three **variants** (:mod:`aejax.eval.encoder_classifier`), with
  identical initial head, hyper-parameters, number of steps, batch order and
  step keys:

  - ``frozen``: the pre-trained encoder is a fixed feature extractor (run in
    evaluation mode: BatchNorm uses its running statistics, no dropout); only
    the head is trained (``optax.set_to_zero`` on the encoder);
  - ``fine_tuned``: the pre-trained encoder and the head are trained together
    (training mode: BatchNorm batch statistics, dropout on);
  - ``scratch``: the same classifier with a freshly initialised encoder,
    trained like ``fine_tuned`` — the no-pre-training baseline;

* **protocol**: Adam (``--learning_rate``, constant), softmax cross-entropy,
  batch ``min(--batch_size, n)``, a fixed number of steps (``--steps``,
  2 000) for every variant and subset size. No early stopping, and nothing
  is chosen per run; validation accuracy is reported beside test accuracy.
  The default of 2 000 steps was set from the validation curves of draw 0 on
  the deep autoencoder (``--eval_every=250``): fine-tuned and scratch
  classifiers plateau within 250 steps and stay flat to 2 000 (±0.002),
  while the frozen encoder's linear head is still creeping up (+0.003 over
  the last 500 steps at 100 labels), so more steps favour the frozen
  variant, if anything. (Those figures predate the batch order below; the
  protocol is otherwise the same.)
* **training**: every classifier trains through the project's training loop
  (:func:`aejax.eval.supervised.fit_classifier`, i.e.
  :func:`aejax.train.trainer.fit`): compiled sharded steps, the loop's batch
  order — epoch ``e`` of the subset is shuffled by
  ``numpy.random.default_rng([order_seed, e])`` with ``order_seed`` drawn
  from ``[seed, n, draw]`` (:func:`order_seed`), the same for the three
  variants — validation every ``--eval_every`` steps (and at the end),
  Orbax checkpoints every ``--checkpoint_every`` steps. Each (n, variant,
  draw) run has its own directory ``few_label_runs/n<n>_draw<d>_<variant>``
  in the output directory (checkpoints, ``metrics.jsonl``, its result in
  ``row.json``): the same command run again skips the finished runs and
  resumes the interrupted one where it stopped, with the same result.

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
import json
import os
import time
from typing import Sequence

import jax
import numpy as np

from aejax.data.subsets import SAMPLINGS, draw_labelled_subset  # noqa: F401
from aejax.data.types import Dataset, Split
from aejax.eval.encoder_classifier import (VARIANTS, EncoderClassifier,
                                           build_classifier, init_variables,
                                           variant_method,
                                           with_pretrained_encoder)
from aejax.eval.supervised import (check_spec, classifier_mesh,
                                   fit_classifier, initial_state)

RESULTS_FILE = "few_labels.json"
FIGURE_FILE = "few_labels.png"
RUNS_DIR = "few_label_runs"  # one directory per (n, variant, draw) run
ROW_FILE = "row.json"        # a finished run's result


# -- the benchmark -------------------------------------------------------------


def _check_positive(**values) -> None:
  for name, value in values.items():
    if not value > 0:
      raise ValueError(f"{name} must be positive, got {value}.")


def order_seed(seed: int, n: int, draw: int) -> int:
  """The batch-order seed of the runs on subset ``(n, draw)`` (the loop
  shuffles epoch ``e`` with ``numpy.random.default_rng([order_seed, e])``)."""
  return int(np.random.SeedSequence([seed, n, draw, 1]).generate_state(1)[0])


def run_dir(output_dir: str, n: int, variant: str, draw: int) -> str:
  """The work directory of one (n, variant, draw) run."""
  return os.path.join(output_dir, RUNS_DIR, f"n{n}_draw{draw}_{variant}")


def train_variant(classifier: EncoderClassifier, variables: dict,
                  variant: str, subset: Split, validation: Split, *,
                  workdir: str, steps: int, batch_size: int,
                  learning_rate: float, key: jax.Array, seed: int, mesh,
                  test: Split | None = None, eval_every: int = 0,
                  eval_batch_size: int = 1000, checkpoint_every: int = 500,
                  progress_bar: bool = False, spec: dict | None = None):
  """Trains one variant from ``variables`` on ``subset`` in ``workdir``
  (resuming the run there, if any).

  Args:
    classifier: the classifier module.
    variables: initial ``{"params", "batch_stats"}`` (pre-trained encoder for
      ``frozen`` / ``fine_tuned``, fresh for ``scratch``).
    variant: one of :data:`VARIANTS`.
    subset: the labelled training images.
    validation: the validation split.
    workdir: the run's directory.
    steps: optimizer steps.
    batch_size: examples per step.
    learning_rate: Adam's learning rate.
    key: base key of the step keys (dropout).
    seed: the batch-order seed (:func:`order_seed`).
    mesh: the device mesh.
    test: the test split, evaluated at the end if given.
    eval_every: if > 0, validate every this many steps (a diagnostic;
      nothing is selected); the validation accuracy is measured at the end
      anyway.
    eval_batch_size: examples per evaluation batch.
    checkpoint_every: checkpoint period in steps.
    progress_bar: show the loop's progress bar.
    spec: settings the run must keep when resumed.

  Returns:
    ``(final state, report)`` of :func:`aejax.eval.supervised.fit_classifier`.
  """
  method = variant_method(classifier, variant, subset.images.shape[1:],
                          learning_rate)
  state = initial_state(method, variables, key, mesh)
  return fit_classifier(
      method, state, subset, validation, workdir=workdir, steps=steps,
      batch_size=batch_size, seed=seed, mesh=mesh, test=test,
      eval_every=eval_every, eval_batch_size=eval_batch_size,
      checkpoint_every=checkpoint_every, progress_bar=progress_bar,
      desc=f"{variant} {os.path.basename(workdir)}", spec=spec)


def few_label_benchmark(workdir: str, labels: Sequence[int] = (100, 1000),
                        draws: int = 3,
                        variants: Sequence[str] = VARIANTS, *,
                        steps: int = 2000, batch_size: int = 100,
                        learning_rate: float = 1e-3, head_hidden: int = 0,
                        sampling: str = "balanced", seed: int = 0,
                        eval_every: int = 0, checkpoint_every: int = 500,
                        eval_batch_size: int = 1000,
                        num_devices: int | None = None,
                        output_dir: str | None = None,
                        dataset: Dataset | None = None,
                        progress_bar: bool = False,
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
    checkpoint_every: checkpoint each run every this many steps.
    eval_batch_size: examples per evaluation batch.
    num_devices: devices of the data mesh (0: the most that split the batch
      sizes evenly; ``None``: the pre-training run's ``num_devices``).
    output_dir: where to write the JSON, the figure and the runs' directories
      (default: ``workdir``).
    dataset: the data (default: ``load_dataset`` of the run's config).
    progress_bar: show each run's progress bar.
    verbose: print one line per trained classifier.

  Returns:
    What ``few_labels.json`` holds.
  """
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import load_run  # pylint: disable=g-import-not-at-top
  labels = [int(n) for n in labels]
  variants = list(variants)
  _check_positive(draws=draws, steps=steps, batch_size=batch_size,
                  learning_rate=learning_rate,
                  checkpoint_every=checkpoint_every,
                  eval_batch_size=eval_batch_size)
  if eval_every < 0:
    raise ValueError(f"eval_every must be >= 0, got {eval_every}.")
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
  if num_devices is None:
    num_devices = config.num_devices
  out = output_dir or workdir

  rows = []
  for n in labels:
    bs = min(batch_size, n)
    mesh = classifier_mesh(bs, eval_batch_size, num_devices)
    for draw in range(draws):
      idx = draw_labelled_subset(dataset.train.labels, n, num_classes, seed,
                                 draw, sampling)
      subset = Split(dataset.train.images[idx], dataset.train.labels[idx])
      k_init, k_train = jax.random.split(
          jax.random.fold_in(jax.random.fold_in(jax.random.PRNGKey(seed), n),
                             draw))
      fresh = None  # built when a run needs it
      for variant in variants:
        directory = run_dir(out, n, variant, draw)
        spec = {"pretrained": os.path.abspath(workdir),
                "pretrained_step": int(pretrained.step),
                "data": dataset.name, "n_labels": n, "draw": draw,
                "variant": variant, "sampling": sampling, "seed": seed,
                "batch_size": bs, "learning_rate": learning_rate,
                "head_hidden": head_hidden}
        check_spec(directory, spec)
        row = _finished_row(directory, steps, eval_every)
        how = "done before"
        if row is None:
          if fresh is None:
            fresh = init_variables(classifier, k_init, dataset.image_shape)
          variables = fresh if variant == "scratch" else (
              with_pretrained_encoder(fresh, pretrained.params,
                                      pretrained.batch_stats))
          _, report = train_variant(
              classifier, variables, variant, subset, dataset.validation,
              workdir=directory, steps=steps, batch_size=bs,
              learning_rate=learning_rate, key=k_train,
              seed=order_seed(seed, n, draw), mesh=mesh, test=dataset.test,
              eval_every=eval_every, eval_batch_size=eval_batch_size,
              checkpoint_every=checkpoint_every, progress_bar=progress_bar,
              spec=spec)
          row = {"n_labels": n, "variant": variant, "draw": draw,
                 "train_seconds": round(report["train_seconds"], 2),
                 "final_train_loss": report["final_train_loss"],
                 "final_batch_accuracy": report["final_batch_accuracy"],
                 "skipped_steps": report["skipped_steps"]}
          if "validation_curve" in report:
            row["validation_curve"] = report["validation_curve"]
          row["validation_accuracy"] = report["validation_accuracy"]
          row["test_accuracy"] = report["test_accuracy"]
          with open(os.path.join(directory, ROW_FILE), "w") as f:
            json.dump({"steps": steps, "eval_every": eval_every, "row": row},
                      f, indent=2)
          how = (f"{report['train_seconds']:.1f} s" if
                 report["trained_steps"] == steps else
                 f"resumed: {report['trained_steps']} steps in "
                 f"{report['train_seconds']:.1f} s")
        rows.append(row)
        if verbose:
          print(f"n={n} draw={draw} {variant:10s} test "
                f"{row['test_accuracy']:.4f} val "
                f"{row['validation_accuracy']:.4f} ({how})", flush=True)

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
                   "batch_order": "aejax.data.pipeline.TrainBatches, seed "
                                  "order_seed(seed, n, draw)",
                   "selection": "none: fixed number of steps",
                   "std": "sample standard deviation over draws (ddof=1)"},
      "summary": summary,
      "runs": rows,
      "runs_dir": os.path.abspath(os.path.join(out, RUNS_DIR)),
      "seconds": round(time.perf_counter() - start, 1),
      "jax": jax.__version__,
      "device": str(jax.devices()[0].device_kind),
      "cpu_count": os.cpu_count(),
  }
  os.makedirs(out, exist_ok=True)
  with open(os.path.join(out, RESULTS_FILE), "w") as f:
    json.dump(result, f, indent=2)
  plot_accuracy(summary, os.path.join(out, FIGURE_FILE),
                title=f"{config.method.name} encoder, {dataset.name}")
  return result


def _finished_row(directory: str, steps: int, eval_every: int
                  ) -> dict | None:
  """The result a finished run with these settings recorded, if any."""
  path = os.path.join(directory, ROW_FILE)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    saved = json.load(f)
  if saved["steps"] != steps or saved["eval_every"] != eval_every:
    return None  # more steps continue the run; the loop evaluates again
  return saved["row"]


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


def print_result(result: dict) -> None:
  """The table, then one JSON line of the summary (mean, std) and seconds."""
  print(markdown_table(result))
  print(json.dumps({"summary": {n: {v: [round(c["mean"], 4),
                                        round(c["std"], 4)]
                                    for v, c in cells.items()}
                                for n, cells in result["summary"].items()},
                    "seconds": result["seconds"]}))


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
  parser.add_argument("--checkpoint_every", type=int, default=500,
                      help="checkpoint each classifier every N steps")
  parser.add_argument("--num_devices", type=int, default=None,
                      help="devices of the data mesh (0: the most that "
                      "split the batches; default: the run's)")
  parser.add_argument("--progress_bar", action="store_true")
  parser.add_argument("--output_dir", default=None)
  args = parser.parse_args(argv)
  result = few_label_benchmark(
      args.workdir, args.labels, args.draws,
      [v for v in args.variants.split(",") if v], steps=args.steps,
      batch_size=args.batch_size, learning_rate=args.learning_rate,
      head_hidden=args.head_hidden, sampling=args.sampling, seed=args.seed,
      eval_every=args.eval_every, checkpoint_every=args.checkpoint_every,
      num_devices=args.num_devices, output_dir=args.output_dir,
      progress_bar=args.progress_bar)
  print_result(result)


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
