r"""LSTM autoencoder on Fashion-MNIST read row by row: 28 steps × 28 pixels.

  python -m aejax.main --config=experiments/recurrent_fashion_mnist.py \
      --workdir=runs/recurrent_fashion_mnist

Each image is a sequence of its 28 rows (28 features per step, pixels in
[0, 1]); an LSTM(128) reads it into a 30-d code, and an LSTM(128) fed the code
at every one of 28 steps (RepeatVector) followed by Dense(28) and a sigmoid
writes the rows back. MSE, Adam 1e-3, batch 128. Every image has all 28 rows,
so no batch carries lengths (see ``recurrent_japanese_vowels.py`` for
variable lengths). ``--config.model.cell=gru`` swaps both LSTMs for GRUs.

Wall time on a 2-core CPU (shared, load average ~8): 8 min 3 s (456 s
training, 5 epochs, ~4.5 steps/s).
Result it should reach (measured, seed 0): test squared error per image
(Σ over 784 pixels in [0, 1], mean over the 10 000 test images; results.json
test.sq_err_per_sequence) 14.13, still falling by ~0.9 per epoch; exact
PCA-30 is 12.24 and the MLP autoencoder 6.55 (BENCHMARKS.md). With
``--config.model.cell=gru``: 13.62 in 5 min 53 s.
As a one-class anomaly detector (``--config.data.normal_classes='(0,)'
--config.num_epochs=10``: fitted on T-shirts/tops only, 2 min 12 s): test
AUROC 0.891 of T-shirt/top vs the 9 other classes (anomaly.json).
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "recurrent"
  c.model.cell = "lstm"
  c.model.rnn_hidden = (128,)
  c.model.latent_dim = 30
  c.method.name = "recurrent_ae"
  c.method.loss = "mse"
  c.method.output = "sigmoid"
  c.batch_size = 128
  c.num_epochs = 5
  return c
