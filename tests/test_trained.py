"""aejax.load: a run's functions on data as users hold it, in compiled chunks.

Checked against the method's own functions on the loop's preprocessing
(scaling, binarisation, standardisation), for any N, with one compilation
per function; and one clear error per kind of bad input.
"""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import tiny_config

import aejax
from aejax.data.sources import load_dataset
from aejax.methods.base import CapabilityError
from aejax.train.inference import score_split
from aejax.train.loop import load_run, train_and_evaluate


@pytest.fixture(scope="module")
def ae_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("ae"))
  train_and_evaluate(tiny_config(max_steps=6), workdir)
  return workdir


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("vae"))
  train_and_evaluate(tiny_config(**{"method.name": "vae",
                                    "data.binarize": True,
                                    "max_steps": 6}), workdir)
  return workdir


def test_encode_takes_images_as_users_hold_them(ae_run):
  run = aejax.load(ae_run, chunk_size=64)
  assert isinstance(run, aejax.TrainedModel)
  assert run.capabilities == ("Encoder", "Decoder", "Reconstructor",
                              "AnomalyScorer")
  images = run.dataset().test.images                     # uint8 [N, 8, 8, 1]
  codes = run.encode(images)
  assert codes.shape == (len(images), 4) and codes.dtype == np.float32
  # The method's own encoder on the loop's scaling, in one batch.
  _, method, state = load_run(ae_run)
  expected = method.encode(state.params, state.batch_stats,
                           jnp.asarray(images, jnp.float32) / 255.0)
  np.testing.assert_allclose(codes, expected, rtol=1e-5, atol=1e-6)
  # Any layout, any N, any position: the same codes, one compilation.
  for x, rows in ((images[..., 0], slice(None)),
                  (images.reshape(len(images), -1)[5:12], slice(5, 12)),
                  (images[100:101].astype(np.float32) / 255.0,
                   slice(100, 101)),
                  (images[3:200].astype(np.int64), slice(3, 200))):
    np.testing.assert_array_equal(run.encode(x), codes[rows])
  assert run._compiled["encode"]._cache_size() == 1  # pylint: disable=protected-access
  assert run.transform(images[:3]).shape == (3, 4)


def test_reconstruct_score_decode_interpolate(ae_run):
  run = aejax.load(ae_run)
  images = run.dataset().test.images[:20, ..., 0]         # [N, 8, 8]
  recon = run.reconstruct(images)
  assert recon.shape == images.shape                      # the input layout
  flat = run.reconstruct(images.reshape(20, -1))
  np.testing.assert_array_equal(flat, recon.reshape(20, -1))
  x = images.astype(np.float32) / 255.0
  np.testing.assert_allclose(run.score(images),
                             np.mean((recon - x) ** 2, (1, 2)), rtol=1e-5)
  config, method, state = load_run(ae_run)
  test = load_dataset(config.data).test
  np.testing.assert_allclose(
      run.score(test.images),
      score_split(method, state.params, state.batch_stats, test), rtol=1e-5)
  z = run.encode(images)
  assert run.decode(z).shape == (20, 8, 8, 1)
  path = run.interpolate(images[0], images[1], steps=5)
  assert path.shape == (5, 8, 8, 1)
  np.testing.assert_allclose(path[0], run.decode(z[:1])[0], atol=1e-6)
  np.testing.assert_allclose(path[-1], run.decode(z[1:2])[0], atol=1e-6)


def test_bad_input_gets_one_clear_message(ae_run):
  run = aejax.load(ae_run)
  images = run.dataset().test.images[:4]
  cases = [
      (images[:, :, :4], r"shape \(4, 8, 4, 1\).*pass \[N, 8, 8, 1\]"),
      (np.concatenate([images] * 3, -1), r"3 channel\(s\) but this run's "
       r"images have 1"),
      (images[0], r"one example.*x\[None\]"),
      (images[:0], "x is empty"),
      (np.where(np.arange(4)[:, None, None, None] == 2, np.nan,
                images / 255.0), r"NaN or inf values in 1 row\(s\) \(rows 2\)"),
      (images.astype(np.float32), r"floats in \[0, 255\].*divide by 255"),
      (images.astype(np.int32) * 2, "integer pixels must be in 0..255"),
      (np.array(["a", "b"]), "must be numeric"),
  ]
  for x, message in cases:
    with pytest.raises(ValueError, match=message):
      run.encode(x)
  with pytest.raises(ValueError, match="lengths are for sequence runs"):
    run.encode(images, lengths=[8] * 4)
  with pytest.raises(ValueError, match=r"codes are \[N, 4\]"):
    run.decode(np.zeros((2, 3)))
  with pytest.raises(CapabilityError, match="cannot sample.*vae"):
    run.sample(4)
  with pytest.raises(CapabilityError, match="estimate log-likelihoods"):
    run.log_likelihood(images)


def test_vae_scores_samples_and_likelihoods_do_not_depend_on_n(vae_run):
  run = aejax.load(vae_run, chunk_size=32)
  assert run.preprocessing.binarize
  images = run.dataset().test.images[:40]
  scores = run.score(images)                   # negative ELBO, nats
  assert scores.shape == (40,) and np.all(scores > 0)
  np.testing.assert_array_equal(run.score(images[7:9]), scores[7:9])
  np.testing.assert_array_equal(run.score(images[::-1]), scores[::-1])
  # Binarised once with a fixed seed: the ELBO of the binarised images.
  _, method, state = load_run(vae_run)
  binary = np.asarray(run._prepared(jnp.asarray(  # pylint: disable=protected-access
      images, jnp.float32) / 255.0, run.examples(images).hashes))
  assert set(np.unique(binary)) <= {0.0, 1.0}
  elbo = jax.jit(jax.vmap(lambda x, k: method.bounds(
      state.params, state.batch_stats, x[None], k, 1, train=False)[0][0]))(
          jnp.asarray(binary), run._keys(2, run.examples(images).hashes))  # pylint: disable=protected-access
  np.testing.assert_allclose(scores, -np.asarray(elbo), rtol=1e-5)
  ll = run.log_likelihood(images[:5], k=8, batch_size=4, sample_chunk=4)
  assert ll.shape == (5,) and np.all(ll < 0)
  np.testing.assert_array_equal(
      run.log_likelihood(images[3:5], k=8, batch_size=4, sample_chunk=4),
      ll[3:5])
  samples = run.sample(5, seed=1)
  assert samples.shape == (5, 8, 8, 1)
  assert 0.0 <= samples.min() and samples.max() <= 1.0
  np.testing.assert_array_equal(run.sample(40, seed=1)[:5], samples)
  assert not np.array_equal(run.sample(5, seed=2), samples)
  assert run.interpolate(images[0], images[1:2], 3).shape == (3, 8, 8, 1)


@pytest.fixture(scope="module")
def sequence_run(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("vowels"))
  train_and_evaluate(tiny_config(**{
      "data.name": "ucr", "data.ts_name": "JapaneseVowels",
      "data.validation_size": 20, "model.name": "recurrent",
      "model.rnn_hidden": (8,), "method.name": "recurrent_ae",
      "method.output": "identity", "batch_size": 16, "eval_batch_size": 100,
      "max_steps": 4}), workdir)
  return workdir


def test_sequences_in_their_own_units_with_lengths(sequence_run):
  run = aejax.load(sequence_run, chunk_size=64)
  raw = run.dataset().test                     # not standardised
  config, method, state = load_run(sequence_run)
  standardised = load_dataset(config.data).test  # what the loop saw
  expected = score_split(method, state.params, state.batch_stats,
                         standardised)
  # The statistics were recomputed from the run's data (run.json has none).
  np.testing.assert_allclose(run.score(raw.images, raw.lengths), expected,
                             rtol=1e-4, atol=1e-6)
  # A list of [T_i, F] arrays carries its own lengths.
  seqs = [x[:n] for x, n in zip(raw.images[:6], raw.lengths[:6])]
  np.testing.assert_allclose(run.score(seqs), expected[:6], rtol=1e-4,
                             atol=1e-6)
  recon = run.reconstruct(seqs)
  assert [r.shape for r in recon] == [s.shape for s in seqs]
  codes = run.encode(seqs)
  np.testing.assert_allclose(codes, run.encode(raw.images[:6],
                                               raw.lengths[:6]), atol=1e-6)
  # Anything after a sequence's end is ignored, NaN included.
  padded = raw.images[:6].copy()
  for i, n in enumerate(raw.lengths[:6]):
    padded[i, n:] = np.nan
  np.testing.assert_allclose(run.encode(padded, raw.lengths[:6]), codes,
                             atol=1e-6)
  # Longer than the run's 29 steps: the same parameters, rebuilt for 40.
  longer = np.concatenate([raw.images[:6], np.zeros((6, 11, 12))], 1)
  np.testing.assert_allclose(run.encode(longer, raw.lengths[:6]), codes,
                             atol=1e-6)
  np.testing.assert_allclose(run.score(longer, raw.lengths[:6]),
                             expected[:6], rtol=1e-4, atol=1e-6)
  with pytest.raises(ValueError, match="12 feature"):
    run.encode([np.zeros((5, 3))])
  with pytest.raises(ValueError, match=r"lengths must be in \[1, 29\]"):
    run.encode(raw.images[:2], [0, 5])
  # Statistics stored in run.json are used as they are.
  path = os.path.join(sequence_run, "run.json")
  with open(path) as f:
    stored = json.load(f)
  stored["standardization"] = {"mean": (run.preprocessing.mean + 1).tolist(),
                               "std": run.preprocessing.std.tolist()}
  with open(path, "w") as f:
    json.dump(stored, f)
  shifted = aejax.load(sequence_run, chunk_size=64)
  np.testing.assert_allclose(shifted.preprocessing.mean,
                             run.preprocessing.mean + 1)
  np.testing.assert_allclose(shifted.encode(seqs, None),
                             run.encode([s - 1 for s in seqs]), atol=1e-5)


def test_the_readme_snippet_runs_on_a_tiny_run(vae_run):
  """README "Use a trained model from Python", first snippet."""
  from test_readme_python import run_snippet, snippets  # pylint: disable=g-import-not-at-top
  ns = run_snippet(snippets()[0].replace("runs/vae_fashion_mnist", vae_run))
  n = len(ns["images"])
  assert ns["codes"].shape == (n, 4) and ns["scores"].shape == (n,)
  assert ns["samples"].shape == (16, 8, 8, 1)
  assert ns["path"].shape == (8, 8, 8, 1)
  assert ns["nll"].shape == (100,) and np.all(ns["nll"] > 0)
