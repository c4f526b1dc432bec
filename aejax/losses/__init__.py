"""Pure loss terms. Each returns one value per example; the batch reduction
happens in one place, :func:`batch_mean`."""

from aejax.losses.reconstruction import (batch_mean, bernoulli_nll,
                                         mean_squared_error, psnr,
                                         reconstruction_loss,
                                         sum_squared_error)
