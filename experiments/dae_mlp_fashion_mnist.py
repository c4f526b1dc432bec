r"""MLP denoising autoencoder on Fashion-MNIST, one noise type and level per run.

  python -m aejax.main \
      --config=experiments/dae_mlp_fashion_mnist.py:gaussian=0.5 \
      --workdir=runs/dae_mlp_gaussian_0.5

The text after the colon picks the corruption (Vincent et al. 2008, 2010) and
its level; the BENCHMARKS.md table runs these six:

  gaussian=0.2          x + N(0, 0.2²), clipped to [0, 1]
  gaussian=0.5          x + N(0, 0.5²), clipped to [0, 1]
  masking=0.25          25 % of the pixels set to 0
  masking=0.5           50 % of the pixels set to 0
  salt_and_pepper=0.1   10 % of the pixels set to 0 or 1 (coin flip)
  salt_and_pepper=0.3   30 % of the pixels set to 0 or 1

(``method.corruption`` cannot be switched to another noise type with
``--config.method.corruption.*`` overrides, because each corruption takes
different parameters; hence the argument.) Everything else can be overridden
as usual, e.g. ``--config.num_epochs=20``.

Model: MLP 784-512-256-32 (ReLU), sigmoid output, MSE, Adam 1e-3, batch
128, 5 epochs. results.json → test.psnr is the PSNR (dB) of the denoised
test images against the clean ones, test.psnr_noisy that of the noisy input
(same noise draw, fixed evaluation key).

Wall time on a 2-core CPU (shared with other jobs): 61-123 s per run
(52-100 s of training, 2145 steps). Results it reaches (test PSNR in dB,
denoised / noisy input, seed 0): gaussian 0.2: 19.84 / 15.96; gaussian 0.5:
18.11 / 9.30; masking 0.25: 19.65 / 13.76; masking 0.5: 18.83 / 10.73;
salt_and_pepper 0.1: 19.80 / 13.84; salt_and_pepper 0.3: 18.41 / 9.03 (see
BENCHMARKS.md).

References:
  Vincent, Larochelle, Bengio & Manzagol, "Extracting and Composing Robust
  Features with Denoising Autoencoders", ICML 2008.
  Vincent, Larochelle, Lajoie, Bengio & Manzagol, "Stacked Denoising
  Autoencoders: Learning Useful Representations in a Deep Network with a
  Local Denoising Criterion", JMLR 11, 2010.
"""

import ml_collections

from aejax.config import base_config

# Noise type -> (parameter set by the level, the corruption's other fields).
NOISES = {
    "gaussian": ("std", dict(mean=0.0, clip_min=0.0, clip_max=1.0)),
    "masking": ("fraction", {}),
    "salt_and_pepper": ("fraction", {}),
}


def parse_noise(arg: str) -> dict:
  """``"masking=0.5"`` -> ``{"name": "masking", "fraction": 0.5}``."""
  name, sep, level = arg.partition("=")
  if name not in NOISES or not sep:
    raise ValueError(f"Expected NOISE=LEVEL with NOISE one of "
                     f"{sorted(NOISES)}, got {arg!r}.")
  try:
    value = float(level)
  except ValueError:
    raise ValueError(f"The level in {arg!r} is not a number.") from None
  field, rest = NOISES[name]
  if not (0.0 <= value if field == "std" else 0.0 <= value <= 1.0):
    raise ValueError(f"{name} {field} must be "
                     f"{'>= 0' if field == 'std' else 'in [0, 1]'}, got "
                     f"{value}.")
  return {"name": name, field: value, **rest}


def get_config(arg: str = "gaussian=0.5"):
  c = base_config()
  c.model.name = "mlp"
  c.model.hidden = (512, 256)
  c.model.latent_dim = 32
  c.method.name = "dae"
  c.method.loss = "mse"
  c.method.output = "sigmoid"
  c.method.corruption = ml_collections.ConfigDict(parse_noise(arg))
  c.optimizer.learning_rate = 1e-3
  c.batch_size = 128
  c.num_epochs = 5
  c.log_every_steps = 200
  return c
