"""Training objectives, registered by name (``config.method.name``).

The contract every method follows and the capabilities a trained model may
have are in :mod:`aejax.methods.base`.
"""

from aejax.methods.base import CapabilityError, GradientMethod, Method
from aejax.methods.base import require
from aejax.methods.registry import METHODS, make_method, register_method
from aejax.methods import autoencoder  # noqa: F401  (registers ae, dae)
from aejax.methods import vae  # noqa: F401  (registers vae)
from aejax.methods import sparse  # noqa: F401  (registers sparse_l1, sparse_kl)
from aejax.methods import contractive  # noqa: F401  (registers contractive)
from aejax.methods import stacked  # noqa: F401  (stacked_ae, stacked_dae)
from aejax.methods import recurrent  # noqa: F401  (registers recurrent_ae)
from aejax.methods import gan  # noqa: F401  (registers dcgan)
from aejax.methods import aae  # noqa: F401  (registers aae)
from aejax.methods import semi_supervised  # noqa: F401  (m1, m2, m1m2)
from aejax.methods import ladder  # noqa: F401  (registers ladder)
