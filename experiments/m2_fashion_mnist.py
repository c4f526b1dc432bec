r"""M2 (Kingma, Rezende, Mohamed & Welling 2014) on dynamically binarised
Fashion-MNIST with 100 labelled training images.

  python -m aejax.main --config=experiments/m2_fashion_mnist.py \
      --workdir=runs/m2_fashion_mnist

Other labelled subsets: ``--config.method.num_labels=1000`` and
``--config.method.label_draw=1`` (the class-balanced draws of
``python -m aejax.eval.few_labels``: same seed and draw, same images).
The few-label table (M1, M2, M1 + M2 against scratch, 3 draws) is
``python -m aejax.eval.semi_supervised``.

Architecture of the paper (§4.1, MNIST): q(y|x), q(z|x, y) and p(x|y, z)
each an MLP with one hidden layer of 500 units (softplus there; ELU here,
the smooth activation the project has), z of 50 dimensions, Bernoulli
pixels. Each step: 100 unlabelled images (the loop's batch, their labels
unread) and a labelled sub-batch of 100 drawn from the 100 labelled ones;
α = 0.1 · N (``method.alpha = 0.1``). Adam 3e-4 (the paper's rate),
gradient clipping at 100, ``num_epochs`` 8 (4 400 steps): 7–10 min of
wall time on the shared 2-core CPU (435–574 s for the three draws).
Test accuracy of q(y|x) is ``results.json`` → ``test.accuracy``: 0.707,
0.680, 0.653 on draws 0–2 (0.680 ± 0.027; scratch 0.701 ± 0.030), in
BENCHMARKS.md ("Semi-supervised VAEs").
"""

from aejax.config import base_config


def get_config():
  c = base_config()
  c.data.binarize = True
  c.model.name = "mlp"
  c.model.hidden = (500,)
  c.model.latent_dim = 50
  c.model.activation = "elu"
  c.method.name = "m2"
  c.method.likelihood = "bernoulli"
  c.method.classifier_hidden = (500,)
  c.method.num_labels = 100
  c.method.labelled_batch_size = 100
  c.method.alpha = 0.1
  c.optimizer.learning_rate = 3e-4
  c.optimizer.grad_clip_norm = 100.0
  c.batch_size = 100
  c.eval_batch_size = 1000
  c.num_epochs = 8
  c.log_every_steps = 110
  return c
