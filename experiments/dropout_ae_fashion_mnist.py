r"""Dropout autoencoder 784-512-256-30 on Fashion-MNIST.

  python -m aejax.main --config=experiments/dropout_ae_fashion_mnist.py \
      --workdir=runs/dropout_ae_fashion_mnist

The MLP autoencoder of ``experiments/ae_fashion_mnist.py`` (ReLU, sigmoid
output, MSE, Adam 1e-3, batch 128, 20 epochs) with dropout at rate 0.1 after
every hidden activation of the encoder and of the decoder (not on the code,
not on the output). The dropout key is explicit: each step's key is split by
the method and passed to the model as its ``"dropout"`` RNG; evaluation runs
the network without dropout (deterministic).

Wall time on a 2-core CPU (shared with other jobs, load average ~8):
6 min 13 s (361 s training).
Result it should reach: test squared error per image (results.json
test.sq_err_per_image) 7.89. For comparison: the same network without dropout
reaches 6.55 (BENCHMARKS.md, experiments/ae_fashion_mnist.py) and exact PCA-30
12.24. Dropout is a regulariser: on this data, in 20 epochs, it costs
reconstruction accuracy rather than buying any.

References:
  Srivastava, Hinton, Krizhevsky, Sutskever & Salakhutdinov, "Dropout: A
  Simple Way to Prevent Neural Networks from Overfitting", JMLR 15, 2014.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (512, 256)
  c.model.latent_dim = 30
  c.model.dropout_rate = 0.1
  c.method.name = "ae"
  c.method.loss = "mse"
  c.batch_size = 128
  c.num_epochs = 20
  return c
