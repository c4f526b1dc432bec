r"""Test error against training time, from the checkpoints a run kept.

  python -m aejax.eval.curve --workdir=runs/deep_ae [--metric=sq_err_per_image]

Evaluates every checkpoint of the run on the test split with the run's own
evaluation step and key (so the last point is the test number in the run's
``results.json``), and pairs it with the training seconds spent up to that
step: the ``epoch`` records of ``metrics.jsonl`` (a checkpoint inside an
epoch gets its share of that epoch), plus greedy layer-wise pre-training
(``pretrain.jsonl``) where the run had it. A run keeps every checkpoint with
``--config.keep_checkpoints=0``; ``--config.checkpoint_every_steps`` spaces
them (default: one per epoch).

Writes ``curve.json`` (one point per checkpoint: step, seconds, the test and,
where the run logged it at that step, the validation metric) and
``curve.png`` in the run's directory, and prints the points. The curve is
reported, not used: nothing in the run was chosen by these test numbers.
"""

from __future__ import annotations

import argparse
import json
import os

RESULT_FILE = "curve.json"
FIGURE_FILE = "curve.png"


def training_seconds(rows: list[dict], pretrain_rows: list[dict]):
  """``seconds(step)``: training time up to ``step``, from the epoch
  records (pre-training first)."""
  offset = sum(r["seconds"] for r in pretrain_rows
               if r.get("split") == "epoch")
  epochs = sorted({r["step"]: r for r in rows
                   if r.get("split") == "epoch"}.values(),
                  key=lambda r: r["step"])

  def seconds(step: int) -> float | None:
    total = offset
    for r in epochs:
      start = r["step"] - r["steps"]
      if step >= r["step"]:
        total += r["seconds"]
      elif step > start:
        return total + r["seconds"] * (step - start) / r["steps"]
      else:
        return total
    return total if epochs and step <= epochs[-1]["step"] else None
  return seconds


def test_curve(workdir: str, metric: str = "sq_err_per_image") -> dict:
  """The points of the curve (see the module docstring)."""
  # pylint: disable=g-import-not-at-top
  from aejax.data.pipeline import make_mesh
  from aejax.data.sources import load_dataset
  from aejax.plotting import read_metrics
  from aejax.train.checkpoint import Checkpointer
  from aejax.train.hooks import evaluate
  from aejax.train.loop import RUN_FILE, evaluation_key, load_run
  from aejax.train.step import compile_steps
  from aejax.train.writers import METRICS_FILE
  if not os.path.exists(os.path.join(workdir, RUN_FILE)):
    raise FileNotFoundError(f"{workdir} holds no {RUN_FILE}: it is not a "
                            "work directory written by aejax.main.")
  checkpointer = Checkpointer(workdir, asynchronous=False)
  try:
    steps = checkpointer.all_steps()
  finally:
    checkpointer.close()
  if not steps:
    raise FileNotFoundError(f"{workdir} holds no checkpoint: train the run "
                            "first (with --config.keep_checkpoints=0 to keep "
                            "every one).")
  rows = read_metrics(os.path.join(workdir, METRICS_FILE))
  seconds = training_seconds(
      rows, read_metrics(os.path.join(workdir, "pretrain.jsonl")))
  validation = {r["step"]: r[metric] for r in rows
                if r.get("split") == "validation" and metric in r}
  config, method, _ = load_run(workdir, steps[-1])
  data = load_dataset(config.data)
  mesh = make_mesh(1)
  _, eval_fn = compile_steps(method, mesh, config.data.binarize)
  points = []
  for step in steps:
    _, _, state = load_run(workdir, step)
    test = evaluate(eval_fn, state, data.test, config.eval_batch_size, mesh,
                    evaluation_key(config.seed))
    if metric not in test:
      raise ValueError(f"--metric={metric}: the run's evaluation reports "
                       f"{sorted(test)}.")
    points.append({"step": step, "seconds": seconds(step),
                   "test": test[metric], "validation": validation.get(step)})
    print(json.dumps(points[-1]), flush=True)
  return {"workdir": os.path.abspath(workdir), "metric": metric,
          "points": points}


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True,
                      help="a trained run's directory")
  parser.add_argument("--metric", default="sq_err_per_image",
                      help="a per-example metric the run evaluates")
  args = parser.parse_args(argv)
  if not os.path.isdir(args.workdir):
    parser.error(f"--workdir={args.workdir} is not a directory: train the "
                 "run first (python -m aejax.main --workdir=...).")
  result = test_curve(args.workdir, args.metric)
  from aejax.plotting import metric_curve  # pylint: disable=g-import-not-at-top
  result["figure"] = os.path.basename(metric_curve(
      result["points"], args.metric,
      os.path.join(args.workdir, FIGURE_FILE),
      title=os.path.basename(os.path.abspath(args.workdir))))
  with open(os.path.join(args.workdir, RESULT_FILE), "w") as f:
    json.dump(result, f, indent=1)
  return result


if __name__ == "__main__":
  main()
