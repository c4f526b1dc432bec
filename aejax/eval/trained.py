"""A trained model as one object: ``aejax.load(workdir)``.

  run = aejax.load("runs/vae_fashion_mnist")
  codes = run.encode(images)      # uint8 [N, 28, 28], floats in [0, 1], ...
  scores = run.score(images)      # per example, higher = more anomalous
  new = run.sample(16, seed=0)    # [16, 28, 28, 1] in [0, 1]

:class:`TrainedModel` holds a run's method, parameters and preprocessing.
Its functions take data as users hold it:

* images: uint8 [N, H, W] or [N, H, W, C] (0..255), floats in [0, 1], or
  flat rows [N, H·W·C];
* sequences (runs on ``data.name = "ucr"``): [N, T, F] arrays with
  ``lengths``, [N, T] for one feature, or a list of [T_i, F] arrays, in
  their own units (T up to the run's longest).

The run's own preprocessing is applied inside: pixels are scaled to [0, 1];
a Bernoulli run (``data.binarize``) binarises each input with a fixed seed —
the key of an example is folded from a hash of its values, so the draw does
not depend on where the example sits or how many come with it; sequences are
standardised with the run's training statistics (``standardization`` in
``run.json``; a run written before they were stored gets them recomputed
from its data, the same formula). Outputs come back as NumPy arrays in the
same units: reconstructions and samples in [0, 1] for images, de-standardised
sequences.

Every function runs in fixed-size chunks (``chunk_size`` rows, the last one
padded with copies of its last row): each compiles once per handle, and an
example's result does not depend on N. Stochastic functions (a VAE's
negative-ELBO score, the IWAE estimate) draw each example's noise from its
own key, folded from the same hash. A function whose capability the run's
method lacks raises :class:`~aejax.methods.base.CapabilityError`; inputs of
the wrong shape or channel count, with NaN or inf values, or empty raise a
``ValueError`` that names the fix.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import zlib
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from aejax.methods import base

PIXELS, STANDARDIZE, RAW = "pixels", "standardize", "none"
STANDARDIZATION_KEY = "standardization"  # in run.json: {"mean", "std"}
# fold_in constants of the keys' streams (the seed is Preprocessing.seed).
_BINARIZE_STREAM, _SCORE_STREAM, _LIKELIHOOD_STREAM = 1, 2, 3


@dataclasses.dataclass(frozen=True)
class Preprocessing:
  """What a model's inputs are and how they are prepared.

  Attributes:
    kind: ``"pixels"`` (uint8 0..255 or floats in [0, 1], scaled to [0,
      1]), ``"standardize"`` ((x − mean) / std per feature, the last axis)
      or ``"none"`` (floats as they are).
    sequences: inputs are sequences [N, T, F] with lengths.
    mean: per-feature means (``"standardize"``).
    std: per-feature standard deviations (``"standardize"``).
    binarize: Bernoulli draws with the scaled value as probability.
    seed: the seed of the binarisation and of stochastic scores.
  """
  kind: str = PIXELS
  sequences: bool = False
  mean: np.ndarray | None = None
  std: np.ndarray | None = None
  binarize: bool = False
  seed: int = 0

  def __post_init__(self):
    if self.kind not in (PIXELS, STANDARDIZE, RAW):
      raise ValueError(f"Unknown preprocessing {self.kind!r}: use "
                       f"{PIXELS!r}, {STANDARDIZE!r} or {RAW!r}.")
    if self.kind == STANDARDIZE and (self.mean is None or self.std is None):
      raise ValueError("Standardisation needs the training mean and std.")

  @classmethod
  def of_run(cls, config, run: dict | None = None,
             seed: int = 0) -> "Preprocessing":
    """The preprocessing :func:`aejax.train.loop.train_and_evaluate` gave
    the run of ``config`` (``run``: its ``run.json``); ``seed`` keys the
    binarisation and stochastic scores."""
    binarize = bool(config.data.get("binarize", False))
    if config.data.name != "ucr":
      return cls(PIXELS, binarize=binarize, seed=seed)
    if not config.data.get("standardize", True):
      return cls(RAW, sequences=True, binarize=binarize, seed=seed)
    stats = (run or {}).get(STANDARDIZATION_KEY)
    if stats is None:  # a run written before the statistics were stored
      mean, std = sequence_statistics(raw_dataset(config).train)
    else:
      mean, std = (np.asarray(stats[k], np.float32) for k in ("mean", "std"))
    return cls(STANDARDIZE, sequences=True, mean=mean, std=std,
               binarize=binarize, seed=seed)


def sequence_statistics(split) -> tuple[np.ndarray, np.ndarray]:
  """Per-feature mean and std over the real steps of a sequence split (the
  statistics of :func:`aejax.data.timeseries.standardize`)."""
  x = split.images
  mask = (np.arange(x.shape[1])[None, :] <
          split.lengths[:, None]).astype(np.float32)[..., None]
  count = mask.sum()
  mean = (x * mask).sum((0, 1)) / count
  var = (np.square(x - mean) * mask).sum((0, 1)) / count
  return mean.astype(np.float32), np.sqrt(np.maximum(var, 1e-12)).astype(
      np.float32)


def raw_dataset(config):
  """The run's data set as users hold it: uint8 images, sequences in their
  own units (not standardised)."""
  from aejax.data.sources import load_dataset  # pylint: disable=g-import-not-at-top
  data = config.data.copy_and_resolve_references()
  if data.name == "ucr":
    data.standardize = False
  return load_dataset(data)


@dataclasses.dataclass(frozen=True)
class _Examples:
  """Inputs ready for the model, and how to give outputs their layout."""
  x: np.ndarray                  # float32 [N, *image_shape], preprocessed
  lengths: np.ndarray | None     # int32 [N] (sequences)
  hashes: np.ndarray             # uint32 [N], one per example's values
  restore: Any                   # model-layout output -> the input's layout


def _hashes(x: np.ndarray) -> np.ndarray:
  rows = np.ascontiguousarray(x).reshape(len(x), -1)
  return np.array([zlib.crc32(r.tobytes()) for r in rows], np.uint32)


def _bad_rows(finite_rows: np.ndarray, what: str) -> None:
  bad = np.flatnonzero(~finite_rows)
  if len(bad):
    shown = ", ".join(str(i) for i in bad[:10]) + (
        ", ..." if len(bad) > 10 else "")
    raise ValueError(f"{what} holds NaN or inf values in {len(bad)} row(s) "
                     f"(rows {shown}): drop or impute them first.")


def _as_array(x, what: str) -> np.ndarray:
  try:
    x = np.asarray(x)
  except ValueError as e:  # ragged nested lists
    raise ValueError(f"{what} is ragged ({e}); pass one array, or a list of "
                     "[T_i, F] arrays for a sequence run.") from e
  if x.dtype == object:
    try:
      x = x.astype(np.float64)
    except (TypeError, ValueError) as e:
      raise ValueError(f"{what} holds non-numeric values ({e}).") from e
  if not (np.issubdtype(x.dtype, np.number) or x.dtype == bool):
    raise ValueError(f"{what} must be numeric, got dtype {x.dtype}.")
  if np.issubdtype(x.dtype, np.complexfloating):
    raise ValueError(f"{what} is complex; pass real values.")
  return x


def prepare(x, lengths, image_shape, preprocessing: Preprocessing,
            what: str = "x") -> _Examples:
  """``x`` (and ``lengths``) checked against examples of ``image_shape`` and
  prepared by ``preprocessing``, as the model sees them (module doc)."""
  image_shape = tuple(image_shape)
  if preprocessing.sequences:
    x, lengths, restore = _sequences(x, lengths, image_shape, preprocessing,
                                     what)
  else:
    if lengths is not None:
      raise ValueError("lengths are for sequence runs; this run's "
                       f"examples are {image_shape}.")
    x, restore = _images(x, image_shape, preprocessing, what)
  return _Examples(x, lengths, _hashes(x), restore)

def _images(x, shape, preprocessing, what):
  size = math.prod(shape)
  x = _as_array(x, what)
  if x.ndim >= 1 and x.shape[0] == 0:
    raise ValueError(f"{what} is empty (shape {x.shape}): nothing to "
                     "evaluate.")
  restore = lambda out: out
  if x.shape[1:] == shape:
    pass
  elif len(shape) == 3 and shape[-1] == 1 and x.shape[1:] == shape[:2]:
    x = x[..., None]
    restore = lambda out: out[..., 0]
  elif x.ndim == 2 and x.shape[1] == size:
    x = x.reshape((len(x),) + shape)
    restore = lambda out: out.reshape(len(out), -1)
  elif x.shape in (shape, shape[:-1]) and len(shape) > 1:
    raise ValueError(f"{what} has shape {x.shape}: one example. Pass a "
                     f"batch [N, {', '.join(map(str, shape))}], e.g. "
                     f"{what}[None].")
  elif (len(shape) == 3 and x.ndim == 4 and x.shape[1:3] == shape[:2]):
    raise ValueError(f"{what} has {x.shape[3]} channel(s) but this run's "
                     f"images have {shape[2]} ({'x'.join(map(str, shape))})"
                     ".")
  else:
    forms = [f"[N, {', '.join(map(str, shape))}]"]
    if len(shape) == 3 and shape[-1] == 1:
      forms.append(f"[N, {shape[0]}, {shape[1]}]")
    if len(shape) > 1:
      forms.append(f"flat rows [N, {size}]")
    raise ValueError(f"{what} has shape {x.shape}, but this run's "
                     f"examples have shape {shape}: pass "
                     f"{' or '.join(forms)}.")
  x = _scale(x, preprocessing, what)
  return x, restore

def _scale(x: np.ndarray, p: Preprocessing, what: str) -> np.ndarray:
  """float32 values as the model saw them in training."""
  if np.issubdtype(x.dtype, np.floating):
    _bad_rows(np.isfinite(x).reshape(len(x), -1).all(1), what)
  if p.kind == PIXELS:
    if x.dtype == np.uint8:
      return x.astype(np.float32) / 255.0
    if np.issubdtype(x.dtype, np.integer):
      lo, hi = x.min(), x.max()
      if lo < 0 or hi > 255:
        raise ValueError(f"{what} holds integers in [{lo}, {hi}]; integer "
                         "pixels must be in 0..255.")
      return x.astype(np.float32) / 255.0
    x = x.astype(np.float32)
    lo, hi = float(x.min()), float(x.max())
    if lo < -1e-3 or hi > 1 + 1e-3:
      raise ValueError(
          f"{what} holds floats in [{lo:.4g}, {hi:.4g}], but this run's "
          "pixels are floats in [0, 1] (or uint8 0..255): "
          + ("divide by 255, or pass the uint8 array." if hi <= 255 and
             lo >= 0 else "scale them to [0, 1]."))
    return np.clip(x, 0.0, 1.0)
  x = x.astype(np.float32)
  if p.kind == STANDARDIZE:
    x = (x - p.mean) / p.std
  return x

def _sequences(x, lengths, image_shape, preprocessing, what):
  steps, features = image_shape[0], math.prod(image_shape[1:])
  if isinstance(x, (list, tuple)):
    if lengths is not None:
      raise ValueError("A list of sequences carries its own lengths: "
                       "drop lengths=.")
    if not len(x):
      raise ValueError(f"{what} is empty: no sequences to evaluate.")
    seqs = [_as_array(s, f"{what}[{i}]") for i, s in enumerate(x)]
    flat = all(s.ndim == 1 for s in seqs)
    seqs = [s[:, None] if s.ndim == 1 else s for s in seqs]
    for i, s in enumerate(seqs):
      if s.ndim != 2 or s.shape[1] != features:
        raise ValueError(f"{what}[{i}] has shape {s.shape}, but this run's "
                         f"sequences have {features} feature(s): pass "
                         f"[T_i, {features}] arrays.")
      if not 1 <= len(s) <= steps:
        raise ValueError(f"{what}[{i}] has {len(s)} steps; this run reads "
                         f"1..{steps}.")
    lengths = np.array([len(s) for s in seqs], np.int32)
    padded = np.zeros((len(seqs), steps, features), np.float64)
    for i, s in enumerate(seqs):
      padded[i, :len(s)] = s
    x = padded

    def restore(out):
      return [o[:n, 0] if flat else o[:n] for o, n in zip(out, lengths)]
  else:
    x = _as_array(x, what)
    if x.ndim >= 1 and x.shape[0] == 0:
      raise ValueError(f"{what} is empty (shape {x.shape}): nothing to "
                       "evaluate.")
    squeeze = x.ndim == 2 and features == 1
    if squeeze:
      x = x[..., None]
    if x.ndim != 3 or x.shape[2] != features:
      raise ValueError(
          f"{what} has shape {x.shape}, but this run's sequences have "
          f"{features} feature(s) and up to {steps} steps: pass [N, T, "
          f"{features}]" + (" or [N, T]" if features == 1 else "") +
          " with lengths=, or a list of [T_i, F] arrays.")
    given = x.shape[1]
    if given > steps:
      raise ValueError(f"{what} has {given} steps; this run reads "
                       f"sequences of at most {steps}.")
    if lengths is None:
      lengths = np.full(len(x), given, np.int32)
    lengths = np.asarray(lengths)
    if (lengths.shape != (len(x),) or not np.issubdtype(lengths.dtype,
                                                        np.integer)):
      raise ValueError(f"lengths must be {len(x)} integers, got "
                       f"{lengths.dtype} {lengths.shape}.")
    if len(lengths) and (lengths.min() < 1 or lengths.max() > given):
      raise ValueError(f"lengths must be in [1, {given}] (the steps "
                       f"given), got [{lengths.min()}, {lengths.max()}].")
    lengths = lengths.astype(np.int32)
    x = np.concatenate([x.astype(np.float64), np.zeros(
        (len(x), steps - given, features))], 1) if given < steps else x

    def restore(out):
      out = out[:, :given]
      return out[..., 0] if squeeze else out
  mask = np.arange(steps)[None, :, None] < lengths[:, None, None]
  x = np.where(mask, x, 0)  # anything after a sequence's end is ignored
  x = _scale(x, preprocessing, what) * mask
  return x.reshape((len(x),) + image_shape).astype(
      np.float32), lengths, restore


@dataclasses.dataclass(frozen=True, eq=False)
class TrainedModel:
  """A trained model: its functions on data as users hold it (module doc).

  Build one with :func:`load` (a run's work directory) or from parameters
  in memory (:class:`aejax.Autoencoder` does). Immutable: the compiled
  functions are cached, nothing else changes.

  Attributes:
    config: the run's config.
    method: the run's method (:mod:`aejax.methods`).
    params: the trained parameters.
    batch_stats: BatchNorm statistics (``{}`` without BatchNorm).
    preprocessing: how inputs are prepared (:class:`Preprocessing`).
    step: the training step of the parameters.
    chunk_size: rows per compiled call.
    workdir: the run's directory (``None`` for models built in memory).
  """
  config: Any = dataclasses.field(repr=False)
  method: base.Method = dataclasses.field(repr=False)
  params: Any = dataclasses.field(repr=False)
  batch_stats: Any = dataclasses.field(repr=False)
  preprocessing: Preprocessing = dataclasses.field(repr=False)
  step: int = 0
  chunk_size: int = 256
  workdir: str | None = None
  _compiled: dict = dataclasses.field(default_factory=dict, init=False,
                                      repr=False, compare=False)

  def __post_init__(self):
    if int(self.chunk_size) < 1:
      raise ValueError(f"chunk_size must be >= 1, got {self.chunk_size}.")

  def __repr__(self) -> str:
    return (f"TrainedModel(method={self.method.name!r}, model="
            f"{self.config.model.name!r}, image_shape={self.image_shape}, "
            f"step={self.step}, workdir={self.workdir!r})")

  # -- what the model is ----------------------------------------------------

  @property
  def image_shape(self) -> tuple[int, ...]:
    """One example's shape as the model sees it, e.g. (28, 28, 1), (T, F)."""
    return self.method.image_shape

  @property
  def code_dim(self) -> int:
    """The width of the codes :meth:`encode` returns."""
    return int(self.config.model.latent_dim)

  @property
  def capabilities(self) -> tuple[str, ...]:
    """The names of the capabilities of the run's method."""
    return tuple(c.__name__ for c in (
        base.Encoder, base.Decoder, base.Reconstructor, base.AnomalyScorer,
        base.Sampler, base.LikelihoodModel) if isinstance(self.method, c))

  def dataset(self):
    """The run's data set as users hold it (uint8 images; sequences in
    their own units), ready for this handle's functions."""
    if self.workdir is None:
      raise ValueError("This model was fitted in memory (aejax.Autoencoder "
                       "or AnomalyDetector): it has no data set of its own.")
    return raw_dataset(self.config)

  # -- the functions ---------------------------------------------------------

  def encode(self, x, lengths=None) -> np.ndarray:
    """Codes [N, code_dim] (a VAE's posterior mean), float32."""
    base.require(self.method, base.Encoder)
    if (longer := self._for_longest(x)) is not self:
      return longer.encode(x, lengths)
    ex = self.examples(x, lengths)
    return self._chunked("encode", self._encode_fn, ex)

  transform = encode

  def decode(self, z) -> np.ndarray:
    """Outputs [N, *image_shape] for codes ``z`` [N, code_dim], in the
    data's units (pixels in [0, 1])."""
    base.require(self.method, base.Decoder)
    z = _as_array(z, "z").astype(np.float32)
    if z.ndim == 1 and z.shape[0] == self.code_dim:
      raise ValueError(f"z has shape {z.shape}: one code. Pass a batch "
                       "[N, code_dim], e.g. z[None].")
    if z.ndim != 2 or z.shape[1] != self.code_dim:
      raise ValueError(f"z has shape {z.shape}, but this run's codes are "
                       f"[N, {self.code_dim}].")
    if not len(z):
      raise ValueError("z is empty: nothing to decode.")
    _bad_rows(np.isfinite(z).all(1), "z")
    ex = _Examples(z, None, np.zeros(len(z), np.uint32), None)
    return self._to_user(self._chunked("decode", self._decode_fn, ex))

  def reconstruct(self, x, lengths=None):
    """Reconstructions of ``x`` in its own layout and units."""
    base.require(self.method, base.Reconstructor)
    if (longer := self._for_longest(x)) is not self:
      return longer.reconstruct(x, lengths)
    ex = self.examples(x, lengths)
    out = self._chunked("reconstruct", self._reconstruct_fn, ex)
    return ex.restore(self._to_user(out, ex.lengths))

  def score(self, x, lengths=None) -> np.ndarray:
    """Per-example anomaly scores [N], higher = more anomalous: the
    method's :meth:`~aejax.methods.base.AnomalyScorer.score`
    (reconstruction MSE for autoencoders, the negative ELBO for VAEs; for
    the IWAE NLL use ``-log_likelihood(x, k)``)."""
    base.require(self.method, base.AnomalyScorer)
    if (longer := self._for_longest(x)) is not self:
      return longer.score(x, lengths)
    ex = self.examples(x, lengths)
    return self._chunked("score", self._score_fn, ex)

  def log_likelihood(self, x, k: int = 5000, batch_size: int = 100,
                     sample_chunk: int = 500) -> np.ndarray:
    """log p(x) in nats per example [N], by the IWAE bound with ``k``
    importance samples (drawn ``sample_chunk`` at a time; ``batch_size``
    examples per compiled call)."""
    base.require(self.method, base.LikelihoodModel)
    if int(k) < 1:
      raise ValueError(f"k (importance samples) must be >= 1, got {k}.")
    ex = self.examples(x)
    k, sample_chunk = int(k), int(min(sample_chunk, k))
    fn = functools.partial(self._likelihood_fn, k=k, chunk=sample_chunk)
    return self._chunked(("log_likelihood", k, sample_chunk), fn, ex,
                         chunk=batch_size)

  def sample(self, n: int, seed: int = 0) -> np.ndarray:
    """``n`` new examples [n, *image_shape] in the data's units; the first
    rows do not depend on ``n`` (chunk i draws from fold_in(key, row))."""
    base.require(self.method, base.Sampler)
    if int(n) < 1:
      raise ValueError(f"n must be >= 1, got {n}.")
    fn = self._compile("sample", self._sample_fn)
    key = jax.random.PRNGKey(seed)
    params, stats = self._variables
    out = [np.asarray(fn(params, stats, jax.random.fold_in(key, start)))
           for start in range(0, int(n), self.chunk_size)]
    return self._to_user(np.concatenate(out)[:int(n)])

  def interpolate(self, a, b, steps: int = 10) -> np.ndarray:
    """Decoded points of the straight line between the codes of two
    examples ``a`` and ``b``: [steps, *image_shape]."""
    base.require(self.method, base.Encoder)
    base.require(self.method, base.Decoder)
    if int(steps) < 2:
      raise ValueError(f"steps must be >= 2, got {steps}.")
    za, zb = (self.encode(self._one(v, name)) for v, name in ((a, "a"),
                                                              (b, "b")))
    t = np.linspace(0.0, 1.0, int(steps), dtype=np.float32)[:, None]
    return self.decode((1.0 - t) * za + t * zb)

  # -- inputs ----------------------------------------------------------------

  def _for_longest(self, x) -> "TrainedModel":
    """This model, or for sequences longer than the run's (e.g. a test
    sequence longer than every training one) the same parameters rebuilt
    for that length: a recurrent model's parameters do not depend on T
    (the decoder repeats the code at every step) and padding after a
    sequence's end changes nothing (:class:`aejax.methods.base.
    SequenceModel`)."""
    if not (self.preprocessing.sequences and
            isinstance(self.method, base.SequenceModel)):
      return self
    if isinstance(x, (list, tuple)):
      longest = max((len(np.asarray(s)) for s in x), default=0)
    else:
      shape = np.shape(x)
      longest = shape[1] if len(shape) >= 2 else 0
    steps = self.image_shape[0]
    if longest <= steps:
      return self
    key = ("steps", longest)
    if key not in self._compiled:
      from aejax.methods import make_method  # pylint: disable=g-import-not-at-top
      self._compiled[key] = dataclasses.replace(
          self, method=make_method(self.config,
                                   (longest,) + self.image_shape[1:]))
    return self._compiled[key]

  def _one(self, v, name):
    """One example as a batch of one (``v`` is one example or a batch of
    one)."""
    if isinstance(v, (list, tuple)):  # a list holding one sequence
      v = v[0] if len(v) == 1 else v
    v = _as_array(v, name)
    try:
      self.examples(v[None], what=name)
      return v[None]
    except ValueError:
      if v.ndim and len(v) == 1:
        return v
      raise

  def examples(self, x, lengths=None, what: str = "x") -> _Examples:
    """``x`` checked and preprocessed as the model sees it (module doc)."""
    return prepare(x, lengths, self.image_shape, self.preprocessing, what)

  def _to_user(self, out: np.ndarray, lengths=None) -> np.ndarray:
    p = self.preprocessing
    out = np.asarray(out, np.float32)
    if p.kind == STANDARDIZE:
      shaped = out.reshape(out.shape[:2] + (-1,)) if p.sequences else out
      out = (shaped * p.std + p.mean).reshape(out.shape)
    if lengths is not None:
      mask = np.arange(out.shape[1])[None, :] < lengths[:, None]
      out = out * mask.reshape(mask.shape + (1,) * (out.ndim - 2))
    return out

  # -- compiled functions (traced once per handle) ---------------------------

  @functools.cached_property
  def _variables(self):
    return jax.device_put((self.params, self.batch_stats))

  @property
  def _reads_lengths(self) -> bool:
    return isinstance(self.method, base.SequenceModel)

  def _keys(self, stream: int, hashes):
    k = jax.random.fold_in(jax.random.PRNGKey(self.preprocessing.seed),
                           stream)
    return jax.vmap(lambda h: jax.random.fold_in(k, h))(hashes)

  def _prepared(self, x, hashes):
    if not self.preprocessing.binarize:
      return x
    keys = self._keys(_BINARIZE_STREAM, hashes)
    return jax.vmap(lambda k, v: jax.random.bernoulli(k, v).astype(
        jnp.float32))(keys, x)

  def _encode_fn(self, params, stats, x, lengths, hashes):
    x = self._prepared(x, hashes)
    if self._reads_lengths:
      return self.method.encode(params, stats, x, lengths)
    return self.method.encode(params, stats, x)

  def _reconstruct_fn(self, params, stats, x, lengths, hashes):
    x = self._prepared(x, hashes)
    if self._reads_lengths:
      return self.method.reconstruct(params, stats, x, lengths)
    return self.method.reconstruct(params, stats, x)

  def _decode_fn(self, params, stats, z, lengths, hashes):
    del lengths, hashes
    return self.method.decode(params, stats, z)

  def _score_fn(self, params, stats, x, lengths, hashes):
    x = self._prepared(x, hashes)

    def one(xi, li, key):  # one example: its result is its own
      batch = {"image": xi[None]}
      if li is not None:
        batch["length"] = li[None]
      return self.method.score(params, stats, batch, key)[0]

    return jax.vmap(one)(x, lengths, self._keys(_SCORE_STREAM, hashes))

  def _likelihood_fn(self, params, stats, x, lengths, hashes, *, k, chunk):
    del lengths
    x = self._prepared(x, hashes)
    return jax.vmap(lambda xi, key: self.method.log_likelihood(
        params, stats, xi[None], key, k, chunk)[0])(
            x, self._keys(_LIKELIHOOD_STREAM, hashes))

  def _sample_fn(self, params, stats, key):
    return self.method.sample(params, stats, key, self.chunk_size)

  def _compile(self, name, fn):
    if name not in self._compiled:
      self._compiled[name] = jax.jit(fn)
    return self._compiled[name]

  def _chunked(self, name, fn, ex: _Examples, chunk: int | None = None
               ) -> np.ndarray:
    """``fn`` over ``ex`` in fixed-size chunks (the last one padded with
    copies of its last row), concatenated as NumPy."""
    jitted = self._compile(name, fn)
    size = int(chunk or self.chunk_size)
    params, stats = self._variables
    n, out = len(ex.x), []
    for start in range(0, n, size):
      rows = np.arange(start, min(start + size, n))
      pad = size - len(rows)
      rows = np.concatenate([rows, np.full(pad, rows[-1])])
      lengths = None if ex.lengths is None else ex.lengths[rows]
      out.append(np.asarray(jitted(params, stats, ex.x[rows], lengths,
                                   ex.hashes[rows]))[:size - pad])
    return np.concatenate(out)


def load(workdir: str, step: int | None = None, chunk_size: int = 256,
         seed: int = 0) -> TrainedModel:
  """The trained model in ``workdir`` (written by
  :func:`aejax.train.loop.train_and_evaluate`).

  Args:
    workdir: the run's work directory.
    step: which checkpoint (default: the latest).
    chunk_size: rows per compiled call.
    seed: the seed of a Bernoulli run's binarisation and of stochastic
      scores (a VAE's negative ELBO, the IWAE estimate).
  """
  from aejax.train.loop import RUN_FILE, load_run  # pylint: disable=g-import-not-at-top
  config, method, state = load_run(workdir, step)
  with open(os.path.join(workdir, RUN_FILE)) as f:
    run = json.load(f)
  return TrainedModel(config, method, state.params, state.batch_stats,
                      Preprocessing.of_run(config, run, seed), int(state.step),
                      int(chunk_size), workdir)
