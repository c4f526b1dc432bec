"""One run over many processes: ``jax.distributed`` set-up, checks, and a
watchdog that stops every process, with one clear line, when one stops.

JAX's multi-controller runtime is the engine: each process (one per host,
or one per accelerator) runs the same program on the same config;
:func:`initialize` joins it to the others through
:func:`jax.distributed.initialize`, before anything touches a JAX backend.
After that ``jax.devices()`` lists every process's devices, the data mesh
spans them all, each process feeds its own part of every global batch
(:class:`aejax.data.pipeline.TrainBatches`), XLA's collectives (gloo on CPU)
reduce gradients, BatchNorm statistics and evaluation sums over all of
them, Orbax saves and restores checkpoints from all of them, and process 0
alone writes metrics, results and figures.

What JAX does not say clearly, this module does:

* bad settings (a process id out of range, no coordinator address) are one
  :class:`ValueError` before anything starts;
* processes that never all arrive: every waiting process stops after
  ``initialization_timeout`` seconds with a line that names the coordinator;
* a process that stops (an error, a kill, a lost host): the others stop
  within ``heartbeat_timeout`` seconds with a line that names it. A
  watchdog thread keeps a counter per process in the coordination service's
  key-value store (JAX's own heartbeats remain, with a longer timeout, as
  the backstop: they end a process with a C++ fatal error);
* processes started with different configs: :func:`check_same_config`.

References:
  JAX, "Multi-host and multi-process environments"
  (https://docs.jax.dev/en/latest/multi_process.html).
"""

from __future__ import annotations

import atexit
import hashlib
import json
import os
import re
import sys
import threading
import time

import jax
from jax._src import distributed as jax_distributed  # the client's store
import numpy as np

DEFAULT_INITIALIZATION_TIMEOUT = 300  # seconds, as JAX's own default
DEFAULT_HEARTBEAT_TIMEOUT = 60        # seconds
_BACKSTOP = 30  # JAX's own timeouts run this much longer than ours
_KEY = "aejax/watchdog"


class DistributedError(RuntimeError):
  """Another process of the run stopped, or the processes disagree."""


def is_multiprocess() -> bool:
  return jax.process_count() > 1


def is_primary() -> bool:
  """Whether this process writes the run's records (process 0)."""
  return jax.process_index() == 0


def _check_address(address: str) -> None:
  if not re.fullmatch(r"(\[[0-9a-fA-F:.]+\]|[^:\s]+):\d{1,5}", address):
    raise ValueError(
        f"--coordinator_address={address!r}: expected HOST:PORT (the host "
        "of process 0 and a free port on it, e.g. 10.0.0.1:1234).")


def initialize(coordinator_address: str | None = None,
               num_processes: int | None = None,
               process_id: int | None = None, *,
               initialization_timeout: int = DEFAULT_INITIALIZATION_TIMEOUT,
               heartbeat_timeout: int = DEFAULT_HEARTBEAT_TIMEOUT) -> None:
  """Joins this process to a run over many processes (``jax.distributed``).

  Arguments left ``None`` are detected by JAX from the cluster: SLURM
  (``srun``), Open MPI (``mpirun``) or a Kubernetes indexed Job (with the
  ``kubernetes`` package installed). On CPU the cross-process collectives
  are gloo's (``jax_cpu_collectives_implementation``).

  Args:
    coordinator_address: ``HOST:PORT`` of process 0, where it runs the
      coordination service; the same for every process.
    num_processes: how many processes the run has.
    process_id: this process's index, ``0 <= process_id < num_processes``.
    initialization_timeout: seconds to wait for every process to arrive.
    heartbeat_timeout: seconds after which a silent process is taken for
      dead and the others stop.

  Raises:
    ValueError: bad settings, or a JAX backend is already in use.
  """
  if num_processes is not None and num_processes < 1:
    raise ValueError(f"--num_processes={num_processes}: a run has at least "
                     "one process.")
  if process_id is not None and (process_id < 0 or (
      num_processes is not None and process_id >= num_processes)):
    raise ValueError(
        f"--process_id={process_id} is out of range for --num_processes="
        f"{num_processes}: give each process its own id from 0 to "
        f"{(num_processes or 1) - 1}.")
  if coordinator_address is not None:
    _check_address(coordinator_address)
  if initialization_timeout < 1 or heartbeat_timeout < 1:
    raise ValueError("The distributed timeouts are whole seconds >= 1.")
  if jax.distributed.is_initialized():
    raise ValueError("jax.distributed is initialized already: join a run "
                     "once per process.")
  from jax._src import xla_bridge  # pylint: disable=g-import-not-at-top
  if xla_bridge.backends_are_initialized():
    raise ValueError(
        "A JAX backend is in use already: join the run (aejax.train."
        "distributed.initialize) before anything touches JAX devices or "
        "arrays.")
  if "JAX_CPU_COLLECTIVES_IMPLEMENTATION" not in os.environ:
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
  who = ("this process" if process_id is None else
         f"process {process_id}" + (f" of {num_processes}"
                                    if num_processes else ""))
  where = coordinator_address or os.environ.get(
      "JAX_COORDINATOR_ADDRESS", "the coordinator the cluster names")
  timer = threading.Timer(initialization_timeout, _exit, args=(
      f"{who}: not all processes reached the coordinator at {where} within "
      f"{initialization_timeout} s. Start every process with the same "
      "--coordinator_address (the host of process 0 and a free port) and "
      "--num_processes, each with its own --process_id; or raise "
      "--initialization_timeout.",))
  timer.daemon = True
  timer.start()
  try:
    jax.distributed.initialize(
        coordinator_address, num_processes, process_id,
        initialization_timeout=initialization_timeout + _BACKSTOP,
        heartbeat_timeout_seconds=heartbeat_timeout + _BACKSTOP,
        shutdown_timeout_seconds=max(300, heartbeat_timeout + _BACKSTOP))
  except (ValueError, TypeError) as e:
    raise ValueError(
        f"{e} Give --coordinator_address, --num_processes and --process_id, "
        "or run under a cluster JAX detects (SLURM srun, Open MPI mpirun, a "
        "Kubernetes indexed Job).") from None
  finally:
    timer.cancel()
  _Watchdog(heartbeat_timeout).start()


def _exit(message: str) -> None:
  """One line on stderr and the process ends now (status 1): what is left
  to do is wait on processes that are gone."""
  sys.stderr.write(f"error: {message}\n")
  sys.stderr.flush()
  sys.stdout.flush()
  os._exit(1)  # pylint: disable=protected-access


class _Watchdog:
  """Every process counts up its key in the coordination service's store
  and reads the others'; a key that stops moving for ``timeout`` seconds,
  a process that reports an error (:func:`report_stop`), or a store that
  cannot be reached (process 0 is gone) ends this process with a line."""

  current: "_Watchdog | None" = None

  def __init__(self, timeout: int):
    self.timeout = timeout
    self.interval = max(0.2, min(1.0, timeout / 10))
    self.client = jax_distributed.global_state.client
    self.me, self.n = jax.process_index(), jax.process_count()
    self.address = jax_distributed.global_state.coordinator_address
    self._stop = threading.Event()
    self._thread = threading.Thread(target=self._run, daemon=True,
                                    name="aejax-watchdog")

  def start(self):
    _Watchdog.current = self
    atexit.register(self.finish)  # before JAX's own shutdown (LIFO)
    self._thread.start()

  def finish(self, status: str = "done") -> None:
    """This process leaves the run (``status``: ``done`` or its error)."""
    if self._stop.is_set():
      return
    self._stop.set()
    self._thread.join()
    try:
      self.client.key_value_set(f"{_KEY}/stopped/{self.me}", status, True)
    except Exception:  # pylint: disable=broad-exception-caught
      pass

  def _run(self):
    count, seen, unreachable_since = 0, {}, None
    while not self._stop.wait(self.interval):
      now = time.monotonic()
      try:
        count += 1
        self.client.key_value_set(f"{_KEY}/alive/{self.me}", str(count),
                                  True)
        alive = dict(self.client.key_value_dir_get(f"{_KEY}/alive/"))
        stopped = dict(self.client.key_value_dir_get(f"{_KEY}/stopped/"))
        unreachable_since = None
      except Exception as e:  # pylint: disable=broad-exception-caught
        if self._stop.is_set():
          return
        unreachable_since = unreachable_since or now
        if now - unreachable_since >= min(self.timeout, 5 * self.interval):
          _exit(f"process {self.me} of {self.n}: the coordinator (process 0, "
                f"at {self.address}) cannot be reached ({str(e)[:120]}): "
                "process 0 stopped or its host is gone. This process stops "
                "too; start all processes again with the same command to "
                "resume from the last checkpoint.")
        continue
      for key, status in stopped.items():
        j = int(key.rsplit("/", 1)[1])
        if status != "done" and j != self.me:
          _exit(f"process {j} of {self.n} stopped ({status}); process "
                f"{self.me} stops too. Fix that and start all processes "
                "again with the same command to resume from the last "
                "checkpoint.")
      for j in range(self.n):
        key = f"{_KEY}/alive/{j}"
        if j == self.me or f"{_KEY}/stopped/{j}" in stopped:
          continue
        value = alive.get(key)
        if key not in seen or seen[key][0] != value:
          seen[key] = (value, now)
        elif now - seen[key][1] > self.timeout:
          _exit(f"process {j} of {self.n} has not been heard from for "
                f"{self.timeout} s (it was killed, hangs, or lost its host); "
                f"process {self.me} stops too. Start all processes again "
                "with the same command to resume from the last checkpoint "
                "(--heartbeat_timeout sets the wait).")


def report_stop(message: str) -> bool:
  """Tells the other processes that this one stops with ``message``, so
  that they stop too (at once, not after the heartbeat timeout); process 0,
  which serves the others' store, waits for them to read it. Returns
  whether there were others to tell (then exit with ``os._exit``: JAX's
  shutdown would wait for processes that are stopping)."""
  watchdog = _Watchdog.current
  if watchdog is None:
    return False
  watchdog.finish(message.replace("\n", " ")[:300])
  if watchdog.me == 0:
    time.sleep(3 * watchdog.interval)
  return True


def config_digest(config_json: dict) -> str:
  return hashlib.sha256(json.dumps(config_json, sort_keys=True).encode()
                        ).hexdigest()


def check_same_config(config_json: dict) -> None:
  """Refuses to train when the processes hold different configs.

  Raises:
    ValueError: naming the processes whose config differs from process 0's.
  """
  if not is_multiprocess():
    return
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  digest = config_digest(config_json)
  mine = np.frombuffer(bytes.fromhex(digest[:16]), np.int32)
  every = np.asarray(multihost_utils.process_allgather(mine))
  differ = [i for i in range(len(every)) if not np.array_equal(
      every[i], every[0])]
  if differ:
    raise ValueError(
        f"The processes were started with different configs: process(es) "
        f"{differ} differ from process 0. Start every process with the same "
        "--config file and --config.* overrides.")

