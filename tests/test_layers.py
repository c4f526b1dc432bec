"""Tests for aejax.models.layers: ConvTranspose against flax.linen.ConvTranspose,
Conv against flax.linen.Conv."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jax import lax

from aejax.models import layers
from aejax.models.layers import Conv, ConvTranspose

# (kernel, strides, padding): the configurations the models use.
CONFIGS = [
    (3, 2, 'SAME'),          # Keras Conv2DTranspose(f, 3, strides=2, "same").
    (3, 1, 'SAME'),
    (4, 2, 2),               # torch ConvTranspose2d(k=4, s=2, p=1).
    (4, 2, ((2, 2), (2, 2))),
    (4, 2, 'SAME'),
]
# (input shape, features): batch 3, odd and even spatial and channel sizes.
SHAPES = [((3, 7, 7, 5), 4), ((3, 14, 14, 4), 1)]


def _modules(k, s, pad, features, **kw):
  args = dict(features=features, kernel_size=(k, k), strides=(s, s),
              padding=pad, **kw)
  return nn.ConvTranspose(**args), ConvTranspose(**args)


def _random(shape, seed):
  rng = np.random.default_rng(seed)
  return jnp.asarray(rng.normal(size=shape).astype(np.float32))


def _random_params(module, x, seed=1):
  """Random params (non-zero bias too) with the tree of `module.init`."""
  shapes = jax.eval_shape(module.init, jax.random.key(0), x)
  leaves, tree = jax.tree.flatten(shapes)
  return jax.tree.unflatten(
      tree, [_random(a.shape, seed + i) for i, a in enumerate(leaves)])


def _assert_close(actual, expected, rel=2e-5):
  """Equal up to float32 rounding, relative to the largest magnitude."""
  actual, expected = np.asarray(actual), np.asarray(expected)
  assert actual.shape == expected.shape
  scale = max(1.0, float(np.abs(expected).max()))
  np.testing.assert_allclose(actual, expected, rtol=0, atol=rel * scale)


def _check_against_flax(ref, ours, x):
  """Same y and d(sum(y * w))/d(params, x) for random params and w."""
  params = _random_params(ref, x)
  y_shape = jax.eval_shape(ref.apply, params, x).shape
  weights = _random(y_shape, 0)

  def output_and_grads(params, x):
    results = []
    for module in (ref, ours):
      y, vjp = jax.vjp(module.apply, params, x)
      results.append((y, vjp(weights)))
    return results

  # One jitted program for both (eager XLA:CPU runs some flax gradients with
  # a different, less accurate kernel).
  expected, actual = jax.jit(output_and_grads)(params, x)
  assert jax.tree.structure(actual) == jax.tree.structure(expected)
  for a, b in zip(jax.tree.leaves(actual), jax.tree.leaves(expected)):
    _assert_close(a, b)
  return y_shape


@pytest.mark.parametrize('k,s,pad', CONFIGS)
@pytest.mark.parametrize('shape,features', SHAPES)
def test_outputs_and_gradients_match_flax(k, s, pad, shape, features):
  ref, ours = _modules(k, s, pad, features)
  y_shape = _check_against_flax(ref, ours, _random(shape, 0))
  assert y_shape == (3, shape[1] * s, shape[2] * s, features)


@pytest.mark.parametrize('k,s,pad', CONFIGS)
def test_param_tree_is_flax_tree(k, s, pad):
  ref, ours = _modules(k, s, pad, 6)
  x = jnp.ones((3, 7, 7, 5))
  shapes = [jax.eval_shape(m.init, jax.random.key(0), x) for m in (ref, ours)]
  assert shapes[0] == shapes[1]
  assert shapes[1]['params']['kernel'].shape == (k, k, 5, 6)
  assert shapes[1]['params']['bias'].shape == (6,)


def test_init_is_flax_init_and_checkpoints_interchange():
  ref, ours = _modules(3, 2, 'SAME', 6)
  x = _random((1, 3, 3, 5), 0)
  init = lambda key: (ref.init(key, x), ours.init(key, x))
  p_ref, p_ours = jax.jit(init)(jax.random.key(0))
  assert jax.tree.structure(p_ref) == jax.tree.structure(p_ours)
  for a, b in zip(jax.tree.leaves(p_ref), jax.tree.leaves(p_ours)):
    np.testing.assert_array_equal(a, b)
  assert np.abs(np.asarray(p_ours['params']['kernel'])).max() > 0
  # Params made by our init run in flax's module (and the converse is what
  # test_outputs_and_gradients_match_flax checks).
  p_ours = _random_params(ours, x, seed=7)
  _assert_close(jax.jit(ref.apply)(p_ours, x), jax.jit(ours.apply)(p_ours, x))


def test_torch_conv_transpose_2d_k4_s2_p1():
  """padding=2 + transpose_kernel=True is torch's ConvTranspose2d(4, 2, 1)."""
  x = np.random.default_rng(0).normal(size=(2, 5, 6, 3)).astype(np.float32)
  w = np.random.default_rng(1).normal(size=(3, 4, 4, 4)).astype(np.float32)
  # torch's definition: scatter-add x[i] * w[:, :, a] into out[2 i - 1 + a].
  full = np.zeros((2, 2 * 5 + 2, 2 * 6 + 2, 4))
  for i in range(5):
    for j in range(6):
      full[:, 2 * i:2 * i + 4, 2 * j:2 * j + 4] += np.einsum(
          'nc,coab->nabo', x[:, i, j], w)
  expected = full[:, 1:-1, 1:-1]
  params = {'params': {'kernel': w.transpose(2, 3, 1, 0),
                       'bias': np.zeros(4, np.float32)}}
  m = ConvTranspose(4, (4, 4), (2, 2), padding=2, transpose_kernel=True)
  _assert_close(jax.jit(m.apply)(params, x), expected)
  # Without transpose_kernel the same layer takes the flipped (k, k, in, out).
  params['params']['kernel'] = w.transpose(2, 3, 0, 1)[::-1, ::-1]
  m = ConvTranspose(4, (4, 4), (2, 2), padding=2)
  _assert_close(jax.jit(m.apply)(params, x), expected)


@pytest.mark.parametrize('kw', [
    dict(kernel_size=(3, 3), strides=(2, 2), transpose_kernel=True),
    dict(kernel_size=(3, 3), strides=(2, 2), use_bias=False),
    dict(kernel_size=(3, 3), strides=(2, 2), kernel_dilation=(2, 2)),
    dict(kernel_size=(5, 2), strides=(3, 2), padding=((1, 2), (3, 0))),
    dict(kernel_size=(3, 3), strides=(2, 2), padding='VALID'),
    dict(kernel_size=(3,), strides=(2,)),
    dict(kernel_size=(2, 3, 3), strides=(2, 1, 2)),
])
def test_other_configurations_match_flax(kw):
  d = len(kw['kernel_size'])
  x = _random((2,) + (5, 6, 4)[:d] + (3,), 0)
  _check_against_flax(nn.ConvTranspose(3, **kw), ConvTranspose(3, **kw), x)


def _check_batch_dims_and_bfloat16(ref, ours, x):
  """Two batch dimensions (x) and none (x[0, 0]), bfloat16 computation."""
  params = _random_params(ref, x)
  for inputs in (x, x[0, 0]):
    y_ref, y_ours = jax.jit(ref.apply)(params, inputs), jax.jit(ours.apply)(
        params, inputs)
    assert y_ours.shape == y_ref.shape and y_ours.dtype == y_ref.dtype
    y_ours, y_ref = (np.asarray(y, np.float32) for y in (y_ours, y_ref))
    # A few bfloat16 ulps (8 significant bits) of the largest output.
    np.testing.assert_allclose(y_ours, y_ref, rtol=0,
                               atol=np.abs(y_ref).max() * 2.0**-6)


def test_batch_dims_and_dtype_like_flax():
  ref, ours = _modules(3, 2, 'SAME', 3, dtype=jnp.bfloat16)
  _check_batch_dims_and_bfloat16(ref, ours, _random((2, 3, 7, 7, 4), 0))


@pytest.mark.parametrize('k,s,pad', CONFIGS)
def test_fast_path_has_no_convolution(k, s, pad):
  """The models' configurations never reach XLA's slow convolution kernels."""
  ours = ConvTranspose(4, (k, k), (s, s), pad)
  x = jnp.ones((3, 7, 7, 5))
  params = _random_params(ours, x)
  loss = lambda p, x: jnp.sum(ours.apply(p, x) ** 2)
  jaxpr = str(jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(params, x))
  assert 'dot_general' in jaxpr
  assert 'conv_general_dilated' not in jaxpr


def test_stride_one_same_is_nn_conv_and_the_decoder_keeps_its_layout():
  """ConvDecoder(output_layer="conv") computes its 3x3 stride-1 output
  convolution with the fast layer: same outputs and gradients as nn.Conv
  with the same parameters, under nn.Conv's name and shapes."""
  from aejax.models.conv import ConvDecoder  # pylint: disable=g-import-not-at-top
  x = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 32))
  conv = nn.Conv(1, (3, 3), padding="SAME")
  fast = ConvTranspose(1, (3, 3), strides=(1, 1), padding="SAME")
  params = conv.init(jax.random.PRNGKey(1), x)
  f = lambda layer: lambda p, v: jnp.sum(jnp.sin(layer.apply(p, v)))
  np.testing.assert_allclose(fast.apply(params, x), conv.apply(params, x),
                             rtol=1e-5, atol=1e-5)
  for g_fast, g_conv in zip(jax.grad(f(fast), (0, 1))(params, x),
                            jax.grad(f(conv), (0, 1))(params, x)):
    for a, b in zip(jax.tree_util.tree_leaves(g_fast),
                    jax.tree_util.tree_leaves(g_conv)):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  decoder = ConvDecoder(filters=(32, 64), output_layer="conv")
  variables = decoder.init(jax.random.PRNGKey(2), jnp.zeros((2, 16)))
  shapes = jax.tree_util.tree_map(jnp.shape, variables["params"]["Conv_0"])
  assert shapes == {"kernel": (3, 3, 32, 1), "bias": (1,)}


# -- Conv: strided convolution as one GEMM -------------------------------------

# (input shape, features, kernel, strides, padding) on the fast path.
GEMM_CONVS = [
    ((3, 14, 14, 5), 4, (4, 4), (2, 2), ((1, 1), (1, 1))),  # DCGAN D, layer 2
    ((3, 28, 28, 1), 6, (4, 4), (2, 2), ((1, 1), (1, 1))),  # DCGAN D, layer 1
    ((3, 15, 15, 5), 4, (4, 4), (2, 2), ((1, 1), (1, 1))),  # odd: crops a row
    ((3, 14, 14, 5), 4, (4, 4), (2, 2), 'SAME'),
    ((3, 15, 13, 5), 4, (4, 2), (2, 2), 'VALID'),
    ((3, 14, 14, 5), 4, (4, 2), (2, 1), ((1, 2), (0, 1))),
    ((2, 12, 3), 4, (6,), (3,), ((2, 1),)),                 # 1-d
    ((2, 6, 6, 6, 3), 2, (2, 2, 2), (2, 2, 2), 'SAME'),     # 3-d
]


@pytest.mark.parametrize('shape,features,kernel,strides,pad', GEMM_CONVS)
def test_conv_outputs_and_gradients_match_flax(shape, features, kernel,
                                               strides, pad):
  args = dict(features=features, kernel_size=kernel, strides=strides,
              padding=pad)
  ref, ours = nn.Conv(**args), Conv(**args)
  x = _random(shape, 0)
  shapes = [jax.eval_shape(m.init, jax.random.key(0), x) for m in (ref, ours)]
  assert shapes[0] == shapes[1]  # Same parameters: checkpoints interchange.
  _check_against_flax(ref, ours, x)
  # Forward: one matrix product, no convolution; backward: the kernel
  # gradient is a matrix product, the input gradient XLA's convolution.
  params = _random_params(ours, x)
  assert 'conv_general_dilated' not in str(jax.make_jaxpr(ours.apply)(params,
                                                                      x))
  loss = lambda p, v: jnp.sum(ours.apply(p, v) ** 2)
  jaxpr = str(jax.make_jaxpr(jax.grad(loss, argnums=(0, 1)))(params, x))
  assert jaxpr.count('conv_general_dilated') == 1
  assert jaxpr.count('dot_general') == 2


@pytest.mark.parametrize('kw', [
    dict(kernel_size=(3, 3), strides=(2, 2)),        # 3 % 2 != 0
    dict(kernel_size=(3, 3)),                        # stride 1
    dict(kernel_size=(4, 4), strides=(2, 2), kernel_dilation=(2, 2)),
    dict(kernel_size=(4, 4), strides=(2, 2), feature_group_count=3),
    dict(kernel_size=(4, 4), strides=(2, 2), input_dilation=(2, 2),
         padding=((1, 1), (1, 1))),
])
def test_conv_other_configurations_are_flax(kw):
  """Off the fast path Conv computes exactly what nn.Conv computes."""
  x = _random((2, 9, 9, 6), 0)
  ref, ours = nn.Conv(6, **kw), Conv(6, **kw)
  params = _random_params(ref, x)
  np.testing.assert_array_equal(jax.jit(ours.apply)(params, x),
                                jax.jit(ref.apply)(params, x))


def test_conv_circular_padding_matches_flax():
  """flax pads circularly itself, then convolves VALID on the fast path."""
  args = dict(features=4, kernel_size=(4, 4), strides=(2, 2),
              padding='CIRCULAR')
  _check_against_flax(nn.Conv(**args), Conv(**args), _random((2, 8, 8, 3), 0))


def test_conv_general_dilated_is_lax_for_other_layouts():
  x, k = _random((2, 3, 8, 8), 0), _random((5, 3, 4, 4), 1)
  args = ((2, 2), ((1, 1), (1, 1)))
  dims = ('NCHW', 'OIHW', 'NCHW')
  ours = layers.conv_general_dilated(x, k, *args, dimension_numbers=dims)
  np.testing.assert_array_equal(
      ours, lax.conv_general_dilated(x, k, *args, dimension_numbers=dims))
  # No dimension numbers means lax's default (N, C, spatial..) too.
  np.testing.assert_array_equal(layers.conv_general_dilated(x, k, *args),
                                lax.conv_general_dilated(x, k, *args))


def test_conv_batch_dims_and_dtype_like_flax():
  args = dict(features=3, kernel_size=(4, 4), strides=(2, 2),
              dtype=jnp.bfloat16)
  _check_batch_dims_and_bfloat16(nn.Conv(**args), Conv(**args),
                                 _random((2, 3, 8, 8, 4), 0))


# -- platform dispatch ---------------------------------------------------------


def _forward_jaxpr(module, x, params):
  return str(jax.make_jaxpr(module.apply)(params, x))


@pytest.mark.parametrize('module', [
    ConvTranspose(4, (4, 4), (2, 2), 2, transpose_kernel=True),
    Conv(4, (4, 4), (2, 2), padding=1)], ids=['conv_transpose', 'conv'])
def test_cpu_paths_on_cpu_only_and_both_paths_agree(module, monkeypatch):
  """On CPU (auto) the GEMM path (no convolution in the forward pass); with
  the CPU paths off (what GPUs and TPUs get) XLA's convolutions. Same
  parameters, same outputs and gradients."""
  x = _random((3, 8, 8, 5), 1)
  params = _random_params(module, x)
  loss = lambda p, x: jnp.sum(jnp.sin(module.apply(p, x)))
  results, jaxprs = {}, {}
  for mode in ('auto', 'on', 'off'):
    monkeypatch.setenv(layers.CPU_LAYERS_ENV, mode)
    assert layers.cpu_paths() == (mode != 'off')  # tests run on the CPU
    jaxprs[mode] = _forward_jaxpr(module, x, params)
    # A fresh jit per mode: the path is chosen when tracing.
    results[mode] = jax.jit(lambda p, x: (
        module.apply(p, x), jax.grad(loss, argnums=(0, 1))(p, x)))(params, x)
  assert 'conv_general_dilated' not in jaxprs['auto']
  assert jaxprs['on'] == jaxprs['auto']
  assert 'conv_general_dilated' in jaxprs['off']
  for a, b in zip(jax.tree_util.tree_leaves(results['on']),
                  jax.tree_util.tree_leaves(results['off'])):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  monkeypatch.setenv(layers.CPU_LAYERS_ENV, 'sometimes')
  with pytest.raises(ValueError, match="AEJAX_CPU_LAYERS"):
    layers.cpu_paths()


def test_auto_follows_the_default_backend(monkeypatch):
  monkeypatch.delenv(layers.CPU_LAYERS_ENV, raising=False)
  monkeypatch.setattr(jax, 'default_backend', lambda: 'gpu')
  assert not layers.cpu_paths()
  monkeypatch.setattr(jax, 'default_backend', lambda: 'cpu')
  assert layers.cpu_paths()
