r"""M1 (Kingma, Rezende, Mohamed & Welling 2014) on dynamically binarised
Fashion-MNIST with 100 labelled training images: a VAE on every image, a
classifier on its posterior mean μ(x) trained on the labelled ones.

  python -m aejax.main --config=experiments/m1_fashion_mnist.py \
      --workdir=runs/m1_fashion_mnist

Architecture of the paper's M1 (§4.1): encoder and decoder MLPs with two
hidden layers of 600 units (softplus there; ELU here), z of 50 dimensions,
Bernoulli pixels. The paper classifies μ(x) with a TSVM; here a softmax
classifier with one hidden layer of 500 units (``method.classifier_hidden``)
reads stop_gradient(μ) of a labelled sub-batch of 100 per step, trained in
the same step as the VAE. Adam 3e-4, clipping at 100, 10 epochs (5 500
steps): 3–6 min on the shared 2-core CPU (202–347 s for the three draws).
Test accuracy ``results.json`` → ``test.accuracy``: 0.704, 0.666, 0.634 on
draws 0–2 (0.668 ± 0.035; BENCHMARKS.md, "Semi-supervised VAEs").
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.binarize = True
  c.model.name = "mlp"
  c.model.hidden = (600, 600)
  c.model.latent_dim = 50
  c.model.activation = "elu"
  c.method.name = "m1"
  c.method.likelihood = "bernoulli"
  c.method.classifier_hidden = (500,)
  c.method.num_labels = 100
  c.method.labelled_batch_size = 100
  c.optimizer.learning_rate = 3e-4
  c.optimizer.grad_clip_norm = 100.0
  c.batch_size = 100
  c.eval_batch_size = 1000
  c.num_epochs = 10
  c.log_every_steps = 110
  return c
