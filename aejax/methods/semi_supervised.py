r"""Semi-supervised deep generative models: M1, M2 and M1 + M2.

Kingma, Rezende, Mohamed & Welling (2014) learn a classifier from a few
labelled examples and many unlabelled ones with variational autoencoders:

* **M1** (``m1``): a VAE trained on every image without labels; a classifier
  reads its posterior mean μ(x). Here the classifier (``Dense`` layers
  ``method.classifier_hidden``, then C logits; the paper uses a TSVM) is
  trained in the same compiled step as the VAE, on the labelled sub-batch,
  through ``stop_gradient(μ)``: the VAE's parameters receive the ELBO's
  gradient only and the classifier the cross-entropy's only, which is the
  paper's two-stage recipe run side by side.
* **M2** (``m2``): the label y is a partly observed latent variable of the
  generative model p(y) p(z) p(x|y, z), with p(y) = Cat(1/C), p(z) = N(0, I);
  the inference model is q(z|x, y) q(y|x), and q(y|x) is the classifier. For
  a labelled example the bound is (eq. 6, nats)

    −L(x, y) = E_{q(z|x,y)}[log p(x|y, z)] + log p(y) − KL(q(z|x, y) ‖ p(z)),

  and for an unlabelled one y is marginalised over its C values (eq. 7)

    −U(x) = Σ_y q(y|x) (−L(x, y)) + H(q(y|x)).

  The objective (eq. 9) is J^α = Σ_labelled L + Σ_unlabelled U +
  α · E_labelled[−log q(y|x)], with α = 0.1 · N in the paper.
* **M1 + M2** (``m1m2``): M2 trained on the latent codes z₁ of a trained M1:
  the VAE (``config.model``) is trained first for ``method.pretrain_epochs``
  epochs (the loop's layer-wise pre-training, one stage), then frozen, and
  M2 (``method.m2_hidden``, ``method.m2_latent_dim``) models z₁ ~ q(z₁|x)
  with a Gaussian p(z₁|y, z₂) of learned diagonal variance.

**Marginalising inside the compiled step.** −L(x, y) for the C labels is one
``jax.vmap`` over the C one-hot vectors (the encoder's first layer reads x
once, :class:`aejax.models.semi_supervised.M2Networks`); every label uses the
same noise ε, so −U(x) is exactly Σ_y q(y|x)(−L(x, y)) + H for the labelled
bounds computed with that ε (a test checks it).

**The labelled examples and the batch.** ``method.num_labels`` = n training
examples keep their labels: the class-balanced draw
``aejax.data.subsets.draw_labelled_subset(labels, n, C, config.seed,
method.label_draw)`` of the few-label benchmark (same seed and draw: the
same subset). The method reads them itself, from ``config.data``, the first
time a step is traced. Every batch the loop gives is treated as unlabelled —
its ``label`` field is never read by the loss — and each step adds a labelled
sub-batch of ``method.labelled_batch_size`` examples drawn uniformly with
replacement from the n, by a key split from the step's key (so a pure
function of the step: resuming is exact). With 100 labels among 55 000
images a random batch would hold a labelled example one step in four; the
paper keeps labelled examples in every minibatch, and so does this.

**Reduction and α.** The loss of a step is

  mean_unlabelled(−U) + mean_labelled(−L + w · (−log q(y|x))),
  w = ``method.alpha`` · N / n,

with N the size of the training split. Per labelled example this keeps the
paper's ratio between its bound and its classification term (α · E_l
spreads α = 0.1 · N over the n labelled examples); the labelled part weighs
as much as the unlabelled part because the labelled examples are
oversampled to a sub-batch of their own. All bounds are sums over pixels
(nats per example); ``method.alpha = 0`` removes the classification term.

Likelihoods of the data (``method.likelihood``, as for the VAE):
``bernoulli`` (needs ``data.binarize``), ``gaussian`` (fixed
``method.decoder_logvar``), ``gaussian_learned``. Only MLPs
(``model.hidden``, ``model.latent_dim``, ``model.activation``) are built.

References:
  Kingma, Rezende, Mohamed & Welling, "Semi-Supervised Learning with Deep
  Generative Models", NIPS 2014.
  Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax

from aejax import losses
from aejax.data.subsets import draw_labelled_subset
from aejax.data.transforms import prepare_batch
from aejax.methods import base
from aejax.methods.registry import register_method
from aejax.methods.vae import LIKELIHOODS, VariationalAutoencoder
from aejax.models.semi_supervised import MLP, M2Networks

NUM_CLASSES = 10  # C: the data sets with class labels here have 10
LABEL_FIELDS = ("num_labels", "label_draw", "labelled_batch_size", "alpha")
_OUTPUTS = {"sigmoid": jax.nn.sigmoid, "identity": lambda x: x}


def _bound(raw: jax.Array, limit: float) -> jax.Array:
  return limit * jnp.tanh(raw / limit)


class LabelledExamples:
  """The few labelled examples of a semi-supervised method (a mixin).

  Reads ``method.num_labels``, ``label_draw``, ``labelled_batch_size`` and
  ``alpha``; draws the labelled subset from ``config.data``'s training split
  on first use, and adds a labelled sub-batch to every training step (see
  the module docstring).
  """

  def _init_labels(self, config) -> None:
    m = config.method
    for field, low in (("num_labels", NUM_CLASSES), ("label_draw", 0),
                       ("labelled_batch_size", 1)):
      if m[field] < low:
        raise ValueError(f"method.{field} must be >= {low}, got {m[field]}.")
    if not m.alpha >= 0:
      raise ValueError(f"method.alpha must be >= 0, got {m.alpha}.")
    self.num_labels = int(m.num_labels)
    self.label_draw = int(m.label_draw)
    self.labelled_batch_size = int(m.labelled_batch_size)
    self.alpha = float(m.alpha)
    self._labelled = None

  def labelled_examples(self) -> tuple[np.ndarray, np.ndarray, int]:
    """``(images, labels, N)``: the n labelled training examples (as stored,
    e.g. uint8) and the size N of the training split."""
    if self._labelled is None:
      from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
      data = load_dataset(self.config.data)
      if len(data.class_names) != NUM_CLASSES:
        raise ValueError(f"Method {self.name!r} models {NUM_CLASSES} classes;"
                         f" {data.name} has {len(data.class_names)}.")
      if self.num_labels > len(data.train):
        raise ValueError(
            f"method.num_labels={self.num_labels} is more than the "
            f"{len(data.train)} training examples of {data.name}.")
      idx = draw_labelled_subset(data.train.labels, self.num_labels,
                                 NUM_CLASSES, int(self.config.seed),
                                 self.label_draw)
      self._labelled = (data.train.images[idx],
                        data.train.labels[idx].astype(np.int32),
                        len(data.train))
    return self._labelled

  @property
  def class_weight(self) -> float:
    """w = α · N / n: the weight of −log q(y|x) per labelled example."""
    _, _, size = self.labelled_examples()
    return self.alpha * size / self.num_labels

  def labelled_batch(self, key: jax.Array) -> tuple[jax.Array, jax.Array]:
    """A labelled sub-batch (images in [0, 1], binarised if the run
    binarises; labels), drawn uniformly with replacement by ``key``."""
    images, labels, _ = self.labelled_examples()
    k_rows, k_binarize = jax.random.split(key)
    rows = jax.random.randint(k_rows, (self.labelled_batch_size,), 0,
                              len(labels))
    x = prepare_batch({"image": jnp.asarray(images)[rows]}, k_binarize,
                      self.config.data.binarize)["image"]
    return x, jnp.asarray(labels)[rows]

  def train_step(self, variables, opt_state, batch, key):
    """:meth:`GradientMethod.train_step` on the batch plus a labelled
    sub-batch (``labelled_image``, ``labelled_label``)."""
    k_labelled, k_loss = jax.random.split(key)
    x_l, y_l = self.labelled_batch(k_labelled)
    batch = {**batch, "labelled_image": x_l, "labelled_label": y_l}
    return super().train_step(variables, opt_state, batch, k_loss)


def _cross_entropy(logits, labels):
  return (optax.softmax_cross_entropy_with_integer_labels(logits, labels),
          (jnp.argmax(logits, -1) == labels).astype(jnp.float32))


# -- M2 ------------------------------------------------------------------------


class M2Core:
  """M2's bounds on flat data [B, D] (the pure functions of ``m2`` and of
  ``m1m2``'s upper model).

  Args:
    data_dim: D.
    hidden, latent_dim, classifier_hidden, activation: the networks
      (:class:`aejax.models.semi_supervised.M2Networks`).
    likelihood: ``bernoulli``, ``gaussian`` or ``gaussian_learned``.
    logvar_bound: soft bound b on log σ², b · tanh(raw / b).
    decoder_logvar: the fixed log σ² of ``gaussian``.
    output: ``sigmoid`` or ``identity``, the decoder mean's activation
      (Gaussian likelihoods).
  """

  def __init__(self, data_dim, hidden, latent_dim, classifier_hidden,
               activation, likelihood, logvar_bound, decoder_logvar,
               output):
    if likelihood not in LIKELIHOODS:
      raise ValueError(f"Unknown likelihood {likelihood!r}: choose one of "
                       f"{LIKELIHOODS}.")
    self.data_dim = int(data_dim)
    self.latent_dim = int(latent_dim)
    self.likelihood = likelihood
    self.logvar_bound = float(logvar_bound)
    self.decoder_logvar = float(decoder_logvar)
    self.output_fn = _OUTPUTS[output]
    out_dim = self.data_dim * (2 if likelihood == "gaussian_learned" else 1)
    self.net = M2Networks(tuple(hidden), self.latent_dim, out_dim,
                          NUM_CLASSES, tuple(classifier_hidden), activation)

  def init(self, key, x):
    return self.net.init(key, x.reshape(x.shape[0], -1))["params"]

  def _apply(self, params, *args, method):
    return self.net.apply({"params": params}, *args, method=method)

  def logits(self, params, x):
    """Class logits of q(y|x), [B, C]."""
    return self._apply(params, x.reshape(x.shape[0], -1),
                       method=M2Networks.logits)

  def encode_x(self, params, x):
    """The encoder's label-free part of its first layer, [B, hidden[0]]."""
    return self._apply(params, x.reshape(x.shape[0], -1),
                       method=M2Networks.encode_x)

  def posterior(self, params, hx, y):
    """(μ, log σ²) of q(z|x, y) from the encoder's x-part ``hx``."""
    mean, raw = jnp.split(self._apply(params, hx, y,
                                      method=M2Networks.posterior), 2, -1)
    return mean, _bound(raw, self.logvar_bound)

  def decode(self, params, z, y):
    return self._apply(params, z, y, method=M2Networks.decode)

  def mean(self, out):
    """The decoder's mean E[x | y, z] from its outputs [B, D or 2D]."""
    if self.likelihood == "bernoulli":
      return jax.nn.sigmoid(out)
    return self.output_fn(out[..., :self.data_dim])

  def log_likelihood(self, out, x):
    """log p(x | y, z), summed over the D dimensions: [B]."""
    if self.likelihood == "bernoulli":
      return losses.bernoulli_log_likelihood(out, x)
    if self.likelihood == "gaussian":
      return losses.gaussian_log_density(
          x, self.output_fn(out), jnp.full_like(out, self.decoder_logvar))
    return losses.gaussian_log_density(
        x, self.output_fn(out[..., :self.data_dim]),
        _bound(out[..., self.data_dim:], self.logvar_bound))

  def _labelled_from(self, params, hx, x, y, eps):
    mean, logvar = self.posterior(params, hx, y)
    z = mean + jnp.exp(0.5 * logvar) * eps
    log_px = self.log_likelihood(self.decode(params, z, y), x)
    kl = losses.gaussian_kl_to_standard(mean, logvar)
    return log_px - math.log(NUM_CLASSES) - kl, log_px, kl

  def labelled_bound(self, params, x, y, eps):
    """−L(x, y) per example [B] (one sample z = μ + σ ε, ε [B, L]), with
    its terms (log p(x|y, z) [B], KL [B]); y one-hot [B, C]."""
    x = x.reshape(x.shape[0], -1)
    hx = self._apply(params, x, method=M2Networks.encode_x)
    return self._labelled_from(params, hx, x, y, eps)

  def unlabelled_bound(self, params, x, eps):
    """−U(x) = Σ_y q(y|x)(−L(x, y)) + H(q(y|x)) per example [B].

    Returns ``(−U [B], −L(x, y) for every y [C, B], log q(y|x) [B, C])``;
    the C bounds share the noise ε [B, L] and the encoder's x-part.
    """
    x = x.reshape(x.shape[0], -1)
    hx = self._apply(params, x, method=M2Networks.encode_x)
    ys = jnp.eye(NUM_CLASSES, dtype=x.dtype)[:, None, :]  # [C, 1, C]
    every = jax.vmap(lambda y: self._labelled_from(
        params, hx, x, jnp.broadcast_to(y, (x.shape[0], NUM_CLASSES)),
        eps)[0])(ys)                                      # [C, B]
    log_q = jax.nn.log_softmax(self.logits(params, x))    # [B, C]
    q = jnp.exp(log_q)
    entropy = -jnp.sum(q * log_q, axis=-1)
    return jnp.sum(q * every.T, axis=-1) + entropy, every, log_q

  def loss(self, params, x_u, x_l, y_l, key, class_weight: float):
    """The M2 loss and its metrics on an unlabelled batch ``x_u`` and a
    labelled one ``(x_l, y_l)`` (either may be ``None``):
    mean(−U(x_u)) + mean(−L(x_l, y_l) + w · (−log q(y_l|x_l))).

    Keys: ``k_u, k_l = split(key)`` give the noise of the two parts.
    """
    k_u, k_l = jax.random.split(key)
    loss, metrics = 0.0, {}
    if x_u is not None:
      eps = jax.random.normal(k_u, (x_u.shape[0], self.latent_dim))
      bound_u, _, _ = self.unlabelled_bound(params, x_u, eps)
      loss = loss + losses.batch_mean(-bound_u)
      metrics["unlabelled_bound"] = losses.batch_mean(bound_u)
    if x_l is not None:
      eps = jax.random.normal(k_l, (x_l.shape[0], self.latent_dim))
      y = jax.nn.one_hot(y_l, NUM_CLASSES, dtype=x_l.dtype)
      bound_l, log_px, kl = self.labelled_bound(params, x_l, y, eps)
      cross_entropy, correct = _cross_entropy(self.logits(params, x_l), y_l)
      loss = loss + losses.batch_mean(-bound_l + class_weight * cross_entropy)
      metrics.update(labelled_bound=losses.batch_mean(bound_l),
                     recon_nll=-losses.batch_mean(log_px),
                     kl=losses.batch_mean(kl),
                     cross_entropy=losses.batch_mean(cross_entropy),
                     accuracy=losses.batch_mean(correct))
    metrics.update(loss=loss, objective=loss)
    return loss, metrics

  def per_example(self, params, x, y_true, key, class_weight: float):
    """Evaluation metrics per example [B] of held-out labelled data:
    ``loss`` = −U(x) (labels unseen), ``objective`` = −U(x) − L(x, y) +
    w · CE (the training loss with x in both parts; its batch mean with the
    same key is :meth:`loss` on ``(x, x, y)``), the bounds, the
    cross-entropy and the classifier's ``accuracy``."""
    k_u, k_l = jax.random.split(key)
    bound_u, _, log_q = self.unlabelled_bound(
        params, x, jax.random.normal(k_u, (x.shape[0], self.latent_dim)))
    y = jax.nn.one_hot(y_true, NUM_CLASSES, dtype=x.dtype)
    bound_l, _, _ = self.labelled_bound(
        params, x, y, jax.random.normal(k_l, (x.shape[0], self.latent_dim)))
    cross_entropy, correct = _cross_entropy(log_q, y_true)
    return {"loss": -bound_u,
            "objective": -bound_u - bound_l + class_weight * cross_entropy,
            "unlabelled_bound": bound_u, "labelled_bound": bound_l,
            "cross_entropy": cross_entropy, "accuracy": correct}

  def sample_means(self, params, key, n: int):
    """Decoder means [n, D] of z ~ N(0, I) with labels 0, 1, …, C−1, 0, …"""
    z = jax.random.normal(key, (n, self.latent_dim))
    y = jax.nn.one_hot(jnp.arange(n) % NUM_CLASSES, NUM_CLASSES)
    return self.mean(self.decode(params, z, y))


def _check_likelihood(config) -> None:
  if config.method.likelihood == "bernoulli" and not config.data.binarize:
    raise ValueError("likelihood='bernoulli' models binary pixels: set "
                     "data.binarize=True (dynamic binarisation), or use "
                     "likelihood='gaussian' for grey levels.")


@register_method("m2")
class M2(LabelledExamples, base.GradientMethod, base.Reconstructor,
         base.Sampler, base.AnomalyScorer):
  """M2 of Kingma et al. (2014): y a partly observed latent, q(y|x) the
  classifier (see the module docstring). Parameters: those of
  :class:`aejax.models.semi_supervised.M2Networks`."""
  model_fields = ("latent_dim", "hidden", "activation")
  config_fields = ("likelihood", "logvar_bound", "decoder_logvar", "output",
                   "classifier_hidden", *LABEL_FIELDS)

  def __init__(self, config, image_shape):
    _check_likelihood(config)
    super().__init__(config, image_shape)
    self._init_labels(config)
    m = config.method
    self.core = M2Core(int(np.prod(self.image_shape)), config.model.hidden,
                       config.model.latent_dim, m.classifier_hidden,
                       config.model.activation, m.likelihood,
                       m.logvar_bound, m.decoder_logvar, m.output)

  def init_variables(self, key, images):
    return {"params": self.core.init(key, images), "batch_stats": {}}

  def loss_fn(self, params, batch, key, batch_stats):
    """mean(−U(x)) over ``batch["image"]`` + mean(−L + w·CE) over
    ``batch["labelled_image"], batch["labelled_label"]`` (either part may
    be absent); ``batch["label"]`` is not read."""
    loss, metrics = self.core.loss(
        params, batch.get("image"), batch.get("labelled_image"),
        batch.get("labelled_label"), key, self.class_weight)
    return loss, (metrics, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    return self.core.per_example(params, batch["image"], batch["label"], key,
                                 self.class_weight)

  @functools.partial(jax.jit, static_argnums=0)
  def classify(self, params, batch_stats, x):
    """Class logits of q(y|x), [B, C]."""
    return self.core.logits(params, x)

  @functools.partial(jax.jit, static_argnums=0)
  def reconstruct(self, params, batch_stats, x):
    """Decoder mean at ŷ = argmax q(y|x) and z = μ(x, ŷ)."""
    y = jax.nn.one_hot(jnp.argmax(self.core.logits(params, x), -1),
                       NUM_CLASSES, dtype=x.dtype)
    mean, _ = self.core.posterior(params, self.core.encode_x(params, x), y)
    return self.core.mean(self.core.decode(params, mean, y)).reshape(x.shape)

  def sample(self, params, batch_stats, key, n: int):
    """Decoder means of z ~ N(0, I), labels cycling through the classes."""
    return self.core.sample_means(params, key, n).reshape(
        (n,) + self.image_shape)

  def score(self, params, batch_stats, batch, key):
    """−U(x) (one sample of z per label), nats per example."""
    x = batch["image"]
    eps = jax.random.normal(key, (x.shape[0], self.core.latent_dim))
    return -self.core.unlabelled_bound(params, x, eps)[0]


# -- M1 ------------------------------------------------------------------------


@register_method("m1")
class M1(LabelledExamples, VariationalAutoencoder):
  """M1 of Kingma et al. (2014): the VAE, and a classifier on its posterior
  mean trained on the labelled sub-batch through ``stop_gradient`` (see the
  module docstring). Parameters: the VAE's and ``classifier``."""
  models = ("mlp",)  # the paper's M1 (an MLP VAE)
  # The plain ELBO: not beta, not num_samples.
  config_fields = ("likelihood", "logvar_bound", "decoder_logvar", "output",
                   "classifier_hidden", *LABEL_FIELDS)

  def __init__(self, config, image_shape):
    super().__init__(config, image_shape)
    if self.num_samples != 1 or self.beta != 1.0:
      raise ValueError("m1 trains the plain ELBO: use method.num_samples=1 "
                       "and method.beta=1.")
    self._init_labels(config)
    self.head = MLP(tuple(config.method.classifier_hidden), NUM_CLASSES,
                    config.model.activation)

  def init_variables(self, key, images):
    k_vae, k_head = jax.random.split(key)
    variables = super().init_variables(k_vae, images)
    code = jnp.zeros((1, self.latent_dim), images.dtype)
    variables["params"] = {**variables["params"],
                           "classifier": self.head.init(k_head, code)["params"]}
    return variables

  def _head_logits(self, params, batch_stats, x):
    mean, _ = self.posterior(params, batch_stats, x)
    return self.head.apply({"params": params["classifier"]},
                           jax.lax.stop_gradient(mean))

  def loss_fn(self, params, batch, key, batch_stats):
    """−ELBO on ``batch["image"]`` + the classifier's cross-entropy on the
    labelled sub-batch's stop_gradient(μ); ``batch["label"]`` is not read."""
    loss, (metrics, batch_stats) = super().loss_fn(params, batch, key,
                                                   batch_stats)
    if "labelled_image" in batch:
      cross_entropy, correct = _cross_entropy(
          self._head_logits(params, batch_stats, batch["labelled_image"]),
          batch["labelled_label"])
      loss = loss + losses.batch_mean(cross_entropy)
      metrics = {**metrics, "loss": loss, "objective": loss,
                 "cross_entropy": losses.batch_mean(cross_entropy),
                 "accuracy": losses.batch_mean(correct)}
    return loss, (metrics, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    metrics = super().eval_metrics(params, batch, key, batch_stats)
    cross_entropy, correct = _cross_entropy(
        self._head_logits(params, batch_stats, batch["image"]),
        batch["label"])
    return {**metrics, "objective": metrics["objective"] + cross_entropy,
            "cross_entropy": cross_entropy, "accuracy": correct}

  @functools.partial(jax.jit, static_argnums=0)
  def classify(self, params, batch_stats, x):
    """Class logits of the classifier on μ(x), [B, C]."""
    return self._head_logits(params, batch_stats, x)


# -- M1 + M2 -------------------------------------------------------------------


@register_method("m1m2")
class M1M2(LabelledExamples, base.GradientMethod, base.LayerwisePretrained,
           base.Sampler, base.AnomalyScorer):
  """M2 on the codes of a trained, then frozen, M1 (Kingma et al. 2014,
  "stacked generative semi-supervised model"; see the module docstring).

  Parameters ``{"m1": the VAE's, "m2": M2's}``; the loop first trains
  ``m1`` (``method.pretrain_epochs`` epochs of the VAE's ELBO), then the
  step trains ``m2`` only (``optax.set_to_zero`` on ``m1``, and no gradient
  flows into it). M2 reads z₁ = μ + σ ε ~ q(z₁|x) in training and μ(x) in
  evaluation; its likelihood p(z₁|y, z₂) is Gaussian with a learned
  diagonal variance. ``loss`` in evaluation is −U(μ(x)), a bound on
  −log p(z₁) (nats per code, not per image).
  """
  models = ("mlp",)
  config_fields = ("likelihood", "logvar_bound", "decoder_logvar", "output",
                   "pretrain_epochs", "classifier_hidden", "m2_hidden",
                   "m2_latent_dim", *LABEL_FIELDS)

  def __init__(self, config, image_shape):
    _check_likelihood(config)
    if config.method.pretrain_epochs < 1:
      raise ValueError("m1m2 trains M2 on the codes of a trained M1: set "
                       "method.pretrain_epochs >= 1 (the epochs of M1).")
    super().__init__(config, image_shape)
    self._init_labels(config)
    self.pretrain_epochs = int(config.method.pretrain_epochs)
    m1_config = config.copy_and_resolve_references()
    with m1_config.unlocked():
      m1_config.method.name = "vae"
      m1_config.method.beta = 1.0
      m1_config.method.num_samples = 1
    self.m1 = VariationalAutoencoder(m1_config, image_shape)
    m = config.method
    self.core = M2Core(self.m1.latent_dim, m.m2_hidden, m.m2_latent_dim,
                       m.classifier_hidden, config.model.activation,
                       "gaussian_learned", m.logvar_bound, m.decoder_logvar,
                       "identity")
    self._tx = optax.multi_transform(
        {"train": self._tx, "frozen": optax.set_to_zero()},
        lambda params: {k: "frozen" if k == "m1" else "train"
                        for k in params})

  def init_variables(self, key, images):
    k_m1, k_m2 = jax.random.split(key)
    m1 = self.m1.init_variables(k_m1, images)
    codes = jnp.zeros((images.shape[0], self.m1.latent_dim), images.dtype)
    return {"params": {"m1": m1["params"],
                       "m2": self.core.init(k_m2, codes)},
            "batch_stats": {}}

  # LayerwisePretrained: one stage, M1.
  @property
  def num_pretrain_stages(self) -> int:
    return 1

  def pretrain_stage(self, stage: int):
    del stage
    return self.m1

  def stage_params(self, params, stage: int):
    return params["m1"]

  def with_stage_params(self, params, stage: int, stage_params):
    return {**params, "m1": stage_params}

  def codes(self, params, x, key=None):
    """z₁ ~ q(z₁|x) (``key``), or μ(x) without a key; no gradient."""
    mean, logvar = self.m1.posterior(params["m1"], {}, x)
    if key is not None:
      mean = mean + jnp.exp(0.5 * logvar) * jax.random.normal(key,
                                                              mean.shape)
    return jax.lax.stop_gradient(mean)

  def loss_fn(self, params, batch, key, batch_stats):
    """M2's loss on z₁ of ``batch["image"]`` (unlabelled) and of the
    labelled sub-batch; ``batch["label"]`` is not read."""
    k_u, k_l, k_m2 = jax.random.split(key, 3)
    x_u, x_l = batch.get("image"), batch.get("labelled_image")
    loss, metrics = self.core.loss(
        params["m2"], None if x_u is None else self.codes(params, x_u, k_u),
        None if x_l is None else self.codes(params, x_l, k_l),
        batch.get("labelled_label"), k_m2, self.class_weight)
    return loss, (metrics, batch_stats)

  def eval_metrics(self, params, batch, key, batch_stats):
    return self.core.per_example(params["m2"],
                                 self.codes(params, batch["image"]),
                                 batch["label"], key, self.class_weight)

  @functools.partial(jax.jit, static_argnums=0)
  def classify(self, params, batch_stats, x):
    """Class logits of q(y|z₁ = μ(x)), [B, C]."""
    return self.core.logits(params["m2"], self.codes(params, x))

  def sample(self, params, batch_stats, key, n: int):
    """M1's decoder mean at M2's mean z₁ for z₂ ~ N(0, I), labels cycling
    through the classes."""
    z1 = self.core.sample_means(params["m2"], key, n)
    return self.m1.decode(params["m1"], {}, z1)

  def score(self, params, batch_stats, batch, key):
    """−U(μ(x)) (one sample of z₂ per label), nats per code."""
    z1 = self.codes(params, batch["image"])
    eps = jax.random.normal(key, (z1.shape[0], self.core.latent_dim))
    return -self.core.unlabelled_bound(params["m2"], z1, eps)[0]
