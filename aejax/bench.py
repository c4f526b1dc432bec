r"""Training-throughput benchmark, comparable with PyTorch's.

  python -m aejax.bench --model conv_ae --batch 32 --steps 200
  python -m aejax.bench --model all --batch 32,128 --steps 200,50 \
      --torch_python=/path/to/python   # the whole table, one run

Builds the named model from the library's own modules and configs (its
PyTorch twin, same widths, kernels, strides, activations, normalisation,
loss, optimizer and initialisers, is aejax/torch_reference.py), trains it
with the library's own compiled training step (the one ``aejax.main`` runs)
on the same Fashion-MNIST batches as that script, and prints one JSON line
in its format plus ``compile_s`` (first call: trace + compile + run) and
``peak_host_mem_mb`` (peak resident memory of the process). Only compiled
steps after the warm-up are timed, ending with ``block_until_ready``.

``--on_device [--seeds K]`` measures two ways of running more work per
dispatch (issue 5, item 5) against the per-step loop above, in one process:
the same ``--steps`` steps as one ``lax.scan`` over batches already on the
device (a whole epoch in one call), and K models with seeds 0..K-1 trained
at once by ``vmap`` over their states (one program; images/s counts all K
models' images). Both compute exactly what the loop computes
(tests/test_bench.py).

``--loop=experiments/ae_fashion_mnist.py [--epochs 2]`` instead trains that
experiment through the training loop and prints the last epoch's wall time
beside the time of the same number of bare compiled steps (their ratio is
the loop's overhead).

With ``--torch_python=/path/to/python`` (a Python with torch and numpy:
``pip install 'aejax[torch]'``) it also runs aejax/torch_reference.py, as a
script in that interpreter (torch is never imported here), with the same
arguments right after each of ours, and prints the ratio of images per
second (ours / torch's); with several models or batch sizes, a table of the
ratios at the end. aejax runs with tcmalloc, as all aejax commands
(``aejax.host_allocator``; the JSON line's ``host_allocator`` says which);
torch_reference.py runs on the system malloc as shipped, or with
``--torch_allocator=tcmalloc`` on tcmalloc too, so that the ratio compares
frameworks rather than allocators. ``--torch_reference=<file>`` runs another
script that takes the same arguments and prints the same JSON line.

Models:
  dense_ae  784-512-256-32-256-512-784 MLP, ReLU, logits + Bernoulli NLL,
            Adam(1e-3).
  conv_ae   the seed-002 conv autoencoder (LeakyReLU 0.2, BatchNorm, latent
            16, sigmoid output), MSE, Adam(1e-3).
  conv_vae  conv encoder (ReLU, no BatchNorm) to (μ, log σ²) of 16 dims;
            decoder Dense-ReLU, two stride-2 transposed convs with ReLU, 3x3
            conv to logits; Bernoulli NLL + KL, one sample; Adam(1e-3).
  dcgan     experiments/dcgan_fashion_mnist.py's DCGAN (z of 100, Adam(2e-4,
            β₁ 0.5)): one step = one discriminator update on a real and a
            fake batch, then one generator update.

torch_reference.py computes each loss in aejax's units (dense_ae: nats per
image; conv_vae: on dynamically binarised inputs; dcgan: the generator's
loss), so the two ``final_loss`` values compare, up to the random draws.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import resource
import subprocess
import tempfile
import time

import jax
import jax.numpy as jnp
import numpy as np

from aejax import host_allocator
from aejax.config import base_config, load_experiment
from aejax.data.idx import read_idx
from aejax.data.pipeline import make_mesh, replicated, to_device, data_sharding
from aejax.data.sources import DEFAULT_FASHION_MNIST_DIR
from aejax.methods import METHODS, make_method
from aejax.train.state import create_train_state
from aejax.train.step import compile_steps, train_step as one_step

MODELS = ("dense_ae", "conv_ae", "conv_vae", "dcgan")
# The metric printed as "final_loss", where it is not "loss": torch_reference
# .py's DCGAN step returns the generator's loss (our "loss" is D's).
REPORTED_LOSS = {"dcgan": "g_loss"}
# The PyTorch twins of the models, run as a script by the Python that has
# torch (never imported: torch is an optional extra).
TORCH_REFERENCE = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                               "torch_reference.py")


def bench_config(model: str):
  """The library config of a benchmark model (see the module docstring)."""
  c = base_config()
  if model == "dense_ae":
    c.model.update(name="mlp", hidden=(512, 256), latent_dim=32,
                   activation="relu")
    c.method.update(name="ae", loss="bce", output="sigmoid")
  elif model == "conv_ae":
    c.model.update(name="conv", filters=(32, 64), latent_dim=16)
    c.method.update(name="ae", loss="mse", output="sigmoid")
  elif model == "conv_vae":
    c.model.update(name="conv", filters=(32, 64), latent_dim=16,
                   conv_activation="relu", batch_norm=False,
                   dense_activation="relu", output_layer="conv")
    c.method.update(name="vae", likelihood="bernoulli", num_samples=1)
    c.data.binarize = True
  elif model == "dcgan":
    if "dcgan" not in METHODS:
      raise SystemExit("The dcgan method is not available in this build.")
    c.method.name = "dcgan"
    c.model.latent_dim = 100  # as experiments/dcgan_fashion_mnist.py
  else:
    raise SystemExit(f"Unknown model {model!r}: choose one of {MODELS}.")
  if model == "dcgan":
    c.optimizer.update(learning_rate=2e-4, b1=0.5)
  else:
    c.optimizer.learning_rate = 1e-3
  return c


def load_batches(batch: int, steps: int, data_dir: str) -> np.ndarray:
  """uint8 [steps, batch, 28, 28, 1], sliced as torch_reference.py does."""
  path = os.path.join(data_dir, "train-images-idx3-ubyte.gz")
  n = min(batch * steps, 60000)
  if os.path.exists(path):
    x = read_idx(path)[:n]
  else:  # as torch_reference.py: throughput does not depend on pixel values
    x = np.random.default_rng(0).integers(0, 256, (n, 28, 28), np.uint8)
  starts = [(i * batch) % (len(x) - batch + 1) for i in range(steps)]
  return np.stack([x[s:s + batch] for s in starts])[..., None]


def _method_and_optimizer(config, batch: int):
  """The method and optimizer ``config`` names, for batches of ``batch``."""
  config.batch_size = batch
  method = make_method(config, (28, 28, 1))
  return method, method.optimizer()


def _step(method, tx, binarize: bool):
  """The library's training step ``(state, batch) -> (state, metrics)``."""
  del tx  # the method's own optimizer
  return functools.partial(one_step, method=method, binarize=binarize)


def run(model: str, batch: int, steps: int, warmup: int, data_dir: str,
        num_devices: int = 1, config=None) -> dict:
  """Times ``steps`` compiled training steps of ``model`` (or ``config``)."""
  config = bench_config(model) if config is None else config
  mesh = make_mesh(num_devices)
  method, tx = _method_and_optimizer(config, batch)
  state = jax.jit(lambda: create_train_state(
      method, config.seed, jnp.zeros((batch, 28, 28, 1))),
                  out_shardings=replicated(mesh))()
  train_step, _ = compile_steps(method, mesh, config.data.binarize)
  images = load_batches(batch, steps + warmup, data_dir)
  sharding = data_sharding(mesh)
  batches = [to_device({"image": b}, sharding) for b in images]
  jax.block_until_ready(batches)

  start = time.perf_counter()
  state, metrics = train_step(state, batches[0])
  jax.block_until_ready((state, metrics))
  compile_s = time.perf_counter() - start
  for b in batches[1:warmup]:
    state, metrics = train_step(state, b)
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for b in batches[warmup:]:
    state, metrics = train_step(state, b)
  jax.block_until_ready((state, metrics))
  elapsed = time.perf_counter() - start
  return {
      "framework": "jax", "model": model, "batch": batch, "steps": steps,
      "images_per_s": round(steps * batch / elapsed, 1),
      "final_loss": round(float(metrics[REPORTED_LOSS.get(model, "loss")]),
                          5),
      "compile_s": round(compile_s, 2),
      "peak_host_mem_mb": round(
          resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
      "devices": f"{mesh.devices.size}x {jax.devices()[0].device_kind}",
      "host_allocator": host_allocator.current(),
      "jax": jax.__version__}


def torch_command(torch_python: str, reference: str, model: str, batch: int,
                  steps: int, warmup: int, data_dir: str) -> list[str]:
  """The command line that runs ``reference`` (a script) with torch."""
  return [torch_python, reference, "--model", model, "--batch", str(batch),
          "--steps", str(steps), "--warmup", str(warmup), "--data-dir",
          data_dir]


def run_torch(torch_python: str, reference: str, model: str, batch: int,
              steps: int, warmup: int, data_dir: str,
              allocator: str = "system") -> dict:
  """torch_reference.py's JSON line for the same model, batch and steps.

  ``allocator="tcmalloc"`` runs it with tcmalloc preloaded, as aejax's
  commands run (``aejax.host_allocator``), so that the ratio compares
  frameworks rather than allocators; ``"system"`` with the C library's.
  """
  env = dict(os.environ)
  preload = [p for p in env.pop("LD_PRELOAD", "").split()
             if host_allocator.TCMALLOC not in p]
  if allocator == "tcmalloc":
    path = host_allocator.find_tcmalloc()
    if path is None:
      raise SystemExit(f"--torch_allocator=tcmalloc: {host_allocator.TCMALLOC}"
                       " is not installed (apt-get install "
                       "libtcmalloc-minimal4).")
    preload.insert(0, path)
  if preload:
    env["LD_PRELOAD"] = " ".join(preload)
  done = subprocess.run(
      torch_command(torch_python, reference, model, batch, steps, warmup,
                    data_dir), capture_output=True, text=True, env=env,
      check=False)
  if done.returncode:
    hint = (f" Install it there: {torch_python} -m pip install torch numpy "
            "(or pip install 'aejax[torch]')."
            if "No module named" in done.stderr else "")
    raise SystemExit(f"{torch_python} {reference} failed (exit "
                     f"{done.returncode}):\n{done.stderr.strip()[-2000:]}\n"
                     f"{hint}")
  theirs = json.loads(done.stdout.strip().splitlines()[-1])
  theirs["host_allocator"] = allocator
  return theirs


def scan_steps(method, tx, binarize: bool):
  """``(state, batches) -> (state, metrics)``: len(batches) steps, one call.

  ``batches`` holds a leading axis of steps (``{"image": [S, B, ...]}``);
  the steps run as one ``lax.scan`` of the library's training step.
  """
  step = _step(method, tx, binarize)
  return jax.jit(lambda state, batches: jax.lax.scan(step, state, batches),
                 donate_argnums=0)


def vmapped_seeds(method, tx, binarize: bool, seeds, example_images):
  """K models (one per seed) as one state with a leading axis of K, and one
  jitted step training all of them on the same batch."""
  states = jax.jit(jax.vmap(lambda seed: create_train_state(
      method, seed, example_images)))(jnp.asarray(seeds))
  return states, jax.jit(jax.vmap(_step(method, tx, binarize),
                                  in_axes=(0, None)), donate_argnums=0)


def _images_per_s(fn, state, batch_list, images_per_call: int) -> float:
  """Calls ``state, _ = fn(state, b)`` for each b; the first call is warm-up."""
  state, metrics = fn(state, batch_list[0])
  jax.block_until_ready((state, metrics))
  start = time.perf_counter()
  for b in batch_list[1:]:
    state, metrics = fn(state, b)
  jax.block_until_ready((state, metrics))
  elapsed = time.perf_counter() - start
  return images_per_call * (len(batch_list) - 1) / elapsed


def on_device(model: str, batch: int, steps: int, seeds: int,
              data_dir: str) -> dict:
  """Per-step loop vs a ``lax.scan`` of the steps vs ``vmap`` over seeds.

  All three run the library's training step on one device on the same
  Fashion-MNIST batches; each is compiled and warmed up first. Loop and
  scan run ``steps`` steps three times (the first time is the warm-up);
  vmap runs ``steps`` steps of ``seeds`` models.
  """
  config = bench_config(model)
  method, tx = _method_and_optimizer(config, batch)
  binarize = config.data.binarize
  example = jnp.zeros((batch, 28, 28, 1))
  images = jnp.asarray(load_batches(batch, steps * 3, data_dir))
  per_step = [{"image": b} for b in images]

  train, _ = compile_steps(method, make_mesh(1), binarize)
  state = create_train_state(method, config.seed, example)

  def loop(state, group):
    for b in group:
      state, metrics = train(state, b)
    return state, metrics

  groups = [per_step[i * steps:(i + 1) * steps] for i in range(3)]
  loop_rate = _images_per_s(loop, state, groups, steps * batch)

  scan = scan_steps(method, tx, binarize)
  stacked = [{"image": images[i * steps:(i + 1) * steps]} for i in range(3)]
  state = create_train_state(method, config.seed, example)
  scan_rate = _images_per_s(scan, state, stacked, steps * batch)

  states, vstep = vmapped_seeds(method, tx, binarize, list(range(seeds)),
                                example)
  vmap_rate = _images_per_s(vstep, states, per_step[:steps + 1],
                            seeds * batch)
  return {"model": model, "batch": batch, "steps": steps,
          "loop_images_per_s": round(loop_rate, 1),
          "scan_images_per_s": round(scan_rate, 1),
          "scan_over_loop": round(scan_rate / loop_rate, 3),
          "seeds": seeds, "vmap_images_per_s": round(vmap_rate, 1),
          "vmap_over_loop": round(vmap_rate / loop_rate, 3),
          "devices": f"1x {jax.devices()[0].device_kind}",
          "jax": jax.__version__}


def loop_overhead(experiment: str, epochs: int, data_dir: str,
                  num_devices: int = 1) -> dict:
  """Epoch wall time through the training loop vs bare compiled steps.

  Trains ``experiment`` for ``epochs`` epochs with
  :func:`aejax.train.loop.train_and_evaluate` (host data pipeline, logging,
  validation and an asynchronous checkpoint every epoch) in a temporary
  work directory and takes the last epoch's wall seconds from its
  metrics.jsonl (the first epoch includes compilation). Then times the same
  number of steps of the same compiled step on device-resident batches.
  """
  from aejax.plotting import read_metrics  # pylint: disable=g-import-not-at-top
  from aejax.train.loop import METRICS_FILE, train_and_evaluate  # pylint: disable=g-import-not-at-top
  config = load_experiment(experiment)
  config.update(num_epochs=epochs, max_steps=-1, progress_bar=False,
                num_devices=num_devices, figures=False)  # a temporary dir
  with tempfile.TemporaryDirectory() as workdir:
    train_and_evaluate(config, workdir)
    rows = read_metrics(os.path.join(workdir, METRICS_FILE))
  epoch = [r for r in rows if r["split"] == "epoch"][-1]
  steps = int(epoch["steps"])
  bare = run("", config.batch_size, steps, 5, data_dir, num_devices,
             config=load_experiment(experiment))
  bare_seconds = steps * config.batch_size / bare["images_per_s"]
  return {"experiment": experiment, "batch": config.batch_size,
          "steps_per_epoch": steps, "loop_epoch_s": round(epoch["seconds"], 3),
          "bare_steps_s": round(bare_seconds, 3),
          "loop_over_bare": round(epoch["seconds"] / bare_seconds, 3),
          "devices": bare["devices"], "jax": jax.__version__}


def main(argv=None) -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", default="conv_ae",
                      help=f"one of {MODELS}, a comma-separated list, or all")
  parser.add_argument("--batch", default="128",
                      help="batch size, or a comma-separated list")
  parser.add_argument("--steps", default="100",
                      help="timed steps, or one per --batch (comma-separated)")
  parser.add_argument("--warmup", type=int, default=5)
  parser.add_argument("--num_devices", type=int, default=1,
                      help="devices of the data mesh (0: all)")
  parser.add_argument("--data-dir", dest="data_dir",
                      default=DEFAULT_FASHION_MNIST_DIR)
  parser.add_argument("--torch_python", default="",
                      help="a python with torch: also run torch_reference.py")
  parser.add_argument("--torch_reference", default=TORCH_REFERENCE,
                      help="the PyTorch script to run (default: aejax's own "
                      "aejax/torch_reference.py)")
  parser.add_argument("--torch_allocator", default="system",
                      choices=("system", "tcmalloc"),
                      help="run torch_reference.py on the system malloc (as "
                      "shipped) or on tcmalloc (as aejax's commands run)")
  parser.add_argument("--loop", default="",
                      help="an experiment config: compare an epoch through "
                      "the training loop with bare compiled steps")
  parser.add_argument("--epochs", type=int, default=2,
                      help="--loop: epochs to train (the last is timed)")
  parser.add_argument("--on_device", action="store_true",
                      help="compare the per-step loop with lax.scan over "
                      "the steps and vmap over --seeds models")
  parser.add_argument("--seeds", type=int, default=4,
                      help="--on_device: models trained at once by vmap")
  args = parser.parse_args(argv)
  models = MODELS if args.model == "all" else tuple(args.model.split(","))
  unknown = [m for m in models if m not in MODELS]
  if unknown:
    raise SystemExit(f"Unknown --model {unknown}: choose from {MODELS} or "
                     "all.")
  try:
    batches = [int(b) for b in args.batch.split(",")]
    steps = [int(n) for n in args.steps.split(",")]
  except ValueError:
    raise SystemExit("--batch and --steps take integers, comma-separated "
                     "(e.g. --batch 32,128 --steps 200,50).") from None
  if len(steps) == 1:
    steps *= len(batches)
  if len(steps) != len(batches):
    raise SystemExit(f"--steps gives {len(steps)} values for "
                     f"{len(batches)} batch sizes: give one, or one each.")
  if args.warmup < 1 or min(steps) < 1 or min(batches) < 1:
    raise SystemExit("--warmup, --steps and --batch must be >= 1.")
  if args.on_device:
    if args.seeds < 1:
      raise SystemExit("--seeds must be >= 1.")
    for model in models:
      for batch, n in zip(batches, steps):
        print(json.dumps(on_device(model, batch, n, args.seeds,
                                   args.data_dir)), flush=True)
    return
  if args.loop:
    if not os.path.isfile(args.loop):
      raise SystemExit(f"No experiment config at {args.loop!r}.")
    if args.epochs < 2:
      raise SystemExit("--epochs must be >= 2: the first epoch compiles.")
    print(json.dumps(loop_overhead(args.loop, args.epochs, args.data_dir,
                                   args.num_devices)), flush=True)
    return
  ratios = []
  for model in models:
    for batch, n in zip(batches, steps):
      ours = run(model, batch, n, args.warmup, args.data_dir,
                 args.num_devices)
      print(json.dumps(ours), flush=True)
      if not args.torch_python:
        continue
      theirs = run_torch(args.torch_python, args.torch_reference, model,
                         batch, n, args.warmup, args.data_dir,
                         args.torch_allocator)
      ratio = round(ours["images_per_s"] / theirs["images_per_s"], 3)
      ratios.append((model, batch, ratio))
      print(json.dumps(theirs))
      print(json.dumps({"model": model, "batch": batch,
                        "ratio_images_per_s": ratio}), flush=True)
  if len(ratios) > 1:
    print("ratio (ours / torch's images per second):")
    for model, batch, ratio in ratios:
      print(f"  {model:9s} batch {batch:4d}  {ratio:.3f}")


if __name__ == "__main__":
  host_allocator.reexec_with_tcmalloc()
  main()
