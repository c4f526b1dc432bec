"""Layers that are fast on XLA:CPU.

`ConvTranspose` is a drop-in replacement for `flax.linen.ConvTranspose`: same
attributes, same parameter names, shapes and initialisers (a checkpoint of one
loads into the other) and the same output, but computed as ONE ordinary
stride-1 convolution followed by a depth-to-space interleave instead of a
convolution of the zero-dilated input.

Why: a stride-s transposed convolution convolves an input in which s - 1 zeros
were inserted between neighbours, so most multiply-adds hit zeros; worse, on
XLA:CPU the gradient of that lhs-dilated convolution is 7-10x slower than the
equivalent PyTorch kernel. The sub-pixel form (Shi et al. 2016, "Real-Time
Single Image and Video Super-Resolution Using an Efficient Sub-Pixel
Convolutional Neural Network") splits the output into s**d phases: output
pixel o = s*q + r only ever meets the kernel taps t with t = lo - r (mod s),
so each phase is a plain convolution of the *undilated* input with the
sub-kernel K[t0::s] (Odena et al. 2016, "Deconvolution and Checkerboard
Artifacts", explain the same phase structure). Stacking the sub-kernels of all
phases along the output-channel axis gives one convolution with
s**d * features output channels; its forward and both gradients are ordinary
stride-1 convolutions, which XLA:CPU runs fast.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax.linen.dtypes import promote_dtype
from jax import lax

_DIMS = {1: ('NHC', 'HIO', 'NHC'), 2: ('NHWC', 'HWIO', 'NHWC'),
         3: ('NHWDC', 'HWDIO', 'NHWDC')}


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


@dataclasses.dataclass(frozen=True)
class _AxisPlan:
  """How one spatial axis of a transposed conv maps onto a stride-1 conv.

  Attributes:
    window: size of the stride-1 conv window along this axis.
    pads: (low, high) padding of the undilated input for the stride-1 conv.
    taps: taps[r][w] is the kernel tap used by phase r at window position w,
      or k (an appended zero tap) where phase r uses no tap.
    starts: phase r of the output is z[starts[r] : starts[r] + per_phase].
    per_phase: outputs per phase, ceil(out_len / stride).
    out_len: length of the transposed-conv output.
  """
  window: int
  pads: tuple[int, int]
  taps: tuple[tuple[int, ...], ...]
  starts: tuple[int, ...]
  per_phase: int
  out_len: int


def _axis_plan(n: int, k: int, s: int, lo: int, hi: int) -> _AxisPlan:
  """Phase decomposition of one axis of `lax.conv_transpose`.

  `lax.conv_transpose` computes y[o] = sum_t v[o + t] K[t], where v is the
  input x dilated by s and padded by (lo, hi). v[o + t] = x[i] iff
  o + t - lo = s*i. Writing o = s*q + r, phase r uses the taps
  t = t0 + s*m with t0 = (lo - r) mod s, reading x[q + d + m] with
  d = (r + t0 - lo) / s: an ordinary correlation with the sub-kernel K[t0::s].

  Args:
    n: input length.
    k: kernel size.
    s: stride.
    lo: low padding of the dilated input.
    hi: high padding of the dilated input.

  Returns:
    The `_AxisPlan`.
  """
  out_len = (n - 1) * s + 1 + lo + hi - k + 1
  per_phase = -(-out_len // s)
  t0 = [(lo - r) % s for r in range(s)]
  sizes = [max(0, -(-(k - t) // s)) for t in t0]
  first = [(r + t - lo) // s for r, t in enumerate(t0)]
  window = max(max(sizes), 1)
  # Place each sub-kernel in the window at offset a_r so that the input index
  # it starts reading from, first[r] - a_r, is as equal across phases as
  # possible: then the phases are aligned and need no separate slicing.
  best = None
  for e in range(min(first) - window, max(first) + 1):
    a = [min(max(f - e, 0), window - z) for f, z in zip(first, sizes)]
    reads = [f - ai for f, ai in zip(first, a)]
    cost = max(reads) - min(reads)
    if best is None or cost < best[0]:
      best = (cost, a, reads)
  _, a, reads = best
  taps = tuple(
      tuple(t + s * (w - ai) if 0 <= w - ai < z else k for w in range(window))
      for t, z, ai in zip(t0, sizes, a))
  pad_lo = -min(reads)
  conv_len = max(reads) + pad_lo + per_phase
  pad_hi = conv_len - n - pad_lo + window - 1
  starts = tuple(rd + pad_lo for rd in reads)
  return _AxisPlan(window, (pad_lo, pad_hi), taps, starts, per_phase, out_len)


def _phase_kernel(kernel: jax.Array, plans: Sequence[_AxisPlan]) -> jax.Array:
  """(k..., I, O) kernel -> (window..., I, prod(s) * O) stride-1 kernel."""
  d = len(plans)
  for a, p in enumerate(plans):
    kernel = jnp.pad(kernel, [(0, int(i == 2 * a)) for i in range(kernel.ndim)])
    idx = np.asarray(p.taps).reshape(-1)  # (s * window,)
    kernel = jnp.take(kernel, idx, axis=2 * a)
    kernel = kernel.reshape(kernel.shape[:2 * a] + (len(p.taps), p.window) +
                            kernel.shape[2 * a + 1:])
  # (s1, w1, ..., sd, wd, I, O) -> (w1, ..., wd, I, s1, ..., sd, O).
  perm = ([2 * a + 1 for a in range(d)] + [2 * d] + [2 * a for a in range(d)]
          + [2 * d + 1])
  kernel = kernel.transpose(perm)
  return kernel.reshape(kernel.shape[:d + 1] + (-1,))


def _depth_to_space(z: jax.Array, plans: Sequence[_AxisPlan]) -> jax.Array:
  """(N, Z..., prod(s) * O) stride-1 conv output -> (N, out..., O)."""
  d = len(plans)
  strides = tuple(len(p.taps) for p in plans)
  features = z.shape[-1] // math.prod(strides)
  z = z.reshape(z.shape[:d + 1] + strides + (features,))  # (N, Z..., s..., O)
  for a, p in enumerate(plans):
    if len(set(p.starts)) == 1:
      z = lax.slice_in_dim(z, p.starts[0], p.starts[0] + p.per_phase,
                           axis=1 + a)
    else:
      z = jnp.concatenate([
          lax.slice_in_dim(
              lax.slice_in_dim(z, r, r + 1, axis=1 + d + a),
              st, st + p.per_phase, axis=1 + a)
          for r, st in enumerate(p.starts)], axis=1 + d + a)
  # (N, q1, ..., qd, s1, ..., sd, O) -> (N, q1, s1, ..., qd, sd, O).
  perm = [0] + [i for a in range(d) for i in (1 + a, 1 + d + a)] + [2 * d + 1]
  z = z.transpose(perm)
  z = z.reshape((z.shape[0],) + tuple(p.per_phase * len(p.taps)
                                      for p in plans) + (features,))
  return z[(slice(None),) + tuple(slice(0, p.out_len) for p in plans)]


def conv_transpose_phased(inputs: jax.Array, kernel: jax.Array,
                          strides: Sequence[int], padding,
                          precision=None) -> jax.Array:
  """`lax.conv_transpose(inputs, kernel, strides, padding)`, sub-pixel form.

  Args:
    inputs: (N, spatial..., I) channels-last input.
    kernel: (k..., I, O) kernel, not flipped (`transpose_kernel=False`).
    strides: one stride per spatial axis.
    padding: 'SAME', 'VALID' or one (low, high) pair per spatial axis, with
      the meaning `lax.conv_transpose` gives it (padding of the dilated input).
    precision: passed to `lax.conv_general_dilated`.

  Returns:
    (N, out..., O), equal to `lax.conv_transpose` up to float rounding.
  """
  d = inputs.ndim - 2
  ks = kernel.shape[:d]
  pads = [padding] * d if isinstance(padding, str) else list(padding)
  plans = [_axis_plan(n, k, s, *_transpose_padding(k, s, p))
           for n, k, s, p in zip(inputs.shape[1:-1], ks, strides, pads)]
  if min(p.out_len for p in plans) < 1:  # Empty output: nothing to speed up.
    return lax.conv_transpose(inputs, kernel, strides, padding,
                              precision=precision)
  z = lax.conv_general_dilated(
      inputs, _phase_kernel(kernel, plans), (1,) * d,
      [p.pads for p in plans], dimension_numbers=_DIMS[d],
      precision=precision)
  return _depth_to_space(z, plans)


class ConvTranspose(nn.Module):
  """Drop-in for `flax.linen.ConvTranspose`, fast forward and backward on CPU.

  Same attributes, parameters (`kernel` of shape (k..., in, features), or
  (k..., features, in) with `transpose_kernel=True`; `bias` (features,)),
  initialisers and outputs as `flax.linen.ConvTranspose`. Computed as one
  stride-1 convolution with prod(strides) * features output channels and a
  depth-to-space interleave (see the module docstring). Configurations outside
  the fast path (kernel dilation, 'CIRCULAR' or other string paddings, more
  than 3 spatial axes) use `lax.conv_transpose` as flax does, except
  'CIRCULAR', which is not supported.

  Attributes:
    features: number of output channels.
    kernel_size: int or tuple of ints, the kernel's spatial shape.
    strides: int or tuple of ints (default 1).
    padding: 'SAME', 'VALID', an int, or one int or (low, high) pair per
      spatial axis; as in flax, explicit pairs pad the dilated input.
    kernel_dilation: int or tuple of ints (default 1); >1 is not fast.
    use_bias: whether to add a bias.
    dtype: computation dtype (default: inferred from inputs and params).
    param_dtype: parameter dtype.
    precision: `lax` precision of the convolution.
    kernel_init: kernel initialiser (flax's default: lecun_normal).
    bias_init: bias initialiser (default: zeros).
    transpose_kernel: flip the kernel's spatial axes and swap its channel axes,
      as flax does (PyTorch/Keras convention).
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
    """Applies the transposed convolution to (*batch, spatial..., in) inputs."""
    ks = ((self.kernel_size,) if isinstance(self.kernel_size, int)
          else tuple(self.kernel_size))
    d = len(ks)

    def broadcast(x):
      x = 1 if x is None else x
      return (x,) * d if isinstance(x, int) else tuple(x)

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
    if (d in _DIMS and set(dilation) == {1}
        and (not isinstance(padding, str) or padding in ('SAME', 'VALID'))):
      y = conv_transpose_phased(inputs, kernel, strides, padding,
                                self.precision)
    else:
      y = lax.conv_transpose(inputs, kernel, strides, padding,
                             rhs_dilation=dilation, precision=self.precision)
    if bias is not None:
      y = y + bias
    return y.reshape(batch_shape + y.shape[1:])
