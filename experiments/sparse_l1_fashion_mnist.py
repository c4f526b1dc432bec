r"""Sparse autoencoder with an L1 activity penalty on a sigmoid code, Fashion-MNIST.

  python -m aejax.main --config=experiments/sparse_l1_fashion_mnist.py \
      --workdir=runs/sparse_l1_fashion_mnist

MLP 784-512-256-64 (ReLU) with a 64-unit sigmoid code (as in seed 003), sigmoid
output, MSE (mean per pixel) + λ Σ_j |h_j| per example; λ = 1e-3; Adam 1e-3,
batch 128, 5 epochs. ``--config.method.sparsity_weight=0`` trains the same
autoencoder without the penalty (the baseline of BENCHMARKS.md).

results.json → test: code_near_zero (share of code units < 0.05), code_l1,
code_mean, sq_err_per_image.

Wall time on a 2-core CPU (shared with other jobs): 101 s (89 s training,
2145 steps). Result it reaches (test, seed 0): code_near_zero 0.88,
code_l1 1.25, code_mean 0.020, sq_err_per_image 12.6; the same model with
λ = 0: code_near_zero 0.002, code_l1 36.3, sq_err_per_image 10.0
(BENCHMARKS.md).

References:
  Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
  Ranzato, Poultney, Chopra & LeCun, "Efficient Learning of Sparse
  Representations with an Energy-Based Model", NeurIPS 2006.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (512, 256)
  c.model.latent_dim = 64
  c.method.name = "sparse_l1"
  c.method.code_activation = "sigmoid"
  c.method.loss = "mse"
  c.method.output = "sigmoid"
  c.method.sparsity_weight = 1e-3
  c.optimizer.learning_rate = 1e-3
  c.batch_size = 128
  c.num_epochs = 5
  c.log_every_steps = 200
  return c
