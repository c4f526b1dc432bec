r"""The ladder network (Rasmus et al. 2015) on Fashion-MNIST with 100
labelled training images.

  python -m aejax.main --config=experiments/ladder_fashion_mnist.py \
      --workdir=runs/ladder_fashion_mnist

Other labelled subsets: ``--config.method.num_labels=1000`` and
``--config.method.label_draw=1`` (the class-balanced draws of the few-label
tables: same seed and draw, same images). The few-label table (scratch, M1,
M2, M1 + M2, ladder; 3 draws) is ``python -m aejax.eval.semi_supervised``.

The paper's fully connected network (§4.1, MNIST): 784-1000-500-250-250-
250-10, ReLU, Gaussian noise of std 0.3 on the input and every normalised
layer, denoising weights λ = (1000, 10, 0.1, 0.1, 0.1, 0.1, 0.1) from the
input up, batches of 100 unlabelled images plus 100 drawn from the labelled
ones, Adam 2e-3. Grey levels in [0, 1] (no binarisation). The paper trains
for 150 epochs with the rate decayed linearly over the last 50; here a
cosine decay over 10 epochs (5 500 steps, 3–4 min on the 2-core CPU).

Length, on draw 0's validation accuracy (one run each): 10 epochs 0.782,
30 epochs (``--config.num_epochs=30 --config.optimizer.decay_steps=16500``)
0.790 at three times the cost; 10 is kept so that the few-label table's 12
ladder runs fit in an hour. Nothing else was tuned: the rest is the paper's.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (1000, 500, 250, 250, 250)
  c.model.activation = "relu"
  c.method.name = "ladder"
  c.method.layer_noise_std = 0.3
  c.method.denoising_weights = (1000.0, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1)
  c.method.num_labels = 100
  c.method.labelled_batch_size = 100
  c.optimizer.learning_rate = 2e-3
  c.batch_size = 100
  c.eval_batch_size = 1000
  c.num_epochs = 10
  c.optimizer.decay_steps = 10 * 550   # 55 000 // 100 steps an epoch
  c.log_every_steps = 110
  return c
