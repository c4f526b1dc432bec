r"""LSTM autoencoder on ItalyPowerDemand, as a one-class anomaly detector.

  python -m aejax.main --config=experiments/recurrent_italy_power.py \
      --workdir=runs/recurrent_italy_power

ItalyPowerDemand (UCR archive, shipped in the ``aeon`` wheel; ``pip install
--no-deps aeon==1.6.0``): 24 hourly values of Italian power demand per day,
class 0 = October-March, class 1 = April-September. The autoencoder is fitted
on class 0 only (``data.normal_classes=(0,)``: the TRAIN file's class-0 days
minus a validation hold-out); every TEST day (513 + 516) is scored by its
reconstruction error, and the AUROC of winter (normal) vs summer (anomalous)
days is written to ``anomaly.json`` / ``anomaly.png``
(``python -m aejax.eval.anomaly --workdir=...`` recomputes it).

Model: LSTM(64) encoder -> 8-d code -> RepeatVector(24) -> LSTM(64) ->
Dense(1); MSE on standardised values, Adam 1e-3, batch 8.

Wall time on a 2-core CPU (shared, load average ~8): 30 s (18 s training,
200 epochs = 600 steps).
Result it should reach (measured, seed 0): test AUROC 0.964 (anomaly.json);
mean per-value squared error (standardised units) 0.037 on the normal test
days vs 0.323 on the anomalous ones (all test days: 0.180, results.json
test.mse). With ``--config.model.cell=gru``: AUROC 0.950.
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.name = "ucr"
  c.data.ts_name = "ItalyPowerDemand"
  c.data.validation_size = 8       # of the 67 TRAIN days, before the filter
  c.data.normal_classes = (0,)     # fit on October-March days only
  c.model.name = "recurrent"
  c.model.cell = "lstm"
  c.model.rnn_hidden = (64,)
  c.model.latent_dim = 8
  c.method.name = "recurrent_ae"
  c.method.loss = "mse"
  c.method.output = "identity"     # standardised real values
  c.batch_size = 8
  c.eval_batch_size = 512
  c.num_epochs = 200
  c.log_every_steps = 30
  c.checkpoint_every_steps = 150
  c.num_figure_images = 8
  return c
