r"""Dimensionality reduction measured: how much of the classes and of the
neighbourhoods a code keeps.

  python -m aejax.eval.embedding --workdir=runs/ae_2d    # a trained run
  python -m aejax.eval.embedding --pca=2 --output_dir=runs/pca_2

For a run's codes (:meth:`aejax.load(workdir).encode`, a VAE's posterior
mean) or exact PCA's (fitted on the same training split, pixels in [0, 1]):

* ``knn_accuracy``: a 5-nearest-neighbour classifier (scikit-learn,
  Euclidean) fitted on the training codes and labels, accuracy on the test
  codes;
* ``trustworthiness``: scikit-learn's ``trustworthiness`` (Venna & Kaski
  2001) of the codes of a fixed subset of test images (``--subset``, 5 000,
  drawn with seed 0) against their pixels, k = 10 (1 = every code
  neighbour is a pixel neighbour);
* for 2-d codes, ``embedding.png``: the test codes coloured by class.

Writes ``embedding.json`` in the run's directory (or ``--output_dir``) and
prints it as one JSON line.

References:
  Hinton & Salakhutdinov, "Reducing the Dimensionality of Data with Neural
  Networks", Science 2006 (codes against PCA's).
  Venna & Kaski, "Neighborhood Preservation in Nonlinear Projection
  Methods: An Experimental Study", ICANN 2001 (trustworthiness).
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

RESULT_FILE = "embedding.json"
FIGURE_FILE = "embedding.png"


def subset_indices(n: int, size: int, seed: int = 0) -> np.ndarray:
  """A fixed sorted subset of ``size`` of ``n`` rows (all if size >= n)."""
  if size >= n:
    return np.arange(n)
  return np.sort(np.random.default_rng(seed).choice(n, size, replace=False))


def embedding_metrics(train_codes: np.ndarray, train_labels: np.ndarray,
                      test_codes: np.ndarray, test_labels: np.ndarray,
                      test_pixels: np.ndarray, subset: int = 5000,
                      neighbours: int = 5, trust_k: int = 10) -> dict:
  """5-NN test accuracy in code space and trustworthiness on a subset."""
  # pylint: disable=g-import-not-at-top
  from sklearn.manifold import trustworthiness
  from sklearn.neighbors import KNeighborsClassifier
  for name, codes in (("training", train_codes), ("test", test_codes)):
    if not np.isfinite(codes).all():
      raise ValueError(f"The {name} codes hold NaN or inf: the run diverged "
                       "or its checkpoint is damaged; nothing to measure.")
  knn = KNeighborsClassifier(n_neighbors=neighbours).fit(train_codes,
                                                          train_labels)
  idx = subset_indices(len(test_codes), subset)
  pixels = test_pixels[idx].reshape(len(idx), -1).astype(np.float64) / 255.0
  return {
      "knn_accuracy": float(knn.score(test_codes, test_labels)),
      "trustworthiness": float(trustworthiness(
          pixels, test_codes[idx].astype(np.float64), n_neighbors=trust_k)),
      "neighbours": neighbours, "trust_k": trust_k,
      "subset": int(len(idx)), "code_dim": int(test_codes.shape[1]),
      "train_size": int(len(train_codes)), "test_size": int(len(test_codes))}


def run_codes(workdir: str, chunk_size: int = 1000):
  """(train codes, test codes, data set, the run's method name) of a
  trained run."""
  from aejax.eval.trained import load  # pylint: disable=g-import-not-at-top
  model = load(workdir, chunk_size=chunk_size)
  data = model.dataset()
  return (model.encode(data.train.images), model.encode(data.test.images),
          data, model.method.name)


def pca_codes(k: int, dataset: str = "fashion_mnist"):
  """(train codes, test codes, data set) of exact PCA-k fitted on the
  training split (the runs' split: base_config's validation hold-out)."""
  # pylint: disable=g-import-not-at-top
  from aejax.config import base_config
  from aejax.data.sources import load_dataset
  from aejax.eval.pca import fit_pca
  config = base_config().data
  config.name = dataset
  data = load_dataset(config)
  flat = lambda x: x.reshape(len(x), -1).astype(np.float64) / 255.0
  mean, components = fit_pca(flat(data.train.images), k)
  codes = lambda x: ((flat(x) - mean) @ components).astype(np.float32)
  return codes(data.train.images), codes(data.test.images), data


def main(argv=None) -> dict:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", help="a trained run's directory")
  parser.add_argument("--pca", type=int, default=0,
                      help="measure exact PCA with this many components "
                           "instead of a run")
  parser.add_argument("--dataset", default="fashion_mnist",
                      help="with --pca: the data set")
  parser.add_argument("--output_dir",
                      help="where embedding.json (and the figure) go; "
                           "default: --workdir")
  parser.add_argument("--subset", type=int, default=5000,
                      help="test images for trustworthiness")
  parser.add_argument("--neighbours", type=int, default=5)
  parser.add_argument("--trust_k", type=int, default=10)
  args = parser.parse_args(argv)
  if bool(args.workdir) == bool(args.pca):
    parser.error("give one of --workdir=RUN or --pca=K")
  out = args.output_dir or args.workdir
  if not out:
    parser.error("--pca needs --output_dir")
  if args.workdir and not os.path.isdir(args.workdir):
    parser.error(f"--workdir={args.workdir} is not a directory: train the "
                 "run first (python -m aejax.main --workdir=...).")
  start = time.perf_counter()
  if args.pca:
    train, test, data = pca_codes(args.pca, args.dataset)
    source, what = {"pca": args.pca, "dataset": args.dataset}, "PCA"
  else:
    train, test, data, what = run_codes(args.workdir)
    source = {"workdir": os.path.abspath(args.workdir)}
  result = {**source, **embedding_metrics(
      train, data.train.labels, test, data.test.labels, data.test.images,
      args.subset, args.neighbours, args.trust_k)}
  os.makedirs(out, exist_ok=True)
  if test.shape[1] == 2:
    from aejax.plotting import latent_scatter  # pylint: disable=g-import-not-at-top
    result["figure"] = latent_scatter(
        test, data.test.labels, os.path.join(out, FIGURE_FILE),
        data.class_names, title=f"{what}, 2-d code: test codes by class")
  result["seconds"] = round(time.perf_counter() - start, 1)
  with open(os.path.join(out, RESULT_FILE), "w") as f:
    json.dump(result, f, indent=1)
  print(json.dumps(result))
  return result


if __name__ == "__main__":
  main()
