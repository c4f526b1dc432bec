"""Layers that run fast on XLA:CPU.

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
"""

from __future__ import annotations

import functools
import itertools
import math
from typing import Sequence

import jax
import jax.numpy as jnp
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax


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
  batch_axes = tuple(range(inputs.ndim - 1))
  dk = lax.dot_general(inputs, dy_taps, ((batch_axes, batch_axes), ((), ())),
                       precision=precision)
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
    fast = (set(dilation) == {1}
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
