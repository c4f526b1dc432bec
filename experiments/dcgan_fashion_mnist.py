r"""DCGAN (Radford et al. 2016) on Fashion-MNIST, the PyTorch reference model.

  python -m aejax.main --config=experiments/dcgan_fashion_mnist.py \
      --workdir=runs/dcgan_fashion_mnist
  python -m aejax.eval.classifier --workdir=runs/classifier
  python -m aejax.eval.frechet --classifier=runs/classifier \
      --workdir=runs/dcgan_fashion_mnist

G: z(100) - Dense(7*7*128) - BN - ReLU, ConvT(64, 4x4, s2) - BN - ReLU,
ConvT(1, 4x4, s2) - tanh. D: Conv(64, 4x4, s2) - LeakyReLU(0.2),
Conv(128, 4x4, s2) - BN - LeakyReLU(0.2), Dense(1) (aejax/models/dcgan.py).
One compiled step per batch: ``n_critic`` (1) discriminator updates on the
real batch and a fake batch, then one generator update against the updated
discriminator, non-saturating loss; Adam(2e-4, β₁ 0.5, β₂ 0.999) for both;
batch 128; images scaled to [-1, 1] inside the method.

Writes samples.png (a fixed-noise 8x8 grid) and real_vs_generated.png; with
the per-epoch hook in the loop, samples_step<N>.png after every epoch. The
second and third commands score it: Fréchet distance on the project
classifier's features and the class histogram of 10 000 samples (mode
coverage).

Measured (2 epochs = 858 steps, seed 0, 2-core CPU shared with other jobs):
23.6 min wall, 1.1-2.3 s per step; Fréchet distance 46.6 (train-vs-test
floor 0.19, VAE 64.0); every class gets 647-2082 of the 10 000 samples (no
class below half its share). See BENCHMARKS.md.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.latent_dim = 100
  c.method.name = "dcgan"
  c.method.n_critic = 1
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 2e-4
  c.optimizer.b1 = 0.5
  c.optimizer.b2 = 0.999
  c.batch_size = 128
  c.eval_batch_size = 1000
  c.num_epochs = 2
  c.log_every_steps = 50
  c.num_figure_images = 10
  return c
