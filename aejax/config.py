"""The base configuration every experiment starts from.

Every field a run reads is listed here with its default, so that
``--config.<field>=<value>`` overrides have one place to look up.
Experiments under ``experiments/`` call :func:`base_config` and change what
they need.
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os

import ml_collections

from aejax.data.types import DEFAULT_FASHION_MNIST_DIR


def base_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.seed = 0                      # parameters, step keys and shuffling

  c.data = ml_collections.ConfigDict()
  c.data.name = "fashion_mnist"   # "fashion_mnist", "digits" or "ucr"
  c.data.source = "auto"          # "auto", "idx" or "tfds"
  c.data.idx_dir = DEFAULT_FASHION_MNIST_DIR
  c.data.tfds_data_dir = ""       # "" = TFDS's default directory
  c.data.download = False         # let TFDS download when data is absent
  c.data.validation_size = 5000   # held out of train with split_seed
  c.data.split_seed = 0
  c.data.binarize = False         # dynamic binarisation of every batch
  c.data.normal_classes = ()      # non-empty: train/validation keep only
  #                                 these class indices (anomaly detection)
  # ucr: a UCR/UEA time-series set as float sequences [N, T, F] with lengths
  # (aejax/data/timeseries.py); from aeon's bundled copy unless ts_dir is set.
  c.data.ts_name = "ItalyPowerDemand"  # e.g. "JapaneseVowels" (variable T)
  c.data.ts_dir = ""              # dir of <name>/<name>_TRAIN.ts ("" = aeon's)
  c.data.standardize = True       # ucr: per-feature z-score, train statistics

  c.model = ml_collections.ConfigDict()
  c.model.name = "mlp"            # "mlp", "conv" or "recurrent"
  c.model.latent_dim = 32
  c.model.hidden = (512, 256)     # mlp: encoder widths (decoder mirrors)
  c.model.activation = "relu"     # mlp hidden non-linearity
  c.model.filters = (32, 64)      # conv: encoder filters (decoder mirrors)
  c.model.conv_activation = "leaky_relu"  # conv: after each (transposed) conv
  c.model.batch_norm = True       # conv: BatchNorm after each activation
  c.model.dense_activation = "identity"  # conv: after the decoder's Dense
  c.model.output_layer = "conv_transpose"  # conv: final layer ("conv" too)
  c.model.tied = False            # mlp: decoder kernels = encoder kernelsᵀ
  c.model.dropout_rate = 0.0      # mlp: dropout after hidden activations
  c.model.cell = "lstm"           # recurrent: "lstm" or "gru"
  c.model.rnn_hidden = (128,)     # recurrent: encoder RNN widths (decoder
  #                                 mirrors); images are read row by row

  c.method = ml_collections.ConfigDict()
  c.method.name = "ae"            # see aejax.methods.METHODS
  c.method.loss = "mse"           # "mse" (mean/pixel) or "bce" (nats/image)
  c.method.output = "sigmoid"     # decoder output activation
  c.method.corruption = ml_collections.ConfigDict(dict(
      name="gaussian", mean=0.5, std=0.5, clip_min=0.0, clip_max=1.0))
  # sparse_l1, sparse_kl, contractive: activation on the encoder's linear
  # code, which the decoder then sees ("auto": sigmoid, as in Ng 2011 and
  # Rifai et al. 2011; sparse_kl needs "sigmoid").
  c.method.code_activation = "auto"
  c.method.sparsity_weight = 1e-3   # >= 0; sparse_l1: λ of λΣ_j|h_j| per
  #                                   example; sparse_kl: β of βΣ_j KL(ρ‖ρ̂_j)
  c.method.sparsity_target = 0.05   # sparse_kl: target mean activation ρ,
  #                                   in (0, 1)
  c.method.contractive_weight = 0.1  # contractive: λ of λ‖∂h/∂x‖²_F, >= 0
  c.method.jacobian_estimator = "exact"  # contractive: "exact" (per-example
  #                                   Jacobian) or "hutchinson" (unbiased)
  c.method.num_probes = 1           # contractive, hutchinson: probes/example
  # vae: see aejax/methods/vae.py
  c.method.likelihood = "bernoulli"  # "bernoulli", "gaussian", "gaussian_learned"
  c.method.beta = 1.0             # KL weight (ELBO, num_samples = 1 only)
  c.method.num_samples = 1        # k: 1 = ELBO, > 1 = IWAE bound
  c.method.logvar_bound = 10.0    # |log σ²| soft bound (encoder, decoder)
  c.method.decoder_logvar = -4.6  # fixed log σ² of the "gaussian" decoder
  # stacked_ae / stacked_dae: epochs of greedy layer-wise pre-training per
  # layer before end-to-end training (0 = none); see aejax.methods.stacked.
  c.method.pretrain_epochs = 0
  # aae: see aejax/methods/aae.py. The code prior: "gaussian" (N(0, I)) or
  # "mixture" (10 Gaussians; 2-d: petals on a circle as in Makhzani et al.).
  c.method.prior = "gaussian"
  c.method.disc_hidden = (512, 512)  # aae: code discriminator MLP widths
  c.method.adversarial_learning_rate = 0.0  # aae: Adam lr of the
  #                                   discriminator and generator phases
  #                                   (0 = optimizer.learning_rate)
  # dcgan: see aejax/methods/gan.py (noise size = model.latent_dim).
  c.method.n_critic = 1             # discriminator updates per generator
  #                                   update, all inside one compiled step
  # m1, m2, m1m2 (Kingma et al. 2014): see aejax/methods/semi_supervised.py.
  c.method.num_labels = 100         # n labelled training examples (the
  #                                   class-balanced draw of seed, label_draw)
  c.method.label_draw = 0           # which draw of the n labelled examples
  c.method.labelled_batch_size = 100  # labelled examples added to each step
  c.method.alpha = 0.1              # α / N: weight α = alpha · N of the
  #                                   classification term (paper: 0.1)
  c.method.classifier_hidden = (500,)  # q(y|x) / M1's classifier widths
  c.method.m2_hidden = (500,)       # m1m2: M2's encoder widths on z₁
  c.method.m2_latent_dim = 50       # m1m2: size of M2's z₂
  # ladder (Rasmus et al. 2015): see aejax/methods/ladder.py.
  c.method.layer_noise_std = 0.3    # std of the Gaussian noise added to the
  #                                   input and every normalised layer
  c.method.denoising_weights = (1000.0, 10.0, 0.1, 0.1, 0.1, 0.1, 0.1)
  #                                 λ⁽ˡ⁾ of each layer's denoising cost,
  #                                 input first (len(model.hidden) + 2)

  c.optimizer = ml_collections.ConfigDict()
  c.optimizer.name = "adam"
  c.optimizer.learning_rate = 1e-3
  c.optimizer.b1 = 0.9
  c.optimizer.b2 = 0.999
  c.optimizer.weight_decay = 0.0  # adamw only
  c.optimizer.momentum = 0.0      # sgd only
  c.optimizer.grad_clip_norm = 0.0  # 0 = no clipping
  c.optimizer.decay_steps = 0     # > 0: cosine decay of the learning rate
  #                                 over this many steps (0 = constant)
  c.optimizer.final_lr_fraction = 0.0  # lr after decay_steps, x learning_rate

  c.batch_size = 128              # global, split over all devices
  c.eval_batch_size = 1000
  c.num_epochs = 10
  c.max_steps = -1                # > 0: stop after this many steps in total
  c.num_devices = 0               # 0 = all devices
  c.log_every_steps = 100
  c.checkpoint_every_steps = 0    # 0 = once per epoch
  c.keep_checkpoints = 3          # the newest k; 0 = keep every checkpoint
  #                                 (the latest one is never deleted)
  c.max_nonfinite_steps = 100     # this many skipped steps in a row: abort
  # Finite divergence: stop when the mean training loss of divergence_windows
  # train rows in a row is more than divergence_factor x scale above its
  # running minimum (scale: the larger of |minimum| and |the first step's
  # loss|; aejax.train.hooks.DivergenceGuard). divergence_factor 0 = off.
  c.divergence_factor = 10.0
  c.divergence_windows = 5
  c.num_figure_images = 10
  c.figures = True                # the PNG figures (loss curves, samples, ...)
  c.progress_bar = True
  c.tensorboard = True            # TensorBoard events too (if tensorboardX)
  return c


class ConfigError(ValueError):
  """A config field holds a value the run cannot use; the message names the
  field, the value and what it accepts."""


def _kind(value, kind) -> bool:
  if kind is int:
    return isinstance(value, int) and not isinstance(value, bool)
  if kind is float:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))
  return isinstance(value, kind)


def _number(kind, lo=None, hi=None, lo_open=False, hi_open=False, note=""):
  """A rule: an int (``kind=int``) or finite number in a range."""
  name = "an integer" if kind is int else "a finite number"
  bounds = []
  if lo is not None:
    bounds.append(f"{'>' if lo_open else '>='} {lo}")
  if hi is not None:
    bounds.append(f"{'<' if hi_open else '<='} {hi}")
  expected = " ".join([name, " and ".join(bounds)]).strip() + note

  def rule(value):
    ok = _kind(value, kind) and (
        lo is None or (value > lo if lo_open else value >= lo)) and (
            hi is None or (value < hi if hi_open else value <= hi))
    return None if ok else expected
  return rule


def _one_of(*choices):
  def rule(value):
    return None if value in choices else f"one of {', '.join(map(repr, choices))}"
  return rule


def _tuple(kind, lo=0, nonempty=False):
  """A rule: a tuple of ints (``kind=int``) or finite numbers, each >= lo."""
  name = "integers" if kind is int else "finite numbers"
  expected = f"a {'non-empty ' if nonempty else ''}tuple of {name} >= {lo}"

  def rule(value):
    ok = isinstance(value, (tuple, list)) and (value or not nonempty) and all(
        _kind(v, kind) and v >= lo for v in value)
    return None if ok else expected
  return rule


def _ints(lo=0, nonempty=False):
  return _tuple(int, lo, nonempty)


def _floats(lo=0, nonempty=False):
  return _tuple(float, lo, nonempty)


def _of_type(kind, expected):
  return lambda value: None if _kind(value, kind) else expected


_INT = _number(int)
_BOOL = _of_type(bool, "True or False")
_TEXT = _of_type(str, "a string")
# Kept equal to the code's own tables by tests/test_faults.py.
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "elu",
               "identity")
_ACTIVATION = _one_of(*ACTIVATIONS)

# What each field of base_config() accepts; check_fields() applies them
# before any data is loaded or any directory is created. Settings that only
# some methods or models read are checked in every run (their defaults
# pass). method.corruption is checked by aejax.data.transforms (its fields
# depend on its name).
FIELD_RULES = {
    "seed": _INT,
    "data.name": _one_of("fashion_mnist", "digits", "ucr"),
    "data.source": _one_of("auto", "idx", "tfds"),
    "data.idx_dir": _TEXT,
    "data.tfds_data_dir": _TEXT,
    "data.download": _BOOL,
    "data.validation_size": _number(int, 1, note=" (images held out of "
                                    "train to validate on)"),
    "data.split_seed": _INT,
    "data.binarize": _BOOL,
    "data.normal_classes": _ints(0),
    "data.ts_name": _TEXT,
    "data.ts_dir": _TEXT,
    "data.standardize": _BOOL,
    "model.name": _TEXT,  # checked against the method by check_config
    "model.latent_dim": _number(int, 1),
    "model.hidden": _ints(1),
    "model.activation": _ACTIVATION,
    "model.filters": _ints(1, nonempty=True),
    "model.conv_activation": _ACTIVATION,
    "model.batch_norm": _BOOL,
    "model.dense_activation": _ACTIVATION,
    "model.output_layer": _one_of("conv_transpose", "conv"),
    "model.tied": _BOOL,
    "model.dropout_rate": _number(float, 0, 1, hi_open=True),
    "model.cell": _one_of("lstm", "gru"),
    "model.rnn_hidden": _ints(1, nonempty=True),
    "method.name": _TEXT,  # checked against the registry by check_config
    "method.loss": _one_of("mse", "bce"),
    "method.output": _one_of("sigmoid", "identity"),
    "method.code_activation": _one_of("auto", *ACTIVATIONS),
    "method.sparsity_weight": _number(float, 0),
    "method.sparsity_target": _number(float, 0, 1, True, True),
    "method.contractive_weight": _number(float, 0),
    "method.jacobian_estimator": _one_of("exact", "hutchinson"),
    "method.num_probes": _number(int, 1),
    "method.likelihood": _one_of("bernoulli", "gaussian", "gaussian_learned"),
    "method.beta": _number(float, 0),
    "method.num_samples": _number(int, 1),
    "method.logvar_bound": _number(float, 0, lo_open=True),
    "method.decoder_logvar": _number(float),
    "method.pretrain_epochs": _number(int, 0),
    "method.prior": _one_of("gaussian", "mixture"),
    "method.disc_hidden": _ints(1, nonempty=True),
    "method.adversarial_learning_rate": _number(
        float, 0, note=" (0: optimizer.learning_rate)"),
    "method.n_critic": _number(int, 1),
    "method.num_labels": _number(int, 10, note=" (at least one per class)"),
    "method.label_draw": _number(int, 0),
    "method.labelled_batch_size": _number(int, 1),
    "method.alpha": _number(float, 0),
    "method.classifier_hidden": _ints(1),
    "method.m2_hidden": _ints(1, nonempty=True),
    "method.m2_latent_dim": _number(int, 1),
    "method.layer_noise_std": _number(float, 0),
    "method.denoising_weights": _floats(0, nonempty=True),
    "optimizer.name": _one_of("adam", "adamw", "sgd"),
    "optimizer.learning_rate": _number(float, 0),
    "optimizer.b1": _number(float, 0, 1, hi_open=True),
    "optimizer.b2": _number(float, 0, 1, hi_open=True),
    "optimizer.weight_decay": _number(float, 0),
    "optimizer.momentum": _number(float, 0, 1, hi_open=True),
    "optimizer.grad_clip_norm": _number(float, 0, note=" (0: no clipping)"),
    "optimizer.decay_steps": _number(int, 0, note=" (0: constant rate)"),
    "optimizer.final_lr_fraction": _number(float, 0, 1),
    "batch_size": _number(int, 1),
    "eval_batch_size": _number(int, 1),
    "num_epochs": _number(int, 0),
    "max_steps": lambda v: None if _kind(v, int) and (v == -1 or v >= 1) else
                 "-1 (num_epochs decides) or an integer >= 1",
    "num_devices": _number(int, 0, note=" (0: all devices)"),
    "log_every_steps": _number(int, 1, note=" (steps per train row)"),
    "checkpoint_every_steps": _number(int, 0, note=" (0: once per epoch)"),
    "keep_checkpoints": _number(int, 0, note=" (0: keep all)"),
    "max_nonfinite_steps": _number(
        int, 1, note=" (skipped non-finite steps in a row that stop the run)"),
    "divergence_factor": _number(float, 0, note=" (0: no finite-divergence "
                                 "guard)"),
    "divergence_windows": _number(int, 1, note=" (train rows in a row)"),
    "num_figure_images": _number(int, 1),
    "figures": _BOOL,
    "progress_bar": _BOOL,
    "tensorboard": _BOOL,
}
_OPAQUE = ("method.corruption",)  # a dict whose fields depend on its name


def field_paths(config, prefix: str = "") -> list[str]:
  """Dotted paths of the leaf fields of ``config`` (``"optimizer.b1"``)."""
  paths = []
  for key in config:
    path = prefix + key
    if isinstance(config[key], ml_collections.ConfigDict) and (
        path not in _OPAQUE):
      paths += field_paths(config[key], path + ".")
    else:
      paths.append(path)
  return paths


def _get(config, path: str):
  for key in path.split("."):
    config = config[key]
  return config


def set_field(config, path: str, value) -> None:
  """Sets the existing field at the dotted ``path`` (``"model.cell"``) of
  ``config``; a KeyError if there is none."""
  section, _, leaf = path.rpartition(".")
  node = _get(config, section) if section else config
  if leaf not in node:
    raise KeyError(path)
  node[leaf] = value


def suggest(path: str, paths) -> str:
  """``" (did you mean --config.batch_size?)"`` for a misspelled path."""
  close = difflib.get_close_matches(path, list(paths), n=1, cutoff=0.6)
  if not close:  # a misspelled last part of a known section
    section, _, leaf = path.rpartition(".")
    tails = {p.rpartition(".")[2]: p for p in paths
             if p.rpartition(".")[0] == section}
    near = difflib.get_close_matches(leaf, list(tails), n=1, cutoff=0.6)
    close = [tails[near[0]]] if near else []
  return f" (did you mean --config.{close[0]}?)" if close else ""


def check_fields(config, defaults=None) -> None:
  """Refuses fields the base config does not have and values a field does
  not accept (:data:`FIELD_RULES`), with one line that names the fix.

  Raises:
    ConfigError: for the first bad field.
  """
  defaults = base_config() if defaults is None else defaults
  known = field_paths(defaults)
  for path in field_paths(config):
    if path not in known:
      raise ConfigError(f"--config.{path}: the config has no such field"
                        f"{suggest(path, known)}.")
  for path in known:
    rule = FIELD_RULES.get(path)
    try:
      value = _get(config, path)
    except (KeyError, AttributeError):
      continue  # an older config without a newer field: its default holds
    problem = rule(value) if rule else None
    if problem:
      raise ConfigError(f"--config.{path}={value!r}: must be {problem}.")
  if config.get("num_epochs", 1) == 0 and config.get("max_steps", -1) < 1:
    raise ConfigError("--config.num_epochs=0 trains nothing: set num_epochs "
                      ">= 1, or max_steps >= 1.")


def load_experiment(path: str) -> ml_collections.ConfigDict:
  """``get_config()`` of an experiment file such as experiments/ae_*.py."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No experiment config at {path!r}.")
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
