r"""One-class anomaly detection on Fashion-MNIST, the protocol of Golan &
El-Yaniv (2018): autoencoder detectors beside scikit-learn's baselines.

  python -m aejax.one_class [--detectors=ae,dae,conv_ae,contractive,vae,\
      vae_iwae,pca,ocsvm,iforest] [--classes=0,...,9] [--epochs=20] \
      [--max_train=0] [--max_test=0] [--out=one_class.json]
  python -m aejax.one_class --quick          # minutes: a smoke run

For each class c: fit on the training images of class c (6 000), score all
10 000 test images, AUROC with c as the normal class (anomalies scored
higher); per class and the mean over the classes asked for. The autoencoder
rows are :class:`aejax.AnomalyDetector` (``vae``: the negative ELBO;
``vae_iwae``: the same trained VAE scored by the IWAE NLL with
``--iwae_k`` samples); the baselines are scikit-learn's PCA reconstruction
error (``--pca_components``), OneClassSVM (RBF, ``gamma="scale"``,
``nu=0.1``) and IsolationForest, on pixels in [0, 1]. Published means to
place beside them (GEOM paper, Table 1): GEOM 93.5, RAW-OC-SVM 92.8,
CAE-OC-SVM 91.7, Deep SVDD 89.2 (Ruff et al. 2018).

Writes ``--out`` (JSON: per detector, per class AUROC, the mean, seconds;
the command line, the devices and this invocation's wall time) and prints
a Markdown table. Each finished class is kept in ``<out>.partial``: the
same command run again after a stop continues from the next class. ``--data=digits`` runs the same protocol on scikit-learn's 8×8
digits (tests).

References:
  Golan & El-Yaniv, "Deep Anomaly Detection Using Geometric
  Transformations", NeurIPS 2018.
  Ruff et al., "Deep One-Class Classification", ICML 2018.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

import numpy as np

# name -> AnomalyDetector arguments (pixels in [0, 1]; latent and widths of
# the project's Fashion-MNIST experiments).
DETECTORS = {
    "ae": dict(method="ae", model="mlp", hidden=(512, 256), latent_dim=32),
    "dae": dict(method="dae", model="mlp", hidden=(512, 256), latent_dim=32,
                method_params={"corruption": {
                    "name": "gaussian", "mean": 0.0, "std": 0.2,
                    "clip_min": 0.0, "clip_max": 1.0}}),
    "conv_ae": dict(method="ae", model="conv", hidden=(32, 64),
                    latent_dim=16),
    "contractive": dict(method="contractive", model="mlp", hidden=(512, 256),
                        latent_dim=32),
    "vae": dict(method="vae", model="mlp", hidden=(512, 256), latent_dim=32),
}
BASELINES = ("pca", "ocsvm", "iforest")
ALL = tuple(DETECTORS) + ("vae_iwae",) + BASELINES
PUBLISHED = {"GEOM": 93.5, "RAW-OC-SVM": 92.8, "CAE-OC-SVM": 91.7,
             "Deep SVDD": 89.2}
QUICK = dict(detectors="ae,vae,vae_iwae,pca,iforest", classes="0",
             max_train=500, max_test=1000, epochs=2, iwae_k=20)


def load_splits(data: str):
  """(train images, train labels, test images, test labels), uint8 images
  [N, H, W, 1]: all 60 000 / 10 000 Fashion-MNIST images (no validation
  hold-out), or the digits' train and test splits."""
  from aejax.data import sources  # pylint: disable=g-import-not-at-top
  if data == "fashion_mnist":
    dataset = sources.fashion_mnist(validation_size=0)
  elif data == "digits":
    dataset = sources.digits(validation_size=0)
  else:
    raise ValueError(f"Unknown --data={data!r}: 'fashion_mnist' or 'digits'.")
  return (dataset.train.images, dataset.train.labels, dataset.test.images,
          dataset.test.labels)


def _baseline(name: str, train: np.ndarray, test: np.ndarray, seed: int,
              components: int) -> np.ndarray:
  """Anomaly scores (higher = more abnormal) of a scikit-learn baseline
  fitted on ``train`` rows in [0, 1]."""
  # pylint: disable=g-import-not-at-top
  from sklearn.decomposition import PCA
  from sklearn.ensemble import IsolationForest
  from sklearn.svm import OneClassSVM
  if name == "pca":
    pca = PCA(min(components, *train.shape), random_state=seed).fit(train)
    recon = pca.inverse_transform(pca.transform(test))
    return np.mean((recon - test) ** 2, 1)
  if name == "ocsvm":
    return -OneClassSVM(kernel="rbf", gamma="scale", nu=0.1).fit(
        train).score_samples(test)
  if name == "iforest":
    return -IsolationForest(random_state=seed).fit(train).score_samples(test)
  raise ValueError(f"Unknown baseline {name!r}.")


def run_class(c: int, detectors, train_x, train_y, test_x, test_y, args
              ) -> dict[str, dict]:
  """AUROC and seconds of each detector with class ``c`` as normal."""
  from sklearn.metrics import roc_auc_score  # pylint: disable=g-import-not-at-top
  from aejax.estimators import AnomalyDetector  # pylint: disable=g-import-not-at-top
  normal = train_x[train_y == c]
  if args.max_train:
    normal = normal[:args.max_train]
  anomalous = test_y != c
  rows = {}
  trained = {}
  for name in detectors:
    start = time.perf_counter()
    if name in BASELINES:
      flat = lambda x: x.reshape(len(x), -1).astype(np.float32) / 255.0
      scores = _baseline(name, flat(normal), flat(test_x), args.seed,
                         args.pca_components)
    elif name == "vae_iwae":
      vae = trained.get("vae") or AnomalyDetector(
          **DETECTORS["vae"], epochs=args.epochs,
          batch_size=min(args.batch_size, len(normal)),
          random_state=args.seed).fit(normal)
      scores = -vae.trained_model().log_likelihood(test_x, args.iwae_k)
    else:
      clf = AnomalyDetector(**DETECTORS[name], epochs=args.epochs,
                            batch_size=min(args.batch_size, len(normal)),
                            random_state=args.seed).fit(normal)
      trained[name] = clf
      scores = clf.decision_function(test_x)
    rows[name] = {"auroc": 100.0 * roc_auc_score(anomalous, scores),
                  "seconds": round(time.perf_counter() - start, 1)}
    print(f"class {c} {name}: AUROC {rows[name]['auroc']:.1f} "
          f"({rows[name]['seconds']} s)", flush=True)
  return rows


def _read_partial(path: str, settings: dict) -> dict:
  """The finished classes of an earlier run of the same command."""
  if not os.path.exists(path):
    return {}
  try:
    with open(path) as f:
      partial = json.load(f)
    classes, before = partial["classes"], partial["settings"]
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise SystemExit(f"{path} is not a readable record of finished classes "
                     f"({e}): move it away to start over.") from None
  if before != settings:
    changed = sorted(k for k in set(before) | set(settings)
                     if before.get(k) != settings.get(k))
    raise SystemExit(f"{path} holds the classes of another command (it "
                     f"differs in {changed}): give another --out, or move "
                     "it away to start over.")
  return classes


def table(result: dict) -> str:
  """The Markdown table of ``result`` (per class AUROC and the mean)."""
  classes = result["classes"]
  head = "| detector | " + " | ".join(str(c) for c in classes) + " | mean |"
  lines = [head, "|" + "---|" * (len(classes) + 2)]
  for name, row in result["detectors"].items():
    lines.append(f"| {name} | " + " | ".join(
        f"{row['per_class'][str(c)]:.1f}" for c in classes) +
                 f" | **{row['mean']:.1f}** |")
  for name, value in PUBLISHED.items():
    lines.append(f"| {name} (published) | " + " | ".join(
        "" for _ in classes) + f" | {value} |")
  return "\n".join(lines)


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--detectors", default=",".join(ALL))
  parser.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9")
  parser.add_argument("--data", default="fashion_mnist")
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--batch_size", type=int, default=128)
  parser.add_argument("--max_train", type=int, default=0,
                      help="at most this many normal training images (0: all)")
  parser.add_argument("--max_test", type=int, default=0,
                      help="score only the first N test images (0: all)")
  parser.add_argument("--iwae_k", type=int, default=100)
  parser.add_argument("--pca_components", type=int, default=32)
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--quick", action="store_true",
                      help="a smoke run: " + ", ".join(
                          f"--{k}={v}" for k, v in QUICK.items()))
  parser.add_argument("--out", default="one_class.json")
  args = parser.parse_args(argv)
  if args.quick:
    given = {a.split("=")[0].lstrip("-") for a in (argv or sys.argv[1:])}
    for key, value in QUICK.items():
      if key not in given:
        setattr(args, key, value)
  detectors = [d for d in args.detectors.split(",") if d]
  unknown = sorted(set(detectors) - set(ALL))
  if unknown:
    parser.error(f"unknown detectors {unknown}: choose from {list(ALL)}")
  classes = [int(c) for c in str(args.classes).split(",")]
  import jax  # pylint: disable=g-import-not-at-top
  from aejax.train.workdir import write_json  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  # Each finished class is kept in <out>.partial: a run stopped after some
  # classes continues from the next one when given the same command.
  partial_path = args.out + ".partial"
  settings = {k: v for k, v in sorted(vars(args).items())
              if k not in ("out", "classes", "quick")}
  done = _read_partial(partial_path, settings)
  train_x, train_y, test_x, test_y = load_splits(args.data)
  if args.max_test:
    test_x, test_y = test_x[:args.max_test], test_y[:args.max_test]
  per_class, resumed = {}, []
  for c in classes:
    if str(c) in done:
      print(f"class {c}: done before ({partial_path})", flush=True)
      per_class[c] = done[str(c)]
      resumed.append(c)
      continue
    per_class[c] = done[str(c)] = run_class(c, detectors, train_x, train_y,
                                            test_x, test_y, args)
    write_json(partial_path, {"settings": settings, "classes": done},
               indent=2)
  result = {
      "command": "python -m aejax.one_class " + " ".join(
          argv if argv is not None else sys.argv[1:]),
      "data": args.data, "classes": classes, "epochs": args.epochs,
      "max_train": args.max_train, "max_test": args.max_test,
      "devices": [str(d) for d in jax.devices()],
      "host": platform.processor() or platform.machine(),
      "detectors": {}, "published_means": PUBLISHED}
  for name in detectors:
    aurocs = {str(c): per_class[c][name]["auroc"] for c in classes}
    result["detectors"][name] = {
        "per_class": aurocs, "aurocs": list(aurocs.values()),
        "mean": float(np.mean(list(aurocs.values()))),
        "seconds": round(sum(per_class[c][name]["seconds"]
                             for c in classes), 1)}
  result["wall_seconds"] = round(time.perf_counter() - start, 1)
  result["resumed_classes"] = resumed   # their rows come from .partial
  write_json(args.out, result, indent=2)
  if os.path.exists(partial_path):
    os.remove(partial_path)
  print(table(result))
  return result


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
