"""aejax: the autoencoder family in JAX/Flax.

The names a researcher types::

  import aejax
  config = aejax.base_config()
  results = aejax.train_and_evaluate(config, "runs/ae")
"""

from aejax.host_allocator import tune_host_allocator

tune_host_allocator()  # before JAX starts its CPU backend; see its docstring

from aejax.config import base_config  # pylint: disable=g-import-not-at-top
from aejax.data import fashion_mnist, digits, load_dataset
from aejax.methods import METHODS, make_method, register_method
from aejax.models import MODELS, build_model
from aejax.train.loop import load_run, train_and_evaluate

__version__ = "0.1.0"
