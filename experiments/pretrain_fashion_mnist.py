r"""Unsupervised pre-training for a classifier with few labels (seed 003's
exercise), Fashion-MNIST.

  python -m aejax.main --config=experiments/pretrain_fashion_mnist.py \
      --workdir=runs/pretrain_fashion_mnist
  python -m aejax.eval.few_labels --workdir=runs/pretrain_fashion_mnist \
      --labels=100,1000 --draws=3

Step 1 pre-trains, without labels, on all 55 000 training images (the 5 000
validation images held out): the deep autoencoder of
``experiments/deep_ae_fashion_mnist.py`` (784-1000-500-250-30, ELU, tied
weights, greedy layer-wise pre-training then 18 epochs end to end; this file
loads that config, so the two stay one model). Step 2
(:mod:`aejax.eval.few_labels`) reuses its encoder — every layer up to and
including the 30-d code, as seed 003 says — under a softmax head
``Dense(10)``, and trains it on 100 and on 1 000 labelled training images
(class-balanced draws, 3 per size) as ``frozen`` (head only),
``fine_tuned`` (encoder + head) and ``scratch`` (same classifier, fresh
encoder); Adam 1e-3, batch 100, 2 000 steps for every variant, no selection.

Wall time on a 2-core CPU (shared with other jobs, load average 6-10):
step 1 10 min 14 s (the deep AE row of BENCHMARKS.md; the measured run is
that config's run, in runs/deep_ae_fashion_mnist_18ep); step 2 14 min 39 s
(18 classifiers, 20-63 s each).
Result it reaches (test accuracy, mean ± std over the 3 draws; BENCHMARKS.md):

  labels   frozen          fine-tuned      scratch
  100      0.656 ± 0.049   0.711 ± 0.030   0.695 ± 0.032
  1000     0.796 ± 0.003   0.818 ± 0.001   0.803 ± 0.005

Fine-tuning beats scratch in every draw (paired: +1.6 ± 0.7 points at 100
labels, +1.6 ± 0.4 at 1 000); the frozen 30-d code under one softmax layer
is worse than scratch. With ``--head_hidden=128`` (a Dense(128)-ReLU layer
before the softmax) the frozen encoder is best at 100 labels (0.717 ± 0.008
vs 0.705 fine-tuned, 0.698 scratch) and fine-tuning at 1 000 (0.822 vs 0.817
frozen, 0.805 scratch).
"""

import os

from aejax.config import load_experiment


def get_config():
  return load_experiment(os.path.join(os.path.dirname(os.path.abspath(
      __file__)), "deep_ae_fashion_mnist.py"))
