r"""An experiment's anomaly detection through :class:`aejax.AnomalyDetector`
(the scikit-learn / pyod path), to set beside the command-line run.

  python -m aejax.detector --config=experiments/recurrent_italy_power.py
  python -m aejax.detector --config=... --epochs=2     # a smoke run

Reads the experiment's data as users hold it (sequences in their own units
with their lengths, or uint8 images), builds an ``AnomalyDetector`` with the
experiment's method, model, widths, code size, cell, loss, output, batch
size, learning rate, epochs and seed, fits it on the experiment's training
split (its normal classes only, ``config.data.normal_classes``) and scores
every test example; prints the test AUROC with the normal classes as
normal, computed as the command line computes it (exact average ranks).

The two paths train the same model on the same examples, but not the same
bits: the estimator standardises sequences with the statistics of what it
is given (the normal training sequences) and draws its own initial
parameters and batches from ``random_state``; so the AUROCs agree to
within the spread of a seed, not exactly.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np


def detector_for(config, epochs: int | None = None):
  """The ``AnomalyDetector`` of an experiment config."""
  # pylint: disable=g-import-not-at-top
  from aejax.config import base_config
  from aejax.estimators import _HIDDEN_FIELD, AnomalyDetector
  from aejax.methods.registry import fields_read
  defaults = base_config()
  method_read, model_read = fields_read(config)
  hidden_field = _HIDDEN_FIELD.get(config.model.name)
  own = ("name", "latent_dim", hidden_field)

  def changed(section, read):
    return {f: config[section][f] for f in sorted(read) if f not in own
            and config[section][f] != defaults[section].get(f)}
  return AnomalyDetector(
      method=config.method.name, model=config.model.name,
      latent_dim=int(config.model.latent_dim),
      hidden=tuple(config.model[hidden_field]),
      epochs=int(epochs or config.num_epochs),
      batch_size=int(config.batch_size),
      learning_rate=float(config.optimizer.learning_rate),
      method_params=changed("method", method_read) or None,
      model_params=changed("model", model_read) or None,
      random_state=int(config.seed))


def _examples(split, sequences: bool):
  """A split as the estimator takes it: a list of [T_i, F] sequences, or
  the images."""
  if not sequences:
    return split.images
  return [x[:n] for x, n in zip(split.images, split.lengths)]


def main(argv=None) -> dict:
  # pylint: disable=g-import-not-at-top
  from aejax.config import load_experiment, set_field
  from aejax.eval.trained import raw_dataset
  from aejax.train.reports import auroc
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--config", required=True,
                      help="an experiment file, e.g. "
                           "experiments/recurrent_italy_power.py")
  parser.add_argument("--epochs", type=int, default=0,
                      help="train this many epochs (default: the config's)")
  parser.add_argument("--set", action="append", default=[],
                      metavar="FIELD=VALUE",
                      help="a config field, e.g. model.cell=gru (repeatable; "
                           "VALUE is JSON or a plain string)")
  parser.add_argument("--output_dir", default="",
                      help="also write detector.json here")
  args = parser.parse_args(argv)
  if not os.path.isfile(args.config):
    parser.error(f"--config={args.config} is not a file: give an experiment "
                 "such as experiments/recurrent_italy_power.py.")
  config = load_experiment(args.config)
  for item in args.set:
    field, _, text = item.partition("=")
    try:
      value = json.loads(text)
    except ValueError:
      value = text
    if isinstance(value, list):  # JSON has no tuples; config sequences are
      value = tuple(value)
    try:
      set_field(config, field, value)
    except (KeyError, AttributeError):
      parser.error(f"--set {item!r}: {field!r} is not a config field.")
    except (TypeError, ValueError) as e:
      parser.error(f"--set {item!r}: {e}")
  normal = tuple(config.data.normal_classes)
  if not normal:
    parser.error(f"{args.config} sets no data.normal_classes: it is not an "
                 "anomaly-detection experiment.")
  start = time.perf_counter()
  data = raw_dataset(config)
  sequences = data.train.lengths is not None
  detector = detector_for(config, args.epochs or None).fit(
      _examples(data.train, sequences))
  scores = detector.decision_function(_examples(data.test, sequences))
  anomalous = ~np.isin(data.test.labels, normal)
  result = {
      "config": args.config, "set": args.set,
      "normal_classes": list(normal),
      "epochs": detector.epochs, "train_size": len(data.train),
      "test_size": len(data.test), "anomalous": int(anomalous.sum()),
      "auroc": float(auroc(scores, anomalous)),
      "estimator": repr(detector),
      "seconds": round(time.perf_counter() - start, 1)}
  if args.output_dir:
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "detector.json"), "w") as f:
      json.dump(result, f, indent=1)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main()
