"""Training objectives, registered by name (``config.method.name``)."""

from aejax.methods.registry import METHODS, make_method, register_method
from aejax.methods import autoencoder  # noqa: F401  (registers ae, dae)
from aejax.methods import vae  # noqa: F401  (registers vae)
