r"""Development and test helper: N processes of one run on this machine.

  python -m aejax.launch_local --num_processes=2 --devices_per_process=2 -- \
      --config=experiments/ae_fashion_mnist.py --workdir=runs/ae2

starts ``python -m aejax.main <args> --coordinator_address=127.0.0.1:<free
port> --num_processes=N --process_id=i`` N times, each on its own
``devices_per_process`` CPU devices, and waits for them (output prefixed
``[i]``; the status is the first non-zero one). It is how the tests check
multi-process training on loopback; on a cluster, start one process per
host with ``srun``, ``mpirun`` or a Kubernetes indexed Job (README, "Many
hosts").
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import threading


def free_port() -> int:
  """A TCP port on 127.0.0.1 that nothing listens on now."""
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


def child_env(devices: int, env: dict | None = None) -> dict:
  """The environment of one process: ``devices`` CPU devices, CPU only,
  and nothing of the parent's device settings (a test's 4 fake devices)."""
  env = dict(os.environ if env is None else env)
  flags = [f for f in env.get("XLA_FLAGS", "").split()
           if not f.startswith("--xla_force_host_platform_device_count")]
  env["XLA_FLAGS"] = " ".join(flags)
  env["JAX_NUM_CPU_DEVICES"] = str(devices)
  env["JAX_PLATFORMS"] = "cpu"
  env["PYTHONUNBUFFERED"] = "1"
  return env


def start(args: list[str], num_processes: int, devices_per_process: int,
          *, command: list[str] | None = None, port: int | None = None,
          envs: list[dict] | None = None, output=None
          ) -> list[subprocess.Popen]:
  """Starts the processes of one run (see the module docstring).

  Args:
    args: the arguments every process gets.
    num_processes: N.
    devices_per_process: CPU devices of each.
    command: what each process runs (default ``python -m aejax.main``);
      it is given ``args`` and the three flags ``--coordinator_address``,
      ``--num_processes``, ``--process_id``.
    port: the coordinator's port on 127.0.0.1 (default: a free one).
    envs: extra environment variables per process.
    output: a list of N file paths for each process's stdout and stderr
      (default: pipes).
  """
  port = port or free_port()
  procs = []
  for i in range(num_processes):
    env = child_env(devices_per_process)
    env.update((envs or [{}] * num_processes)[i])
    out = open(output[i], "w") if output else subprocess.PIPE  # pylint: disable=consider-using-with
    procs.append(subprocess.Popen(
        [*(command or [sys.executable, "-m", "aejax.main"]), *args,
         f"--coordinator_address=127.0.0.1:{port}",
         f"--num_processes={num_processes}", f"--process_id={i}"],
        env=env, stdout=out, stderr=subprocess.STDOUT, text=True))
    if output:
      out.close()
  return procs


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--num_processes", type=int, default=2)
  parser.add_argument("--devices_per_process", type=int, default=1)
  parser.add_argument("args", nargs=argparse.REMAINDER,
                      help="after --: the arguments of python -m aejax.main")
  ns = parser.parse_args(argv)
  args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
  procs = start(args, ns.num_processes, ns.devices_per_process)

  def relay(i, proc):
    for line in proc.stdout:
      sys.stdout.write(f"[{i}] {line}")
  threads = [threading.Thread(target=relay, args=(i, p)) for i, p in
             enumerate(procs)]
  for t in threads:
    t.start()
  codes = [p.wait() for p in procs]
  for t in threads:
    t.join()
  return next((c for c in codes if c), 0)


if __name__ == "__main__":
  sys.exit(main())
