r"""Principal angles between a decoder's span and the top-k PCA subspace.

  python -m aejax.eval.subspace --workdir=runs/linear_ae_fashion_mnist

reads a finished run (its ``results.json`` config and latest checkpoint) and
prints, as one JSON line, the principal angles between the column span of the
decoder's linear map and the span of the top-k principal directions of the
training split (exact SVD, :func:`aejax.eval.pca.fit_pca`), together with the
test squared error per image of the autoencoder (from ``results.json``) and of
exact PCA-k.

A linear autoencoder x̂ = W₂(W₁x + b₁) + b₂ trained on squared error has its
optimum at a rank-k map whose column span is the top-k principal subspace of
the data; the autoencoder need not find the principal *directions* (any basis
of the subspace, W₂ A with A invertible, is as good), so the subspace is what
is compared (Baldi & Hornik 1989). The decoder's linear map is taken
generically as its Jacobian ∂x̂/∂z (constant for a linear decoder, which is then
the product of its kernels; for a non-linear one it is the tangent space at
the chosen z).

Principal angles follow Björck & Golub (1973): with orthonormal bases Q_A, Q_B,
cos θ_i are the singular values of Q_Aᵀ Q_B; small angles are taken from the
sines (singular values of Q_B − Q_A Q_Aᵀ Q_B), which stay accurate where the
arccos of a cosine near 1 does not.

References:
  Baldi & Hornik, "Neural networks and principal component analysis: Learning
  from examples without local minima", Neural Networks 2(1), 1989.
  Björck & Golub, "Numerical methods for computing angles between linear
  subspaces", Mathematics of Computation 27(123), 1973.
"""

from __future__ import annotations

import argparse
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np

from aejax.eval.pca import fit_pca


def orthonormal_basis(a: np.ndarray) -> np.ndarray:
  """Orthonormal basis [d, r] of the column span of ``a`` [d, k] (float64).

  Raises:
    ValueError: if ``a`` has rank below its number of columns (a decoder that
      collapsed some code directions spans less than k dimensions).
  """
  a = np.asarray(a, np.float64)
  u, s, _ = np.linalg.svd(a, full_matrices=False)
  rank = int(np.sum(s > s[0] * max(a.shape) * np.finfo(np.float64).eps))
  if rank < a.shape[1]:
    raise ValueError(f"The matrix of shape {a.shape} has rank {rank} < "
                     f"{a.shape[1]}: its columns do not span a "
                     f"{a.shape[1]}-dimensional subspace.")
  return u


def principal_angles(a: np.ndarray, b: np.ndarray) -> np.ndarray:
  """Principal angles (radians, ascending) between the spans of ``a`` and ``b``.

  Args:
    a: [d, k_a] matrix; its columns span the first subspace.
    b: [d, k_b] matrix; its columns span the second.

  Returns:
    min(k_a, k_b) angles in [0, π/2], smallest first.
  """
  qa, qb = orthonormal_basis(a), orthonormal_basis(b)
  if qa.shape[1] < qb.shape[1]:
    qa, qb = qb, qa  # qb spans the smaller subspace.
  # Singular values come in descending order: cosines of ascending angles,
  # and, reversed, sines of ascending angles.
  cos = np.clip(np.linalg.svd(qa.T @ qb, compute_uv=False), 0.0, 1.0)
  sin = np.clip(np.linalg.svd(qb - qa @ (qa.T @ qb), compute_uv=False),
                0.0, 1.0)[::-1]
  return np.where(cos > np.sqrt(0.5), np.arcsin(sin), np.arccos(cos))


def decoder_jacobian(method, params, batch_stats, z: np.ndarray | None = None
                     ) -> np.ndarray:
  """∂x̂/∂z of the decoder's logits at ``z`` (default 0), shape [d, k].

  Args:
    method: a method with ``.model`` (an :class:`aejax.models.Autoencoder`).
    params: model parameters.
    batch_stats: BatchNorm statistics (evaluation mode is used).
    z: the code [k] where the Jacobian is taken.
  """
  variables = {"params": params, "batch_stats": batch_stats}
  k = method.config.model.latent_dim
  z = jnp.zeros((k,), jnp.float32) if z is None else jnp.asarray(z)

  def decode(code):
    logits = method.model.apply(variables, code[None], train=False,
                                method=method.model.decode)
    return logits.reshape(-1)

  return np.asarray(jax.jit(jax.jacfwd(decode))(z), np.float64)


def decoder_pca_angles(method, params, batch_stats, train_images: np.ndarray,
                       z: np.ndarray | None = None,
                       components: np.ndarray | None = None) -> dict:
  """Principal angles between the decoder's span and PCA-k of ``train_images``.

  Args:
    method: the trained method (its model's code size is k).
    params: model parameters.
    batch_stats: BatchNorm statistics.
    train_images: the data PCA is fitted on, uint8 or float, any shape
      [N, ...] (scaled to [0, 1] if uint8).
    z: where the decoder's Jacobian is taken (default: the zero code).
    components: the top-k principal directions [d, k] if already computed
      (then ``train_images`` is not used).

  Returns:
    ``{"k", "angles_deg" (ascending), "max_angle_deg", "mean_angle_deg"}``.
  """
  jac = decoder_jacobian(method, params, batch_stats, z)
  k = jac.shape[1]
  if components is None:
    x = np.asarray(train_images)
    _, components = fit_pca(x / 255.0 if x.dtype == np.uint8 else x, k)
  angles = np.degrees(principal_angles(jac, components))
  return {"k": int(k), "angles_deg": [float(a) for a in angles],
          "max_angle_deg": float(angles.max()),
          "mean_angle_deg": float(angles.mean())}


def main(argv=None) -> None:
  import ml_collections  # pylint: disable=g-import-not-at-top
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  from aejax.eval import pca  # pylint: disable=g-import-not-at-top
  from aejax.methods import make_method  # pylint: disable=g-import-not-at-top
  from aejax.train.checkpoint import Checkpointer  # pylint: disable=g-import-not-at-top
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--workdir", required=True,
                      help="work directory of a finished run")
  args = parser.parse_args(argv)
  start = time.perf_counter()
  with open(os.path.join(args.workdir, "results.json")) as f:
    results = json.load(f)
  config = ml_collections.ConfigDict(results["config"])
  data = load_dataset(config.data)
  method = make_method(config, data.image_shape)
  checkpointer = Checkpointer(args.workdir, asynchronous=False)
  state, _ = checkpointer.restore()
  checkpointer.close()
  k = config.model.latent_dim
  train = data.train.images.astype(np.float64) / 255.0
  test = data.test.images.astype(np.float64) / 255.0
  mean, components = pca.fit_pca(train, k)
  angles = decoder_pca_angles(method, state["params"], state["batch_stats"],
                              None, components=components)
  out = {"workdir": args.workdir, "dataset": data.name, "k": k,
         "step": int(state["step"]),
         "ae_test_sq_err_per_image": results["test"].get("sq_err_per_image"),
         "pca_test_sq_err_per_image": pca.squared_error_per_image(
             test, pca.pca_reconstruct(test, mean, components)),
         "max_angle_deg": angles["max_angle_deg"],
         "mean_angle_deg": angles["mean_angle_deg"],
         "angles_deg": [round(a, 3) for a in angles["angles_deg"]],
         "seconds": round(time.perf_counter() - start, 1)}
  print(json.dumps(out))


if __name__ == "__main__":
  from aejax import host_allocator  # pylint: disable=g-import-not-at-top
  host_allocator.reexec_with_tcmalloc()
  main()
