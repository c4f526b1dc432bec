"""Pure loss terms. Each returns one value per example; the batch reduction
happens in one place, :func:`batch_mean`."""

from aejax.losses.reconstruction import (batch_mean, bernoulli_nll,
                                         mean_squared_error, psnr,
                                         reconstruction_loss,
                                         sum_squared_error)
from aejax.losses.divergences import (bernoulli_log_likelihood,
                                     gaussian_kl_to_standard,
                                     gaussian_log_density,
                                     standard_normal_log_density)
