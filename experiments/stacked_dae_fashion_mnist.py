r"""Stacked denoising autoencoder (Vincent et al. 2010) 784-1000-500-250-30 on
Fashion-MNIST, masking noise.

  python -m aejax.main --config=experiments/stacked_dae_fashion_mnist.py \
      --workdir=runs/stacked_dae_fashion_mnist

The deep autoencoder of ``experiments/deep_ae_fashion_mnist.py`` (ELU, tied
weights, Bernoulli cross-entropy, Adam 1e-3, batch 128) with method
``stacked_dae``: during greedy layer-wise pre-training (1 epoch per layer)
every shallow autoencoder sees its input — the images, then the clean codes
of the layer below — with a random 25 % of the values set to 0 (masking
noise, Vincent et al. 2010 §4), and reconstructs the clean input; end-to-end
fine-tuning (5 epochs) denoises masked images.

Wall time on a 2-core CPU (shared, load average ~5): 3 min 29 s (140 s of
fine-tuning). Result it should reach (test, masked inputs vs clean images):
squared error per image 8.98, PSNR 20.15 dB (the masked inputs: 13.76 dB).

References:
  Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
  Autoencoders", JMLR 11, 2010.
"""

import os

import ml_collections

from aejax.config import load_experiment


def get_config():
  c = load_experiment(os.path.join(os.path.dirname(os.path.abspath(
      __file__)), "deep_ae_fashion_mnist.py"))
  c.method.name = "stacked_dae"
  c.method.corruption = ml_collections.ConfigDict(dict(name="masking",
                                                       fraction=0.25))
  c.num_epochs = 5
  return c
