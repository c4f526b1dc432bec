r"""Fréchet distance between generated and test images, on the features of the
project's classifier (:mod:`aejax.eval.classifier`); and mode coverage.

  python -m aejax.eval.frechet --classifier=runs/classifier \
      --workdir=<run dir> [--n 10000]
  python -m aejax.eval.frechet --classifier=runs/classifier --floor

The first form loads the run (``aejax.load``, :mod:`aejax.eval.trained`),
draws n samples from its generative model — ``run.sample(n, seed)``, 1000
at a time from ``method.sample(params, batch_stats, key, 1000)``: a VAE's
mean images of z ~ N(0, I), an AAE's decoded prior samples, a DCGAN's G(z) —
and compares their penultimate classifier features
with those of the n first test images:

  FD = ‖μ_g − μ_t‖² + Tr(Σ_g + Σ_t − 2 (Σ_g Σ_t)^{1/2})

(Heusel et al. 2017: the Fréchet / 2-Wasserstein distance between Gaussians
fitted to the two feature sets). The trace of the matrix square root is
computed exactly: Tr (Σ_g Σ_t)^{1/2} = Tr (Σ_g^{1/2} Σ_t Σ_g^{1/2})^{1/2}
(similar matrices), the square roots of the symmetric positive
semi-definite matrices from their eigendecompositions in float64 — no
iterative ``sqrtm`` and no complex round-off to discard. It also reports
mode coverage: the class histogram of the samples under the classifier
(the test set has 1000 images per class), and writes ``frechet.json`` and
``class_histogram.png`` in the run directory.

``--floor`` scores n random training images against the test images: the
value a perfect sampler of the data distribution would get at this n (it is
not 0: finite samples, and the classifier has seen the training images).
Written to ``frechet_floor.json`` in the classifier directory.

References:
  Heusel, Ramsauer, Unterthiner, Nessler & Hochreiter, "GANs Trained by a Two
  Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017.
  Dowson & Landau, "The Fréchet distance between multivariate normal
  distributions", J. Multivariate Analysis 12(3), 1982.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from aejax.methods.base import Sampler, require


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
  """Symmetric square root of a symmetric PSD matrix (eigenvalues < 0 from
  round-off are set to 0)."""
  w, v = np.linalg.eigh((c + c.T) / 2)
  return (v * np.sqrt(np.maximum(w, 0.0))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray,
                     sigma2: np.ndarray) -> float:
  """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2) (float64).

  Args:
    mu1: mean [d].
    sigma1: covariance [d, d].
    mu2: mean [d].
    sigma2: covariance [d, d].
  """
  mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
  s1, s2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
  root1 = _psd_sqrt(s1)
  middle = root1 @ s2 @ root1
  w = np.linalg.eigvalsh((middle + middle.T) / 2)
  trace_sqrt = np.sum(np.sqrt(np.maximum(w, 0.0)))
  diff = mu1 - mu2
  return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


def feature_statistics(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  """Mean and (unbiased) covariance of feature rows [N, d], float64."""
  f = np.asarray(features, np.float64)
  return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance_of_features(a: np.ndarray, b: np.ndarray) -> float:
  return frechet_distance(*feature_statistics(a), *feature_statistics(b))


def class_histogram(classifier, images: np.ndarray) -> list[int]:
  predictions = classifier.predict(images)
  return np.bincount(predictions, minlength=classifier.meta["num_classes"]
                     ).tolist()


def score_run(workdir: str, classifier_dir: str, n: int = 10000,
              seed: int = 0) -> dict:
  """Fréchet distance and class histogram of ``n`` samples of a run."""
  from aejax.eval.classifier import load_classifier  # pylint: disable=g-import-not-at-top
  from aejax.eval.trained import load  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  classifier = load_classifier(classifier_dir)
  run = load(workdir, chunk_size=1000)
  require(run.method, Sampler)
  config = run.config
  dataset = run.dataset()
  test = dataset.test
  if n > len(test):
    raise ValueError(f"n={n} is more than the {len(test)} test images.")
  samples = np.clip(run.sample(n, seed), 0.0, 1.0)
  fd = frechet_distance_of_features(classifier.features(samples),
                                    classifier.features(test.images[:n]))
  hist = class_histogram(classifier, samples)
  result = {"workdir": workdir, "method": config.method.name,
            "classifier": classifier_dir, "n": n, "seed": seed,
            "step": run.step, "frechet_distance": fd,
            "class_histogram": hist,
            "test_class_histogram": np.bincount(
                test.labels[:n], minlength=len(hist)).tolist(),
            "seconds": round(time.perf_counter() - start, 1)}
  result["classes_below_half_share"] = int(np.sum(
      np.asarray(hist) < 0.5 * n / len(hist)))
  with open(os.path.join(workdir, "frechet.json"), "w") as f:
    json.dump(result, f, indent=2)
  histogram_figure(hist, dataset.class_names, n, os.path.join(workdir,
                                                "class_histogram.png"),
                   f"{config.method.name}: classes of {n} samples "
                   f"(FD {fd:.2f})")
  return result


def score_floor(classifier_dir: str, n: int = 10000, seed: int = 0) -> dict:
  """Fréchet distance of n random training images vs n test images."""
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.eval.classifier import load_classifier  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  classifier = load_classifier(classifier_dir)
  data = base_config().data
  if classifier.meta["data"] != data.name:
    data.name = classifier.meta["data"]
  dataset = load_dataset(data)
  rows = np.random.default_rng(seed).choice(len(dataset.train), n,
                                            replace=False)
  train = dataset.train.images[np.sort(rows)]
  fd = frechet_distance_of_features(classifier.features(train),
                                    classifier.features(dataset.test.images[:n]))
  result = {"classifier": classifier_dir, "n": n, "seed": seed,
            "frechet_distance_train_vs_test": fd,
            "class_histogram_train_sample": class_histogram(classifier, train),
            "seconds": round(time.perf_counter() - start, 1)}
  with open(os.path.join(classifier_dir, "frechet_floor.json"), "w") as f:
    json.dump(result, f, indent=2)
  return result


def histogram_figure(hist, class_names, n: int, out_path: str,
                     title: str) -> str:
  """Bar chart of predicted classes with the uniform share marked."""
  from aejax.train import figures  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots(figsize=(7, 3.5))
  ax.bar(range(len(hist)), hist)
  ax.axhline(n / len(hist), color="k", ls="--", lw=1, label="uniform")
  ax.set_xticks(range(len(hist)))
  ax.set_xticklabels(class_names or range(len(hist)), rotation=30,
                     fontsize=7, ha="right")
  ax.set_ylabel("samples")
  ax.legend(fontsize=8)
  ax.set_title(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(out_path, dpi=100)
  plt.close(fig)
  return out_path


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--classifier", required=True,
                      help="directory written by aejax.eval.classifier")
  parser.add_argument("--workdir", default=None, help="a vae/aae/dcgan run")
  parser.add_argument("--floor", action="store_true",
                      help="score training images instead of a run")
  parser.add_argument("--n", type=int, default=10000)
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  if args.floor == bool(args.workdir):
    parser.error("give exactly one of --workdir=<run dir> and --floor")
  if args.floor:
    result = score_floor(args.classifier, args.n, args.seed)
  else:
    result = score_run(args.workdir, args.classifier, args.n, args.seed)
  print(json.dumps(result))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
