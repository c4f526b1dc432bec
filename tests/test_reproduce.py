"""python -m aejax.reproduce: the tables as data, the skip logic, and every
table's commands run with --quick (tiny settings; the numbers are not
compared, only read)."""

import importlib.util
import json
import os
import re
import sys

from absl import flags
from ml_collections import config_flags
import pytest

from aejax import reproduce
from aejax import reproduce_tables as rt

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def _steps():
  return [(run, name, step) for run, steps in rt.RUNS.items()
          for name, step in steps.items()]


def test_list_names_every_table_with_its_wall_time(capsys):
  assert reproduce.main(["--list"]) == 0
  out = capsys.readouterr().out
  for table in rt.TABLES:
    line = next(l for l in out.splitlines() if l.startswith(table.name + " "))
    assert re.search(r"\d+(\.\d)? (s|min|h)|not recorded", line), line
  # The wall times are BENCHMARKS.md's: the sparse table is three runs of
  # 117, 106 and 101 s.
  seconds, complete = reproduce.expected_seconds(rt.TABLES_BY_NAME["sparse"])
  assert complete and seconds == pytest.approx(117 + 106 + 101)


def test_tables_are_consistent():
  used = set()
  assert len(rt.TABLES_BY_NAME) == len(rt.TABLES)   # names are unique
  for table in rt.TABLES:
    assert all(0 <= i < len(table.rows) for i in table.quick_rows)
    cells = []
    for row in table.rows:
      assert len(row.labels) == len(table.label_columns), row.labels
      assert len(row.cells) == len(table.metric_columns), row.labels
      for i, cell in enumerate(row.cells):
        if isinstance(cell, rt.Derived):   # of columns read before it
          earlier = table.metric_columns[:i]
          assert cell.a in earlier and cell.b in earlier, row.labels
        cells.append((row.labels, cell))
    cells += [((label,), m) for label, m in table.facts]
    for where, cell in cells:
      if cell is None:
        continue
      if cell.recorded is not None:   # every recorded number has a tolerance
        assert cell.tol is not None or cell.rel is not None, (table.name,
                                                              where)
        reproduce.fmt(cell, cell.recorded)
      if isinstance(cell, rt.Metric):
        assert cell.run in rt.RUNS, (table.name, where)
        assert not cell.step or cell.step in rt.RUNS[cell.run], where
        assert cell.reduce in ("",) + tuple(reproduce.REDUCERS)
        assert cell.needs in ("", "torch_python")
        used.add(cell.run)
  for run, name, step in _steps():
    assert importlib.util.find_spec(step.module) is not None, step.module
    for quick in (False, True):
      for arg in reproduce.step_args(step, quick):
        for placeholder, other in re.findall(r"\{(\w+)(?::([\w.-]+))?\}",
                                             arg):
          assert placeholder in ("dir", "run", "experiments", "torch_python")
          if placeholder == "run":
            assert other in rt.RUNS, (run, arg)
            used.add(other)
        if arg.startswith("--config={experiments}/"):
          path = arg.split("/", 1)[1].split(":", 1)[0]
          assert os.path.isfile(os.path.join(ROOT, "experiments", path)), arg
  assert used == set(rt.RUNS), set(rt.RUNS) - used   # no run without a use
  # Every table's steps are planned with their dependencies first.
  for quick in (False, True):
    order = reproduce.plan(rt.TABLES, quick)
    for i, key in enumerate(order):
      assert all(dep in order[:i] for dep in reproduce.dependencies(*key,
                                                                    quick))


@pytest.mark.filterwarnings("ignore:the load_module:DeprecationWarning")
@pytest.mark.parametrize("quick", [False, True], ids=["full", "quick"])
def test_every_training_command_passes_the_config_check(quick, monkeypatch):
  """Each training command's flags, parsed as aejax.main parses them and
  checked as a run checks them (nothing is trained): a field a method would
  ignore, a misspelt field or a bad value fails here, for every row."""
  import aejax.methods  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  from aejax.config import base_config  # pylint: disable=g-import-not-at-top
  from aejax.methods.registry import check_config  # pylint: disable=g-import-not-at-top
  for run, _, step in _steps():
    if step.module != "aejax.main":
      continue
    values = flags.FlagValues()
    config_flags.DEFINE_config_file("config", None, "", flag_values=values,
                                    lock_config=True)
    argv = ["main"] + [a.replace("{experiments}", reproduce.EXPERIMENTS)
                       for a in reproduce.step_args(step, quick)
                       if a.startswith("--config")]
    monkeypatch.setattr(sys, "argv", argv)  # where overrides are read from
    values(argv)
    try:
      check_config(values.config, base_config())
    except ValueError as e:
      pytest.fail(f"{run}: {e}")


def test_recorded_tables_are_the_ones_in_benchmarks_md(capsys):
  """BENCHMARKS.md shows each table as `--recorded` prints it, so every
  number there is one a table reproduces."""
  with open(os.path.join(ROOT, "BENCHMARKS.md")) as f:
    text = f.read()
  for table in rt.TABLES:
    md = reproduce.markdown(table, reproduce.evaluate(table, "", False,
                                                      recorded_only=True))
    assert md in text, f"{table.name}: BENCHMARKS.md lacks\n{md}"
    wall = reproduce.expected_wall_time(table)
    # The section's command line and the index table state the wall time
    # that --list computes from the recorded steps.
    assert (f"`python -m aejax.reproduce {table.name}` (expected wall time: "
            f"{wall})") in text, table.name
    assert re.search(rf"\| `{table.name}` \| [^|]* \| {re.escape(wall)} \|",
                     text), table.name


def _fake_tables(monkeypatch, tmp_path):
  """One table over two runs whose commands are `python -c` one-liners:
  each appends to a counter file, and run "b" fails until a flag exists."""
  counter = tmp_path / "count.txt"
  flag = tmp_path / "fixed"
  code = ("import json, os, sys; open(sys.argv[1], 'a').write(sys.argv[2]);"
          "print(json.dumps({'v': 2.0, 'name': sys.argv[2]})); "
          "sys.exit(0 if sys.argv[2] == 'a' or os.path.exists(sys.argv[3]) "
          "else 3)")

  def step(name):
    return rt.Step("aejax", (), quick_argv=("-c", code, str(counter), name,
                                            str(flag)))
  monkeypatch.setitem(rt.RUNS, "fake_a", {"s": step("a")})
  monkeypatch.setitem(rt.RUNS, "fake_b", {"s": step("b")})
  table = rt.Table("fake", "Fake", ("row",), ("v",), (
      rt.Row(("a",), (rt.Metric("fake_a", (-1, "v"), 2.0, tol=0),)),
      rt.Row(("b",), (rt.Metric("fake_b", (-1, "v"), 2.0, tol=0),))),
                   quick_rows=(0, 1))
  monkeypatch.setitem(rt.TABLES_BY_NAME, "fake", table)
  return counter, flag


def test_an_interrupted_reproduction_continues(monkeypatch, tmp_path,
                                                capsys):
  counter, flag = _fake_tables(monkeypatch, tmp_path)
  out = str(tmp_path / "out")
  assert reproduce.main(["fake", "--quick", f"--out={out}"]) == 1
  assert "fake_b/s failed (exit 3)" in capsys.readouterr().out
  assert counter.read_text() == "ab"
  flag.write_text("")
  assert reproduce.main(["fake", "--quick", f"--out={out}"]) == 0
  assert counter.read_text() == "abb"     # a's result was kept, b ran again
  assert "fake_a/s: done before" in capsys.readouterr().out
  with open(os.path.join(out, "fake.json")) as f:
    report = json.load(f)
  assert [c["value"] for r in report["rows"] for c in r["cells"]] == [2.0,
                                                                      2.0]
  assert report["counts"] == {reproduce.QUICK_NOTE: 2}
  # A full run in the same directory is another command: refused, not
  # mixed with the quick results.
  assert reproduce.main(["fake", f"--out={out}"]) == 1
  assert "holds the result of another command" in capsys.readouterr().out


def test_numbers_are_compared_with_their_tolerance(monkeypatch, tmp_path,
                                                   capsys):
  counter, flag = _fake_tables(monkeypatch, tmp_path)
  flag.write_text("")
  table = rt.TABLES_BY_NAME["fake"]
  monkeypatch.setitem(rt.TABLES_BY_NAME, "fake", rt.Table(
      "fake", "Fake", ("row",), ("v", "v / 2"), (
          rt.Row(("a",), (rt.Metric("fake_a", (-1, "v"), 2.05, tol=0.1),
                          rt.Derived("ratio", "v", "v", 1.0, tol=0))),
          rt.Row(("b",), (rt.Metric("fake_b", (-1, "v"), 2.5, rel=0.1),
                          None))), quick_rows=table.quick_rows))
  out = str(tmp_path / "full")
  # The full (not --quick) run of these commands: the same one-liners.
  monkeypatch.setattr(reproduce, "step_args",
                      lambda step, quick: step.quick_argv)
  assert reproduce.main(["fake", f"--out={out}"]) == 0
  printed = capsys.readouterr().out
  assert "| a | 2.00 | 1.00 |" in printed and "| b | 2.00 | – |" in printed
  assert "✓ a · v: 2.00 (recorded 2.05)" in printed
  assert "✗ b · v: 2.00, recorded 2.5: -0.5 (tolerance ±0.25)" in printed
  with open(os.path.join(out, "fake.json")) as f:
    assert json.load(f)["counts"] == {"differs": 1, "reproduced": 2}


# --quick for every table, in groups that share runs; the runs of a group
# go to one directory, so a run two tables read runs once.
QUICK_GROUPS = {
    "autoencoders": ("dae_conv", "linear_ae", "denoising", "sparse",
                     "contractive", "dropout", "compile_cache"),
    "deep_and_recurrent": ("reconstruction", "deep_ae", "stacked_dae",
                           "few_labels", "recurrent", "anomaly_estimator"),
    "generative": ("frechet", "two_sample", "nll", "dim_reduction"),
    "one_class": ("one_class",),
    "speed": ("throughput", "on_device"),
    "semi_supervised": ("semi_supervised",),
    "loop": ("loop",),
}


def test_quick_groups_cover_every_table():
  grouped = [t for g in QUICK_GROUPS.values() for t in g]
  assert sorted(grouped) == sorted(t.name for t in rt.TABLES)


@pytest.mark.long
@pytest.mark.parametrize("group", [
    "autoencoders", "deep_and_recurrent", "generative", "speed", "loop",
    "semi_supervised", "one_class"])
def test_quick_runs_every_command_of_every_table(group, tmp_path, capsys,
                                                monkeypatch):
  if "recurrent" in group and importlib.util.find_spec("aeon") is None:
    pytest.skip("aeon is not installed (scripts/setup.sh does it)")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")   # no accelerator probing
  out = str(tmp_path / group)
  status = reproduce.main(list(QUICK_GROUPS[group]) + ["--quick",
                                                      f"--out={out}"])
  printed = capsys.readouterr().out
  assert status == 0, printed[-3000:]
  for name in QUICK_GROUPS[group]:
    table = rt.TABLES_BY_NAME[name]
    with open(os.path.join(out, f"{name}.json")) as f:
      report = json.load(f)
    assert len(report["rows"]) == len(table.quick_rows)
    for row in report["rows"]:
      for cell in row["cells"]:
        if "status" in cell:   # every number was read (none compared)
          assert cell["status"] in (reproduce.QUICK_NOTE, "not run"), (
              name, row["labels"], cell)
    for fact in report["facts"]:
      assert fact["status"] == reproduce.QUICK_NOTE, fact
    assert os.path.exists(os.path.join(out, f"{name}.md"))
    assert report["markdown"].startswith("| " + table.label_columns[0])


def test_quick_commands_are_forks_with_their_own_argv_env_and_status(
    tmp_path):
  zygote = reproduce.Zygote()
  try:
    out, err = str(tmp_path / "out"), str(tmp_path / "err")
    env = dict(reproduce.command_env(), AEJAX_SEEN="yes")
    code = ("import os, sys; print(sys.argv[1:], os.environ['AEJAX_SEEN']); "
            "sys.exit(3)")
    status, cpu = zygote.run(["-c", code, "a", "b"], env, out, err)
    assert status == 3 and cpu >= 0
    with open(out) as f:
      assert f.read() == "['a', 'b'] yes\n"
    status, _ = zygote.run(["-m", "aejax.no_such_module"], env, out, err)
    with open(err) as f:
      assert status == 1 and "No module named aejax.no_such_module" in f.read()
    # JAX read its settings when the zygote imported it: other settings
    # need a new Python.
    assert zygote.can_run(["-m", "aejax.main"], env)
    assert not zygote.can_run(["-m", "aejax.main"],
                              dict(env, JAX_PLATFORMS="tpu"))
  finally:
    zygote.close()
