"""Layers that run fast on XLA:CPU.

`Conv` is `flax.linen.Conv` (the same class, parameters and outputs) whose
strided convolutions with kernel sizes divisible by the stride (DCGAN's 4x4
stride-2) run as one GEMM; see `conv_general_dilated` below.

`ConvTranspose` is a drop-in replacement for `flax.linen.ConvTranspose`: same
attributes, parameter names, shapes and initialisers (a checkpoint of one loads
into the other) and the same outputs and gradients, computed so that the
forward AND backward passes are fast on XLA:CPU.

Why: `flax.linen.ConvTranspose` convolves the input dilated by the stride
(s - 1 zeros between neighbours). XLA:CPU runs that forward pass well, but the
kernel gradient of an lhs-dilated convolution falls off its fast path: for
the conv-AE decoder layers it takes about 20x as long as the forward pass,
which makes the whole layer 7-10x slower than PyTorch's ConvTranspose2d.

How: a transposed convolution is the adjoint of a strided convolution, i.e.
GEMM + col2im (the scatter-add that Caffe's and PyTorch's CPU deconvolution
layers use). With `Y = x @ K` (K reshaped to (in, taps * features)), output
pixel o = s*q + r receives Y[q + e_t, t] from exactly the taps t with
t = lo - r (mod s): every output phase r is a sum of shifted tap planes of Y
(the phase structure behind sub-pixel convolution, Shi et al. 2016,
"Real-Time Single Image and Video Super-Resolution Using an Efficient
Sub-Pixel Convolutional Neural Network", and behind checkerboard artifacts,
Odena et al. 2016, "Deconvolution and Checkerboard Artifacts"). The phases
are then interleaved (depth-to-space). The backward pass is written out
(`jax.custom_vjp`): dY = im2col(dy) (strided slices of dy), dx = dY @ K^T and
dK = x^T @ dY. That is three GEMMs with the multiply-add count of a direct
transposed convolution, plus two gathers; no convolution at all.

PyTorch's `ConvTranspose2d(k, s, padding=p, output_padding=a)` is
`ConvTranspose(kernel_size=k, strides=s, padding=((k-1-p, k-1-p+a),) * 2,
transpose_kernel=True)` with `kernel = torch_weight.permute(2, 3, 1, 0)`;
e.g. ConvTranspose2d(4, 2, 1) is padding=2. Keras' Conv2DTranspose(f, 3,
strides=2, padding="same") is padding='SAME' with transpose_kernel=True.

Limitation: `custom_vjp` means reverse mode only; `jax.jvp`/`jax.jacfwd`
through the fast path raise an error (use `nn.ConvTranspose` for those).

Platforms: the GEMM forms are taken on CPU only (:func:`cpu_paths`). On GPUs
and TPUs, where XLA's own convolutions are the fast path, the same modules
(same parameters: checkpoints move between platforms) call
`lax.conv_general_dilated` / `lax.conv_transpose` as flax does.
`AEJAX_CPU_LAYERS=on|off` (default `auto`: on when JAX's default backend is
the CPU) forces the choice, e.g. to compare the two paths.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from typing import Callable, Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

CPU_LAYERS_ENV = "AEJAX_CPU_LAYERS"


def cpu_paths() -> bool:
  """Whether the CPU-tuned GEMM paths are taken (decided when tracing).

  ``$AEJAX_CPU_LAYERS``: ``on``, ``off`` or ``auto`` (the default: on when
  JAX's default backend is the CPU).
  """
  mode = os.environ.get(CPU_LAYERS_ENV, "auto").lower()
  if mode not in ("auto", "on", "off"):
    raise ValueError(f"{CPU_LAYERS_ENV}={mode!r}: use 'auto', 'on' or 'off'.")
  if mode == "auto":
    return jax.default_backend() == "cpu"
  return mode == "on"


def _transpose_padding(k: int, s: int, padding) -> tuple[int, int]:
  """Padding of the dilated input used by `lax.conv_transpose` (one axis)."""
  if padding == 'SAME':
    total = k + s - 2
    lo = k - 1 if s > k - 1 else math.ceil(total / 2)
  elif padding == 'VALID':
    total = k + s - 2 + max(k - s, 0)
    lo = k - 1
  else:
    return tuple(padding)
  return lo, total - lo


def _axis_plan(n: int, k: int, s: int, lo: int, hi: int):
  """Phase and input offset of each tap of one axis of `lax.conv_transpose`.

  `lax.conv_transpose` computes y[o] = sum_t v[o + t] K[t], with v the input
  dilated by s and padded by (lo, hi), so v[o + t] = x[i] iff
  o + t - lo = s*i. With o = s*q + r, tap t feeds only phase
  r = (lo - t) mod s, reading x[q + e] with e = (r + t - lo) / s.

  Args:
    n: input length.
    k: kernel size.
    s: stride.
    lo: low padding of the dilated input.
    hi: high padding of the dilated input.

  Returns:
    (out_len, per_phase, phase, offset): output length, outputs per phase
    (ceil(out_len / s)), and per-tap tuples of phase r and offset e.
  """
  out_len = (n - 1) * s + 1 + lo + hi - k + 1
  phase = tuple((lo - t) % s for t in range(k))
  offset = tuple((r + t - lo) // s for t, r in enumerate(phase))
  return out_len, -(-out_len // s), phase, offset


def _shift(a: jax.Array, offsets, out_shape) -> jax.Array | None:
  """b[:, q..] = a[:, q + e..] (zero outside a); None if b is all zeros."""
  index, widths = [slice(None)], [(0, 0)]
  for e, m, n in zip(offsets, out_shape, a.shape[1:]):
    start, stop = max(0, e), min(n, m + e)
    if stop <= start:
      return None
    index.append(slice(start, stop))
    widths.append((start - e, m + e - stop))
  widths += [(0, 0)] * (a.ndim - len(widths))
  return jnp.pad(a[tuple(index)], widths)


def _col2im(y_taps: jax.Array, plans, strides) -> jax.Array:
  """(N, n.., k.., F) tap planes -> (N, out.., F) transposed-conv output."""
  d = len(plans)
  batch, features = y_taps.shape[0], y_taps.shape[-1]
  per_phase = tuple(p[1] for p in plans)
  phases = []
  for r in itertools.product(*[range(s) for s in strides]):
    taps = [[t for t, pt in enumerate(p[2]) if pt == ra]
            for p, ra in zip(plans, r)]
    out = jnp.zeros((batch,) + per_phase + (features,), y_taps.dtype)
    for tap in itertools.product(*taps):
      offsets = [p[3][t] for p, t in zip(plans, tap)]
      plane = y_taps[(slice(None),) * (d + 1) + tap]
      term = _shift(plane, offsets, per_phase)
      if term is not None:
        out = out + term
    phases.append(out)
  # (N, q.., s.., F) -> (N, q1, s1, .., qd, sd, F) -> (N, q1*s1, .., F).
  z = jnp.stack(phases, axis=1 + d).reshape(
      (batch,) + per_phase + tuple(strides) + (features,))
  z = z.transpose([0] + [i for a in range(d) for i in (1 + a, 1 + d + a)]
                  + [2 * d + 1])
  z = z.reshape((batch,) + tuple(q * s for q, s in zip(per_phase, strides))
                + (features,))
  return z[(slice(None),) + tuple(slice(0, p[0]) for p in plans)]


def _im2col(dy: jax.Array, plans, strides, in_shape, pads) -> jax.Array:
  """Adjoint of `_col2im`: dY[:, i.., (t.., :)] = dy[:, s*i + lo - t.., :].

  Pads dy once so that every index is in range (zero outside dy), then takes
  one strided slice per tap, concatenated on the channel axis.
  """
  widths, origin = [(0, 0)], []
  for p, s, n, (lo, _) in zip(plans, strides, in_shape, pads):
    before = max(0, len(p[2]) - 1 - lo)
    widths.append((before, max(0, s * (n - 1) + lo + 1 - p[0])))
    origin.append(lo + before)
  dy = jnp.pad(dy, widths + [(0, 0)])
  cols = []
  for tap in itertools.product(*[range(len(p[2])) for p in plans]):
    start = [0] + [o - t for o, t in zip(origin, tap)] + [0]
    stop = ([dy.shape[0]] + [b + s * (n - 1) + 1 for b, s, n in
                             zip(start[1:], strides, in_shape)]
            + [dy.shape[-1]])
    cols.append(lax.slice(dy, start, stop, (1, *strides, 1)))
  return jnp.concatenate(cols, axis=-1)


def _plans(inputs, kernel, strides, padding):
  d = inputs.ndim - 2
  ks = kernel.shape[:d]
  pad = [padding] * d if isinstance(padding, str) else padding
  pads = [_transpose_padding(k, s, p) for k, s, p in zip(ks, strides, pad)]
  plans = [_axis_plan(n, k, s, *lh) for n, k, s, lh in
           zip(inputs.shape[1:-1], ks, strides, pads)]
  return plans, pads


def _kernel_matrix(kernel: jax.Array) -> jax.Array:
  """(k.., I, O) -> (I, k.. * O)."""
  d = kernel.ndim - 2
  return jnp.moveaxis(kernel, d, 0).reshape(kernel.shape[d], -1)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv_transpose(inputs, kernel, strides, padding, precision):
  return _conv_transpose_fwd(inputs, kernel, strides, padding, precision)[0]


def _conv_transpose_fwd(inputs, kernel, strides, padding, precision):
  plans, _ = _plans(inputs, kernel, strides, padding)
  y_taps = lax.dot_general(inputs, _kernel_matrix(kernel),
                           (((inputs.ndim - 1,), (0,)), ((), ())),
                           precision=precision)
  y_taps = y_taps.reshape(inputs.shape[:-1] + kernel.shape[:-2]
                          + kernel.shape[-1:])
  return _col2im(y_taps, plans, strides), (inputs, kernel)


def _conv_transpose_bwd(strides, padding, precision, res, dy):
  inputs, kernel = res
  plans, pads = _plans(inputs, kernel, strides, padding)
  dy_taps = _im2col(dy, plans, strides, inputs.shape[1:-1], pads)
  kmat = _kernel_matrix(kernel)
  dx = lax.dot_general(dy_taps, kmat, (((inputs.ndim - 1,), (1,)), ((), ())),
                       precision=precision)
  # dK = x^T dY_taps, from an explicit copy of x^T: XLA transposes x for this
  # product anyway, but without the barrier it fuses the producers of x
  # (BatchNorm, ReLU) into that transposing copy, which then runs several
  # times slower than a plain transpose.
  rows = lax.optimization_barrier(inputs.reshape(-1, inputs.shape[-1]))
  dk = lax.dot_general(rows.T, dy_taps.reshape(rows.shape[0], -1),
                       (((1,), (0,)), ((), ())), precision=precision)
  d = inputs.ndim - 2
  dk = jnp.moveaxis(dk.reshape(kernel.shape[d:d + 1] + kernel.shape[:d]
                               + kernel.shape[-1:]), 0, d)
  return dx.astype(inputs.dtype), dk.astype(kernel.dtype)


_conv_transpose.defvjp(_conv_transpose_fwd, _conv_transpose_bwd)


def conv_transpose(inputs: jax.Array, kernel: jax.Array,
                   strides: Sequence[int], padding,
                   precision: lax.PrecisionLike = None) -> jax.Array:
  """`lax.conv_transpose(inputs, kernel, strides, padding)` as GEMM + col2im.

  Args:
    inputs: (N, spatial.., I) channels-last input.
    kernel: (k.., I, O) kernel, not flipped (`transpose_kernel=False`).
    strides: one stride per spatial axis.
    padding: 'SAME', 'VALID' or one (low, high) pair per spatial axis, with
      the meaning `lax.conv_transpose` gives it (padding of the dilated input).
    precision: `lax` precision of the matrix products.

  Returns:
    (N, out.., O): `lax.conv_transpose`'s output, up to float rounding.
  """
  if not isinstance(padding, str):
    padding = tuple(tuple(int(v) for v in p) for p in padding)
  plans, _ = _plans(inputs, kernel, strides, padding)
  if min(p[0] for p in plans) < 1:  # Empty output.
    return lax.conv_transpose(inputs, kernel, strides, padding,
                              precision=precision)
  return _conv_transpose(inputs, kernel, tuple(strides), padding, precision)


class ConvTranspose(nn.Module):
  """Drop-in for `flax.linen.ConvTranspose`, fast forward and backward on CPU.

  Same attributes, parameters (`kernel` of shape (k.., in, features), or
  (k.., features, in) with `transpose_kernel=True`; `bias` (features,)),
  initialisers and outputs as `flax.linen.ConvTranspose`; computed as GEMM +
  col2im with a hand-written backward pass (see the module docstring) when
  padding is 'SAME', 'VALID' or explicit, there is no kernel dilation, and
  some stride is > 1 or features <= 8. Other configurations compute what
  flax computes (`lax.conv_transpose`); 'CIRCULAR' padding is not supported.

  Attributes:
    features: number of output channels.
    kernel_size: int or tuple of ints, the kernel's spatial shape.
    strides: int or tuple of ints (default 1).
    padding: 'SAME', 'VALID', an int, or one int or (low, high) pair per
      spatial axis; as in flax, explicit pairs pad the dilated input.
    kernel_dilation: int or tuple of ints (default 1).
    use_bias: whether to add a bias.
    dtype: computation dtype (default: inferred from inputs and params).
    param_dtype: parameter dtype.
    precision: `lax` precision of the computation.
    kernel_init: kernel initialiser (flax's default: lecun_normal).
    bias_init: bias initialiser (default: zeros).
    transpose_kernel: flip the kernel's spatial axes and swap its channel
      axes, as flax does (the PyTorch/Keras convention).
  """
  features: int
  kernel_size: int | Sequence[int]
  strides: int | Sequence[int] | None = None
  padding: str | int | Sequence = 'SAME'
  kernel_dilation: int | Sequence[int] | None = None
  use_bias: bool = True
  dtype: jnp.dtype | None = None
  param_dtype: jnp.dtype = jnp.float32
  precision: lax.PrecisionLike = None
  kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
  bias_init: nn.initializers.Initializer = nn.initializers.zeros_init()
  transpose_kernel: bool = False

  @nn.compact
  def __call__(self, inputs: jax.Array) -> jax.Array:
    """Applies the transposed convolution to (*batch, spatial.., in) inputs.

    Args:
      inputs: channels-last input; any number of leading batch dimensions
        (none included), which are flattened for the computation as in flax.

    Returns:
      The output, with the same leading batch dimensions.
    """
    ks = ((self.kernel_size,) if isinstance(self.kernel_size, int)
          else tuple(self.kernel_size))
    d = len(ks)

    def broadcast(v):
      v = 1 if v is None else v
      return (v,) * d if isinstance(v, int) else tuple(v)

    strides, dilation = broadcast(self.strides), broadcast(self.kernel_dilation)
    batch_shape = inputs.shape[:inputs.ndim - d - 1]
    inputs = inputs.reshape((-1,) + inputs.shape[len(batch_shape):])
    in_features = inputs.shape[-1]
    kernel_shape = ks + ((self.features, in_features) if self.transpose_kernel
                         else (in_features, self.features))
    kernel = self.param('kernel', self.kernel_init, kernel_shape,
                        self.param_dtype)
    bias = (self.param('bias', self.bias_init, (self.features,),
                       self.param_dtype) if self.use_bias else None)
    inputs, kernel, bias = promote_dtype(inputs, kernel, bias, dtype=self.dtype)
    if self.transpose_kernel:
      kernel = jnp.flip(kernel, range(d)).swapaxes(d, d + 1)

    padding = nn.linear.canonicalize_padding(self.padding, d)
    if padding == 'CIRCULAR':
      raise NotImplementedError("padding='CIRCULAR': use nn.ConvTranspose.")
    # Stride 1 is a plain convolution, which XLA runs well; there the GEMM
    # form only pays off for narrow outputs, as its temporaries hold
    # k**d times the output.
    fast = (cpu_paths() and set(dilation) == {1}
            and (not isinstance(padding, str) or padding in ('SAME', 'VALID'))
            and (max(strides) > 1 or self.features <= 8))
    if fast:
      y = conv_transpose(inputs, kernel, strides, padding, self.precision)
    else:
      y = lax.conv_transpose(inputs, kernel, strides, padding,
                             rhs_dilation=dilation, precision=self.precision)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])


# -- Strided convolution as space-to-depth + GEMM -----------------------------


def _channels_last_numbers(d: int) -> lax.ConvDimensionNumbers:
  """flax's convention: (N, spatial.., C) inputs and outputs, (k.., I, O)."""
  spatial = tuple(range(1, d + 1))
  return lax.ConvDimensionNumbers(
      lhs_spec=(0, d + 1) + spatial, rhs_spec=(d + 1, d) + tuple(range(d)),
      out_spec=(0, d + 1) + spatial)


def _channels_last(dimension_numbers, lhs_ndim: int) -> bool:
  """Whether ``dimension_numbers`` is `_channels_last_numbers`."""
  if dimension_numbers is None:
    return False  # lax's default is (N, C, spatial..).
  if not isinstance(dimension_numbers, lax.ConvDimensionNumbers):
    dimension_numbers = lax.conv_dimension_numbers(
        (1,) * lhs_ndim, (1,) * lhs_ndim, dimension_numbers)
  return dimension_numbers == _channels_last_numbers(lhs_ndim - 2)


def _patches(x: jax.Array, kernel_shape, strides, pads) -> jax.Array:
  """(N, n.., C) -> (N, out.., M*S*C) patches in `_gemm_kernel`'s order.

  With kernel size k = m*s on an axis, kernel tap a = s*i + p reads padded
  input row s*o + a = s*(o + i) + p: after space-to-depth by the stride (row
  s*u + p -> block u, phase p) it is block o + i, phase p. So the patches are
  the m**d shifted windows of the space-to-depth input, each a run of S*C
  contiguous values (S = prod(s)); no strided gather.
  """
  d = x.ndim - 2
  ms = [k // s for k, s in zip(kernel_shape, strides)]
  outs = [(n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in
          zip(x.shape[1:-1], kernel_shape, strides, pads)]
  blocks = [o + m - 1 for o, m in zip(outs, ms)]
  # Pad (or crop: lax.pad takes negative widths) to exactly the rows read.
  config = ([(0, 0, 0)]
            + [(lo, s * q - n - lo, 0) for n, s, q, (lo, _) in
               zip(x.shape[1:-1], strides, blocks, pads)]
            + [(0, 0, 0)])
  x = lax.pad(x, jnp.zeros((), x.dtype), config)
  batch, channels = x.shape[0], x.shape[-1]
  x = x.reshape((batch,) + tuple(v for q, s in zip(blocks, strides)
                                 for v in (q, s)) + (channels,))
  x = x.transpose((0,) + tuple(range(1, 2 * d, 2)) + tuple(range(2, 2 * d + 1,
                                                                 2))
                  + (2 * d + 1,))
  x = x.reshape((batch,) + tuple(blocks) + (-1,))
  windows = []
  for offset in itertools.product(*[range(m) for m in ms]):
    start = (0,) + offset + (0,)
    windows.append(lax.slice(x, start, (batch,) + tuple(
        i + o for i, o in zip(offset, outs)) + (x.shape[-1],)))
  return jnp.concatenate(windows, axis=-1)


def _gemm_kernel(kernel: jax.Array, strides) -> jax.Array:
  """(k.., I, O) -> (M*S*I, O), rows ordered (i.., p.., c) with a = s*i + p."""
  d = kernel.ndim - 2
  split = sum(((k // s, s) for k, s in zip(kernel.shape[:d], strides)), ())
  order = tuple(range(0, 2 * d, 2)) + tuple(range(1, 2 * d, 2)) + (2 * d,
                                                                   2 * d + 1)
  return kernel.reshape(split + kernel.shape[d:]).transpose(order).reshape(
      -1, kernel.shape[-1])


def _kernel_from_gemm(matrix: jax.Array, kernel_shape, strides) -> jax.Array:
  """Inverse of `_gemm_kernel`."""
  d = len(kernel_shape) - 2
  ms = tuple(k // s for k, s in zip(kernel_shape[:d], strides))
  z = matrix.reshape(ms + tuple(strides) + tuple(kernel_shape[d:]))
  order = tuple(v for a in range(d) for v in (a, d + a)) + (2 * d, 2 * d + 1)
  return z.transpose(order).reshape(kernel_shape)


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _strided_conv(inputs, kernel, strides, pads, precision):
  return _strided_conv_fwd(inputs, kernel, strides, pads, precision)[0]


def _strided_conv_fwd(inputs, kernel, strides, pads, precision):
  patches = _patches(inputs, kernel.shape[:-2], strides, pads)
  y = lax.dot_general(patches, _gemm_kernel(kernel, strides),
                      (((patches.ndim - 1,), (0,)), ((), ())),
                      precision=precision)
  # inputs is kept for its shape only (the input gradient is linear in x).
  return y, (patches, kernel, inputs)


def _strided_conv_bwd(strides, pads, precision, res, dy):
  patches, kernel, inputs = res
  shape = jax.ShapeDtypeStruct(inputs.shape, inputs.dtype)
  # dK = patches^T dy, computed as (dy^T patches)^T. The barrier keeps XLA
  # from folding the final transpose into the product, which would turn it
  # into the contraction-over-rows form that XLA:CPU runs at about half its
  # GEMM speed.
  rows = dy.reshape(-1, dy.shape[-1])
  dk_t = lax.optimization_barrier(lax.dot_general(
      rows, patches.reshape(rows.shape[0], -1), (((0,), (0,)), ((), ())),
      precision=precision))
  dk = _kernel_from_gemm(dk_t.T, kernel.shape, strides)
  # dx: XLA's own input gradient (a transposed convolution).
  conv = lambda v: lax.conv_general_dilated(
      v, kernel, strides, pads,
      dimension_numbers=_channels_last_numbers(kernel.ndim - 2),
      precision=precision)
  (dx,) = jax.linear_transpose(conv, shape)(dy)
  return dx, dk.astype(kernel.dtype)


_strided_conv.defvjp(_strided_conv_fwd, _strided_conv_bwd)


def conv_general_dilated(lhs, rhs, window_strides, padding, lhs_dilation=None,
                         rhs_dilation=None, dimension_numbers=None,
                         feature_group_count=1, batch_group_count=1,
                         precision=None, preferred_element_type=None):
  """`lax.conv_general_dilated`, as one GEMM for strided convolutions.

  Same signature and result as `lax.conv_general_dilated`. A channels-last
  convolution with some stride > 1 and every kernel size a multiple of its
  stride (no dilation or groups) is computed as space-to-depth patches
  (`_patches`) times the kernel as a matrix, with a hand-written backward
  pass (kernel gradient dy^T patches, input gradient XLA's). Why: XLA:CPU
  runs the forward and kernel-gradient convolutions of DCGAN's 4x4 stride-2
  layers slower than the same multiply-adds as GEMMs; with this form the
  DCGAN training step is 1.16x (batch 128) to 1.28x (batch 32) as fast
  (BENCHMARKS.md, "Runs G-J"). Everything else goes to
  `lax.conv_general_dilated` unchanged.

  Limitation: reverse mode only on the fast path (`jax.jvp`/`jax.jacfwd`
  raise an error; use `flax.linen.Conv` there).
  """
  d = lhs.ndim - 2
  strides = tuple(int(s) for s in window_strides)
  kernel_shape = rhs.shape[:d]
  fast = (cpu_paths() and d > 0
          and _channels_last(dimension_numbers, lhs.ndim)
          and max(strides) > 1
          and all(k % s == 0 for k, s in zip(kernel_shape, strides))
          and all(v in (None, 1) for v in (lhs_dilation or ()))
          and all(v in (None, 1) for v in (rhs_dilation or ()))
          and feature_group_count == 1 and batch_group_count == 1
          and preferred_element_type is None)
  if fast:
    if isinstance(padding, str):
      pads = tuple(lax.padtype_to_pads(lhs.shape[1:-1], kernel_shape,
                                       strides, padding))
    else:
      pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    fast = all(n + lo + hi >= k for n, k, (lo, hi) in
               zip(lhs.shape[1:-1], kernel_shape, pads))  # Non-empty output.
  if fast:
    return _strided_conv(lhs, rhs, strides, pads, precision)
  return lax.conv_general_dilated(
      lhs, rhs, window_strides, padding, lhs_dilation=lhs_dilation,
      rhs_dilation=rhs_dilation, dimension_numbers=dimension_numbers,
      feature_group_count=feature_group_count,
      batch_group_count=batch_group_count, precision=precision,
      preferred_element_type=preferred_element_type)


class Conv(nn.Conv):
  """`flax.linen.Conv` computing strided convolutions as one GEMM.

  The same module as `flax.linen.Conv` (attributes, parameter names and
  shapes, initialisers, outputs and gradients up to float rounding: a
  checkpoint of one loads into the other), with `conv_general_dilated` above
  as its convolution.
  """
  conv_general_dilated: Callable | None = conv_general_dilated
