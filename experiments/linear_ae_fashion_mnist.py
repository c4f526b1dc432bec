r"""Linear autoencoder 784-k-784 on Fashion-MNIST: it learns the PCA subspace.

  python -m aejax.main --config=experiments/linear_ae_fashion_mnist.py \
      --workdir=runs/linear_ae_k30 [--config.model.latent_dim=2|10|64]
  python -m aejax.eval.subspace --workdir=runs/linear_ae_k30

No non-linearity anywhere (identity hidden activation, no hidden layer,
identity output), squared error (MSE): x̂ = W₂(W₁x + b₁) + b₂. Its optimum is
exact PCA-k (Baldi & Hornik 1989); the second command prints the principal
angles between the decoder's column span and the top-k principal subspace of
the training split (exact SVD) and both test errors.

Adam 1e-3, batch 1000, 200 epochs (11 000 steps), seed 0. Wall time on a
2-core CPU (shared with other jobs): 90 s (k = 2), 109 s (10), 164 s (30),
235 s (64) for training; 1-3 min for the subspace command (SVD of the
55 000 x 784 training split). Results it reaches (test squared error per
image, linear AE vs exact PCA-k; max / mean principal angle):
k = 2: 36.36 vs 36.14, 0.21° / 0.17°; k = 10: 19.12 vs 19.09, 0.42° / 0.19°;
k = 30: 12.26 vs 12.24, 19.4° / 1.05°; k = 64: 8.16 vs 8.13, 44.0° / 1.99°.
The few large angles at k = 30 and 64 are the last principal directions,
whose eigenvalue gaps are tiny and whose directions converge slowest (and
matter least to the error); see BENCHMARKS.md.

References:
  Baldi & Hornik, "Neural networks and principal component analysis: Learning
  from examples without local minima", Neural Networks 2(1), 1989.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = ()
  c.model.activation = "identity"
  c.model.latent_dim = 30
  c.method.name = "ae"
  c.method.loss = "mse"
  c.method.output = "identity"
  # Large batches and many epochs: the directions with small eigenvalue gaps
  # converge slowly, and Adam's noise at batch 128 leaves the error above
  # PCA's (measured in BENCHMARKS.md).
  c.optimizer.learning_rate = 1e-3
  c.batch_size = 1000
  c.num_epochs = 200
  c.log_every_steps = 55
  return c
