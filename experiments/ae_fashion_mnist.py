r"""MLP autoencoder 784-512-256-30 on Fashion-MNIST (the main job).

  python -m aejax.main --config=experiments/ae_fashion_mnist.py \
      --workdir=runs/ae_fashion_mnist

Wall time on a 2-core CPU: 2 min 48 s (159 s of training, 20 epochs).
Result it should reach: test squared error per image (Σ over 784 pixels in
[0, 1], mean over the 10 000 test images) ≈ 6.5, against exact PCA-30's 12.24
(measured: 6.59; BENCHMARKS.md).
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (512, 256)
  c.model.latent_dim = 30
  c.method.name = "ae"
  c.method.loss = "mse"
  c.batch_size = 128
  c.num_epochs = 20
  return c
