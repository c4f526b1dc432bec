r"""Exact PCA, the linear baseline every autoencoder is compared with.

  python -m aejax.eval.pca --k 2,10,30,64

prints, per k, the test squared error per image (Σ over pixels in [0, 1] of
(x̂ - x)², mean over test images) of the best rank-k affine reconstruction
fitted on the training split: x̂ = μ + (x - μ) V_k V_kᵀ, with V_k the top-k
right singular vectors of the centred training data (computed exactly, by
SVD, in float64).

References:
  Pearson, "On Lines and Planes of Closest Fit to Systems of Points in Space",
  1901. Hinton & Salakhutdinov, Science 2006 (PCA-30 as the baseline).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def fit_pca(x: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
  """Mean [d] and top-k principal directions [d, k] of rows of ``x``."""
  x = x.reshape(len(x), -1).astype(np.float64)
  if not 0 < k <= min(x.shape):
    raise ValueError(f"k={k} must be in [1, {min(x.shape)}] for data of "
                     f"shape {x.shape}.")
  mean = x.mean(0)
  _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
  return mean, vt[:k].T


def pca_reconstruct(x: np.ndarray, mean: np.ndarray,
                    components: np.ndarray) -> np.ndarray:
  flat = x.reshape(len(x), -1).astype(np.float64) - mean
  return (flat @ components @ components.T + mean).reshape(x.shape)


def squared_error_per_image(x: np.ndarray, x_hat: np.ndarray) -> float:
  """Σ over pixels of (x̂ - x)², mean over images."""
  diff = (x.reshape(len(x), -1) - x_hat.reshape(len(x), -1)).astype(np.float64)
  return float(np.mean(np.sum(diff**2, axis=1)))


def pca_test_errors(train: np.ndarray, test: np.ndarray,
                    ks: list[int]) -> dict[int, float]:
  """Test squared error per image of PCA-k fitted on ``train`` (in [0, 1])."""
  mean, components = fit_pca(train, max(ks))
  return {k: squared_error_per_image(
      test, pca_reconstruct(test, mean, components[:, :k])) for k in ks}


def main(argv=None) -> None:
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--k", default="30",
                      help="comma-separated numbers of components")
  parser.add_argument("--dataset", default="fashion_mnist")
  args = parser.parse_args(argv)
  config = base_config().data
  config.name = args.dataset
  start = time.perf_counter()
  data = load_dataset(config)
  train = data.train.images.astype(np.float64) / 255.0
  test = data.test.images.astype(np.float64) / 255.0
  errors = pca_test_errors(train, test, [int(k) for k in args.k.split(",")])
  print(json.dumps({"dataset": data.name, "fit_on": f"train ({len(train)})",
                    "test_sq_err_per_image": errors,
                    "seconds": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
