"""Linen modules: encoders, decoders and autoencoders built by name."""

from aejax.models.autoencoder import MODELS, Autoencoder, build_model
from aejax.models.conv import ConvDecoder, ConvEncoder
from aejax.models.mlp import MLPDecoder, MLPEncoder
from aejax.models.recurrent import (RecurrentAutoencoder, RecurrentEncoder,
                                    RepeatDecoder)
