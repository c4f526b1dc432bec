r"""Test-set negative log-likelihood of a trained VAE by the IWAE bound.

  python -m aejax.eval.likelihood --workdir=runs/vae_fashion_mnist --k=5000

Loads the run's latest checkpoint (:func:`aejax.eval.trained.load`),
binarises the test images once with a fixed seed (Bernoulli draws with the
pixel intensity as probability, as in Burda et al. 2016), and reports
−log p(x) ≈ −log (1/k) Σ_i p(x, z_i)/q(z_i|x) in nats per image (mean over the test set), with its standard error. Writes
``nll_k<k>.json`` in the work directory.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import numpy as np

from aejax.eval.trained import load
from aejax.methods.base import LikelihoodModel, require


def test_nll(workdir: str, num_samples: int = 5000, batch_size: int = 100,
             chunk: int = 500, seed: int = 0, limit: int = 0) -> dict:
  """IWAE estimate of the test NLL of the VAE in ``workdir`` (nats/image).

  Binarised runs see each test image binarised once, with a key folded from
  ``seed`` and the image's values (:mod:`aejax.eval.trained`).
  """
  run = load(workdir, seed=seed)
  require(run.method, LikelihoodModel)
  test = run.dataset().test
  images = test.images[:limit] if limit else test.images
  start = time.perf_counter()
  values = -run.log_likelihood(images, num_samples, batch_size, chunk)
  result = {"workdir": workdir, "k": num_samples, "num_images": len(values),
            "nll_nats": float(values.mean()),
            "stderr": float(values.std(ddof=1) / np.sqrt(len(values))),
            "binarized": bool(run.config.data.binarize),
            "step": run.step,
            "seconds": round(time.perf_counter() - start, 1)}
  with open(os.path.join(workdir, f"nll_k{num_samples}.json"), "w") as f:
    json.dump(result, f, indent=2)
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--k", type=int, default=5000)
  parser.add_argument("--batch_size", type=int, default=100)
  parser.add_argument("--chunk", type=int, default=500)
  parser.add_argument("--limit", type=int, default=0,
                      help="evaluate only the first N test images (0: all)")
  args = parser.parse_args(argv)
  print(json.dumps(test_nll(args.workdir, args.k, args.batch_size,
                            args.chunk, limit=args.limit)))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
