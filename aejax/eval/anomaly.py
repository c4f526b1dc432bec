r"""Anomaly detection by reconstruction error, scored by AUROC.

  python -m aejax.eval.anomaly --workdir=runs/recurrent_italy_power \
      [--normal_classes=0] [--split=test]

An autoencoder fitted on "normal" examples only (``config.data.
normal_classes``) reconstructs them better than the rest; each example's
anomaly score is the method's ``score`` (:class:`aejax.methods.base.
AnomalyScorer`): for autoencoders the per-example mean squared
reconstruction error — for ``recurrent_ae`` over the sequence's real steps
and features — and for a VAE the negative ELBO. AUROC = P(score of an anomaly > score of a normal example),
ties counting one half (the Mann-Whitney U statistic over n_anomalous ·
n_normal), computed exactly from average ranks. Writes ``anomaly.json`` and
``anomaly.png`` (score histograms) to the work directory.

References:
  Hanley & McNeil, "The Meaning and Use of the Area under a Receiver
  Operating Characteristic (ROC) Curve", Radiology 143, 1982.
  Sakurada & Yairi, "Anomaly Detection Using Autoencoders with Nonlinear
  Dimensionality Reduction", MLSDA 2014.
"""

from __future__ import annotations

import argparse
import json

from aejax.eval.trained import load
from aejax.train.reports import ANOMALY_FILE, anomaly_report, auroc  # noqa: F401
from aejax.train.reports import average_ranks  # noqa: F401
from aejax.train.reports import write_anomaly_report


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--normal_classes", default="",
                      help="comma-separated class indices (default: the "
                           "run's config.data.normal_classes)")
  parser.add_argument("--split", default="test",
                      choices=("test", "validation"))
  parser.add_argument("--batch_size", type=int, default=1000)
  args = parser.parse_args(argv)

  run = load(args.workdir, chunk_size=args.batch_size)
  normal = ([int(c) for c in args.normal_classes.split(",")]
            if args.normal_classes else list(run.config.data.normal_classes))
  if not normal:
    raise SystemExit("The run was trained on every class "
                     "(config.data.normal_classes is empty): name the normal "
                     "class(es) with --normal_classes.")
  dataset = run.dataset()
  split = getattr(dataset, args.split)
  scores = run.score(split.images, lengths=split.lengths)
  report = anomaly_report(scores, split.labels, normal, dataset.class_names)
  report["split"] = args.split
  write_anomaly_report(report, scores, split.labels, args.workdir,
               f"{dataset.name} ({args.split}):")
  print(json.dumps(report, indent=2))
  return report


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
