"""aejax: the autoencoder family in JAX/Flax.

The names a researcher types::

  import aejax
  config = aejax.base_config()
  results = aejax.train_and_evaluate(config, "runs/ae")
"""

from aejax.config import base_config
from aejax.data import fashion_mnist, digits, load_dataset
from aejax.methods import METHODS, make_method, register_method
from aejax.models import MODELS, build_model
from aejax.train.loop import load_run, train_and_evaluate

__version__ = "0.1.0"
