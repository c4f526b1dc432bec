#!/usr/bin/env python3
r"""PyTorch twins of the benchmark models of ``python -m aejax.bench``.

  python aejax/torch_reference.py --model conv_ae --batch 128 --steps 100

A script, not a module of the library: it needs only torch and numpy
(``pip install 'aejax[torch]'``), no aejax module imports it, and
``python -m aejax.bench --torch_python=<python with torch>`` runs it by its
file path in that other interpreter, right after timing the same model with
aejax, to print the ratio of images per second. It prints one JSON line:
``{"framework": "torch", "model", "batch", "steps", "images_per_s",
"final_loss", "threads", "params", "peak_host_mem_mb", "torch"}``.

Each model is the one ``aejax.bench.bench_config`` builds, layer for layer,
with the same loss (in aejax's units, so that ``final_loss`` compares too),
optimizer and initialisers:

  dense_ae  784-512-256-32-256-512-784 MLP, ReLU; Bernoulli NLL from the
            logits, summed over pixels (nats per image), mean over the
            batch; Adam(1e-3).
  conv_ae   Conv(32, 3x3, s2)-LeakyReLU(0.2)-BN, Conv(64, 3x3, s2)-
            LeakyReLU-BN, Dense(16); Dense(7*7*64), ConvT(64, 3x3, s2)-
            LeakyReLU-BN, ConvT(32, 3x3, s2)-LeakyReLU-BN, ConvT(1, 3x3, s1),
            sigmoid; mean squared error; Adam(1e-3). BatchNorm with Keras'
            constants, as aejax's conv model (momentum 0.99, i.e. PyTorch's
            0.01; epsilon 1e-3).
  conv_vae  Conv(32, 3x3, s2)-ReLU, Conv(64, 3x3, s2)-ReLU, Dense(2*16) to
            (μ, raw log σ²), log σ² = 10·tanh(raw / 10); Dense(7*7*64)-ReLU,
            ConvT(64, 3x3, s2)-ReLU, ConvT(32, 3x3, s2)-ReLU, Conv(1, 3x3)
            to logits; one reparameterised sample; Bernoulli NLL + KL in nats
            per image, mean over the batch; inputs binarised afresh every
            step (a Bernoulli draw per pixel); Adam(1e-3).
  dcgan     G: z(100)-Dense(7*7*128)-BN-ReLU, ConvT(64, 4x4, s2)-BN-ReLU,
            ConvT(1, 4x4, s2)-tanh. D: Conv(64, 4x4, s2)-LeakyReLU(0.2),
            Conv(128, 4x4, s2)-BN-LeakyReLU(0.2), Dense(1). One step = one
            D update on the real batch (scaled to [-1, 1]) and a fake batch
            (separate BatchNorm batches), then one G update on the same fake
            batch with the non-saturating loss; Adam(2e-4, β₁ 0.5) for each;
            kernels from N(0, 0.02²). ``final_loss`` is G's loss.

Initialisation as Flax's defaults (kernels: LeCun normal, truncated at two
standard deviations; biases zero), so that the first losses agree in
distribution. Padding: "same" strided convolutions pad one pixel on each
side here (PyTorch's idiom) where XLA's "SAME" pads one pixel at the end
only; the shapes and the work are the same.

Data: the first ``batch * (steps + warmup)`` training images (at most 60 000)
of Fashion-MNIST from ``--data-dir``, sliced into batches exactly as
``aejax.bench.load_batches`` slices them; without the files, the same uint8
noise (``numpy.random.default_rng(0)``): throughput does not depend on pixel
values. Images stay uint8 until the step converts them, as aejax's step does.
Only the ``steps`` steps after ``warmup`` are timed.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

MODELS = ("dense_ae", "conv_ae", "conv_vae", "dcgan")
DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
# Flax's truncated LeCun normal: the stddev of a N(0, 1) cut at ±2 is this.
_TRUNCATED_STD = 0.87962566103423978


# -- data ---------------------------------------------------------------------


def read_images(path: str) -> np.ndarray:
  """uint8 [N, 28, 28] from an IDX image file (gzipped or not)."""
  with open(path, "rb") as f:
    raw = f.read()
  if raw[:2] == b"\x1f\x8b":
    raw = gzip.decompress(raw)
  if raw[:3] != b"\x00\x00\x08" or raw[3] != 3:
    raise SystemExit(f"{path} is not an IDX file of uint8 images.")
  shape = tuple(int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big")
                for i in range(3))
  return np.frombuffer(raw, np.uint8, offset=16).reshape(shape)


def load_batches(batch: int, steps: int, data_dir: str) -> torch.Tensor:
  """uint8 [steps, batch, 1, 28, 28]: aejax.bench's batches, channels first."""
  path = os.path.join(data_dir, "train-images-idx3-ubyte.gz")
  n = min(batch * steps, 60000)
  if os.path.exists(path):
    x = read_images(path)[:n]
  else:
    x = np.random.default_rng(0).integers(0, 256, (n, 28, 28), np.uint8)
  starts = [(i * batch) % (len(x) - batch + 1) for i in range(steps)]
  stacked = np.stack([x[s:s + batch] for s in starts])[:, :, None]
  return torch.from_numpy(np.ascontiguousarray(stacked))


# -- initialisation -----------------------------------------------------------


def _fan_in(layer: nn.Module) -> int:
  """Inputs per output unit, as Flax counts them for the same layer."""
  w = layer.weight
  if isinstance(layer, nn.ConvTranspose2d):  # [in, out, kh, kw]
    return w.shape[0] * w.shape[2] * w.shape[3]
  return math.prod(w.shape[1:])  # Linear [out, in]; Conv2d [out, in, kh, kw]


def init_like_flax(module: nn.Module, std: float | None = None) -> None:
  """Kernels from LeCun's truncated normal (or N(0, std²)), biases zero."""
  for layer in module.modules():
    if isinstance(layer, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d)):
      if std is None:
        s = math.sqrt(1.0 / _fan_in(layer)) / _TRUNCATED_STD
        nn.init.trunc_normal_(layer.weight, 0.0, s, -2 * s, 2 * s)
      else:
        nn.init.normal_(layer.weight, 0.0, std)
      nn.init.zeros_(layer.bias)


# -- models -------------------------------------------------------------------


def conv_same(cin: int, cout: int, stride: int = 2) -> nn.Conv2d:
  """3x3 convolution, output side = ceil(input side / stride)."""
  return nn.Conv2d(cin, cout, 3, stride, padding=1)


def conv_transpose_same(cin: int, cout: int, stride: int = 2
                        ) -> nn.ConvTranspose2d:
  """3x3 transposed convolution, output side = input side * stride."""
  return nn.ConvTranspose2d(cin, cout, 3, stride, padding=1,
                            output_padding=stride - 1)


def keras_batch_norm(channels: int) -> nn.BatchNorm2d:
  """BatchNorm with aejax's conv-model constants (Keras momentum 0.99)."""
  return nn.BatchNorm2d(channels, eps=1e-3, momentum=0.01)


def mlp(widths, last_activation: bool = False) -> nn.Sequential:
  """Linear layers of ``widths`` with ReLU between them."""
  layers = []
  for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
    layers.append(nn.Linear(a, b))
    if last_activation or i < len(widths) - 2:
      layers.append(nn.ReLU())
  return nn.Sequential(*layers)


def as_float(images: torch.Tensor) -> torch.Tensor:
  """uint8 pixels -> float32 in [0, 1]."""
  return images.float().div_(255.0)


class DenseAE(nn.Module):
  """784-512-256-32-256-512-784, trained on the Bernoulli NLL (nats/image)."""

  def __init__(self):
    super().__init__()
    self.encoder = mlp((784, 512, 256, 32))
    self.decoder = mlp((32, 256, 512, 784))

  def loss(self, images: torch.Tensor) -> dict:
    x = as_float(images).flatten(1)
    logits = self.decoder(self.encoder(x))
    nll = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    return {"loss": nll / x.shape[0]}


class ConvAE(nn.Module):
  """The seed conv autoencoder, trained on the per-pixel squared error."""

  def __init__(self, latent: int = 16):
    super().__init__()
    act = lambda: nn.LeakyReLU(0.2)
    self.encoder = nn.Sequential(
        conv_same(1, 32), act(), keras_batch_norm(32),
        conv_same(32, 64), act(), keras_batch_norm(64),
        nn.Flatten(), nn.Linear(7 * 7 * 64, latent))
    self.decoder = nn.Sequential(
        nn.Linear(latent, 7 * 7 * 64), nn.Unflatten(1, (64, 7, 7)),
        conv_transpose_same(64, 64), act(), keras_batch_norm(64),
        conv_transpose_same(64, 32), act(), keras_batch_norm(32),
        conv_transpose_same(32, 1, stride=1))

  def loss(self, images: torch.Tensor) -> dict:
    x = as_float(images)
    return {"loss": F.mse_loss(torch.sigmoid(self.decoder(self.encoder(x))),
                               x)}


class ConvVAE(nn.Module):
  """Conv VAE with a Bernoulli decoder on dynamically binarised images."""

  def __init__(self, latent: int = 16, logvar_bound: float = 10.0):
    super().__init__()
    self.logvar_bound = logvar_bound
    self.encoder = nn.Sequential(
        conv_same(1, 32), nn.ReLU(), conv_same(32, 64), nn.ReLU(),
        nn.Flatten(), nn.Linear(7 * 7 * 64, 2 * latent))
    self.decoder = nn.Sequential(
        nn.Linear(latent, 7 * 7 * 64), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
        conv_transpose_same(64, 64), nn.ReLU(),
        conv_transpose_same(64, 32), nn.ReLU(),
        nn.Conv2d(32, 1, 3, 1, padding=1))

  def loss(self, images: torch.Tensor) -> dict:
    x = torch.bernoulli(as_float(images))
    mean, raw = self.encoder(x).chunk(2, dim=1)
    logvar = self.logvar_bound * torch.tanh(raw / self.logvar_bound)
    z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)
    nll = F.binary_cross_entropy_with_logits(self.decoder(z), x,
                                             reduction="sum")
    kl = 0.5 * torch.sum(mean.square() + logvar.exp() - 1.0 - logvar)
    return {"loss": (nll + kl) / x.shape[0]}


class DCGAN:
  """Generator and discriminator, one D update then one G update per step."""

  def __init__(self, latent: int = 100):
    self.latent = latent
    self.generator = nn.Sequential(
        nn.Linear(latent, 7 * 7 * 128), nn.BatchNorm1d(7 * 7 * 128),
        nn.ReLU(), nn.Unflatten(1, (128, 7, 7)),
        nn.ConvTranspose2d(128, 64, 4, 2, padding=1), nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.ConvTranspose2d(64, 1, 4, 2, padding=1), nn.Tanh())
    self.discriminator = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(64, 128, 4, 2, padding=1), nn.BatchNorm2d(128),
        nn.LeakyReLU(0.2), nn.Flatten(), nn.Linear(7 * 7 * 128, 1))
    for net in (self.generator, self.discriminator):
      init_like_flax(net, std=0.02)
    adam = lambda net: torch.optim.Adam(net.parameters(), 2e-4,
                                        betas=(0.5, 0.999))
    self.opt_g, self.opt_d = adam(self.generator), adam(self.discriminator)

  def parameters(self):
    yield from self.generator.parameters()
    yield from self.discriminator.parameters()

  def step(self, images: torch.Tensor) -> dict:
    real = as_float(images) * 2.0 - 1.0
    fake = self.generator(torch.randn(real.shape[0], self.latent))
    real_logits = self.discriminator(real)
    fake_logits = self.discriminator(fake.detach())
    d_loss = (F.softplus(-real_logits).mean() +
              F.softplus(fake_logits).mean())
    self.opt_d.zero_grad()
    d_loss.backward()
    self.opt_d.step()
    g_loss = F.softplus(-self.discriminator(fake)).mean()
    self.opt_g.zero_grad()
    g_loss.backward()
    self.opt_g.step()
    return {"loss": d_loss.detach(), "g_loss": g_loss.detach()}


class Trainer:
  """A model with a ``loss`` method and its Adam(1e-3) optimizer."""

  def __init__(self, model: nn.Module):
    init_like_flax(model)
    self.model = model
    self.opt = torch.optim.Adam(model.parameters(), 1e-3)

  def parameters(self):
    return self.model.parameters()

  def step(self, images: torch.Tensor) -> dict:
    metrics = self.model.loss(images)
    self.opt.zero_grad()
    metrics["loss"].backward()
    self.opt.step()
    return {k: v.detach() for k, v in metrics.items()}


def build(model: str):
  """The trainer of benchmark model ``model``: ``.step(uint8 batch)``."""
  if model == "dcgan":
    return DCGAN()
  return Trainer({"dense_ae": DenseAE, "conv_ae": ConvAE,
                  "conv_vae": ConvVAE}[model]())


# -- benchmark ----------------------------------------------------------------


def run(model: str, batch: int, steps: int, warmup: int, data_dir: str
        ) -> dict:
  """Times ``steps`` training steps of ``model`` after ``warmup`` steps."""
  torch.manual_seed(0)
  trainer = build(model)
  batches = load_batches(batch, steps + warmup, data_dir)
  for b in batches[:warmup]:
    trainer.step(b)
  start = time.perf_counter()
  for b in batches[warmup:]:
    metrics = trainer.step(b)
  elapsed = time.perf_counter() - start
  reported = "g_loss" if model == "dcgan" else "loss"
  return {
      "framework": "torch", "model": model, "batch": batch, "steps": steps,
      "images_per_s": round(steps * batch / elapsed, 1),
      "final_loss": round(float(metrics[reported]), 5),
      "threads": torch.get_num_threads(),
      "params": sum(p.numel() for p in trainer.parameters()),
      "peak_host_mem_mb": round(
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      "torch": torch.__version__}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="conv_ae", choices=MODELS)
  parser.add_argument("--batch", type=int, default=128)
  parser.add_argument("--steps", type=int, default=100)
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--threads", type=int, default=0,
                      help="torch intra-op threads; 0 keeps torch's default")
  parser.add_argument("--data-dir", dest="data_dir", default=DEFAULT_DATA_DIR)
  args = parser.parse_args(argv)
  if min(args.batch, args.steps, args.warmup) < 1:
    raise SystemExit("--batch, --steps and --warmup must be >= 1.")
  if args.threads:
    torch.set_num_threads(args.threads)
  print(json.dumps(run(args.model, args.batch, args.steps, args.warmup,
                       args.data_dir)), flush=True)


if __name__ == "__main__":
  main()
