r"""GRU autoencoder on JapaneseVowels: variable-length, 12-feature sequences.

  python -m aejax.main --config=experiments/recurrent_japanese_vowels.py \
      --workdir=runs/recurrent_japanese_vowels

JapaneseVowels (UEA archive, shipped in the ``aeon`` wheel; ``pip install
--no-deps aeon==1.6.0``): utterances of the vowels /ae/ by 9 speakers, 12 LPC
cepstrum coefficients per frame, 7 to 29 frames long (padded to T = 29, the
batches carry each length, and both the encoder's code and the loss stop at
it). One-class protocol: fitted on speaker 1 (class 0) only, every TEST
utterance scored by its reconstruction error; ``anomaly.json`` holds the
AUROC of speaker 1 vs the 8 others, overall and per speaker.

Model: GRU(64) encoder -> 16-d code -> RepeatVector(29) -> GRU(64) ->
Dense(12); MSE per real value on standardised features, Adam 1e-3, batch 8.

Wall time on a 2-core CPU (shared, load average ~8): 20 s (8 s training,
120 epochs = 360 steps).
Result it should reach (measured, seed 0): test AUROC 0.902 (anomaly.json;
per speaker 0.67-0.99); mean per-value squared error 0.58 on the held-out
speaker-1 validation utterances, 0.75 on speaker 1's test utterances vs 1.48
on the others'. With ``--config.model.cell=lstm``: AUROC 0.978, validation
error 0.92 (a worse reconstruction that happens to separate better).
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.name = "ucr"
  c.data.ts_name = "JapaneseVowels"
  c.data.validation_size = 45      # of the 270 TRAIN utterances
  c.data.normal_classes = (0,)     # speaker 1
  c.model.name = "recurrent"
  c.model.cell = "gru"
  c.model.rnn_hidden = (64,)
  c.model.latent_dim = 16
  c.method.name = "recurrent_ae"
  c.method.loss = "mse"
  c.method.output = "identity"
  c.batch_size = 8
  c.eval_batch_size = 128
  c.num_epochs = 120               # validation loss is lowest here (it
  #                                  rises after: 25 training utterances)
  c.log_every_steps = 30
  c.checkpoint_every_steps = 300
  c.num_figure_images = 8
  return c
