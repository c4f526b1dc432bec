r"""The BENCHMARKS.md tables as data: runs, commands, metrics, recorded values.

``python -m aejax.reproduce TABLE`` (:mod:`aejax.reproduce`) runs what is
written here; nothing about a table lives anywhere else.

* :data:`RUNS` names every run: a directory under ``--out`` and the commands
  that fill it, in order (``python -m <module> <args>``). The first command of
  a run (usually ``aejax.main``) comes before its other commands (its
  evaluations); ``{dir}`` is the run's directory, ``{run:NAME}`` another run's
  (which then runs first), ``{experiments}`` the repository's
  ``experiments/``, ``{torch_python}`` the ``--torch_python`` given (an
  argument whose placeholder is empty is left out). A command is done once
  its ``result`` file exists in the run directory; a command without one
  prints its result, kept as ``out_<step>.json`` (the JSON lines it printed).
  ``quick`` holds the arguments ``--quick`` adds or replaces (same
  ``--flag=``), ``quick_argv`` a whole replacement; ``wall_s`` is the wall
  time BENCHMARKS.md records for the command (None: not recorded).
* :data:`TABLES` holds each table: label columns, metric columns, and rows
  whose cells read one number (or list) from a run's result — a path of dict
  keys, list indices and ``{field: value}`` selectors (the last element of a
  list holding those items and the next key) — with the recorded value, its
  tolerance (``tol`` absolute plus ``rel`` × |recorded|) and its format. A
  cell reads its step's result unless ``file`` names another file the step
  writes (``anomaly.json``, ``metrics.jsonl``: a list of rows). A
  ``spread`` path shows "± value" beside it, never compared. Derived cells
  are the ratio or difference of two columns of the same row (to their
  left).

Tolerances say how far a re-run (same seed, another CPU or library version)
may land and still count as the recorded result; they are not confidence
intervals. Where BENCHMARKS.md states a spread (the 10-epoch deep-AE
ablations, the throughput runs) the tolerance is that spread.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Union


@dataclasses.dataclass(frozen=True)
class Step:
  """One command, ``python -m <module> <args>``, run in a run's directory."""
  module: str
  args: tuple[str, ...]
  result: str = ""          # "" = what it prints, kept as out_<step>.json
  quick: tuple[str, ...] = ()
  quick_argv: tuple[str, ...] = ()  # replaces ("-m", module, *args) entirely
  wall_s: float | None = None


@dataclasses.dataclass(frozen=True)
class Metric:
  """A number (or list) read from ``step``'s result in run ``run``."""
  run: str
  key: tuple[Any, ...]
  recorded: Any = None
  tol: float | None = None  # every recorded number states its tolerance:
  rel: float | None = None  # tol + rel x |recorded| (0 for an exact count)
  fmt: str = "{:.2f}"
  step: str = ""            # "" = the run's first step
  file: str = ""            # "" = the step's result; else a file it writes
  spread: tuple[Any, ...] = ()
  spread_recorded: Any = None
  reduce: str = ""          # "min", "max", "count_below_1" over a list
  needs: str = ""           # "torch_python": read only when it is given


@dataclasses.dataclass(frozen=True)
class Derived:
  """``op`` ("ratio" or "diff") of two metric columns of the same row."""
  op: str
  a: str
  b: str
  recorded: Any = None
  tol: float | None = None
  rel: float | None = None
  fmt: str = "{:.2f}"


Cell = Union[Metric, Derived, None]


@dataclasses.dataclass(frozen=True)
class Row:
  labels: tuple[str, ...]
  cells: tuple[Cell, ...]   # one per metric column; None = no such number


@dataclasses.dataclass(frozen=True)
class Table:
  name: str
  title: str
  label_columns: tuple[str, ...]
  metric_columns: tuple[str, ...]
  rows: tuple[Row, ...]
  quick_rows: tuple[int, ...] = (0,)
  facts: tuple[tuple[str, Metric], ...] = ()   # numbers shown below the table


# --- commands -------------------------------------------------------------

# What --quick adds to a training command: scikit-learn's 8x8 digits, two
# steps (a run still validates, tests and writes every file).
DIGITS = ("--config.data.name=digits", "--config.max_steps=2")
TWO_STEPS = ("--config.max_steps=2",)   # for data that is already small


def train(experiment: str, *overrides: str, quick=DIGITS,
          wall_s: float | None = None, workdir: str = "{dir}") -> Step:
  """``python -m aejax.main`` on ``experiments/<experiment>`` with
  ``--config.<override>`` flags."""
  return Step("aejax.main",
              (f"--config={{experiments}}/{experiment}",
               f"--workdir={workdir}", "--config.progress_bar=False")
              + tuple(f"--config.{o}" for o in overrides),
              result="/".join(filter(None, (
                  workdir[len("{dir}"):].strip("/"), "results.json"))),
              quick=quick + ("--config.tensorboard=False",), wall_s=wall_s)


def subspace(wall_s=None) -> Step:
  return Step("aejax.eval.subspace", ("--workdir={dir}",), wall_s=wall_s)


def likelihood(wall_s=None) -> Step:
  return Step("aejax.eval.likelihood", ("--workdir={dir}", "--k=5000"),
              quick=("--k=10", "--chunk=5", "--limit=20"), wall_s=wall_s)


def frechet(wall_s=7.0) -> Step:
  return Step("aejax.eval.frechet", ("--classifier={run:classifier}",
                                     "--workdir={dir}"),
              quick=("--n=100",), wall_s=wall_s)


def two_sample(*args: str, wall_s=53) -> Step:
  return Step("aejax.eval.two_sample", ("--workdir={dir}",) + args,
              quick=("--n=100", "--repeats=2", "--permutations=10",
                     "--scales=0.25"), wall_s=wall_s)


def few_labels(*args: str, wall_s=None) -> Step:
  return Step("aejax.eval.few_labels",
              ("--workdir={run:deep_ae}", "--labels=100,1000", "--draws=3",
               "--output_dir={dir}") + args, result="few_labels.json",
              quick=("--labels=100", "--draws=1", "--steps=5",
                     "--checkpoint_every=5"),
              wall_s=wall_s)


def embedding(wall_s=14) -> Step:
  return Step("aejax.eval.embedding", ("--workdir={dir}",),
              quick=("--subset=200",), wall_s=wall_s)


def pca_embedding(k: int, wall_s=None) -> Step:
  return Step("aejax.eval.embedding", (f"--pca={k}", "--output_dir={dir}"),
              quick=("--dataset=digits", "--subset=200"), wall_s=wall_s)


# The classifier's command has no data or step-limit flag: --quick trains it
# on the digits for two steps from Python, with the same function.
_QUICK_CLASSIFIER = (
    "-c", "import json, sys; from aejax.config import base_config; "
    "from aejax.eval.classifier import train_classifier; "
    "d = base_config().data; d.name = 'digits'; "
    "print(json.dumps(train_classifier(sys.argv[1], d, max_steps=2)))",
    "{dir}")

_BENCH_ALL = ("--model=all", "--batch=32,128", "--steps=200,50",
              "--torch_python={torch_python}")


def on_device(model: str, batch: str, steps: str, wall_s=None) -> Step:
  return Step("aejax.bench", (f"--model={model}", f"--batch={batch}",
                              f"--steps={steps}", "--on_device", "--seeds=4"),
              quick=("--batch=32", "--steps=2", "--seeds=2"), wall_s=wall_s)


def cache_runs(experiment: str, cold_s=None, warm_s=None) -> dict:
  """Two runs of ``experiment`` sharing a fresh persistent cache."""
  def one(name, wall_s):
    step = train(experiment, "max_steps=20", workdir="{dir}/" + name,
                 wall_s=wall_s)
    return dataclasses.replace(
        step, args=step.args + ("--compilation_cache={dir}/xla_cache",))
  return {"cold": one("cold", cold_s), "warm": one("warm", warm_s)}


# The semi-supervised table (aejax.eval.semi_supervised, 100 and 1000
# labels, draws 0-2): the runs (n, run, wall seconds), then per n the
# (mean, std) of each variant and of its paired difference with scratch
# (BENCHMARKS.md gives the commands, machine and wall times).
SEMI_SUPERVISED_VARIANTS = (("scratch", "scratch"), ("m1", "M1"), ("m2", "M2"),
                            ("m1m2", "M1 + M2"), ("ladder", "ladder"),
                            ("ladder_supervised", "ladder, λ = 0"))
SEMI_SUPERVISED_RUNS = ((100, "semi_supervised", 1404 + 1089),
                         (1000, "semi_supervised_1000", 1441 + 1364))
SEMI_SUPERVISED_RECORDED = (
    (100, "semi_supervised",
     {"scratch": (0.701, 0.030), "m1": (0.668, 0.035), "m2": (0.680, 0.027),
      "m1m2": (0.704, 0.030), "ladder": (0.762, 0.026),
      "ladder_supervised": (0.716, 0.034)},
     {"m1": (-0.033, 0.005), "m2": (-0.021, 0.004), "m1m2": (0.002, 0.012),
      "ladder": (0.060, 0.006), "ladder_supervised": (0.014, 0.012)}),
    (1000, "semi_supervised_1000",
     {"scratch": (0.796, 0.005), "m1": (0.787, 0.004), "m2": (0.790, 0.006),
      "m1m2": (0.789, 0.010), "ladder": (0.833, 0.003),
      "ladder_supervised": (0.815, 0.005)},
     {"m1": (-0.009, 0.005), "m2": (-0.006, 0.004), "m1m2": (-0.007, 0.006),
      "ladder": (0.037, 0.003),
      "ladder_supervised": (0.019, 0.003)}))


RUNS: dict[str, dict[str, Step]] = {
    # reconstruction, deep_ae
    "pca": {"pca": Step("aejax.eval.pca", ("--k=2,10,30,64",),
                        quick=("--dataset=digits",), wall_s=19.5)},
    "ae": {"train": train("ae_fashion_mnist.py", wall_s=168),
           "embedding": embedding()},
    # dae_conv
    "dae_conv_2ep": {"train": train("dae_conv_fashion_mnist.py",
                                    "num_epochs=2", wall_s=94)},
    "dae_conv": {"train": train("dae_conv_fashion_mnist.py", wall_s=1178)},
    # linear_ae
    **{f"linear_k{k}": {"train": train("linear_ae_fashion_mnist.py",
                                       f"model.latent_dim={k}", wall_s=t),
                        "subspace": subspace(s)}
       for k, t, s in ((2, 46, 14), (10, 52, 14), (30, 67, 16),
                       (64, 82, 14))},
    # denoising
    **{f"dae_mlp_{noise}_{level}": {"train": train(
        f"dae_mlp_fashion_mnist.py:{noise}={level}", wall_s=t)}
       for noise, level, t in (("gaussian", "0.2", 123),
                               ("gaussian", "0.5", 91),
                               ("masking", "0.25", 82),
                               ("masking", "0.5", 83),
                               ("salt_and_pepper", "0.1", 61),
                               ("salt_and_pepper", "0.3", 89))},
    # sparse
    "sparse_plain": {"train": train("sparse_kl_fashion_mnist.py",
                                    "method.sparsity_weight=0", wall_s=117)},
    "sparse_kl": {"train": train("sparse_kl_fashion_mnist.py", wall_s=106)},
    "sparse_l1": {"train": train("sparse_l1_fashion_mnist.py", wall_s=101)},
    # contractive
    "cae_plain": {"train": train("contractive_fashion_mnist.py",
                                 "method.contractive_weight=0", wall_s=115)},
    "cae_exact": {"train": train("contractive_fashion_mnist.py",
                                 wall_s=557)},
    "cae_hutchinson": {"train": train(
        "contractive_fashion_mnist.py",
        "method.jacobian_estimator=hutchinson", wall_s=83)},
    # deep_ae (the 18-epoch run is also few_labels' pre-training)
    "deep_ae": {"train": train("deep_ae_fashion_mnist.py", wall_s=614)},
    "deep_ae_cosine30": {"train": train(
        "deep_ae_fashion_mnist.py", "num_epochs=30",
        "optimizer.decay_steps=12870", "optimizer.final_lr_fraction=0.01",
        wall_s=341)},
    # issue 15: 100 epochs (the best on validation, with its test curve),
    # the loss, 200 epochs
    "deep_ae_long": {"train": train("deep_ae_long_fashion_mnist.py",
                                    wall_s=815),
                     "curve": Step("aejax.eval.curve", ("--workdir={dir}",),
                                   wall_s=10),
                     "refine": Step("aejax.eval.refine_codes",
                                    ("--workdir={dir}",),
                                    quick=("--steps=5",), wall_s=292)},
    "deep_ae_mse100": {"train": train(
        "deep_ae_fashion_mnist.py", "method.loss=mse", "num_epochs=100",
        "optimizer.decay_steps=42900", "optimizer.final_lr_fraction=0.01",
        wall_s=990)},
    "deep_ae_mse200": {"train": train(
        "deep_ae_fashion_mnist.py", "method.loss=mse", "num_epochs=200",
        "optimizer.decay_steps=85800", "optimizer.final_lr_fraction=0.01",
        wall_s=2270)},
    "deep_ae_10ep": {"train": train("deep_ae_fashion_mnist.py",
                                    "num_epochs=10", wall_s=488)},
    "deep_ae_10ep_untied": {"train": train(
        "deep_ae_fashion_mnist.py", "num_epochs=10", "model.tied=False",
        wall_s=612)},
    "deep_ae_10ep_no_pretraining": {"train": train(
        "deep_ae_fashion_mnist.py", "num_epochs=10",
        "method.pretrain_epochs=0", wall_s=462)},
    "deep_ae_10ep_untied_no_pretraining": {"train": train(
        "deep_ae_fashion_mnist.py", "num_epochs=10", "model.tied=False",
        "method.pretrain_epochs=0", wall_s=579)},
    "stacked_dae": {"train": train("stacked_dae_fashion_mnist.py",
                                   wall_s=209)},
    "dropout_ae": {"train": train("dropout_ae_fashion_mnist.py", wall_s=373)},
    # recurrent
    "recurrent_lstm": {"train": train("recurrent_fashion_mnist.py",
                                      wall_s=483)},
    "recurrent_gru": {"train": train("recurrent_fashion_mnist.py",
                                     "model.cell=gru", wall_s=353)},
    "recurrent_one_class0": {"train": train(
        "recurrent_fashion_mnist.py", "data.normal_classes=(0,)",
        "num_epochs=10", wall_s=132)},
    "italy_lstm": {"train": train("recurrent_italy_power.py",
                                  quick=TWO_STEPS, wall_s=30)},
    "italy_gru": {"train": train("recurrent_italy_power.py", "model.cell=gru",
                                 quick=TWO_STEPS, wall_s=38)},
    "vowels_gru": {"train": train("recurrent_japanese_vowels.py",
                                  quick=TWO_STEPS, wall_s=20)},
    "vowels_lstm": {"train": train("recurrent_japanese_vowels.py",
                                   "model.cell=lstm", quick=TWO_STEPS,
                                   wall_s=30)},
    # few_labels
    "few_labels": {"few_labels": few_labels(wall_s=879)},
    "few_labels_head128": {"few_labels": few_labels("--head_hidden=128",
                                                    wall_s=821)},
    # semi_supervised
    **{run: {"semi_supervised": Step(
        "aejax.eval.semi_supervised",
        ("--output_dir={dir}", f"--labels={n}", "--draws=3",
         "--methods=" + ",".join(v for v, _ in SEMI_SUPERVISED_VARIANTS)),
        result="semi_supervised.json", quick=("--quick", "--draws=1"),
        wall_s=wall_s)}
       for n, run, wall_s in SEMI_SUPERVISED_RUNS},
    # frechet, two_sample, nll
    "classifier": {
        "train": Step("aejax.eval.classifier", ("--workdir={dir}",),
                      quick_argv=_QUICK_CLASSIFIER, wall_s=259),
        "floor": Step("aejax.eval.frechet", ("--classifier={dir}", "--floor"),
                      quick=("--n=100",), wall_s=5)},
    "dcgan": {"train": train("dcgan_fashion_mnist.py", wall_s=227),
              "frechet": frechet()},
    "vae_gaussian": {"train": train("vae_fashion_mnist.py",
                                    "method.likelihood=gaussian",
                                    "data.binarize=False", wall_s=71),
                     "frechet": frechet()},
    "aae": {"train": train("aae_fashion_mnist.py", wall_s=77),
            "two_sample": two_sample(), "frechet": frechet(),
            "embedding": embedding()},
    # The recorded command was --config.method.name=ae alone; the config
    # check refuses the AAE-only fields since, so they go back to their
    # defaults and the two-sample command names the prior.
    "ae_2d": {"train": train("aae_fashion_mnist.py", "method.name=ae",
                             "method.prior=gaussian",
                             "method.adversarial_learning_rate=0",
                             wall_s=45),
              "two_sample": two_sample("--prior=mixture")},
    "nll_k1": {"train": train("vae_fashion_mnist.py", "num_epochs=10",
                              "method.num_samples=1", wall_s=144),
               "nll": likelihood(955), "frechet": frechet()},
    "nll_k5": {"train": train("vae_fashion_mnist.py", "num_epochs=10",
                              "method.num_samples=5", wall_s=347),
               "nll": likelihood(960)},
    "nll_k50": {"train": train("vae_fashion_mnist.py", "num_epochs=10",
                               "method.num_samples=50", wall_s=2323),
                "nll": likelihood(827)},
    # dim_reduction (the 30-d AE is "ae", the 2-d AAE "aae"; wall_s: the
    # commands' CPU seconds, as they ran at the lowest priority beside
    # other jobs)
    "dr_pca_2": {"embedding": pca_embedding(2, wall_s=98)},
    "dr_pca_30": {"embedding": pca_embedding(30, wall_s=48)},
    "dr_ae_2": {"train": train("ae_fashion_mnist.py", "model.latent_dim=2",
                               wall_s=136),
                "embedding": embedding()},
    **{f"dr_vae_{d}": {"train": train("vae_fashion_mnist.py", "num_epochs=10",
                                      f"model.latent_dim={d}", wall_s=wall_s),
                       "embedding": embedding()}
       for d, wall_s in ((2, 61), (30, 72))},
    "dr_aae_30": {"train": train("aae_fashion_mnist.py",
                                 "model.latent_dim=30", wall_s=123),
                  "embedding": embedding()},
    **{f"dr_cae_{d}": {"train": train("contractive_fashion_mnist.py",
                                      f"model.latent_dim={d}", wall_s=wall_s),
                       "embedding": embedding()}
       for d, wall_s in ((2, 40), (30, 197))},
    # one_class (resumable: a stopped run continues from the next class)
    "one_class": {"geom": Step("aejax.one_class",
                               ("--out={dir}/one_class.json",),
                               result="one_class.json",
                               quick=("--quick", "--data=digits",
                                      "--detectors=pca"), wall_s=4271)},
    # anomaly_estimator: the recurrent table's runs through AnomalyDetector
    # (wall_s: the commands' CPU seconds; they ran at the lowest priority
    # beside other jobs, so their wall time says nothing.)
    **{f"detector_{run}": {"detector": Step(
        "aejax.detector", (f"--config={{experiments}}/{experiment}",)
        + sets, quick=("--epochs=1",), wall_s=wall_s)}
       for run, experiment, sets, wall_s in (
           ("italy_lstm", "recurrent_italy_power.py", (), 12),
           ("italy_gru", "recurrent_italy_power.py",
            ("--set=model.cell=gru",), 20),
           ("vowels_gru", "recurrent_japanese_vowels.py", (), 11),
           ("vowels_lstm", "recurrent_japanese_vowels.py",
            ("--set=model.cell=lstm",), 22))},
    # throughput, loop, compile_cache, on_device
    "bench": {"bench": Step("aejax.bench", _BENCH_ALL,
                            quick=("--batch=32", "--steps=2", "--warmup=1"),
                            wall_s=86)},
    "loop": {"loop": Step("aejax.bench", (
        "--loop={experiments}/ae_fashion_mnist.py", "--epochs=3"),
                          # the same machinery on a smaller model: 6 s
                          # instead of 28 s at the tests' -O0
                          quick=("--loop={experiments}/"
                                 "linear_ae_fashion_mnist.py", "--epochs=2"),
                          wall_s=13)},
    "cache_ae": cache_runs("ae_fashion_mnist.py", 4.8, 3.5),
    "cache_dae_conv": cache_runs("dae_conv_fashion_mnist.py", 10.5, 6.8),
    "on_device_dense_ae": {"bench": on_device("dense_ae", "32,128", "100",
                                              wall_s=21)},
    "on_device_conv_ae": {"bench": on_device("conv_ae", "32", "50",
                                             wall_s=27)},
    "on_device_conv_vae": {"bench": on_device("conv_vae", "32", "50",
                                              wall_s=27)},
    "on_device_dcgan": {"bench": on_device("dcgan", "32", "20", wall_s=28)},
}


# --- metrics --------------------------------------------------------------

def on_test(run: str, name: str, recorded, **kw) -> Metric:
  """``results.json`` → ``test.<name>``."""
  return Metric(run, ("test", name), recorded, **kw)


def sq_err(run: str, recorded, tol=0.2, **kw) -> Metric:
  return on_test(run, "sq_err_per_image", recorded, tol=tol, **kw)


def printed(run: str, step: str, *key, recorded=None, **kw) -> Metric:
  """A field of the last JSON line ``step`` printed."""
  return Metric(run, (-1,) + key, recorded, step=step, **kw)


def psnr(run: str, recorded, name="psnr", tol=0.15) -> Metric:
  return on_test(run, name, recorded, tol=tol)


def anomaly(run: str, key, recorded, **kw) -> Metric:
  """``anomaly.json``, which training writes when data.normal_classes is
  set (``python -m aejax.eval.anomaly`` computes the same)."""
  return Metric(run, key, recorded, file="anomaly.json", **kw)


def bench(run: str, select: dict, name: str, recorded, step="bench",
          **kw) -> Metric:
  return Metric(run, (select, name), recorded, step=step, **kw)


def few(run: str, n: int, variant: str, recorded_mean, recorded_std,
        minus_scratch=False) -> Metric:
  """Test accuracy over draws (few_labels.json): mean ± sample std."""
  path = ("summary", str(n), variant) + (("minus_scratch",)
                                         if minus_scratch else ())
  return Metric(run, path + ("mean",), recorded_mean, tol=0.02, fmt="{:+.3f}"
                if minus_scratch else "{:.3f}", spread=path + ("std",),
                spread_recorded=recorded_std)


def mmd(run: str, which: str, recorded, recorded_std, fmt="{:.3f}"):
  """MMD² at bandwidth h_med / 4, mean ± std over the repeats."""
  return Metric(run, (-1, "mmd2", "0.25", which), recorded, tol=0.005,
                fmt=fmt, step="two_sample",
                spread=(-1, "mmd2", "0.25", f"{which}_std"),
                spread_recorded=recorded_std)


HIST = "{}"   # a list: its numbers separated by spaces


TABLES: tuple[Table, ...] = (
    Table(
        "reconstruction",
        "Reconstruction: MLP autoencoder vs exact PCA (Fashion-MNIST test)",
        ("model", "code"), ("test sq. error / image",),
        tuple(Row(("exact PCA (SVD, float64)", str(k)), (printed(
            "pca", "pca", "test_sq_err_per_image", str(k), recorded=v,
            tol=0.01),))
              for k, v in ((2, 36.14), (10, 19.09), (30, 12.24), (64, 8.13)))
        + (Row(("MLP AE 784-512-256-30", "30"), (sq_err("ae", 6.59),)),)),
    Table(
        "dae_conv",
        "The seed-002 convolutional denoiser (Fashion-MNIST test)",
        ("epochs",),
        ("MSE denoised vs clean (per pixel)", "PSNR denoised (dB)",
         "PSNR noisy input (dB)"),
        tuple(Row((epochs,), (
            on_test(run, "mse", mse, rel=0.03, fmt="{:.5f}"), psnr(run, p),
            psnr(run, noisy, "psnr_noisy", tol=0.05)))
              for epochs, run, mse, p, noisy in (
                  ("2 of the config's 25", "dae_conv_2ep", 0.01859, 17.78,
                   5.89),
                  ("25 (the config's full run)", "dae_conv", 0.01660, 18.34,
                   5.89)))),
    Table(
        "linear_ae",
        "Linear autoencoder vs exact PCA (Fashion-MNIST test)",
        ("k",),
        ("linear AE", "exact PCA-k", "AE / PCA", "max angle (°)",
         "mean angle (°)", "angles < 1°"),
        tuple(Row((str(k),), (
            sq_err(f"linear_k{k}", ae, tol=0, rel=0.01),
            printed(f"linear_k{k}", "subspace", "pca_test_sq_err_per_image",
                    recorded=pca, tol=0.01),
            Derived("ratio", "linear AE", "exact PCA-k", ratio, tol=0.005,
                    fmt="{:.3f}"),
            printed(f"linear_k{k}", "subspace", "max_angle_deg",
                    recorded=amax, tol=atol, fmt=afmt),
            printed(f"linear_k{k}", "subspace", "mean_angle_deg",
                    recorded=amean, tol=mtol),
            printed(f"linear_k{k}", "subspace", "angles_deg",
                    recorded=below, reduce="count_below_1", tol=ctol,
                    fmt="{:d}")))
              for k, ae, pca, ratio, amax, afmt, atol, amean, mtol, below,
              ctol in (
                  (2, 36.14, 36.14, 1.000, 0.22, "{:.2f}", 0.3, 0.17, 0.3, 2,
                   0),
                  (10, 19.10, 19.09, 1.001, 0.42, "{:.2f}", 0.3, 0.19, 0.3,
                   10, 0),
                  (30, 12.26, 12.24, 1.001, 19.6, "{:.1f}", 15, 1.06, 1.0,
                   28, 3),
                  (64, 8.15, 8.13, 1.003, 44.0, "{:.1f}", 15, 1.99, 1.0, 49,
                   6)))),
    Table(
        "denoising",
        "Denoising MLP autoencoder: PSNR by noise type and level "
        "(Fashion-MNIST test)",
        ("noise", "level"),
        ("PSNR noisy input (dB)", "PSNR denoised (dB)", "gain (dB)",
         "test sq. err / image (denoised vs clean)"),
        tuple(Row((noise, level), (
            psnr(run, noisy, "psnr_noisy", tol=0.05), psnr(run, den),
            Derived("diff", "PSNR denoised (dB)", "PSNR noisy input (dB)",
                    gain, tol=0.2, fmt="{:+.1f}"),
            sq_err(run, err)))
              for noise, level, run, noisy, den, gain, err in (
                  ("Gaussian", "σ = 0.2", "dae_mlp_gaussian_0.2", 15.96,
                   19.84, 3.9, 9.64),
                  ("Gaussian", "σ = 0.5", "dae_mlp_gaussian_0.5", 9.30,
                   18.11, 8.8, 13.72),
                  ("masking", "25 %", "dae_mlp_masking_0.25", 13.76, 19.65,
                   5.9, 10.04),
                  ("masking", "50 %", "dae_mlp_masking_0.5", 10.73, 18.83,
                   8.1, 11.92),
                  ("salt-and-pepper", "10 %", "dae_mlp_salt_and_pepper_0.1",
                   13.84, 19.80, 6.0, 9.72),
                  ("salt-and-pepper", "30 %", "dae_mlp_salt_and_pepper_0.3",
                   9.03, 18.41, 9.4, 12.89)))),
    Table(
        "sparse", "Sparse autoencoders (Fashion-MNIST test)",
        ("model", "penalty"),
        ("code_mean", "code_near_zero", "code L1 Σ_j h_j",
         "test sq. err / image"),
        tuple(Row((model, penalty), (
            on_test(run, "code_mean", mean, tol=0.02, fmt="{:.3f}"),
            on_test(run, "code_near_zero", zero, tol=0.03, fmt="{:.3f}"),
            on_test(run, "code_l1", l1, rel=0.1, fmt=l1fmt),
            sq_err(run, err)))
              for model, penalty, run, mean, zero, l1, l1fmt, err in (
                  ("sigmoid-code AE (no penalty)", "β = 0", "sparse_plain",
                   0.567, 0.002, 36.3, "{:.1f}", 10.02),
                  ("sparse AE, KL", "β = 0.01, ρ = 0.05", "sparse_kl", 0.051,
                   0.664, 3.27, "{:.2f}", 11.81),
                  ("sparse AE, L1", "λ = 1e-3", "sparse_l1", 0.020, 0.883,
                   1.25, "{:.2f}", 12.64)))),
    Table(
        "contractive", "Contractive autoencoder (Fashion-MNIST test)",
        ("model", "penalty (training)"),
        ("test mean ‖∂h/∂x‖²_F", "test sq. err / image",
         "training steps/s (last logged)"),
        tuple(Row((model, penalty), (
            on_test(run, "jacobian_frobenius_sq", jac, rel=0.1, fmt="{:.3f}"),
            sq_err(run, err),
            Metric(run, ({"split": "train"}, "steps_per_s"), speed, rel=0.5,
                   fmt="{:.2g}", file="metrics.jsonl")))
              # Re-run at 5f2ff8c (6173073 recorded 0.771 / 14.38 / –,
              # 0.326 / 15.03 / 1.7 and 0.315 / 15.01 / 22).
              for model, penalty, run, jac, err, speed in (
                  ("same AE, no penalty", "λ = 0", "cae_plain", 0.793, 14.43,
                   120),
                  ("CAE, exact Jacobian (vmap of jacrev)", "λ = 1e-3",
                   "cae_exact", 0.334, 14.75, 8.2),
                  ("CAE, Hutchinson, 1 Rademacher probe", "λ = 1e-3",
                   "cae_hutchinson", 0.315, 15.32, 85)))),
    Table(
        "deep_ae",
        "Deep autoencoder 784-1000-500-250-30 vs PCA-30 "
        "(Hinton & Salakhutdinov 2006), Fashion-MNIST test",
        ("model", "tied?", "pretrained?", "fine-tuning epochs"),
        ("params", "test sq. error / image"),
        (Row(("exact PCA-30", "–", "–", "–"), (None, printed(
            "pca", "pca", "test_sq_err_per_image", "30", recorded=12.24,
            tol=0.01))),)
        + tuple(Row((model, tied, pre, epochs), (
            Metric(run, ("num_params",), params, tol=0, fmt="{:d}"),
            sq_err(run, err)))
                for model, tied, pre, epochs, run, params, err in (
                    ("deep AE", "yes", "yes", "18", "deep_ae", 1420814,
                     6.14),
                    ("deep AE, cosine decay 1e-3 → 1e-5", "yes", "yes", "30",
                     "deep_ae_cosine30", 1420814, 5.57),
                    ("deep AE, cosine decay 1e-3 → 1e-5 "
                     "(deep_ae_long_fashion_mnist.py)", "yes", "yes", "100",
                     "deep_ae_long", 1420814, 5.22),
                    ("deep AE, cosine, squared-error loss", "yes", "yes",
                     "100", "deep_ae_mse100", 1420814, 5.25),
                    ("deep AE, cosine, squared-error loss", "yes", "yes",
                     "200", "deep_ae_mse200", 1420814, 5.38),
                    ("deep AE", "yes", "yes", "10", "deep_ae_10ep", 1420814,
                     6.55),
                    ("deep AE", "no", "yes", "10", "deep_ae_10ep_untied",
                     2837314, 6.74),
                    ("deep AE", "yes", "no", "10",
                     "deep_ae_10ep_no_pretraining", 1420814, 6.84),
                    ("deep AE", "no", "no", "10",
                     "deep_ae_10ep_untied_no_pretraining", 2837314, 6.62)))
        + (Row(("deep AE of deep_ae_long_fashion_mnist.py, each image's "
                "code refined: 300 Adam steps on its own error, decoder "
                "fixed (aejax.eval.refine_codes)", "yes", "yes", "100"), (
                    Metric("deep_ae_long", ("num_params",), 1420814, tol=0,
                           fmt="{:d}"),
                    printed("deep_ae_long", "refine", "test", "refined",
                            recorded=4.45, tol=0.1))),),
        quick_rows=(0, 1, 3, 10),   # 3, 10: the long config, its curve and
        #                             its refined codes
        facts=(("long config: test sq. error at its first checkpoint, "
                "10 epochs (aejax.eval.curve)",
                Metric("deep_ae_long", (0, "test"), 6.54, tol=0.2,
                       step="curve")),)),
    Table(
        "stacked_dae",
        "Stacked denoising autoencoder (Vincent et al. 2010), "
        "Fashion-MNIST test",
        ("model", "fine-tuning epochs"),
        ("test sq. error / image (denoised vs clean)", "PSNR denoised (dB)",
         "PSNR masked input (dB)"),
        (Row(("stacked DAE 784-1000-500-250-30, masking 0.25", "5"), (
            sq_err("stacked_dae", 8.98), psnr("stacked_dae", 20.15),
            psnr("stacked_dae", 13.76, "psnr_noisy", tol=0.05))),)),
    Table(
        "dropout", "Dropout autoencoder, Fashion-MNIST test",
        ("model", "dropout"),
        ("test sq. error / image", "test PSNR (dB)"),
        (Row(("MLP AE 784-512-256-30", "0.1 after every hidden activation"),
             (sq_err("dropout_ae", 7.89), psnr("dropout_ae", 20.97))),
         Row(("same network, no dropout (reconstruction table's run)",
              "none"), (sq_err("ae", 6.59), psnr("ae", 21.88))))),
    Table(
        "recurrent",
        "Recurrent autoencoder: Fashion-MNIST rows and UCR/UEA time series",
        ("data", "model", "epochs"),
        ("test sq. error / image", "test MSE / value, all",
         "test MSE / value, normal", "test MSE / value, anomalous",
         "validation MSE / value", "AUROC", "AUROC, worst class",
         "AUROC, best class"),
        tuple(Row(labels, (
            on_test(run, "sq_err_per_sequence", sq, rel=0.03) if sq else None,
            on_test(run, "mse", all_, rel=0.1, fmt=f) if all_ else None,
            anomaly(run, ("mean_score_normal",), normal, rel=0.1, fmt=f)
            if normal else None,
            anomaly(run, ("mean_score_anomalous",), anom, rel=0.1, fmt=f)
            if anom else None,
            Metric(run, ("validation", "mse"), val, rel=0.1, fmt=f)
            if val else None,
            anomaly(run, ("auroc",), auc, tol=0.02, fmt="{:.3f}")
            if auc else None,
            anomaly(run, ("auroc_by_class",), lo, reduce="min", tol=0.05)
            if lo else None,
            anomaly(run, ("auroc_by_class",), hi, reduce="max", tol=0.05)
            if hi else None))
              for labels, run, sq, all_, normal, anom, val, auc, lo, hi, f in (
                  (("Fashion-MNIST, all classes",
                    "LSTM(128), code 30, batch 128", "5"), "recurrent_lstm",
                   14.13, None, None, None, None, None, None, None, ""),
                  (("Fashion-MNIST, all classes", "GRU(128), code 30", "5"),
                   "recurrent_gru", 13.62, None, None, None, None, None,
                   None, None, ""),
                  (("Fashion-MNIST, normal = T-shirt/top (class 0)",
                    "LSTM(128), code 30", "10"), "recurrent_one_class0",
                   None, None, 0.0211, 0.0590, None, 0.891, 0.73, 1.00,
                   "{:.4f}"),
                  (("ItalyPowerDemand, normal = Oct–Mar days",
                    "LSTM(64), code 8, batch 8", "200"), "italy_lstm", None,
                   0.180, 0.037, 0.323, None, 0.964, None, None, "{:.3f}"),
                  (("ItalyPowerDemand", "GRU(64), code 8", "200"),
                   "italy_gru", None, 0.147, 0.031, 0.262, None, 0.950, None,
                   None, "{:.3f}"),
                  (("JapaneseVowels, normal = speaker 1",
                    "GRU(64), code 16, batch 8", "120"), "vowels_gru", None,
                   None, 0.75, 1.48, 0.58, 0.902, 0.67, 0.99, "{:.2f}"),
                  (("JapaneseVowels", "LSTM(64), code 16", "120"),
                   "vowels_lstm", None, None, 0.77, 2.03, 0.92, 0.978, None,
                   None, "{:.2f}"))),
        quick_rows=(2, 3)),
    Table(
        "few_labels",
        "Pre-training for few labels (seed 003's exercise), "
        "Fashion-MNIST test",
        ("head", "labels"),
        ("frozen", "fine-tuned", "scratch", "frozen − scratch",
         "fine-tuned − scratch"),
        tuple(Row((head, str(n)), (
            few(run, n, "frozen", *frozen), few(run, n, "fine_tuned", *fine),
            few(run, n, "scratch", *scratch),
            few(run, n, "frozen", *fminus, minus_scratch=True),
            few(run, n, "fine_tuned", *tminus, minus_scratch=True)))
              for head, n, run, frozen, fine, scratch, fminus, tminus in (
                  ("Dense(10) (seed 003)", 100, "few_labels", (0.656, 0.049),
                   (0.711, 0.030), (0.695, 0.032), (-0.039, 0.021),
                   (0.016, 0.007)),
                  ("Dense(10)", 1000, "few_labels", (0.796, 0.003),
                   (0.818, 0.001), (0.803, 0.005), (-0.007, 0.002),
                   (0.016, 0.004)),
                  ("Dense(128)-ReLU-Dense(10)", 100, "few_labels_head128",
                   (0.717, 0.008), (0.705, 0.027), (0.698, 0.027),
                   (0.019, 0.019), (0.007, 0.008)),
                  ("Dense(128)-ReLU-Dense(10)", 1000, "few_labels_head128",
                   (0.817, 0.006), (0.822, 0.005), (0.805, 0.006),
                   (0.012, 0.005), (0.016, 0.004))))),
    Table(
        "semi_supervised",
        "Semi-supervised VAEs (Kingma et al. 2014) and the ladder network "
        "(Rasmus et al. 2015) vs scratch, few labels, Fashion-MNIST test",
        ("labels",),
        tuple(head for _, head in SEMI_SUPERVISED_VARIANTS)
        + tuple(f"{head} − scratch" for _, head in SEMI_SUPERVISED_VARIANTS[1:]),
        tuple(Row((str(n),), tuple(
            few(run, n, variant, *means[variant])
            for variant, _ in SEMI_SUPERVISED_VARIANTS) + tuple(
                few(run, n, variant, *minus[variant], minus_scratch=True)
                for variant, _ in SEMI_SUPERVISED_VARIANTS[1:]))
              for n, run, means, minus in SEMI_SUPERVISED_RECORDED)),
    Table(
        "frechet",
        "Sample quality: Fréchet distance on the project classifier's "
        "features (Fashion-MNIST test)",
        ("model",),
        ("FD", "samples per class (T-shirt … Ankle boot)"),
        (Row(("floor: 10 000 random training images",), (
            printed("classifier", "floor", "frechet_distance_train_vs_test",
                    recorded=0.18, tol=0.1),
            printed("classifier", "floor", "class_histogram_train_sample",
                    recorded=[1019, 1004, 1029, 1051, 1005, 1002, 956, 975,
                              970, 989], tol=50, fmt=HIST))),)
        + tuple(Row((model,), (
            printed(run, "frechet", "frechet_distance", recorded=fd,
                    rel=0.15, fmt="{:.1f}"),
            printed(run, "frechet", "class_histogram", recorded=hist,
                    rel=0.3, tol=50, fmt=HIST)))
                for model, run, fd, hist in (
                    ("DCGAN, 2 epochs", "dcgan", 45.7,
                     [557, 1110, 807, 1318, 1060, 667, 2078, 572, 956, 875]),
                    ("VAE, Gaussian decoder, 30 epochs, mean images",
                     "vae_gaussian", 61.3,
                     [625, 777, 1011, 1211, 1097, 270, 1444, 559, 2044,
                      962]),
                    ("VAE, Bernoulli decoder, 10 epochs (the NLL table's "
                     "k = 1 run), mean images", "nll_k1", 105.1,
                     [972, 801, 1139, 1334, 1272, 113, 1295, 914, 1032,
                      1128]),
                    ("AAE, 2-d code, 10-Gaussian mixture prior, 5 epochs",
                     "aae", 122.7,
                     [1033, 1041, 1747, 1909, 113, 3, 62, 1725, 739,
                      1628]))),
        quick_rows=(0, 4),
        facts=(("classifier test accuracy", printed(
            "classifier", "train", "test_accuracy", recorded=0.9152,
            tol=0.01, fmt="{:.4f}")),
               ("classifier validation accuracy", printed(
                   "classifier", "train", "validation_accuracy",
                   recorded=0.9202, tol=0.01, fmt="{:.4f}")))),
    Table(
        "two_sample",
        "Adversarial autoencoder: aggregate posterior vs prior "
        "(two-sample test)",
        ("2-d code, 10-Gaussian mixture prior, 5 epochs",),
        ("MMD² raw", "MMD² moment-matched"),
        # Re-run at 376489b (838f2f7 recorded 0.026, 0.020, 0.089, 0.050).
        (Row(("AAE",), (mmd("aae", "raw", 0.018, 0.003),
                        mmd("aae", "moment_matched", 0.020, 0.003))),
         Row(("plain AE, same architecture",), (
             mmd("ae_2d", "raw", 0.074, 0.003),
             mmd("ae_2d", "moment_matched", 0.040, 0.002))),
         Row(("two independent prior samples (null)",), (
             mmd("aae", "null", 0.0, 0.0003, fmt="{:.4f}"), None))),
        quick_rows=(0, 2)),
    Table(
        "nll",
        "Test log-likelihood: VAE and IWAE (dynamically binarised "
        "Fashion-MNIST)",
        ("training objective",),
        ("test NLL, k = 5 000 (nats)", "test ELBO (k = 1)"),
        tuple(Row((objective,), (
            printed(run, "nll", "nll_nats", recorded=nll, tol=1.0,
                    spread=(-1, "stderr"), spread_recorded=0.76),
            on_test(run, "elbo", elbo, tol=1.0)))
              for objective, run, nll, elbo in (
                  ("VAE (ELBO, k = 1)", "nll_k1", 242.31, -245.91),
                  ("IWAE, k = 5", "nll_k5", 241.29, -248.88),
                  ("IWAE, k = 50", "nll_k50", 239.71, -257.81)))),
    Table(
        "dim_reduction",
        "Dimensionality reduction: 2-d and 30-d codes vs PCA "
        "(Fashion-MNIST test)",
        ("method", "code"),
        ("5-NN accuracy", "trustworthiness (k = 10)"),
        tuple(Row((method, f"{d}-d"), (
            printed(run, "embedding", "knn_accuracy", recorded=knn,
                    tol=0.01, fmt="{:.3f}"),
            printed(run, "embedding", "trustworthiness", recorded=trust,
                    tol=0.005, fmt="{:.3f}")))
              for method, d, run, knn, trust in (
                  ("PCA (exact)", 2, "dr_pca_2", 0.506, 0.913),
                  ("AE (MLP 512-256, MSE, 20 epochs)", 2, "dr_ae_2", 0.717,
                   0.972),
                  ("VAE (Bernoulli, 10 epochs; posterior mean)", 2,
                   "dr_vae_2", 0.674, 0.964),
                  ("AAE (10-Gaussian mixture prior, 5 epochs)", 2, "aae",
                   0.634, 0.949),
                  ("contractive AE (exact penalty, 2 epochs)", 2,
                   "dr_cae_2", 0.437, 0.842),
                  ("PCA (exact)", 30, "dr_pca_30", 0.849, 0.998),
                  ("AE (MLP 512-256, MSE, 20 epochs)", 30, "ae", 0.871,
                   0.997),
                  ("VAE (Bernoulli, 10 epochs; posterior mean)", 30,
                   "dr_vae_30", 0.800, 0.984),
                  ("AAE (10-Gaussian mixture prior, 5 epochs)", 30,
                   "dr_aae_30", 0.796, 0.990),
                  ("contractive AE (exact penalty, 2 epochs)", 30,
                   "dr_cae_30", 0.832, 0.993))),
        quick_rows=(0, 3)),
    Table(
        "one_class",
        "One-class anomaly detection, protocol of Golan & El-Yaniv (2018): "
        "Fashion-MNIST test AUROC (%), class c normal",
        ("detector",),
        ("mean", "per class 0 … 9"),
        tuple(Row((label,), (
            Metric("one_class", ("detectors", name, "mean"), mean, tol=0.5,
                   fmt="{:.1f}"),
            Metric("one_class", ("detectors", name, "aurocs"), per_class,
                   tol=1.0, fmt="{:.1f}")))
              for name, label, mean, per_class in (
                  ("ae", "AE (MLP 512-256-32), reconstruction error", 91.37,
                   [91.2, 98.9, 88.4, 92.6, 89.8, 89.1, 81.7, 98.6, 85.7,
                    97.6]),
                  ("dae", "denoising AE (Gaussian σ 0.2)", 89.62,
                   [88.5, 96.3, 86.7, 86.4, 89.2, 87.4, 81.8, 98.4, 84.5,
                    96.8]),
                  ("conv_ae", "convolutional AE (32-64, code 16)", 90.51,
                   [90.2, 98.8, 86.9, 92.4, 88.8, 88.0, 81.0, 98.3, 83.7,
                    97.0]),
                  ("contractive", "contractive AE", 89.33,
                   [88.5, 97.4, 86.1, 90.2, 87.8, 88.1, 81.9, 96.9, 79.5,
                    96.8]),
                  ("vae", "VAE, negative ELBO", 73.52,
                   [62.5, 96.8, 49.5, 88.8, 68.4, 92.5, 44.7, 95.9, 50.1,
                    85.9]),
                  ("vae_iwae", "VAE, IWAE NLL (k = 100)", 73.71,
                   [63.6, 96.8, 51.2, 89.1, 67.3, 92.7, 46.2, 96.0, 49.4,
                    85.0]),
                  ("pca", "PCA-32 reconstruction error (scikit-learn)", 90.50,
                   [89.6, 98.5, 88.0, 91.6, 88.0, 88.0, 81.8, 98.5, 83.8,
                    97.1]),
                  ("ocsvm", "OneClassSVM, RBF, ν = 0.1 (scikit-learn)", 88.96,
                   [89.0, 95.2, 87.5, 89.1, 86.2, 83.6, 81.8, 98.1, 80.8,
                    98.2]),
                  ("iforest", "IsolationForest (scikit-learn)", 91.72,
                   [91.2, 97.6, 87.8, 93.5, 90.4, 93.0, 79.8, 98.2, 88.1,
                    97.6]))),
        # --quick runs the command with PCA alone (tests/test_one_class.py
        # runs the autoencoder detectors on the digits).
        quick_rows=(6,)),
    Table(
        "anomaly_estimator",
        "The recurrent detector through aejax.AnomalyDetector vs the "
        "command line (UCR/UEA test AUROC)",
        ("data", "model"),
        ("AnomalyDetector AUROC", "command-line AUROC", "difference"),
        tuple(Row(labels, (
            printed(f"detector_{run}", "detector", "auroc", recorded=est,
                    tol=0.02, fmt="{:.3f}"),
            anomaly(run, ("auroc",), cli, tol=0.02, fmt="{:.3f}"),
            Derived("diff", "AnomalyDetector AUROC", "command-line AUROC",
                    recorded=diff, tol=0.02, fmt="{:+.3f}")))
              # Both paths re-run together at the same commit.
              for labels, run, est, cli, diff in (
                  (("ItalyPowerDemand, normal = Oct–Mar days", "LSTM(64)"),
                   "italy_lstm", 0.960, 0.960, 0.0006),
                  (("ItalyPowerDemand", "GRU(64)"), "italy_gru", 0.950, 0.950,
                   0.0),
                  (("JapaneseVowels, normal = speaker 1", "GRU(64)"),
                   "vowels_gru", 0.902, 0.902, 0.0),
                  (("JapaneseVowels", "LSTM(64)"), "vowels_lstm", 0.978,
                   0.978, -0.0005)))),
    Table(
        "throughput",
        "Performance: training throughput vs PyTorch on the same machine",
        ("model", "batch", "target"),
        ("aejax images/s", "PyTorch images/s", "ratio", "compile s",
         "peak host MB"),
        tuple(Row((model, str(batch), target), (
            bench("bench", {"framework": "jax", "model": model,
                            "batch": batch}, "images_per_s", ours, rel=0.2,
                  fmt="{:.0f}"),
            bench("bench", {"framework": "torch", "model": model,
                            "batch": batch}, "images_per_s", theirs, rel=0.2,
                  fmt="{:.0f}", needs="torch_python"),
            bench("bench", {"model": model, "batch": batch},
                  "ratio_images_per_s", ratio, tol=0.2,
                  needs="torch_python"),
            bench("bench", {"framework": "jax", "model": model,
                            "batch": batch}, "compile_s", compile_s, rel=0.5),
            bench("bench", {"framework": "jax", "model": model,
                            "batch": batch}, "peak_host_mem_mb", mb, rel=0.25,
                  fmt="{:.0f}")))
              for model, batch, target, ours, theirs, ratio, compile_s, mb in (
                  ("dense_ae", 32, "≥ 1.2", 13914, 11604, 1.20, 0.68, 496),
                  ("dense_ae", 128, "≥ 1.2", 31300, 29430, 1.06, 0.64, 539),
                  ("conv_ae", 32, "≥ 1.0", 2932, 2574, 1.14, 1.95, 604),
                  ("conv_ae", 128, "≥ 1.0", 2382, 2128, 1.12, 1.97, 679),
                  ("conv_vae", 32, "≥ 1.0", 3130, 2809, 1.11, 2.23, 894),
                  ("conv_vae", 128, "≥ 1.0", 2768, 2370, 1.17, 2.14, 905),
                  ("dcgan", 32, "≥ 1.0", 1153, 1195, 0.96, 2.48, 910),
                  ("dcgan", 128, "≥ 1.0", 1126, 1289, 0.87, 2.54, 910))),
        quick_rows=(0, 2, 4, 6)),
    Table(
        "loop", "The loop is as fast as its steps",
        ("experiment", "batch"),
        ("steps / epoch", "epoch through the loop (s)", "bare steps (s)",
         "loop / bare"),
        (Row(("experiments/ae_fashion_mnist.py", "128"), (
            printed("loop", "loop", "steps_per_epoch", recorded=429, tol=0,
                    fmt="{:d}"),
            printed("loop", "loop", "loop_epoch_s", recorded=2.05, rel=0.3),
            printed("loop", "loop", "bare_steps_s", recorded=1.75, rel=0.3),
            printed("loop", "loop", "loop_over_bare", recorded=1.18, tol=0.1,
                    ))),)),
    Table(
        "compile_cache", "One compilation; cold vs warm start",
        ("experiment",),
        ("first step, cold cache (s)", "first step, warm cache (s)"),
        tuple(Row((label,), (
            Metric(run, ("first_step_seconds",), cold, rel=0.5, fmt="{:.1f}",
                   step="cold"),
            Metric(run, ("first_step_seconds",), warm, rel=0.5, fmt="{:.1f}",
                   step="warm")))
              for label, run, cold, warm in (
                  ("experiments/ae_fashion_mnist.py (MLP AE)", "cache_ae",
                   2.0, 0.7),
                  ("experiments/dae_conv_fashion_mnist.py (conv DAE, "
                   "BatchNorm)", "cache_dae_conv", 4.4, 1.2)))),
    Table(
        "on_device",
        "More work per dispatch: lax.scan over an epoch's steps, "
        "vmap over seeds",
        ("model", "batch", "steps"),
        ("loop images/s", "scan images/s", "scan / loop",
         "4 seeds by vmap, images/s", "vmap / loop"),
        tuple(Row((model, str(batch), str(steps)), (
            bench(run, sel, "loop_images_per_s", loop, rel=0.3, fmt="{:.0f}"),
            bench(run, sel, "scan_images_per_s", scan, rel=0.3, fmt="{:.0f}"),
            bench(run, sel, "scan_over_loop", s_l, tol=0.2),
            bench(run, sel, "vmap_images_per_s", vmap, rel=0.3, fmt="{:.0f}"),
            bench(run, sel, "vmap_over_loop", v_l, tol=0.2)))
              for model, batch, steps, run, sel, loop, scan, s_l, vmap, v_l in
              ((m, b, n, f"on_device_{m}", {"model": m, "batch": b}, *v)
               for m, b, n, *v in (
                   ("dense_ae", 32, 100, 12678, 14417, 1.14, 9114, 0.72),
                   ("dense_ae", 128, 100, 29338, 33289, 1.14, 23162, 0.79),
                   ("conv_ae", 32, 50, 2845, 963, 0.34, 1908, 0.67),
                   ("conv_vae", 32, 50, 3229, 980, 0.30, 2175, 0.67),
                   ("dcgan", 32, 20, 1153, 767, 0.67, 684, 0.59))))),
)

TABLES_BY_NAME = {t.name: t for t in TABLES}
