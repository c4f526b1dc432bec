r"""Two-sample test: does the aggregate posterior of a code match the prior?

  python -m aejax.eval.two_sample --workdir=<run dir> [--prior=mixture]
      [--n 2000 --repeats 5 --permutations 200 --scales 0.25,0.5,1]

Encodes n test images with the run's encoder (an ``aae`` run, or a plain
``ae``/``dae`` one for comparison) and compares the codes with n samples of
the prior (``--prior``, default: the run's ``method.prior``) by the unbiased
squared maximum mean discrepancy with a Gaussian (RBF) kernel (Gretton et al.
2012, Lemma 6):

  MMD²_u = 1/(n(n−1)) Σ_{i≠j} k(x_i, x_j) + 1/(m(m−1)) Σ_{i≠j} k(y_i, y_j)
           − 2/(nm) Σ_{i,j} k(x_i, y_j),   k(a, b) = exp(−‖a − b‖² / (2h²)).

It is an unbiased estimate of MMD² ≥ 0, which is 0 iff the distributions are
equal (the RBF kernel is characteristic); the estimate itself can be slightly
negative. The bandwidth is h = s·h_med, with h_med the median heuristic on a
prior sample only (so every run compared against the same prior uses the
same kernels), at several scales s (``--scales``, default 0.25, 0.5, 1):
one bandwidth sees one scale of structure — h_med is about the prior's
overall spread and barely sees the ten petals of the mixture prior, whose
radial extent is ~h_med/3 — so the statistic is reported per scale rather
than at a bandwidth picked afterwards. The p-value is from a permutation
test (Gretton et al. 2012, §5), and ``null`` is the statistic of two
independent prior samples of the same size (the noise floor).

Each comparison is done twice: on the raw codes, and on moment-matched codes
(an affine map giving the codes the prior's mean and covariance). A plain
autoencoder's code is only defined up to an invertible affine map (the
decoder can absorb it), so raw codes partly measure its arbitrary location
and scale; after moment matching what is left is the shape of the aggregate
posterior beyond its first two moments, which is what the adversarial
regulariser is meant to shape. Writes ``two_sample_<prior>.json`` in the run
directory.

References:
  Gretton, Borgwardt, Rasch, Schölkopf & Smola, "A Kernel Two-Sample Test",
  JMLR 13, 2012.
  Makhzani et al., "Adversarial Autoencoders", arXiv:1511.05644, 2015.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np


def squared_distances(x: jax.Array, y: jax.Array) -> jax.Array:
  """‖x_i − y_j‖² [n, m], clipped at 0 against rounding."""
  d = (jnp.sum(x * x, -1)[:, None] + jnp.sum(y * y, -1)[None, :]
       - 2.0 * x @ y.T)
  return jnp.maximum(d, 0.0)


def rbf_kernel(x: jax.Array, y: jax.Array, bandwidth: float) -> jax.Array:
  """k(x_i, y_j) = exp(−‖x_i − y_j‖² / (2 h²)), [n, m]."""
  return jnp.exp(-squared_distances(x, y) / (2.0 * bandwidth**2))


def median_bandwidth(x: np.ndarray, max_points: int = 2000) -> float:
  """Median heuristic: the median distance between distinct points of x."""
  x = np.asarray(x, np.float64)[:max_points]
  d = np.sqrt(np.maximum(np.asarray(squared_distances(x, x)), 0.0))
  return float(np.median(d[np.triu_indices(len(x), k=1)]))


@jax.jit
def mmd2_unbiased(x: jax.Array, y: jax.Array, bandwidth) -> jax.Array:
  """The unbiased MMD² estimate (module docstring) of samples x [n, d] and
  y [m, d] with an RBF kernel of bandwidth h; needs n, m >= 2."""
  n, m = x.shape[0], y.shape[0]
  kxx = rbf_kernel(x, x, bandwidth)
  kyy = rbf_kernel(y, y, bandwidth)
  kxy = rbf_kernel(x, y, bandwidth)
  sxx = (jnp.sum(kxx) - jnp.trace(kxx)) / (n * (n - 1))
  syy = (jnp.sum(kyy) - jnp.trace(kyy)) / (m * (m - 1))
  return sxx + syy - 2.0 * jnp.mean(kxy)


@jax.jit
def _permuted_mmd2(k: jax.Array, assign: jax.Array, n: int) -> jax.Array:
  """Unbiased MMD² for each 0/1 column of ``assign`` [N, P] (1: in x) on
  the pooled kernel matrix k [N, N] (k_ii = 1)."""
  big_n = k.shape[0]
  m = big_n - n
  a, b = assign, 1.0 - assign
  ka, kb = k @ a, k @ b
  sxx = (jnp.sum(a * ka, 0) - n) / (n * (n - 1))
  syy = (jnp.sum(b * kb, 0) - m) / (m * (m - 1))
  sxy = jnp.sum(a * kb, 0) / (n * m)
  return sxx + syy - 2.0 * sxy


def permutation_test(x: np.ndarray, y: np.ndarray, bandwidth: float,
                     num_permutations: int, key: jax.Array
                     ) -> tuple[float, float]:
  """(MMD²_u, permutation p-value) of x [n, d] against y [m, d].

  The p-value is (1 + #{permuted ≥ observed}) / (1 + P).
  """
  n = len(x)
  pooled = jnp.concatenate([jnp.asarray(x, jnp.float32),
                            jnp.asarray(y, jnp.float32)])
  k = rbf_kernel(pooled, pooled, bandwidth)
  observed_assign = jnp.concatenate([jnp.ones(n), jnp.zeros(len(y))])
  observed = float(_permuted_mmd2(k, observed_assign[:, None], n)[0])
  keys = jax.random.split(key, num_permutations)
  perms = jax.vmap(lambda kk: jax.random.permutation(kk, observed_assign))(
      keys).T
  stats = np.concatenate([np.asarray(_permuted_mmd2(k, perms[:, i:i + 50], n))
                          for i in range(0, num_permutations, 50)])
  p_value = (1.0 + np.sum(stats >= observed)) / (1.0 + num_permutations)
  return observed, float(p_value)


def match_moments(codes: np.ndarray, reference: np.ndarray) -> np.ndarray:
  """Affine map of ``codes`` to the mean and covariance of ``reference``:
  C_ref^{1/2} C_codes^{−1/2} (codes − mean) + mean_ref (symmetric roots)."""

  def sqrt_and_inverse(c):
    w, v = np.linalg.eigh(c)
    w = np.maximum(w, 1e-12)
    return (v * np.sqrt(w)) @ v.T, (v / np.sqrt(w)) @ v.T

  codes = np.asarray(codes, np.float64)
  reference = np.asarray(reference, np.float64)
  _, whiten = sqrt_and_inverse(np.cov(codes, rowvar=False).reshape(
      codes.shape[1], codes.shape[1]))
  colour, _ = sqrt_and_inverse(np.cov(reference, rowvar=False).reshape(
      codes.shape[1], codes.shape[1]))
  return (codes - codes.mean(0)) @ whiten @ colour + reference.mean(0)


def encode_test_split(workdir: str, limit: int = 0) -> tuple[np.ndarray, object]:
  """Evaluation-mode codes of the run's test images, and its config."""
  from aejax.eval.trained import load  # pylint: disable=g-import-not-at-top
  run = load(workdir, chunk_size=1000)
  test = run.dataset().test
  if limit:
    test = test.take(np.arange(min(limit, len(test))))
  return run.encode(test.images, lengths=test.lengths), run.config


def compare_with_prior(workdir: str, prior: str | None = None, n: int = 2000,
                       repeats: int = 5, num_permutations: int = 200,
                       scales=(0.25, 0.5, 1.0), seed: int = 0) -> dict:
  """MMD² of the run's test codes against its prior (module docstring).

  Returns:
    A dict with, per bandwidth scale s (key ``f"{s:g}"``) and per comparison
    (``raw``, ``moment_matched``, ``null``): the mean and standard deviation
    of MMD²_u over ``repeats`` draws of n codes and n prior samples, and the
    permutation p-value of each draw.
  """
  from aejax.methods.aae import make_prior  # pylint: disable=g-import-not-at-top
  start = time.perf_counter()
  codes, config = encode_test_split(workdir)
  prior_name = prior or config.method.get("prior", "gaussian")
  dist = make_prior(prior_name, codes.shape[1])
  if not 2 <= n <= len(codes):
    raise ValueError(f"n={n} must be in [2, {len(codes)}].")
  key = jax.random.PRNGKey(seed)
  big = np.asarray(dist.sample(jax.random.fold_in(key, 0), 50_000))
  h_med = median_bandwidth(big)
  matched = match_moments(codes, big)
  names = ("raw", "moment_matched", "null")
  stats = {(s, c): [] for s in scales for c in names}
  p_values = {(s, c): [] for s in scales for c in names}
  rng = np.random.default_rng(seed)
  for r in range(repeats):
    idx = rng.choice(len(codes), n, replace=False)
    k = jax.random.fold_in(key, 1 + r)
    y = np.asarray(dist.sample(jax.random.fold_in(k, 0), n))
    y2 = np.asarray(dist.sample(jax.random.fold_in(k, 1), n))
    for name, x in zip(names, (codes[idx], matched[idx], y2)):
      for scale in scales:
        stat, p = permutation_test(x, y, scale * h_med, num_permutations,
                                   jax.random.fold_in(k, 2))
        stats[scale, name].append(stat)
        p_values[scale, name].append(round(p, 4))
  result = {"workdir": workdir, "method": config.method.name,
            "prior": prior_name, "latent_dim": int(codes.shape[1]),
            "n": n, "repeats": repeats, "median_bandwidth": h_med,
            "num_permutations": num_permutations, "mmd2": {}}
  for scale in scales:
    row = result["mmd2"][f"{scale:g}"] = {}
    for name in names:
      v = np.asarray(stats[scale, name])
      row[name] = float(v.mean())
      row[f"{name}_std"] = float(v.std(ddof=1)) if repeats > 1 else 0.0
      row[f"{name}_p_values"] = p_values[scale, name]
  result["code_mean"] = codes.mean(0).tolist()
  result["code_std"] = codes.std(0).tolist()
  result["seconds"] = round(time.perf_counter() - start, 1)
  with open(os.path.join(workdir, f"two_sample_{prior_name}.json"), "w") as f:
    json.dump(result, f, indent=2)
  return result


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True)
  parser.add_argument("--prior", default=None,
                      help="'gaussian' or 'mixture' (default: the run's)")
  parser.add_argument("--n", type=int, default=2000)
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--permutations", type=int, default=200)
  parser.add_argument("--scales", default="0.25,0.5,1",
                      help="bandwidths as multiples of the median heuristic")
  parser.add_argument("--seed", type=int, default=0)
  args = parser.parse_args(argv)
  scales = tuple(float(v) for v in args.scales.split(","))
  print(json.dumps(compare_with_prior(args.workdir, args.prior, args.n,
                                      args.repeats, args.permutations,
                                      scales, args.seed)))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
