r"""Sparse autoencoder with a sigmoid code and the KL(ρ ‖ ρ̂) penalty, Fashion-MNIST.

  python -m aejax.main --config=experiments/sparse_kl_fashion_mnist.py \
      --workdir=runs/sparse_kl_fashion_mnist

MLP 784-512-256-64 (ReLU) with a 64-unit sigmoid code, sigmoid output, MSE
(mean per pixel) + β Σ_j KL(ρ ‖ ρ̂_j), ρ̂_j the batch mean of code unit j;
β = 0.01, ρ = 0.05; Adam 1e-3, batch 128, 5 epochs. ``--config.method.
sparsity_weight=0`` trains the same sigmoid-code autoencoder without the
penalty, the baseline of BENCHMARKS.md.

results.json → test: code_mean (mean activation, should end near ρ),
code_near_zero (share of code units < 0.05), sq_err_per_image.

Wall time on a 2-core CPU (shared with other jobs): 106 s (86 s training,
2145 steps). Result it reaches (test, seed 0): code_mean 0.051 (ρ = 0.05),
code_near_zero 0.66, sq_err_per_image 11.8; the same model with β = 0:
code_mean 0.57, code_near_zero 0.002, sq_err_per_image 10.0 (BENCHMARKS.md).

References:
  Ng, "Sparse autoencoder", CS294A lecture notes, Stanford, 2011.
  Lee, Ekanadham & Ng, "Sparse deep belief net model for visual area V2",
  NeurIPS 2008.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (512, 256)
  c.model.latent_dim = 64
  c.method.name = "sparse_kl"
  c.method.code_activation = "sigmoid"
  c.method.loss = "mse"
  c.method.output = "sigmoid"
  c.method.sparsity_weight = 0.01
  c.method.sparsity_target = 0.05
  c.optimizer.learning_rate = 1e-3
  c.batch_size = 128
  c.num_epochs = 5
  c.log_every_steps = 200
  return c
