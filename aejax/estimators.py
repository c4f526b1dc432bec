"""scikit-learn estimators over any registered method and model.

* :class:`Autoencoder`: a transformer (``fit``, ``transform`` = the codes,
  ``inverse_transform`` = the decoder, ``score_samples``, ``score``,
  ``get_feature_names_out``) — dimensionality reduction that composes in a
  ``Pipeline`` and ``GridSearchCV``.
* :class:`AnomalyDetector`: pyod's detector contract (``contamination``,
  ``decision_scores_``, ``threshold_``, ``labels_``, ``decision_function``
  with higher = more abnormal, ``predict`` with 0/1 labels,
  ``predict_proba(method="linear" | "unify")``, ``predict_confidence``).

Both train through :func:`aejax.train.trainer.fit`, the training core of every
run (the same compiled step, shuffling, non-finite guard and checkpoints, in
a temporary directory removed afterwards), and evaluate through
:class:`aejax.eval.trained.TrainedModel` (fixed-size compiled chunks, so a
row's result does not depend on how many come with it). Fitted parameters
are NumPy arrays, so a fitted estimator pickles.

Data: tabular rows [n, d] (standardised per column inside, and the decoder
output is linear), images [n, H, W] or [n, H, W, C] (uint8 0..255 or floats
in [0, 1]; the ``conv`` model needs them), or, for the ``recurrent`` model,
sequences: a list of [T_i, F] arrays (variable lengths) or an array [n, T,
F] (standardised per feature over the real steps).
"""

from __future__ import annotations

import contextlib
import io
import math
import numbers
import shutil
import tempfile

import numpy as np
from sklearn.base import (BaseEstimator, ClassNamePrefixFeaturesOutMixin,
                          OutlierMixin, TransformerMixin)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_array, check_is_fitted
from sklearn.utils.validation import validate_data

from aejax.eval import trained as trained_lib

_FLOATS = (np.float64, np.float32)
# The config.model field that ``hidden`` sets, per model.
_HIDDEN_FIELD = {"mlp": "hidden", "conv": "filters", "recurrent": "rnn_hidden"}
_PREPROCESSING = ("auto", "pixels", "standardize", "none")
_AUTO_BATCH = 64


class _Rows:
  """A metric writer that keeps the loop's rows in memory."""

  def __init__(self):
    self.rows = []

  def truncate_after(self, step: int) -> None:
    self.rows = [r for r in self.rows if r[0] <= step]

  def write(self, step: int, split: str, metrics: dict) -> None:
    self.rows.append((int(step), split,
                      {k: float(v) for k, v in metrics.items()}))

  def close(self) -> None:
    pass


def _check_int(name, value, low):
  if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
      or value < low):
    raise ValueError(f"{name} must be an integer >= {low}, got {value!r}.")


def _strip_fitted(estimator) -> None:
  """Forgets a previous fit, so a failed refit leaves nothing half-done."""
  for name in list(vars(estimator)):
    if (name.endswith("_") and not name.startswith("__")) or name in (
        "_trained", "_mu", "_sigma"):
      delattr(estimator, name)


class _Estimator(BaseEstimator):
  """What :class:`Autoencoder` and :class:`AnomalyDetector` share: the
  config, the data, training through the loop's ``fit``, the handle."""

  # -- the config --------------------------------------------------------------

  def _check_params(self) -> None:
    _check_int("latent_dim", self.latent_dim, 1)
    _check_int("epochs", self.epochs, 1)
    _check_int("num_devices", self.num_devices, 0)
    if self.batch_size != "auto":
      _check_int("batch_size", self.batch_size, 1)
    if not (isinstance(self.learning_rate, numbers.Real) and
            math.isfinite(self.learning_rate) and self.learning_rate > 0):
      raise ValueError("learning_rate must be a positive float, got "
                       f"{self.learning_rate!r}.")
    if self.preprocessing not in _PREPROCESSING:
      raise ValueError(f"preprocessing must be one of {_PREPROCESSING}, got "
                       f"{self.preprocessing!r}.")
    hidden = self.hidden
    if not (isinstance(hidden, (tuple, list)) and all(
        isinstance(h, numbers.Integral) and not isinstance(h, bool) and h > 0
        for h in hidden)):
      raise ValueError("hidden must be a tuple of positive integers (the "
                       f"model's layer widths), got {hidden!r}.")
    for name in ("method_params", "model_params"):
      value = getattr(self, name)
      if value is not None and not isinstance(value, dict):
        raise ValueError(f"{name} must be a dict of config.{name[:-7]} "
                         f"fields, or None; got {value!r}.")

  def _config(self, layout: str, pixels: bool, seed: int, batch_size: int):
    """The run config of these parameters (checked by ``check_config``)."""
    from aejax.config import base_config  # pylint: disable=g-import-not-at-top
    from aejax.methods.registry import check_config, fields_read  # pylint: disable=g-import-not-at-top
    c = base_config()
    c.method.name, c.model.name = self.method, self.model
    c.model.latent_dim = int(self.latent_dim)
    c.optimizer.learning_rate = float(self.learning_rate)
    c.seed, c.batch_size = int(seed), int(batch_size)
    c.num_devices, c.progress_bar = int(self.num_devices), bool(self.verbose)
    c.tensorboard = False
    if layout == "sequences":  # the fields of a sequence run (lengths)
      c.data.name = "ucr"
    method_read, model_read = fields_read(c)
    if _HIDDEN_FIELD.get(self.model) in model_read:
      c.model[_HIDDEN_FIELD[self.model]] = tuple(int(h) for h in self.hidden)
    given = dict(self.method_params or {})
    if "output" in method_read and not pixels and "output" not in given:
      c.method.output = "identity"  # standardised data are not in [0, 1]
    if "likelihood" in method_read and "likelihood" not in given:
      c.method.likelihood = "bernoulli" if pixels else "gaussian"
    for section, values in (("method", given),
                            ("model", dict(self.model_params or {}))):
      for field, value in values.items():
        if field == "name" or field not in c[section]:
          raise ValueError(f"{section}_params: {field!r} is not a "
                           f"config.{section} field; see aejax/config.py.")
        c[section][field] = value
    # A Bernoulli likelihood models binary pixels: binarise, as runs do.
    c.data.binarize = ("likelihood" in method_read and
                       c.method.likelihood == "bernoulli")
    check_config(c, base_config())
    return c

  # -- data --------------------------------------------------------------------

  def _layout(self, X) -> str:
    if self.model == "recurrent":
      return "sequences"
    try:
      ndim = np.ndim(X)
    except (TypeError, ValueError):  # validate_data says what is wrong
      ndim = 2
    if ndim >= 3:
      return "images"
    if self.model == "conv":
      raise ValueError("model='conv' reads images: pass X as [n, H, W] or "
                       "[n, H, W, C], not rows [n, d].")
    return "tabular"

  def _fit_inputs(self, X):
    """``(X, layout, image_shape, preprocessing, fitted)``: the validated
    ``X``, its layout (tabular, images, sequences), one example's shape as
    the model sees it, and the fitted attributes the data fix."""
    from aejax.data.types import Split  # pylint: disable=g-import-not-at-top
    layout = self._layout(X)
    choice, fitted = self.preprocessing, {}
    if layout == "tabular":
      pixels = choice == "pixels" or (choice == "auto" and getattr(
          X, "dtype", None) == np.uint8)
      _check_finite(X)
      X = validate_data(self, X, dtype=None if pixels else _FLOATS,
                        ensure_min_samples=2)
      kind = trained_lib.PIXELS if pixels else (
          trained_lib.RAW if choice == "none" else trained_lib.STANDARDIZE)
      x = np.asarray(X, np.float64)
      mean = std = None
      if kind == trained_lib.STANDARDIZE:
        mean, std = x.mean(0), x.std(0)
        std[std < 10 * np.finfo(np.float64).eps] = 1.0  # constant columns
        mean, std = mean.astype(np.float32), std.astype(np.float32)
      prep = trained_lib.Preprocessing(kind, mean=mean, std=std)
      image_shape = input_shape = (x.shape[1],)
    elif layout == "images":
      x = trained_lib._as_array(X, "X")  # pylint: disable=protected-access
      if x.ndim not in (3, 4) or 0 in x.shape[1:]:
        raise ValueError(f"Images must be [n, H, W] or [n, H, W, C], got "
                         f"shape {x.shape}.")
      if choice == "standardize":
        raise ValueError("preprocessing='standardize' is for rows and "
                         "sequences; images are scaled to [0, 1] "
                         "('pixels') or taken as they are ('none').")
      kind = trained_lib.RAW if choice == "none" else trained_lib.PIXELS
      input_shape = x.shape[1:]
      image_shape = input_shape + (1,) if x.ndim == 3 else input_shape
      prep = trained_lib.Preprocessing(kind)
      fitted["n_features_in_"] = int(np.prod(image_shape))
    else:
      if choice == "pixels":
        raise ValueError("preprocessing='pixels' is for images; sequences "
                         "are standardised ('standardize') or taken as they "
                         "are ('none').")
      kind = trained_lib.RAW if choice == "none" else trained_lib.STANDARDIZE
      x, lengths = _sequence_arrays(X)
      image_shape = input_shape = x.shape[1:]
      mean = std = None
      if kind == trained_lib.STANDARDIZE:
        mean, std = trained_lib.sequence_statistics(Split(x, None, lengths))
        std = np.where(std < 1e-6, 1.0, std).astype(np.float32)
      prep = trained_lib.Preprocessing(kind, sequences=True, mean=mean,
                                       std=std)
      fitted["n_features_in_"] = int(image_shape[-1])
    if len(x) < 2:
      raise ValueError(f"fit needs at least 2 samples, got {len(x)} "
                       "sample(s).")
    fitted.update(image_shape_=tuple(image_shape), _layout_=layout,
                  _input_shape_=tuple(input_shape), preprocessing_=prep)
    return X, layout, tuple(image_shape), prep, fitted

  def _handle_inputs(self, X, lengths=None):
    """Checks ``X`` against the fit and returns what the handle takes."""
    check_is_fitted(self)
    if self._layout_ == "tabular":
      pixels = self.preprocessing_.kind == trained_lib.PIXELS
      _check_finite(X)
      return validate_data(self, X, reset=False,
                           dtype=None if pixels else _FLOATS), None
    return X, lengths

  # -- training ---------------------------------------------------------------

  def _seed(self) -> int:
    if isinstance(self.random_state, numbers.Integral) and not isinstance(
        self.random_state, bool):
      return int(self.random_state) % (2**31 - 1)
    return int(check_random_state(self.random_state).randint(2**31 - 1))

  def _train(self, X, require=None):
    """Trains on ``X``: ``(validated X, fitted attributes)``, which the
    caller sets; on any error the estimator is left unfitted."""
    _strip_fitted(self)
    try:
      return self._train_or_raise(X, require)
    except BaseException:
      _strip_fitted(self)  # validate_data may have set n_features_in_
      raise

  def _train_or_raise(self, X, require):
    import jax  # pylint: disable=g-import-not-at-top
    from aejax.data.pipeline import check_batch_size, make_mesh, replicated  # pylint: disable=g-import-not-at-top
    from aejax.data.types import Dataset, Split  # pylint: disable=g-import-not-at-top
    from aejax.methods import base, make_method  # pylint: disable=g-import-not-at-top
    from aejax.methods.registry import METHODS  # pylint: disable=g-import-not-at-top
    from aejax.train import pretrain, trainer  # pylint: disable=g-import-not-at-top
    self._check_params()
    if self.method not in METHODS:
      raise ValueError(f"Unknown method {self.method!r}: choose one of "
                       f"{sorted(METHODS)}.")
    if require is not None and not issubclass(METHODS[self.method], require):
      base.require(METHODS[self.method], require)  # raises, naming who can
    X, layout, image_shape, prep, fitted = self._fit_inputs(X)
    ex = trained_lib.prepare(X, None, image_shape, prep, "X")
    split = Split(ex.x, np.zeros(len(ex.x), np.int32), ex.lengths)
    n = len(split)
    batch_size = (min(_AUTO_BATCH, n) if self.batch_size == "auto"
                  else int(self.batch_size))
    if batch_size > n:
      raise ValueError(f"fit got {n} sample(s), fewer than batch_size="
                       f"{batch_size}: lower batch_size (or use 'auto'), or "
                       "fit on more rows.")
    mesh = make_mesh(int(self.num_devices))
    devices = mesh.devices.size
    if self.batch_size == "auto":  # a multiple of the devices, <= n
      batch_size -= batch_size % devices
      if not batch_size:
        raise ValueError(f"fit got {n} sample(s), fewer than the {devices} "
                         "devices of the mesh: set num_devices=1.")
    check_batch_size(batch_size, mesh)
    seed = self._seed()
    config = self._config(layout, prep.kind == trained_lib.PIXELS, seed,
                          batch_size)
    method = make_method(config, image_shape)
    if require is not None:
      base.require(method, require)
    steps_per_epoch = n // batch_size
    total = int(self.epochs) * steps_per_epoch
    eval_batch = devices * max(1, 256 // devices)
    rows = _Rows()
    workdir = tempfile.mkdtemp(prefix="aejax-fit-")
    quiet = (contextlib.nullcontext() if self.verbose
             else contextlib.redirect_stdout(io.StringIO()))
    try:
      with quiet:
        state = trainer.init_state(method, config, mesh)
        if isinstance(method, base.LayerwisePretrained):
          params = pretrain.pretrain_layerwise(
              method, state.params, Dataset("X", split, split, split, ()),
              mesh, workdir, config)
          state = jax.device_put(
              state.replace(params=params,
                            opt_state=method.optimizer().init(params)),
              replicated(mesh))
        key = jax.random.fold_in(jax.random.PRNGKey(seed), 0x5EED)
        state, _, _ = trainer.fit(
            method, state, split, split, mesh=mesh, workdir=workdir,
            total_steps=total, batch_size=batch_size,
            eval_batch_size=eval_batch, seed=seed,
            binarize=config.data.binarize, log_every=steps_per_epoch,
            checkpoint_every=total, keep_checkpoints=1,
            max_nonfinite_steps=config.max_nonfinite_steps, eval_key=key,
            writers=[rows], progress_bar=bool(self.verbose),
            desc=type(self).__name__, validate_every=total)
    finally:
      shutil.rmtree(workdir, ignore_errors=True)
    to_numpy = lambda tree: jax.tree_util.tree_map(np.asarray, tree)
    params, stats = to_numpy(jax.device_get((state.params,
                                             state.batch_stats)))
    fitted.update({
        "params_": params, "batch_stats_": stats, "config_": config,
        "loss_curve_": [r[2]["loss"] for r in rows.rows if r[1] == "train"],
        "n_iter_": int(self.epochs),
        "skipped_steps_": int(state.skipped_steps),
        "_trained": trained_lib.TrainedModel(config, method, params, stats,
                                             prep, int(state.step))})
    return X, fitted

  def _set_fitted(self, fitted: dict) -> None:
    for name, value in fitted.items():
      setattr(self, name, value)

  # -- pickling: parameters as NumPy, the method rebuilt ----------------------

  def __getstate__(self):
    state = dict(super().__getstate__())  # a copy: it may be our __dict__
    state.pop("_trained", None)
    return state

  def __setstate__(self, state):
    super().__setstate__(state)
    if "params_" in state:
      from aejax.methods import make_method  # pylint: disable=g-import-not-at-top
      method = make_method(self.config_, self.image_shape_)
      self._trained = trained_lib.TrainedModel(
          self.config_, method, self.params_, self.batch_stats_,
          self.preprocessing_, 0)

  def trained_model(self) -> trained_lib.TrainedModel:
    """The fitted model as a :class:`~aejax.eval.trained.TrainedModel`
    (``reconstruct``, ``sample``, ``interpolate``, ...)."""
    check_is_fitted(self)
    return self._trained


def _check_finite(X) -> None:
  """One message for NaN or inf rows (arrays and array-likes of numbers)."""
  try:
    x = np.asarray(X)
  except (TypeError, ValueError):
    return
  if x.ndim and len(x) and np.issubdtype(x.dtype, np.floating):
    trained_lib._bad_rows(  # pylint: disable=protected-access
        np.isfinite(x).reshape(len(x), -1).all(1), "X")


def _sequence_arrays(X):
  """Sequences as (float32 [n, T, F] zero-padded, int32 lengths [n])."""
  if isinstance(X, (list, tuple)):
    if not len(X):
      raise ValueError("X is empty: no sequences to fit.")
    seqs = [trained_lib._as_array(s, f"X[{i}]")  # pylint: disable=protected-access
            for i, s in enumerate(X)]
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
    features = {s.shape[1:] for s in seqs}
    if len(features) != 1 or any(s.ndim != 2 or not len(s) for s in seqs):
      raise ValueError("Sequences must be [T_i, F] arrays with T_i >= 1 and "
                       f"one F for all; got shapes "
                       f"{sorted({s.shape for s in seqs})[:5]}.")
    lengths = np.array([len(s) for s in seqs], np.int32)
    x = np.zeros((len(seqs), lengths.max(), seqs[0].shape[1]), np.float64)
    for i, s in enumerate(seqs):
      x[i, :len(s)] = s
  else:
    x = trained_lib._as_array(X, "X")  # pylint: disable=protected-access
    if x.ndim == 2:
      x = x[..., None]
    if x.ndim != 3 or 0 in x.shape:
      raise ValueError("Sequences must be a list of [T_i, F] arrays, or an "
                       f"array [n, T, F] or [n, T]; got shape {x.shape}.")
    lengths = np.full(len(x), x.shape[1], np.int32)
  if not np.isfinite(x).all():
    bad = np.flatnonzero(~np.isfinite(x).reshape(len(x), -1).all(1))
    raise ValueError(f"X holds NaN or inf values in {len(bad)} sequence(s) "
                     f"(rows {', '.join(map(str, bad[:10]))}): drop or "
                     "impute them first.")
  return x, lengths


class Autoencoder(ClassNamePrefixFeaturesOutMixin, TransformerMixin,
                  _Estimator):
  """An autoencoder of any registered method and model as a scikit-learn
  transformer: ``transform`` gives the codes.

  Args:
    method: a registered method (``aejax.METHODS``): ``"ae"``, ``"dae"``,
      ``"vae"``, ``"contractive"``, ``"sparse_l1"``, ``"aae"``, ...
    model: ``"mlp"``, ``"conv"`` (images) or ``"recurrent"`` (sequences).
    latent_dim: the code width (``n`` of ``transform``'s output).
    hidden: the model's hidden widths (mlp: Dense layers; conv: filters;
      recurrent: RNN layers); methods that build their own networks ignore
      it.
    epochs: passes over the data.
    batch_size: ``"auto"`` (min(64, n)) or an integer <= n.
    learning_rate: the optimizer's (Adam's) learning rate.
    preprocessing: ``"auto"`` (uint8 → pixels in [0, 1]; other rows and
      sequences → standardised per feature), ``"pixels"``,
      ``"standardize"`` or ``"none"``.
    method_params: other ``config.method`` fields, e.g. ``{"beta": 4.0}``.
    model_params: other ``config.model`` fields, e.g. ``{"tied": True}``.
    num_devices: devices the batch is split over (0: all).
    random_state: the seed of the initialisation, shuffling and noise.
    verbose: show the progress bar and validation lines.

  Attributes:
    n_features_in_: input width (pixels per image, features per step).
    loss_curve_: mean training loss of each epoch.
    params_: the trained parameters (NumPy arrays).
    batch_stats_: BatchNorm statistics (NumPy arrays).
    config_: the run config the estimator trained.
    preprocessing_: how inputs are prepared.
    n_iter_: epochs trained.
    skipped_steps_: steps skipped as non-finite.
  """

  def __init__(self, method="ae", model="mlp", latent_dim=8, hidden=(64,),
               epochs=20, batch_size="auto", learning_rate=1e-3,
               preprocessing="auto", method_params=None, model_params=None,
               num_devices=1, random_state=None, verbose=False):
    self.method = method
    self.model = model
    self.latent_dim = latent_dim
    self.hidden = hidden
    self.epochs = epochs
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.preprocessing = preprocessing
    self.method_params = method_params
    self.model_params = model_params
    self.num_devices = num_devices
    self.random_state = random_state
    self.verbose = verbose

  def fit(self, X, y=None):
    """Trains on ``X`` (``y`` is ignored). Returns self."""
    del y
    _, fitted = self._train(X)
    self._set_fitted(fitted)
    return self

  @property
  def _n_features_out(self):
    return int(self.config_.model.latent_dim)

  def transform(self, X, lengths=None):
    """The codes [n, latent_dim] of ``X`` (a VAE's posterior mean)."""
    X, lengths = self._handle_inputs(X, lengths)
    codes = self._trained.encode(X, lengths)
    return codes.astype(_out_dtype(X), copy=False)

  def inverse_transform(self, X):
    """The decoder's outputs for codes ``X`` [n, latent_dim], in the input's
    units and per-example shape."""
    check_is_fitted(self)
    z = check_array(X, dtype=_FLOATS)
    out = self._trained.decode(z)
    return out.reshape((len(out),) + self._input_shape_).astype(
        z.dtype, copy=False)

  def score_samples(self, X, lengths=None):
    """Per-example typicality, higher = more typical: minus the method's
    anomaly score (reconstruction MSE, or a VAE's negative ELBO)."""
    X, lengths = self._handle_inputs(X, lengths)
    return -self._trained.score(X, lengths).astype(np.float64)

  def score(self, X, y=None):
    """Mean of :meth:`score_samples` (higher is better; for model
    selection)."""
    del y
    return float(np.mean(self.score_samples(X)))

  def __sklearn_tags__(self):
    tags = super().__sklearn_tags__()
    tags.transformer_tags.preserves_dtype = ["float64", "float32"]
    return tags


def _out_dtype(X):
  dtype = getattr(X, "dtype", None)
  return dtype if dtype in (np.float32, np.float64) else np.float64


class AnomalyDetector(OutlierMixin, _Estimator):
  """pyod's detector contract over any registered method (with an anomaly
  score: :class:`~aejax.methods.base.AnomalyScorer`).

  The arguments of :class:`Autoencoder`, and:

  Args:
    contamination: the expected share of anomalies in the training data,
      in (0, 0.5]; ``threshold_`` is the (1 − contamination) quantile of
      the training scores.
    iwae_samples: 0: the method's own score (reconstruction MSE; a VAE's
      negative ELBO); k > 0: −log p(x) by the IWAE bound with k samples
      (methods with the LikelihoodModel capability).

  Attributes:
    decision_scores_: the training examples' anomaly scores (higher = more
      abnormal).
    threshold_: the score above which ``predict`` says 1 (anomaly).
    labels_: 0/1 labels of the training examples.
    (and those of :class:`Autoencoder`).
  """

  def __init__(self, method="ae", model="mlp", contamination=0.1,
               latent_dim=8, hidden=(64,), epochs=20, batch_size="auto",
               learning_rate=1e-3, preprocessing="auto", method_params=None,
               model_params=None, iwae_samples=0, num_devices=1,
               random_state=None, verbose=False):
    self.method = method
    self.model = model
    self.contamination = contamination
    self.latent_dim = latent_dim
    self.hidden = hidden
    self.epochs = epochs
    self.batch_size = batch_size
    self.learning_rate = learning_rate
    self.preprocessing = preprocessing
    self.method_params = method_params
    self.model_params = model_params
    self.iwae_samples = iwae_samples
    self.num_devices = num_devices
    self.random_state = random_state
    self.verbose = verbose

  def _check_params(self):
    c = self.contamination
    if not (isinstance(c, numbers.Real) and not isinstance(c, bool)
            and 0.0 < c <= 0.5):
      raise ValueError("contamination (the expected share of anomalies) must "
                       f"be in (0, 0.5], got {c!r}.")
    _check_int("iwae_samples", self.iwae_samples, 0)
    super()._check_params()

  def fit(self, X, y=None):
    """Trains on ``X`` (``y`` is ignored), then scores it: sets
    ``decision_scores_``, ``threshold_`` and ``labels_``. Returns self."""
    from aejax.methods import base  # pylint: disable=g-import-not-at-top
    del y
    self._check_params()  # before any data or training
    need = base.LikelihoodModel if self.iwae_samples else base.AnomalyScorer
    X, fitted = self._train(X, require=need)
    self._set_fitted(fitted)
    try:
      scores = self.decision_function(X)
    except BaseException:
      _strip_fitted(self)
      raise
    self.decision_scores_ = scores
    self.threshold_ = float(np.percentile(scores,
                                          100 * (1 - self.contamination)))
    self.labels_ = (scores > self.threshold_).astype(int).ravel()
    self._mu, self._sigma = float(np.mean(scores)), float(np.std(scores))
    return self

  def decision_function(self, X, lengths=None):
    """Anomaly scores [n], higher = more abnormal (pyod's convention)."""
    X, lengths = self._handle_inputs(X, lengths)
    if self.iwae_samples:
      if lengths is not None:
        raise ValueError("iwae_samples is for image and row models, not "
                         "sequences.")
      scores = -self._trained.log_likelihood(X, self.iwae_samples)
    else:
      scores = self._trained.score(X, lengths)
    return scores.astype(np.float64)

  def score_samples(self, X, lengths=None):
    """scikit-learn's convention: minus :meth:`decision_function` (lower =
    more abnormal)."""
    return -self.decision_function(X, lengths)

  def predict(self, X, return_confidence=False, lengths=None):
    """0 (inlier) or 1 (anomaly) per example: score > ``threshold_``; with
    ``return_confidence``, also :meth:`predict_confidence`."""
    scores = self.decision_function(X, lengths)
    prediction = (scores > self.threshold_).astype(int).ravel()
    if return_confidence:
      return prediction, self._confidence(scores)
    return prediction

  def fit_predict(self, X, y=None):
    """``fit(X).labels_`` (pyod)."""
    return self.fit(X, y).labels_

  def predict_proba(self, X, method="linear", return_confidence=False,
                    lengths=None):
    """[n, 2]: probabilities of (inlier, anomaly).

    ``method="linear"``: the score min-max scaled on ``decision_scores_``
    and clipped to [0, 1]; ``"unify"``: erf((s − μ) / (σ√2)) clipped to [0,
    1], μ and σ those of the training scores (Kriegel et al. 2011).
    """
    from scipy.special import erf  # pylint: disable=g-import-not-at-top
    if method not in ("linear", "unify"):
      raise ValueError(f"method must be 'linear' or 'unify', got {method!r}.")
    scores = self.decision_function(X, lengths)
    train = self.decision_scores_
    if method == "linear":
      span = train.max() - train.min()
      p = (scores - train.min()) / (span if span > 0 else 1.0)
    else:
      p = erf((scores - self._mu) / ((self._sigma or 1.0) * np.sqrt(2)))
    p = np.clip(p, 0.0, 1.0)
    probs = np.stack([1.0 - p, p], 1)
    if return_confidence:
      return probs, self._confidence(scores)
    return probs

  def predict_confidence(self, X, lengths=None):
    """How surely each prediction would stay the same under a perturbed
    training set, in [0, 1] (ExCeeD, Perini et al. 2020)."""
    return self._confidence(self.decision_function(X, lengths))

  def _confidence(self, scores):
    from scipy.stats import binom  # pylint: disable=g-import-not-at-top
    n = len(self.decision_scores_)
    below = np.searchsorted(np.sort(self.decision_scores_), scores,
                            side="right")
    posterior = (1.0 + below) / (2.0 + n)
    confidence = 1.0 - binom.cdf(n - int(n * self.contamination), n,
                                 posterior)
    inlier = scores <= self.threshold_
    confidence[inlier] = 1.0 - confidence[inlier]
    return confidence
