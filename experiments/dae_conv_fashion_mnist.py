r"""The seed-002 convolutional denoiser on Fashion-MNIST.

  python -m aejax.main --config=experiments/dae_conv_fashion_mnist.py \
      --workdir=runs/dae_conv_fashion_mnist

Model: Conv(32, 64) 3x3 stride 2 + LeakyReLU(0.2) + BatchNorm, latent 16,
transposed-conv decoder, sigmoid output. Noise N(0.5, 0.5) added and clipped
to [0, 1]; 25 epochs, batch 32, Adam 1e-3, MSE (all as in the seed article).
Writes denoising.png (noisy | denoised | clean) and loss_curves.png.

Wall time and result (BENCHMARKS.md, dae_conv table): the 25 epochs take
20 min on a 2-core CPU (shared) and reach a test PSNR of 18.3 dB, MSE
0.0166 per pixel (denoised vs clean; the noisy input is at 5.9 dB; an
earlier run on another CPU ended at 18.6 dB, within this run's
epoch-to-epoch swing); 2 epochs already give 17.8 dB.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.model.name = "conv"
  c.model.filters = (32, 64)
  c.model.latent_dim = 16
  c.method.name = "dae"
  c.method.loss = "mse"
  c.method.output = "sigmoid"
  c.method.corruption.update(dict(name="gaussian", mean=0.5, std=0.5,
                                  clip_min=0.0, clip_max=1.0))
  c.optimizer.learning_rate = 1e-3
  c.batch_size = 32
  c.num_epochs = 25
  c.log_every_steps = 200
  return c
