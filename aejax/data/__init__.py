"""Data sets, on-device transforms and sharded batching."""

from aejax.data.sources import (Dataset, DataNotFoundError, Split, digits,
                                fashion_mnist, load_dataset, time_series)
from aejax.data.ts_format import TsFormatError, read_ts
from aejax.data.idx import IdxFormatError, read_idx
from aejax.data.transforms import (gaussian_noise, make_corruption,
                                   masking_noise, prepare_batch,
                                   salt_and_pepper)
from aejax.data.pipeline import TrainBatches, eval_batches, make_mesh
