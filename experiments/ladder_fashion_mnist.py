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
cosine decay over a shorter run (``num_epochs``).
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
