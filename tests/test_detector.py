"""python -m aejax.detector: an experiment's anomaly detection through
aejax.AnomalyDetector (the reproduce table anomaly_estimator runs it)."""

import os

import pytest

from aejax.config import load_experiment
from aejax import detector

EXPERIMENTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                           "experiments")


def test_the_estimator_has_the_experiments_settings():
  config = load_experiment(os.path.join(EXPERIMENTS,
                                        "recurrent_japanese_vowels.py"))
  est = detector.detector_for(config)
  assert (est.method, est.model) == ("recurrent_ae", "recurrent")
  assert est.hidden == tuple(config.model.rnn_hidden)
  assert est.latent_dim == config.model.latent_dim
  assert (est.epochs, est.batch_size, est.random_state) == (
      config.num_epochs, config.batch_size, config.seed)
  assert est.model_params == {"cell": "gru"}   # fields that differ from
  config.model.cell = "lstm"                    # base_config's only
  assert detector.detector_for(config).model_params is None
  assert est.method_params == {"output": "identity"}
  assert detector.detector_for(config, epochs=3).epochs == 3


@pytest.mark.parametrize("argv, message", [
    (["--config=nowhere.py"], "is not a file"),
    ([f"--config={EXPERIMENTS}/ae_fashion_mnist.py"],
     "sets no data.normal_classes"),
    ([f"--config={EXPERIMENTS}/recurrent_italy_power.py",
      "--set=model.cel=gru"], "is not a config field"),
    ([f"--config={EXPERIMENTS}/recurrent_italy_power.py",
      "--set=model.latent_dim=\"eight\""], "--set 'model.latent_dim="),
])
def test_bad_arguments_are_one_line(argv, message, capsys):
  with pytest.raises(SystemExit):
    detector.main(argv)
  assert message in capsys.readouterr().err
