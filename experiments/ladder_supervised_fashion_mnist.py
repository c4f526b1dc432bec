r"""The ladder network of ladder_fashion_mnist.py with every denoising
weight 0: its supervised control.

  python -m aejax.main --config=experiments/ladder_supervised_fashion_mnist.py \
      --workdir=runs/ladder_supervised_fashion_mnist

The same encoder (784-1000-500-250-250-250-10, ReLU, batch normalisation,
Gaussian noise of std 0.3 on the input and every layer), the same labelled
sub-batches, optimizer and length, trained on the labelled cross-entropy
alone: the decoder learns nothing, and the unlabelled images only set the
running statistics that evaluation normalises with. Rasmus et al. (2015)
report this "noisy" supervised baseline beside the ladder; the difference
between the two is what the unlabelled denoising cost adds.
"""

import os

from aejax.config import load_experiment


def get_config():
  c = load_experiment(os.path.join(os.path.dirname(os.path.abspath(
      __file__)), "ladder_fashion_mnist.py"))
  c.method.denoising_weights = (0.0,) * (len(c.model.hidden) + 2)
  return c
