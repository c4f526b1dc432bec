"""Fréchet distance, MMD two-sample statistic, the classifier, the scoring
commands."""

import json
import os

import jax
import numpy as np
import pytest
import scipy.linalg
from conftest import tiny_config

from aejax.eval import frechet, two_sample
from aejax.eval.classifier import load_classifier, train_classifier
from aejax.train.checkpoint import CheckpointError
from aejax.train.loop import train_and_evaluate


# -- Fréchet distance ---------------------------------------------------------


def _numpy_frechet(mu1, s1, mu2, s2):
  """The textbook formula with scipy's sqrtm (the reference)."""
  covmean = scipy.linalg.sqrtm(s1 @ s2).real
  return float(((mu1 - mu2)**2).sum() + np.trace(s1 + s2 - 2 * covmean))


def _random_spd(rng, d):
  a = rng.normal(size=(d, d))
  return a @ a.T / d + 0.1 * np.eye(d)


def test_frechet_distance_closed_forms():
  # 1-d: (μ1 − μ2)² + (σ1 − σ2)².
  assert frechet.frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == (
      pytest.approx(9.0 + 1.0))
  # Commuting (diagonal) covariances: ‖Δμ‖² + Σ (√a − √b)².
  a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
  mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
  expected = 1.0 + 4.0 + (1 - 3)**2 + (2 - 1)**2 + 0.0
  assert frechet.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == (
      pytest.approx(expected))
  # Same Gaussian: 0.
  rng = np.random.default_rng(0)
  s = _random_spd(rng, 6)
  assert abs(frechet.frechet_distance(mu1[:1].repeat(6), s,
                                      mu1[:1].repeat(6), s)) < 1e-9


def test_frechet_distance_matches_scipy_reference_on_random_gaussians():
  rng = np.random.default_rng(1)
  for d in (2, 10, 64):
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
    np.testing.assert_allclose(frechet.frechet_distance(mu1, s1, mu2, s2),
                               _numpy_frechet(mu1, s1, mu2, s2), rtol=1e-8)


def test_frechet_distance_of_samples_converges_to_the_closed_form():
  rng = np.random.default_rng(2)
  d = 4
  mu1, mu2 = np.zeros(d), np.full(d, 0.5)
  s1, s2 = _random_spd(rng, d), _random_spd(rng, d)
  x = rng.multivariate_normal(mu1, s1, size=200_000)
  y = rng.multivariate_normal(mu2, s2, size=200_000)
  exact = frechet.frechet_distance(mu1, s1, mu2, s2)
  assert frechet.frechet_distance_of_features(x, y) == pytest.approx(
      exact, rel=0.02)


# -- MMD two-sample statistic ---------------------------------------------------


def _numpy_mmd2(x, y, h):
  k = lambda a, b: np.exp(-((a[:, None, :] - b[None, :, :])**2).sum(-1)
                          / (2 * h * h))
  n, m = len(x), len(y)
  kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
  return ((kxx.sum() - np.trace(kxx)) / (n * (n - 1)) +
          (kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean())


def test_mmd2_matches_numpy_reference():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(50, 3))
  y = rng.normal(size=(40, 3)) + 0.3
  h = 1.3
  expected = _numpy_mmd2(x, y, h)
  np.testing.assert_allclose(two_sample.mmd2_unbiased(x, y, h), expected,
                             rtol=1e-4, atol=1e-6)
  stat, _ = two_sample.permutation_test(x, y, h, 10, jax.random.PRNGKey(0))
  np.testing.assert_allclose(stat, expected, rtol=1e-4, atol=1e-6)
  d = np.sqrt(((x[:, None] - x[None]) ** 2).sum(-1))
  assert two_sample.median_bandwidth(x) == pytest.approx(
      np.median(d[np.triu_indices(50, 1)]), rel=1e-5)


def test_mmd2_is_near_zero_for_one_distribution_and_large_for_two():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(500, 2)), rng.normal(size=(500, 2))
  shifted = rng.normal(size=(500, 2)) * np.array([3.0, 0.3])
  h = two_sample.median_bandwidth(y)
  same, p_same = two_sample.permutation_test(x, y, h, 200,
                                             jax.random.PRNGKey(0))
  diff, p_diff = two_sample.permutation_test(shifted, y, h, 200,
                                             jax.random.PRNGKey(0))
  assert abs(same) < 0.005 and p_same > 0.01
  assert diff > 0.1 and p_diff == pytest.approx(1 / 201)


def test_permutation_p_values_are_calibrated_under_the_null():
  """300 tests of two samples of one distribution, 39 permutations each:
  the permutation test is exact, so P(p ≤ k/40) = k/40 (the p-values are
  uniform on {1/40, …, 1}); each share is within 4 binomial standard
  errors of it."""
  rng = np.random.default_rng(3)
  reps, perms = 300, 39
  p_values = np.array([two_sample.permutation_test(
      rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), 1.0, perms,
      jax.random.PRNGKey(i))[1] for i in range(reps)])
  grid = np.arange(1, perms + 2) / (perms + 1)
  assert np.all(np.isin(np.round(p_values * (perms + 1)),
                        np.round(grid * (perms + 1))))
  for alpha in (0.05, 0.1, 0.25, 0.5, 0.75):
    share = np.mean(p_values <= alpha + 1e-9)
    stderr = np.sqrt(alpha * (1 - alpha) / reps)
    assert abs(share - alpha) < 4 * stderr, (alpha, share)


def test_moment_matching_gives_the_reference_mean_and_covariance():
  rng = np.random.default_rng(2)
  codes = rng.normal(size=(2000, 2)) @ np.array([[3.0, 1.0], [0.0, 0.2]]) + 5
  reference = rng.normal(size=(3000, 2)) * np.array([0.5, 2.0]) - 1
  matched = two_sample.match_moments(codes, reference)
  np.testing.assert_allclose(matched.mean(0), reference.mean(0), atol=1e-9)
  np.testing.assert_allclose(np.cov(matched, rowvar=False),
                             np.cov(reference, rowvar=False), atol=1e-9)


# -- classifier and the scoring commands ---------------------------------------


@pytest.fixture(scope="module")
def digits_classifier(tmp_path_factory):
  workdir = str(tmp_path_factory.mktemp("classifier"))
  meta = train_classifier(workdir, tiny_config().data, epochs=3,
                          batch_size=32, seed=0, num_devices=1)
  return workdir, meta


def test_classifier_trains_saves_and_reloads(digits_classifier):
  workdir, meta = digits_classifier
  assert meta["test_accuracy"] > 0.6  # digits, 3 short epochs
  assert meta["data"] == "digits" and meta["image_shape"] == [8, 8, 1]
  from aejax.data import digits  # pylint: disable=g-import-not-at-top
  test = digits().test
  reloaded = load_classifier(workdir)
  accuracy = np.mean(reloaded.predict(test.images) == test.labels)
  assert accuracy == pytest.approx(meta["test_accuracy"])
  features = reloaded.features(test.images[:37])
  assert features.shape == (37, 128) and (features >= 0).all()
  with pytest.raises(ValueError, match="trained on images of shape"):
    reloaded.features(np.zeros((2, 28, 28, 1), np.uint8))
  with pytest.raises(FileNotFoundError, match="train the classifier"):
    load_classifier(os.path.join(workdir, "nothing"))
  old = os.path.join(workdir, "old")  # a directory of the npz format
  os.makedirs(old)
  np.savez(os.path.join(old, "classifier.npz"), x=np.zeros(1))
  with pytest.raises(CheckpointError, match="old format"):
    load_classifier(old)


def test_classifier_is_reproducible_and_resumes(digits_classifier, tmp_path):
  """Stopped after 50 steps (at a checkpoint) and run again: the same
  classifier as one unbroken training."""
  workdir, meta = digits_classifier
  train_classifier(str(tmp_path), tiny_config().data, epochs=3,
                   batch_size=32, seed=0, num_devices=1, max_steps=50)
  again = train_classifier(str(tmp_path), tiny_config().data, epochs=3,
                           batch_size=32, seed=0, num_devices=1)
  assert again["trained_steps_this_run"] == meta["steps"] - 50
  assert again["test_accuracy"] == meta["test_accuracy"]
  assert again["final_train_loss"] == meta["final_train_loss"]
  a = load_classifier(workdir).params
  b = load_classifier(str(tmp_path)).params
  for x, y in zip(jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)):
    np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("overrides", [
    {"method.name": "dcgan", "model.latent_dim": 8},
    {"method.name": "aae", "model.latent_dim": 2, "method.prior": "mixture"},
    {"method.name": "vae", "method.likelihood": "gaussian",
     "data.binarize": False},
])
def test_frechet_command_scores_a_run(digits_classifier, tmp_path,
                                      overrides):
  classifier_dir, _ = digits_classifier
  run = str(tmp_path / "run")
  train_and_evaluate(tiny_config(**overrides), run)
  frechet.main([f"--classifier={classifier_dir}", f"--workdir={run}",
                "--n=250"])
  with open(os.path.join(run, "frechet.json")) as f:
    result = json.load(f)
  assert result["n"] == 250 and sum(result["class_histogram"]) == 250
  assert result["frechet_distance"] > 0
  assert os.path.getsize(os.path.join(run, "class_histogram.png")) > 0
  # The floor (training vs test images) is far below a 6-step model's.
  floor = frechet.score_floor(classifier_dir, n=250)
  assert 0 < floor["frechet_distance_train_vs_test"] < (
      result["frechet_distance"])


def test_frechet_command_needs_a_generative_run(digits_classifier, tmp_path):
  classifier_dir, _ = digits_classifier
  train_and_evaluate(tiny_config(max_steps=2), str(tmp_path))
  with pytest.raises(ValueError, match="'ae' cannot sample new examples"):
    frechet.score_run(str(tmp_path), classifier_dir, n=50)
  with pytest.raises(SystemExit):
    frechet.main([f"--classifier={classifier_dir}"])
