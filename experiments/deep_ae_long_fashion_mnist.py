r"""The deep autoencoder of deep_ae_fashion_mnist.py, trained to convergence
in about half an hour: issue 15's attempt at ≤ 4.0 squared error per test
image (3x better than PCA-30).

  python -m aejax.main --config=experiments/deep_ae_long_fashion_mnist.py \
      --workdir=runs/deep_ae_long
  python -m aejax.eval.curve --workdir=runs/deep_ae_long   # test error vs time

Same network (784-1000-500-250-30, ELU, tied weights, greedy layer-wise
pre-training, sigmoid output), with what the validation split chose:
the squared-error loss (the metric itself) instead of Bernoulli
cross-entropy, and a cosine learning-rate decay from 1e-3 to 1e-5 over 200
epochs. A checkpoint every 10 epochs is kept, for the curve of test error
against training time (aejax.eval.curve; nothing is chosen by it).

Chosen on validation: see the deep_ae table in BENCHMARKS.md (the loss
at 100 epochs, then the length).
"""

import os

from aejax.config import load_experiment


def get_config():
  c = load_experiment(os.path.join(os.path.dirname(os.path.abspath(
      __file__)), "deep_ae_fashion_mnist.py"))
  c.method.loss = "mse"
  c.num_epochs = 200
  c.optimizer.decay_steps = 200 * 429   # 55 000 // 128 steps an epoch
  c.optimizer.final_lr_fraction = 0.01
  c.checkpoint_every_steps = 10 * 429
  c.keep_checkpoints = 0
  return c
