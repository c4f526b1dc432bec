"""Batches on the devices: per-epoch shuffling from the seed, sharding over the
``data`` mesh axis, prefetching, and resuming at any step.

The order of training examples is a pure function of ``(seed, epoch)``, so a
run resumed at step ``s`` sees exactly the batches an unbroken run sees from
step ``s`` on. The last partial batch of an epoch is dropped, so every
training step has the same shape and the step compiles once.

Many processes (:mod:`aejax.train.distributed`): the global batch of a step
is the same as a single process's; each process reads only the rows that land on
its own devices (:func:`process_rows`) and
``jax.make_array_from_process_local_data`` assembles the global array, so
results do not depend on how the devices are split into processes.
"""

from __future__ import annotations

import collections
from typing import Iterator

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from aejax.data.types import Split

DATA_AXIS = "data"


def make_mesh(num_devices: int = 0) -> Mesh:
  """A 1-d mesh with axis ``data`` over the first ``num_devices`` devices.

  Args:
    num_devices: how many devices to use; 0 means all of them.
  """
  devices = jax.devices()
  if num_devices < 0 or num_devices > len(devices):
    raise ValueError(f"num_devices={num_devices} but {len(devices)} devices "
                     f"are available ({devices[0].platform}); use 0 for all.")
  if jax.process_count() > 1 and num_devices not in (0, len(devices)):
    raise ValueError(
        f"num_devices={num_devices} would leave out devices of some of the "
        f"{jax.process_count()} processes (a run over many processes uses "
        f"all {len(devices)} devices): use --config.num_devices=0.")
  devices = devices[:num_devices or len(devices)]
  # Auto axis: XLA propagates the batch sharding through the model, so model
  # code needs no sharding annotations (Explicit is make_mesh's default).
  return jax.make_mesh((len(devices),), (DATA_AXIS,),
                       axis_types=(jax.sharding.AxisType.Auto,),
                       devices=devices)


def data_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) dimension split over the ``data`` axis."""
  return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def check_batch_size(batch_size: int, mesh: Mesh, what: str = "batch_size"):
  n = mesh.devices.size
  if batch_size <= 0 or batch_size % n:
    processes = len({d.process_index for d in mesh.devices.flat})
    where = (f"the {n} devices of the data mesh" if processes == 1 else
             f"the {n} devices of the {processes} processes")
    raise ValueError(
        f"{what}={batch_size} cannot be split evenly over {where}: use a "
        f"positive multiple of {n}"
        + (", or set --config.num_devices to a divisor of it." if
           processes == 1 else "."))


def process_rows(sharding: NamedSharding, size: int) -> np.ndarray | None:
  """The rows of a global batch of ``size`` that this process's devices hold,
  in the order ``jax.make_array_from_process_local_data`` expects them;
  ``None`` in a single process (all of them)."""
  if jax.process_count() == 1:
    return None
  spans = sorted({(i[0].start or 0, size if i[0].stop is None else i[0].stop)
                  for i in sharding.addressable_devices_indices_map(
                      (size,)).values()})
  return np.concatenate([np.arange(a, b) for a, b in spans])


def to_device(batch: dict[str, np.ndarray], sharding: NamedSharding,
              global_size: int | None = None) -> dict:
  """Places a batch on the devices, split along its leading dimension.

  Args:
    batch: the whole batch (one process), or this process's rows of a
      global batch of ``global_size`` (:func:`process_rows`).
    sharding: the data sharding.
    global_size: the global batch size, for a process's part.
  """
  if global_size is None:
    return {k: jax.make_array_from_process_local_data(sharding, v)
            for k, v in batch.items()}
  return {k: jax.make_array_from_process_local_data(
      sharding, v, (global_size,) + v.shape[1:]) for k, v in batch.items()}


class TrainBatches:
  """Endless iterator of shuffled, sharded training batches.

  Args:
    split: the training split.
    batch_size: global batch size (divisible by the number of devices).
    seed: shuffling seed; epoch ``e`` uses the permutation drawn from
      ``np.random.default_rng([seed, e])``.
    mesh: the device mesh.
    start_step: the first step to yield (for resuming).
    prefetch: number of batches placed on the devices ahead of use.
  """

  def __init__(self, split: Split, batch_size: int, seed: int, mesh: Mesh,
               start_step: int = 0, prefetch: int = 2):
    check_batch_size(batch_size, mesh)
    if batch_size > len(split):
      raise ValueError(f"batch_size={batch_size} is larger than the "
                       f"{len(split)} training examples.")
    self._split = split
    self.batch_size = batch_size
    self.seed = seed
    self.steps_per_epoch = len(split) // batch_size
    self._sharding = data_sharding(mesh)
    self._local = process_rows(self._sharding, batch_size)
    self._next_step = start_step
    self._prefetch = prefetch
    self._queue: collections.deque = collections.deque()
    self._order_epoch, self._order = -1, None

  def _order_for(self, epoch: int) -> np.ndarray:
    if epoch != self._order_epoch:
      rng = np.random.default_rng([self.seed, epoch])
      self._order = rng.permutation(len(self._split))
      self._order_epoch = epoch
    return self._order

  def host_batch(self, step: int, local: bool = False
                 ) -> dict[str, np.ndarray]:
    """The batch of global step ``step`` on the host (a pure function);
    ``local``: only this process's rows of it."""
    epoch, index = divmod(step, self.steps_per_epoch)
    rows = self._order_for(epoch)[index * self.batch_size:
                                  (index + 1) * self.batch_size]
    rows = np.sort(rows)  # contiguous-ish reads; order within a batch is moot
    if local and self._local is not None:
      rows = rows[self._local]
    batch = {"image": self._split.images[rows],
             "label": self._split.labels[rows]}
    if self._split.lengths is not None:  # sequences: int32 "length" [B]
      batch["length"] = self._split.lengths[rows]
    return batch

  def __iter__(self) -> Iterator[dict]:
    return self

  def __next__(self) -> dict:
    while len(self._queue) <= self._prefetch:
      if self._local is None:
        batch = to_device(self.host_batch(self._next_step), self._sharding)
      else:
        batch = to_device(self.host_batch(self._next_step, local=True),
                          self._sharding, self.batch_size)
      self._queue.append(batch)
      self._next_step += 1
    return self._queue.popleft()


def eval_batches(split: Split, batch_size: int,
                 mesh: Mesh) -> Iterator[dict]:
  """Sequential batches covering ``split`` once; the last one is padded.

  Each batch has a float ``mask`` (1 for real examples, 0 for padding) so that
  every evaluation batch has the same shape and the eval step compiles once.
  Sequence splits add ``length`` (0 for padding examples).
  """
  check_batch_size(batch_size, mesh, "eval_batch_size")
  sharding = data_sharding(mesh)
  local = process_rows(sharding, batch_size)
  n = len(split)
  for start in range(0, n, batch_size):
    stop = min(start + batch_size, n)
    pad = batch_size - (stop - start)
    batch = {"image": split.images[start:stop],
             "label": split.labels[start:stop],
             "mask": np.ones(stop - start, np.float32)}
    if split.lengths is not None:
      batch["length"] = split.lengths[start:stop]
    if pad:
      batch = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)])
               for k, v in batch.items()}
    if local is None:
      yield to_device(batch, sharding)
    else:  # this process's rows (cheap views: eval splits are in memory)
      yield to_device({k: v[local] for k, v in batch.items()}, sharding,
                      batch_size)
