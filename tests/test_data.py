"""Data: sources, splits, corruptions, the batch iterator, and their errors."""

import gzip
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import requires_fashion_mnist

from aejax.data import (DataNotFoundError, IdxFormatError, TrainBatches,
                        digits, eval_batches, fashion_mnist, make_corruption,
                        make_mesh, prepare_batch, read_idx)
from aejax.data import transforms
from aejax.data.idx import parse_idx


def _write_idx(path, array, compress=True):
  header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
      int(d).to_bytes(4, "big") for d in array.shape)
  raw = header + array.astype(np.uint8).tobytes()
  with (gzip.open if compress else open)(path, "wb") as f:
    f.write(raw)
  return raw


def _fake_idx_dir(tmp_path, n_train=40, n_test=10):
  rng = np.random.default_rng(0)
  for prefix, n in (("train", n_train), ("t10k", n_test)):
    _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte.gz",
               rng.integers(0, 256, (n, 28, 28)))
    _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte.gz",
               rng.integers(0, 10, n))
  return str(tmp_path)


def test_idx_roundtrip_plain_and_gzip(tmp_path):
  array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
  _write_idx(tmp_path / "a.gz", array)
  _write_idx(tmp_path / "a", array, compress=False)
  np.testing.assert_array_equal(read_idx(str(tmp_path / "a.gz")), array)
  np.testing.assert_array_equal(read_idx(str(tmp_path / "a")), array)


def test_bad_magic_number_is_reported():
  with pytest.raises(IdxFormatError, match="bad magic number 89504e47"):
    parse_idx(b"\x89PNG\r\n\x1a\n" + bytes(100), "x.png")


def test_truncated_idx_is_reported(tmp_path):
  raw = _write_idx(tmp_path / "full", np.zeros((10, 28, 28)), compress=False)
  (tmp_path / "cut").write_bytes(raw[:-100])
  with pytest.raises(IdxFormatError, match="truncated"):
    read_idx(str(tmp_path / "cut"))


def test_truncated_gzip_is_reported(tmp_path):
  _write_idx(tmp_path / "full.gz", np.arange(5000).reshape(50, 100) % 251)
  raw = (tmp_path / "full.gz").read_bytes()
  (tmp_path / "cut.gz").write_bytes(raw[:len(raw) // 2])
  with pytest.raises(IdxFormatError, match="corrupt or truncated"):
    read_idx(str(tmp_path / "cut.gz"))


def test_missing_data_says_where_it_looked_and_how_to_install(tmp_path):
  missing = str(tmp_path / "nowhere")
  with pytest.raises(DataNotFoundError) as e:
    fashion_mnist(source="idx", idx_dir=missing)
  assert missing in str(e.value)
  assert "apt-get install dataset-fashion-mnist" in str(e.value)


def test_auto_source_without_idx_or_tfds_is_a_clear_error(tmp_path):
  with pytest.raises(DataNotFoundError, match="dataset-fashion-mnist"):
    fashion_mnist(idx_dir=str(tmp_path / "nowhere"),
                  tfds_data_dir=str(tmp_path / "tfds"))


def test_splits_hold_out_validation_with_fixed_seed(tmp_path):
  directory = _fake_idx_dir(tmp_path)
  a = fashion_mnist(idx_dir=directory, validation_size=8, split_seed=3)
  b = fashion_mnist(idx_dir=directory, validation_size=8, split_seed=3)
  c = fashion_mnist(idx_dir=directory, validation_size=8, split_seed=4)
  assert (len(a.train), len(a.validation), len(a.test)) == (32, 8, 10)
  assert a.train.images.shape[1:] == (28, 28, 1)
  assert a.train.images.dtype == np.uint8
  np.testing.assert_array_equal(a.validation.images, b.validation.images)
  assert not np.array_equal(a.validation.images, c.validation.images)
  # Train and validation partition the original training images.
  everything = read_idx(os.path.join(directory, "train-images-idx3-ubyte.gz"))
  joined = np.concatenate([a.train.images, a.validation.images])[..., 0]
  assert sorted(map(bytes, joined)) == sorted(map(bytes, everything))


@requires_fashion_mnist
def test_fashion_mnist_from_debian_package():
  data = fashion_mnist()
  assert (len(data.train), len(data.validation), len(data.test)) == (
      55000, 5000, 10000)
  assert data.image_shape == (28, 28, 1)
  assert sorted(np.unique(data.test.labels)) == list(range(10))
  assert np.bincount(data.test.labels).tolist() == [1000] * 10


def test_digits_are_uint8_8x8():
  data = digits()
  assert data.image_shape == (8, 8, 1)
  assert len(data.train) + len(data.validation) + len(data.test) == 1797
  assert data.train.images.dtype == np.uint8 and data.train.images.max() == 255


def test_prepare_batch_scales_and_binarises():
  images = jnp.array([[0, 128, 255]], jnp.uint8)
  scaled = prepare_batch({"image": images})["image"]
  np.testing.assert_allclose(scaled, [[0.0, 128 / 255, 1.0]])
  binary = prepare_batch({"image": jnp.full((1000,), 64, jnp.uint8)},
                         jax.random.PRNGKey(0), binarize=True)["image"]
  assert set(np.unique(binary).tolist()) == {0.0, 1.0}
  assert abs(float(binary.mean()) - 64 / 255) < 0.05


def test_seed_gaussian_noise_statistics():
  x = jnp.zeros((200, 28, 28))
  noisy = transforms.gaussian_noise(x, jax.random.PRNGKey(0), mean=0.5,
                                    std=0.5, clip_min=0.0, clip_max=1.0)
  assert float(noisy.min()) == 0.0 and float(noisy.max()) == 1.0
  # N(0.5, 0.5) clipped to [0, 1]: P(x < 0) = P(x > 1) = Φ(-1) ≈ 0.1587.
  assert abs(float((noisy == 0).mean()) - 0.1587) < 0.01
  assert abs(float((noisy == 1).mean()) - 0.1587) < 0.01
  unclipped = transforms.gaussian_noise(x, jax.random.PRNGKey(0), mean=0.0,
                                        std=2.0, clip_min=None, clip_max=None)
  assert abs(float(unclipped.std()) - 2.0) < 0.05


def test_masking_and_salt_and_pepper_fractions():
  x = jnp.full((100, 100), 0.5)
  masked = transforms.masking_noise(x, jax.random.PRNGKey(1), fraction=0.3)
  assert abs(float((masked == 0).mean()) - 0.3) < 0.02
  assert set(np.unique(masked).tolist()) <= {0.0, 0.5}
  sp = transforms.salt_and_pepper(x, jax.random.PRNGKey(2), fraction=0.2)
  assert abs(float((sp == 0).mean()) - 0.1) < 0.02
  assert abs(float((sp == 1).mean()) - 0.1) < 0.02


def test_corruption_names_and_parameters_are_checked():
  with pytest.raises(ValueError, match="Unknown corruption 'blur'"):
    make_corruption("blur")
  with pytest.raises(ValueError, match="takes"):
    make_corruption("masking", std=0.5)


def test_train_batches_shard_reshuffle_and_resume():
  data = digits()
  mesh = make_mesh()
  assert mesh.devices.size == 4
  batches = TrainBatches(data.train, 16, seed=0, mesh=mesh)
  spe = batches.steps_per_epoch
  first = [next(batches) for _ in range(spe + 2)]
  assert first[0]["image"].shape == (16, 8, 8, 1)
  assert len(first[0]["image"].sharding.device_set) == 4
  # Epoch 0 covers distinct examples; epoch 1 is a different order.
  rows = np.concatenate([np.asarray(b["image"]).reshape(16, -1)
                         for b in first[:spe]])
  assert len({r.tobytes() for r in rows}) == len(rows)
  assert not np.array_equal(first[0]["image"], first[spe]["image"])
  # Resuming at a step yields exactly the batches of an unbroken iterator.
  resumed = TrainBatches(data.train, 16, seed=0, mesh=mesh,
                         start_step=spe - 1)
  for expected in first[spe - 1:]:
    got = next(resumed)
    np.testing.assert_array_equal(got["image"], expected["image"])
    np.testing.assert_array_equal(got["label"], expected["label"])


def test_eval_batches_pad_the_last_batch_with_a_mask():
  data = digits()
  batches = list(eval_batches(data.test, 64, make_mesh()))
  assert all(b["image"].shape == (64, 8, 8, 1) for b in batches)
  assert sum(float(b["mask"].sum()) for b in batches) == len(data.test)


def test_batch_size_not_divisible_by_devices_is_a_clear_error():
  with pytest.raises(ValueError, match="cannot be split evenly over the 4 "
                                       "devices"):
    TrainBatches(digits().train, 14, seed=0, mesh=make_mesh())


def test_bad_num_devices_is_a_clear_error():
  with pytest.raises(ValueError, match="devices are available"):
    make_mesh(5)
