#!/usr/bin/env python
"""Mutation check: deliberate breaks of the library's maths, and whether the
tests catch them (issue 17).

  nice python scripts/mutation_check.py               # every break
  python scripts/mutation_check.py --list             # what they are
  python scripts/mutation_check.py --only NAME [NAME ...]
  python scripts/mutation_check.py --no-baseline      # skip the clean run
  python scripts/mutation_check.py --commit HEAD      # a commit, not the tree

Each break replaces exact snippets of one library file, runs the tests
listed with it (``pytest -x`` in a subprocess), restores the file (in a
``finally``) and reports whether a test failed, and which. A snippet that is
not in the file exactly once is reported as PATTERN NOT FOUND (or NOT
UNIQUE) and fails the check: a break that no longer applies must be
rewritten, never silently count as caught. First the same tests run on the
unbroken code (the baseline): a failure only means something if they pass
there.

It works on a copy of the working tree (tracked files and untracked ones git
does not ignore), so that nothing else using this checkout sees a broken
file, and an interrupted run leaves nothing broken. Exit status 0 iff the
baseline passes and every break is caught. It is not a test (pytest does not
collect ``scripts/``) and CI need not run it: it takes minutes per break.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@dataclasses.dataclass(frozen=True)
class Break:
  """One deliberate defect.

  Attributes:
    name: short identifier (``--only``).
    what: the defect, in words.
    path: the file, relative to the repository root.
    edits: ``(snippet, replacement)`` pairs; each snippet must occur
      exactly once in the file.
    tests: pytest node ids that must catch it.
  """
  name: str
  what: str
  path: str
  edits: tuple[tuple[str, str], ...]
  tests: tuple[str, ...]


VAE = "aejax/methods/vae.py"
DIV = "aejax/losses/divergences.py"
REG = "aejax/losses/regularizers.py"

BREAKS = (
    Break("elbo_drops_kl", "the ELBO without its KL term",
          VAE, (("      bound = log_px[0] - kl\n",
                 "      bound = log_px[0]\n"),),
          ("tests/test_vae.py::test_elbo_terms_are_nats_summed_over_pixels",)),
    Break("loss_drops_beta_kl", "the β-VAE training loss without β·KL",
          VAE, (("      per_example = -(log_px - self.beta * kl)\n",
                 "      per_example = -log_px\n"),),
          ("tests/test_vae.py::test_each_loss_term_moves_the_gradient",
           "tests/test_vae.py::test_elbo_terms_are_nats_summed_over_pixels")),
    Break("kl_missing_constant", "KL(q ‖ N(0, I)) without its −1 per unit",
          DIV, (("jnp.exp(logvar) - logvar - 1.0,", "jnp.exp(logvar) - logvar,"),),
          ("tests/test_vae.py::test_kl_matches_numpy_and_monte_carlo",
           "tests/test_closed_forms.py::test_log_densities_match_scipy")),
    Break("iwae_bound_drops_log_weight_correction",
          "the k-sample bound's log-weights are log p(x|z) alone",
          VAE, (("      log_w = (log_px + losses.standard_normal_log_density(z) -\n"
                 "               losses.gaussian_log_density(z, mean[None], "
                 "logvar[None]))\n",
                 "      log_w = log_px\n"),),
          ("tests/test_closed_forms.py::test_linear_gaussian_iwae_rises_with_k"
           "_to_the_exact_log_likelihood",
           "tests/test_vae.py::test_iwae_bound_tightens_with_k_and_matches"
           "_chunked_estimate")),
    Break("chunked_nll_drops_log_weight_correction",
          "the chunked NLL estimator's log-weights are log p(x|z) alone",
          VAE, (("      return (self.decoder_log_prob(out, x) +\n"
                 "              losses.standard_normal_log_density(z) -\n"
                 "              losses.gaussian_log_density(z, mean[None], "
                 "logvar[None]))\n",
                 "      return self.decoder_log_prob(out, x)\n"),),
          ("tests/test_vae.py::test_iwae_bound_tightens_with_k_and_matches"
           "_chunked_estimate",
           "tests/test_closed_forms.py::test_linear_gaussian_iwae_rises_with_k"
           "_to_the_exact_log_likelihood",
           "tests/test_closed_forms.py::test_bernoulli_vae_iwae_estimate"
           "_equals_quadrature")),
    Break("chunked_nll_averages_chunk_estimates",
          "the k = 5 000 estimate is the mean of per-chunk IWAE estimates",
          VAE, (("      return jnp.logaddexp(running, jax.nn.logsumexp(lw, "
                 "axis=0)), None\n",
                 "      return running + (jax.nn.logsumexp(lw, axis=0) - "
                 "math.log(chunk)) / (num_samples // chunk), None\n"),
                ("    init = jnp.full((x.shape[0],), -jnp.inf, x.dtype)\n",
                 "    init = jnp.zeros((x.shape[0],), x.dtype)\n"),
                ("    return -(total - math.log(num_samples))\n",
                 "    return -total\n")),
          ("tests/test_closed_forms.py::test_linear_gaussian_iwae_rises_with_k"
           "_to_the_exact_log_likelihood",
           "tests/test_vae.py::test_iwae_bound_tightens_with_k_and_matches"
           "_chunked_estimate")),
    Break("gaussian_density_drops_2pi", "log N(x; μ, σ²) without −½ log 2π",
          DIV, (("-0.5 * jnp.sum(_LOG_2PI + logvar + ",
                 "-0.5 * jnp.sum(logvar + "),),
          ("tests/test_closed_forms.py::test_log_densities_match_scipy",
           "tests/test_closed_forms.py::test_linear_gaussian_vae_elbo_and_kl"
           "_are_the_closed_forms")),
    Break("bernoulli_mean_over_pixels",
          "the Bernoulli log-likelihood averaged, not summed, over pixels",
          DIV, (("  return -jnp.sum(x * jax.nn.softplus(-logits) +",
                 "  return -jnp.mean(x * jax.nn.softplus(-logits) +"),),
          ("tests/test_vae.py::test_elbo_terms_are_nats_summed_over_pixels",
           "tests/test_losses.py::test_bernoulli_nll_matches_numpy_and_is"
           "_stable")),
    Break("learned_variance_channels_split_in_halves",
          "learned-variance decoder: first C channels means, last C log σ²",
          VAE, (("    pairs = out.reshape(out.shape[:-1] + (-1, 2))\n",
                 "    pairs = jnp.moveaxis(out.reshape(out.shape[:-1] + "
                 "(2, -1)), -2, -1)\n"),),
          ("tests/test_closed_forms.py::test_vae_decoder_log_prob_matches"
           "_scipy",
           "tests/test_vae.py::test_elbo_terms_are_nats_summed_over_pixels")),
    Break("aae_swaps_discriminator_and_generator_phases",
          "AAE: the generator phase before the discriminator phase",
          "aejax/methods/aae.py",
          (("                     (self.discriminator_phase, k_disc),\n"
            "                     (self.generator_phase, k_gen)):\n",
            "                     (self.generator_phase, k_gen),\n"
            "                     (self.discriminator_phase, k_disc)):\n"),),
          ("tests/test_aae.py::test_step_equals_the_three_phases_written_out"
           "_with_sgd",)),
    Break("gan_generator_against_old_discriminator",
          "DCGAN: the G update against D before this step's D updates",
          "aejax/methods/gan.py",
          (("    params, opt_state, batch_stats, g_metrics = "
            "self._generator_step(\n"
            "        params, opt_state, batch_stats, fake, g_vjp, g_stats)\n",
            "    params, opt_state, batch_stats, g_metrics = "
            "self._generator_step(\n"
            "        {**params, \"discriminator\": old[0][\"discriminator\"]},"
            " opt_state, batch_stats, fake, g_vjp, g_stats)\n"),),
          ("tests/test_gan.py::test_generator_update_uses_the_updated"
           "_discriminator",)),
    Break("binarisation_key_reused",
          "dynamic binarisation draws with the same key at every step",
          "aejax/train/step.py",
          (("  batch = prepare_batch(batch, k_data, binarize)\n"
            "  variables, opt_state",
            "  batch = prepare_batch(batch, state.key, binarize)\n"
            "  variables, opt_state"),),
          ("tests/test_vae.py::test_dynamic_binarisation_is_redrawn_every"
           "_training_step",)),
    Break("pretraining_skips_last_layer",
          "greedy pre-training stops before the code layer",
          "aejax/train/pretrain.py",
          (("  for stage in range(method.num_pretrain_stages):\n",
            "  for stage in range(method.num_pretrain_stages - 1):\n"),),
          ("tests/test_deep_ae.py::test_each_layer_is_pretrained_on_the"
           "_trained_lower_layers_codes",)),
    Break("pretraining_feeds_untrained_codes",
          "greedy pre-training feeds the next layer the untrained layer's "
          "codes",
          "aejax/train/pretrain.py",
          (("      train, validation = (_codes(encode, trained, split,",
            "      train, validation = (_codes(encode, stage_params, split,"),),
          ("tests/test_deep_ae.py::test_each_layer_is_pretrained_on_the"
           "_trained_lower_layers_codes",)),
    Break("sparsity_clips_rho_hat_at_1e-6",
          "KL sparsity: ρ̂ clipped to [1e-6, 1 − 1e-6] (a dead unit gets no "
          "gradient)",
          REG, (("  rho_hat = jnp.clip(rho_hat, max(RHO_HAT_FLOOR, "
                 "float(info.tiny)),\n"
                 "                     1.0 - float(info.epsneg))\n",
                 "  rho_hat = jnp.clip(rho_hat, 1e-6, 1.0 - 1e-6)\n"),),
          ("tests/test_regularizers.py::test_dead_unit_keeps_ngs_gradient",)),
    Break("hutchinson_sums_probes",
          "Hutchinson: the sum, not the mean, of the probes' ‖Jv‖²",
          REG, (("    return jnp.mean(jnp.sum(jnp.square(jax.vmap(jvp)(vs)), "
                 "axis=-1))\n",
                 "    return jnp.sum(jnp.sum(jnp.square(jax.vmap(jvp)(vs)), "
                 "axis=-1))\n"),),
          ("tests/test_regularizers.py::test_hutchinson_estimate_is_unbiased",
           "tests/test_contractive.py::test_hutchinson_config_is_close_to"
           "_exact_with_many_probes")),
    Break("permutations_share_one_key",
          "MMD permutation test: every permutation drawn with the same key",
          "aejax/eval/two_sample.py",
          (("  keys = jax.random.split(key, num_permutations)\n",
            "  keys = jnp.stack([key] * num_permutations)\n"),),
          ("tests/test_sample_quality.py::test_permutation_p_values_are"
           "_calibrated_under_the_null",)),
    Break("anomaly_auroc_sign_flipped",
          "the anomaly report's AUROC ranks normal above anomalous",
          "aejax/train/reports.py",
          (("      \"auroc\": auroc(scores, anomalous),\n",
            "      \"auroc\": auroc(-scores, anomalous),\n"),),
          ("tests/test_recurrent.py::test_train_and_evaluate_on_a_sequence"
           "_set_writes_anomaly_report",)),
)


def copy_tree(dest: str, commit: str | None = None) -> None:
  """Tracked files and untracked ones git does not ignore, into ``dest``;
  with ``commit``, that commit's tree instead."""
  if commit:
    archive = subprocess.run(["git", "archive", commit], cwd=ROOT, check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", dest], input=archive, check=True)
    return
  listed = subprocess.run(
      ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
      cwd=ROOT, check=True, capture_output=True).stdout.decode().split("\0")
  for rel in filter(None, listed):
    src = os.path.join(ROOT, rel)
    if not os.path.isfile(src):  # deleted but still in the index
      continue
    os.makedirs(os.path.dirname(os.path.join(dest, rel)), exist_ok=True)
    shutil.copy2(src, os.path.join(dest, rel))


def run_tests(root: str, tests: tuple[str, ...]) -> tuple[int, list[str], str]:
  """``(return code, failed/errored node ids, output tail)`` of pytest."""
  env = {**os.environ, "PYTHONPATH": os.pathsep.join(
      filter(None, [root, os.environ.get("PYTHONPATH")])),
         "PYTHONDONTWRITEBYTECODE": "1"}
  proc = subprocess.run(
      [sys.executable, "-m", "pytest", "-x", "-q", "-rfE",
       "-p", "no:cacheprovider", *tests],
      cwd=root, env=env, capture_output=True, text=True)
  out = proc.stdout + proc.stderr
  failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", out, flags=re.M)
  return proc.returncode, failed, "\n".join(out.splitlines()[-15:])


def apply_break(text: str, brk: Break) -> tuple[str | None, str]:
  """``(mutated text, "")`` or ``(None, why not)``."""
  for old, new in brk.edits:
    count = text.count(old)
    if count != 1:
      status = "PATTERN NOT FOUND" if count == 0 else "PATTERN NOT UNIQUE"
      return None, f"{status}: {old.strip()[:60]!r} in {brk.path}"
    text = text.replace(old, new)
  return text, ""


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--only", nargs="+", default=None,
                      help="names of the breaks to run")
  parser.add_argument("--list", action="store_true",
                      help="list the breaks and exit")
  parser.add_argument("--no-baseline", action="store_true",
                      help="do not run the tests on the unbroken code first")
  parser.add_argument("--commit", default=None,
                      help="check this commit's tree (e.g. HEAD) instead of "
                           "the working tree")
  parser.add_argument("--verbose", action="store_true",
                      help="print pytest's output tail for every run")
  args = parser.parse_args(argv)
  breaks = BREAKS
  if args.only:
    unknown = set(args.only) - {b.name for b in BREAKS}
    if unknown:
      parser.error(f"unknown break(s) {sorted(unknown)}; --list shows them")
    breaks = tuple(b for b in BREAKS if b.name in args.only)
  if args.list:
    for b in breaks:
      print(f"{b.name}: {b.what} ({b.path})\n    " + "\n    ".join(b.tests))
    return 0

  ok = True
  with tempfile.TemporaryDirectory(prefix="aejax-mutation-") as root:
    copy_tree(root, args.commit)
    print(f"Working on a copy of {ROOT}"
          f"{f' at {args.commit}' if args.commit else ''} in {root}.",
          flush=True)
    if not args.no_baseline:
      tests = tuple(dict.fromkeys(t for b in breaks for t in b.tests))
      start = time.monotonic()
      rc, failed, tail = run_tests(root, tests)
      print(f"baseline: {len(tests)} tests, rc={rc}, "
            f"{time.monotonic() - start:.0f} s", flush=True)
      if rc != 0:
        print(f"BASELINE FAILS ({', '.join(failed) or tail}): fix the tests "
              "or the code before reading anything into the breaks.")
        print(tail)
        return 1

    rows = []
    for brk in breaks:
      path = os.path.join(root, brk.path)
      with open(path, encoding="utf-8") as f:
        original = f.read()
      mutated, why = apply_break(original, brk)
      if mutated is None:
        print(f"{brk.name}: {why}", flush=True)
        rows.append((brk.name, "NO", why))
        ok = False
        continue
      start = time.monotonic()
      try:
        with open(path, "w", encoding="utf-8") as f:
          f.write(mutated)
        rc, failed, tail = run_tests(root, brk.tests)
      finally:
        with open(path, "w", encoding="utf-8") as f:
          f.write(original)
      seconds = time.monotonic() - start
      if rc == 1 and failed:
        caught, by = "yes", failed[0]
      elif rc == 0:
        caught, by = "NO", "every test passed"
      else:  # collection or usage error: the break is broken, not caught
        caught, by = "NO", f"pytest rc={rc}: {failed or tail.splitlines()[-1:]}"
      ok &= caught == "yes"
      rows.append((brk.name, caught, by))
      print(f"{brk.name}: caught={caught} ({by}) {seconds:.0f} s", flush=True)
      if args.verbose or caught != "yes":
        print(tail, flush=True)

  width = max(len(r[0]) for r in rows)
  print()
  print(f"{'break':<{width}}  caught  caught by")
  print(f"{'-' * width}  ------  ---------")
  for name, caught, by in rows:
    print(f"{name:<{width}}  {caught:<6}  {by}")
  missed = sum(r[1] != "yes" for r in rows)
  print(f"\n{len(rows) - missed}/{len(rows)} breaks caught.")
  return 0 if ok else 1


if __name__ == "__main__":
  sys.exit(main())
