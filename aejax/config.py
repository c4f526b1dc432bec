"""The base configuration every experiment starts from.

Every field a run reads is listed here with its default, so that
``--config.<field>=<value>`` overrides have one place to look up.
Experiments under ``experiments/`` call :func:`base_config` and change what
they need.
"""

from __future__ import annotations

import importlib.util
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
  c.keep_checkpoints = 3
  c.max_nonfinite_steps = 100     # this many skipped steps in a row: abort
  c.num_figure_images = 10
  c.progress_bar = True
  c.tensorboard = True            # TensorBoard events too (if tensorboardX)
  return c


def load_experiment(path: str) -> ml_collections.ConfigDict:
  """``get_config()`` of an experiment file such as experiments/ae_*.py."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"No experiment config at {path!r}.")
  name = os.path.splitext(os.path.basename(path))[0]
  spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()
