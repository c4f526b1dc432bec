"""aejax.Autoencoder and aejax.AnomalyDetector: scikit-learn's estimator
checks, Pipeline and GridSearchCV, pickling, pyod's contract (checked
against pyod's formulas written out here), sequences and images, and one
clear message per kind of bad input with nothing half-trained left behind.
"""

import glob
import os
import pickle
import tempfile

import numpy as np
import pytest
import scipy.special
import scipy.stats
from sklearn.datasets import load_digits
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted

import conftest  # noqa: F401  (one CPU platform, the XLA cache)
from aejax import AnomalyDetector, Autoencoder
from aejax.methods.base import CapabilityError

# pyod labels anomalies 1 and inliers 0; scikit-learn's outlier checks want
# -1 / +1. Every other check passes.
PYOD_LABELS = ("pyod's contract: predict, fit_predict and labels_ give 0 "
               "(inlier) / 1 (anomaly), where scikit-learn's outlier checks "
               "expect -1 / +1, and decision_function is higher for anomalies "
               "(scikit-learn: lower)")
EXPECTED_FAILURES = {"check_outliers_train": PYOD_LABELS,
                     "check_outliers_fit_predict": PYOD_LABELS}


def _expected_failures(estimator):
  return EXPECTED_FAILURES if isinstance(estimator, AnomalyDetector) else {}


@parametrize_with_checks([Autoencoder(), AnomalyDetector()],
                         expected_failed_checks=_expected_failures)
def test_scikit_learn_checks(estimator, check):
  check(estimator)


@pytest.fixture(scope="module")
def digits():
  bunch = load_digits()
  return bunch.data.astype(np.float32), bunch.target, bunch.images


def test_autoencoder_in_a_pipeline_and_grid_search(digits):
  x, y, _ = digits
  pipe = make_pipeline(Autoencoder(epochs=5, random_state=0),
                       LogisticRegression(max_iter=500))
  search = GridSearchCV(pipe, {"autoencoder__latent_dim": [2, 12]}, cv=2)
  search.fit(x[:600], y[:600])
  assert search.best_params_ == {"autoencoder__latent_dim": 12}
  assert search.score(x[600:900], y[600:900]) > 0.6
  ae = search.best_estimator_[0]
  assert ae.get_feature_names_out().tolist() == [
      f"autoencoder{i}" for i in range(12)]
  assert len(ae.loss_curve_) == 5 and ae.loss_curve_[-1] < ae.loss_curve_[0]


def test_autoencoder_pickles_and_inverts(digits):
  x, _, _ = digits
  ae = Autoencoder(latent_dim=16, epochs=10, random_state=0).fit(x[:800])
  codes = ae.transform(x[800:850])
  assert codes.shape == (50, 16) and codes.dtype == np.float32
  assert ae.transform(x[800:850].astype(np.float64)).dtype == np.float64
  back = pickle.loads(pickle.dumps(ae))
  assert all(isinstance(v, np.ndarray) for v in
             __import__("jax").tree_util.tree_leaves(back.params_))
  np.testing.assert_array_equal(back.transform(x[800:850]), codes)
  recon = ae.inverse_transform(codes)
  assert recon.shape == (50, 64)  # in the data's units (0..16)
  err = np.mean((recon - x[800:850]) ** 2)
  assert err < 0.5 * np.mean((x[800:850] - x[:800].mean(0)) ** 2)
  assert ae.score(x[800:850]) == pytest.approx(
      float(np.mean(ae.score_samples(x[800:850]))))


def _pyod_reference(train, test, contamination):
  """pyod's BaseDetector formulas (pyod/models/base.py), written out."""
  threshold = np.percentile(train, 100 * (1 - contamination))
  linear = MinMaxScaler().fit(train.reshape(-1, 1)).transform(
      test.reshape(-1, 1)).ravel().clip(0, 1)
  unify = scipy.special.erf((test - np.mean(train)) / (
      np.std(train) * np.sqrt(2))).clip(0, 1)
  n = len(train)
  count = np.vectorize(lambda s: np.count_nonzero(train <= s))(test)
  posterior = (1 + count) / (2 + n)
  confidence = np.vectorize(lambda p: 1 - scipy.stats.binom.cdf(
      n - int(n * contamination), n, p))(posterior)
  prediction = (test > threshold).astype(int)
  np.place(confidence, prediction == 0, 1 - confidence[prediction == 0])
  return threshold, prediction, linear, unify, confidence


def test_anomaly_detector_is_a_pyod_detector(digits):
  x, y, _ = digits
  normal, other = x[y == 0], x[y != 0][:300]
  clf = AnomalyDetector(contamination=0.05, epochs=30, random_state=0)
  assert clf.fit(normal) is clf
  scores = clf.decision_scores_
  assert scores.shape == (len(normal),) and clf.labels_.sum() == round(
      0.05 * len(normal))
  test = np.concatenate([normal[:50], other])
  truth = np.r_[np.zeros(50), np.ones(len(other))]
  test_scores = clf.decision_function(test)
  assert roc_auc_score(truth, test_scores) > 0.9
  threshold, prediction, linear, unify, confidence = _pyod_reference(
      scores, test_scores, 0.05)
  assert clf.threshold_ == pytest.approx(threshold)
  np.testing.assert_array_equal(clf.predict(test), prediction)
  np.testing.assert_allclose(clf.predict_proba(test)[:, 1], linear)
  np.testing.assert_allclose(clf.predict_proba(test).sum(1), 1.0)
  np.testing.assert_allclose(clf.predict_proba(test, method="unify")[:, 1],
                             unify)
  np.testing.assert_allclose(clf.predict_confidence(test), confidence)
  labels, conf = clf.predict(test, return_confidence=True)
  np.testing.assert_array_equal(labels, prediction)
  np.testing.assert_allclose(conf, confidence)
  np.testing.assert_array_equal(clf.fit_predict(normal), clf.labels_)
  with pytest.raises(ValueError, match="'linear' or 'unify'"):
    clf.predict_proba(test, method="softmax")


def _waves(rng, n, anomalous=False):
  """Variable-length 2-feature sequences: sines (normal) or noise."""
  out = []
  for _ in range(n):
    t = np.arange(int(rng.integers(6, 13)))[:, None]
    if anomalous:
      out.append(5.0 + 3.0 * rng.normal(size=(len(t), 2)))
    else:
      out.append(5.0 + 3.0 * np.sin(0.6 * t + np.array([0.0, 1.0])) +
                 0.05 * rng.normal(size=(len(t), 2)))
  return out


def test_recurrent_detector_on_variable_length_sequences():
  rng = np.random.default_rng(0)
  clf = AnomalyDetector(method="recurrent_ae", model="recurrent",
                        hidden=(16,), latent_dim=4, epochs=20,
                        learning_rate=1e-2, random_state=0)
  clf.fit(_waves(rng, 64))
  assert clf.n_features_in_ == 2
  test = _waves(rng, 20) + _waves(rng, 20, anomalous=True)
  scores = clf.decision_function(test)
  assert roc_auc_score(np.r_[np.zeros(20), np.ones(20)], scores) > 0.95
  # A padded array with lengths scores the same.
  lengths = np.array([len(s) for s in test])
  padded = np.zeros((40, 12, 2))
  for i, s in enumerate(test):
    padded[i, :len(s)] = s
  np.testing.assert_allclose(clf.decision_function(padded, lengths=lengths),
                             scores, rtol=1e-5)
  recon = clf.trained_model().reconstruct(test[:3])
  assert [r.shape for r in recon] == [s.shape for s in test[:3]]
  # Sequences longer than every training one: the same parameters, rebuilt
  # for their length; the others score as before.
  longest = max(len(s) for s in test)
  long = 5.0 + 3.0 * np.sin(0.6 * np.arange(longest + 7)[:, None] +
                            np.array([0.0, 1.0]))
  with_long = clf.decision_function(test + [long])
  np.testing.assert_allclose(with_long[:40], scores, rtol=1e-5, atol=1e-7)
  assert np.isfinite(with_long[40])
  assert clf.trained_model().encode([long]).shape == (1, 4)
  assert clf.trained_model().reconstruct([long])[0].shape == long.shape


def test_conv_detector_on_images(digits):
  _, y, images = digits
  pixels = (images * 255 / 16).round().astype(np.uint8)  # [N, 8, 8]
  clf = AnomalyDetector(model="conv", hidden=(4, 8), latent_dim=4,
                        epochs=5, random_state=0).fit(pixels[y == 0])
  assert clf.image_shape_ == (8, 8, 1) and clf.n_features_in_ == 64
  test = np.concatenate([pixels[y == 0][:40], pixels[y != 0][:100]])
  scores = clf.decision_function(test)
  assert roc_auc_score(np.r_[np.zeros(40), np.ones(100)], scores) > 0.7
  np.testing.assert_allclose(  # floats in [0, 1] and flat rows: the same
      clf.decision_function(test.reshape(140, -1) / 255.0), scores,
      rtol=1e-5, atol=1e-7)
  ae = Autoencoder(model="conv", hidden=(4, 8), latent_dim=4, epochs=1,
                   random_state=0).fit(pixels[:64])
  assert ae.inverse_transform(ae.transform(pixels[:3])).shape == (3, 8, 8)
  with pytest.raises(ValueError, match="model='conv' reads images"):
    Autoencoder(model="conv").fit(pixels.reshape(len(pixels), -1))


def _fit_dirs():
  return set(glob.glob(os.path.join(tempfile.gettempdir(), "aejax-fit-*")))


def test_bad_input_one_message_and_nothing_half_trained(digits, tmp_path,
                                                        monkeypatch):
  # This test's own temporary directory: other test processes fit too.
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
  x, _, _ = digits
  before = _fit_dirs()
  for contamination in (0.0, 0.7, -0.1):
    clf = AnomalyDetector(contamination=contamination)
    with pytest.raises(ValueError, match=r"contamination.*\(0, 0.5\]"):
      clf.fit(x[:100])
    with pytest.raises(NotFittedError):
      check_is_fitted(clf)
  with pytest.raises(CapabilityError, match="cannot score examples.*vae"):
    AnomalyDetector(method="dcgan").fit(x[:100])
  with pytest.raises(ValueError, match=r"got 40 sample\(s\), fewer than "
                     "batch_size=64"):
    Autoencoder(batch_size=64).fit(x[:40])
  with pytest.raises(ValueError, match=r"1 sample"):
    Autoencoder().fit(x[:1])
  bad = x[:100].copy()
  bad[[3, 17]] = np.nan
  with pytest.raises(ValueError, match=r"NaN or inf values in 2 row\(s\) "
                     r"\(rows 3, 17\)"):
    Autoencoder().fit(bad)
  with pytest.raises(ValueError, match="Found array with 0 sample"):
    Autoencoder().fit(x[:0])
  with pytest.raises(ValueError, match="not read by method 'ae'.*vae"):
    Autoencoder(method_params={"beta": 4.0}).fit(x[:100])
  with pytest.raises(ValueError, match="latent_dim must be an integer"):
    Autoencoder(latent_dim=0).fit(x[:100])
  # A fitted estimator whose refit fails is left unfitted, not half-fitted.
  ae = Autoencoder(epochs=1, random_state=0).fit(x[:100])
  with pytest.raises(ValueError, match="NaN"):
    ae.fit(bad)
  with pytest.raises(NotFittedError):
    ae.transform(x[:5])
  # Training that diverges: every step skipped, the guard stops it.
  with pytest.raises(FloatingPointError, match="Training diverged"):
    Autoencoder(learning_rate=1e30, epochs=120, random_state=0).fit(x[:64])
  ae = Autoencoder(epochs=1, random_state=0).fit(x[:100])
  with pytest.raises(ValueError, match="X has 10 features, but Autoencoder "
                     "is expecting 64"):
    ae.transform(x[:5, :10])
  with pytest.raises(ValueError, match="NaN or inf"):
    ae.transform(bad)
  assert _fit_dirs() == before  # every temporary work directory removed
