r"""M1 + M2 (Kingma, Rezende, Mohamed & Welling 2014), the stacked model, on
dynamically binarised Fashion-MNIST with 100 labelled training images.

  python -m aejax.main --config=experiments/m1m2_fashion_mnist.py \
      --workdir=runs/m1m2_fashion_mnist

First M1, the VAE of ``experiments/m1_fashion_mnist.py`` (784-600-600-50,
ELU, Bernoulli pixels), trains for ``method.pretrain_epochs`` = 10 epochs
on every image (the loop's pre-training stage, ``workdir/pretrain``); then
it is frozen and M2 (one hidden layer of 500 units in each network, z₂ of
50 dimensions, Gaussian p(z₁|y, z₂) with learned variance) trains on
z₁ ~ q(z₁|x) for ``num_epochs`` = 10 epochs, with a labelled sub-batch of
100 per step and α = 0.1 · N. Adam 3e-4, clipping at 100. 7–14 min on
the shared 2-core CPU (431–849 s for the three draws, both stages). Test
accuracy of q(y|z₁ = μ(x)), ``results.json`` → ``test.accuracy``: 0.727,
0.714, 0.670 on draws 0–2 (0.704 ± 0.030, +0.002 ± 0.012 over scratch;
BENCHMARKS.md, "Semi-supervised VAEs").
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.binarize = True
  c.model.name = "mlp"
  c.model.hidden = (600, 600)
  c.model.latent_dim = 50
  c.model.activation = "elu"
  c.method.name = "m1m2"
  c.method.likelihood = "bernoulli"
  c.method.pretrain_epochs = 10
  c.method.classifier_hidden = (500,)
  c.method.m2_hidden = (500,)
  c.method.m2_latent_dim = 50
  c.method.num_labels = 100
  c.method.labelled_batch_size = 100
  c.method.alpha = 0.1
  c.optimizer.learning_rate = 3e-4
  c.optimizer.grad_clip_norm = 100.0
  c.batch_size = 100
  c.eval_batch_size = 1000
  c.num_epochs = 10
  c.log_every_steps = 110
  return c
