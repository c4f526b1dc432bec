"""The figures a run writes, chosen by what its method can do.

Methods draw nothing themselves: after training (and, for generators that
ask for it, after every epoch) the loop calls :func:`final_figures` /
:func:`epoch_figures`, which look at the method's capabilities
(:mod:`aejax.methods.base`) and draw with :mod:`aejax.plotting`:

==========================================  ================================
capability                                  figure
==========================================  ================================
Denoiser (and Reconstructor)                ``denoising.png``: noisy / denoised / clean
Reconstructor                               ``reconstructions.png``: inputs / reconstructions (sequences: line plots)
Sampler                                     ``samples.png`` (a GAN: the fixed-noise grid, and ``real_vs_generated.png``)
Encoder + Decoder + Sampler                 ``interpolation.png``: linear and spherical paths between two test codes
Encoder, 2-d code                           ``latent_scatter.png`` (PriorMatcher: ``aggregate_posterior.png``, codes beside prior samples)
Encoder + Decoder + Sampler, 2-d code       ``latent_plane.png``: the decoded grid z ∈ [-2.5, 2.5]²
AnomalyScorer, ``data.normal_classes`` set  ``anomaly.json``, ``anomaly.png`` (AUROC of the test split)
==========================================  ================================
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np

from aejax.data.sources import Split
from aejax.methods import base
from aejax.plotting import image_rows, latent_scatter, linear_path
from aejax.plotting import codes_vs_prior, sequence_rows, slerp_path
from aejax.train import reports
from aejax.train.inference import score_split

GRID = 64             # a GAN's fixed-noise grid, 8 x 8
FIXED_NOISE = 0xF1DE  # fold_in constant of the fixed-noise key
SCATTER_POINTS = 5000


def fixed_noise_key(seed: int) -> jax.Array:
  """The key of the sample grids drawn every epoch (the same z each time)."""
  return jax.random.fold_in(jax.random.PRNGKey(seed), FIXED_NOISE)


def epoch_figures(method, params, batch_stats, step: int,
                  workdir: str) -> list[str]:
  """The fixed-noise sample grid at ``step`` (``samples_step<step>.png``)
  for methods with ``samples_every_epoch``; nothing for the others."""
  if not (method.samples_every_epoch and isinstance(method, base.Sampler)):
    return []
  return [_grid(method, params, batch_stats,
                os.path.join(workdir, f"samples_step{step:06d}.png"),
                f"{method.name}: fixed-noise samples at step {step}")]


def final_figures(method, params, batch_stats, split: Split, key: jax.Array,
                  workdir: str, class_names=None, draw: bool = True
                  ) -> list[str]:
  """Every figure of the table above that ``method`` can draw, on the test
  ``split`` (``class_names`` label the code scatters); returns their
  paths. ``draw=False`` (``config.figures = False``) draws none and writes
  only the anomaly report's ``anomaly.json`` (a result, not a figure)."""
  config = method.config
  normal = tuple(config.data.get("normal_classes", ()))
  paths = []
  if normal and isinstance(method, base.AnomalyScorer):
    scores = score_split(method, params, batch_stats, split,
                         config.eval_batch_size)
    report = reports.anomaly_report(scores, split.labels, normal)
    paths += reports.write_anomaly_report(report, scores, split.labels,
                                          workdir, f"{method.name} (test):",
                                          draw)
  if not draw:
    return paths
  k_bin, k_noise, k_sample, k_prior = jax.random.split(key, 4)
  n = min(config.num_figure_images, len(split))
  names = list(class_names) if class_names else None
  is_image = split.lengths is None and len(method.image_shape) == 3
  x = jnp.asarray(split.images[:n], jnp.float32)
  if is_image:
    x = x / 255.0
    if config.data.binarize:
      x = jax.random.bernoulli(k_bin, x).astype(jnp.float32)
  if isinstance(method, base.Denoiser) and is_image:
    noisy = jax.jit(method.corrupt)(x, k_noise)
    paths.append(image_rows(
        [("noisy", noisy), ("denoised", method.reconstruct(
            params, batch_stats, noisy)), ("clean", x)],
        os.path.join(workdir, "denoising.png"),
        title=f"{method.name}: noisy | denoised | clean (test images)"))
  elif isinstance(method, base.Reconstructor):
    path = os.path.join(workdir, "reconstructions.png")
    if is_image:
      paths.append(image_rows(
          [("input", x), ("reconstruction", method.reconstruct(
              params, batch_stats, x))], path,
          title=f"{method.name}: test inputs and reconstructions"))
    else:
      paths.append(_sequences(method, params, batch_stats, split, path))
  if isinstance(method, base.Sampler):
    paths += _samples(method, params, batch_stats, split, k_sample, workdir)
  if isinstance(method, base.Encoder) and is_image:
    paths += _latent(method, params, batch_stats, split, x, k_prior, workdir,
                     names)
  return paths


def _grid(method, params, batch_stats, path: str, title: str) -> str:
  images = np.asarray(method.sample(params, batch_stats,
                                    fixed_noise_key(method.config.seed), GRID))
  return image_rows([("", images[i:i + 8]) for i in range(0, GRID, 8)], path,
                    title=title)


def _samples(method, params, batch_stats, split, key, workdir) -> list[str]:
  if method.samples_every_epoch:  # the grid the epochs showed, and real ones
    paths = [_grid(method, params, batch_stats,
                   os.path.join(workdir, "samples.png"),
                   f"{method.name}: fixed-noise samples (final)")]
    n = method.config.num_figure_images
    real = np.asarray(split.images[:n], np.float32) / 255.0
    fake = np.asarray(method.sample(params, batch_stats,
                                    fixed_noise_key(method.config.seed),
                                    GRID))[:n]
    paths.append(image_rows([("test", real), ("G(z)", fake)],
                            os.path.join(workdir, "real_vs_generated.png"),
                            title=f"{method.name}: test images and samples"))
    return paths
  samples = np.asarray(method.sample(params, batch_stats, key, 40))
  return [image_rows([("", samples[i:i + 10]) for i in range(0, 40, 10)],
                     os.path.join(workdir, "samples.png"),
                     title=f"{method.name}: decoded samples of the prior")]


def _latent(method, params, batch_stats, split, x, key, workdir,
            names) -> list[str]:
  paths = []
  generative = (isinstance(method, base.Decoder) and
                isinstance(method, base.Sampler))
  if generative and len(x) >= 2:
    codes = np.asarray(method.encode(params, batch_stats, x[:2]))
    ts = np.linspace(0.0, 1.0, 10)
    rows = [(label, method.decode(params, batch_stats, jnp.asarray(
        path(codes[0], codes[1], ts), jnp.float32)))
            for label, path in (("linear", linear_path),
                                ("spherical", slerp_path))]
    paths.append(image_rows(
        rows, os.path.join(workdir, "interpolation.png"),
        title=f"{method.name}: latent interpolation between two test images"))
  images = jnp.asarray(split.images[:SCATTER_POINTS], jnp.float32) / 255.0
  codes = np.asarray(method.encode(params, batch_stats, images[:1]))
  if codes.shape[-1] != 2:
    return paths
  codes = np.asarray(method.encode(params, batch_stats, images))
  labels = split.labels[:len(codes)]
  if isinstance(method, base.PriorMatcher):
    prior = np.asarray(method.prior_sample(key, len(codes)))
    paths.append(codes_vs_prior(
        codes, labels, prior,
        os.path.join(workdir, "aggregate_posterior.png"), names,
        f"{method.name} ({method.config.method.prior} prior)"))
    return paths
  paths.append(latent_scatter(
      codes, labels, os.path.join(workdir, "latent_scatter.png"),
      class_names=names, title=f"{method.name}: codes of test images, by class"))
  if generative:
    grid = np.linspace(-2.5, 2.5, 15)
    z = np.stack(np.meshgrid(grid, grid[::-1]), -1).reshape(-1, 2)
    decoded = np.asarray(method.decode(params, batch_stats,
                                       jnp.asarray(z, jnp.float32)))
    paths.append(image_rows(
        [("", decoded[i * 15:(i + 1) * 15]) for i in range(15)],
        os.path.join(workdir, "latent_plane.png"),
        title=f"{method.name}: decoded latent plane, z ∈ [-2.5, 2.5]²"))
  return paths


def _sequences(method, params, batch_stats, split, path) -> str:
  n = min(method.config.num_figure_images, len(split), 8)
  x = np.asarray(split.images[:n], np.float32)
  num_steps = x.shape[1]
  lengths = (split.lengths[:n] if split.lengths is not None
             else np.full(n, num_steps, np.int32))
  recon = np.asarray(method.reconstruct(params, batch_stats, jnp.asarray(x),
                                        jnp.asarray(lengths)))
  return sequence_rows(x, recon, lengths, split.labels[:n], path,
                       f"{method.name}: test sequences (solid) and "
                       "reconstructions (dashed), first ≤3 features")
