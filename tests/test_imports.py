"""Imports point one way: no cycles, layers import downwards, a light package.

The layers, lowest first (a module may import modules of its own layer or
lower ones only)::

  data      aejax (the package), aejax.config, aejax.host_allocator,
            aejax.data.*, aejax.plotting
  models    aejax.models.*
  losses    aejax.losses.*
  methods   aejax.methods.*
  train     aejax.train.*
  eval      aejax.eval.*
  commands  every other top-level module: aejax.main, aejax.bench, ...

Imports are read with ``ast`` at every nesting level (inside functions too,
where they only hide a cycle), so the tests import nothing of aejax but the
light package itself.
"""

from __future__ import annotations

import ast
import importlib
import json
import pathlib
import subprocess
import sys

import pytest

import aejax

PACKAGE_DIR = pathlib.Path(aejax.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent

LAYERS = ("data", "models", "losses", "methods", "train", "eval", "commands")
# Top-level modules of the lowest layer; any other top-level module not
# named in LAYERS is a command-line module (highest layer).
_LOW_MODULES = ("config", "host_allocator", "data", "plotting")


def _module_name(path: pathlib.Path) -> str:
  parts = path.relative_to(ROOT).with_suffix("").parts
  return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p
           for p in sorted(PACKAGE_DIR.rglob("*.py"))
           if "__pycache__" not in p.parts}


def _known(name: str) -> str | None:
  """``name`` or the longest prefix of it that is an aejax module."""
  while name:
    if name in MODULES:
      return name
    name = name.rpartition(".")[0]
  return None


def _targets(module: str, node: ast.AST) -> list[str]:
  """The aejax modules one import statement (or call) loads."""
  if isinstance(node, ast.Import):
    return [t for a in node.names if (t := _known(a.name))]
  if isinstance(node, ast.ImportFrom):
    if node.level:
      is_package = MODULES[module].name == "__init__.py"
      base = module if is_package else module.rpartition(".")[0]
      for _ in range(node.level - 1):
        base = base.rpartition(".")[0]
      base = ".".join(filter(None, [base, node.module]))
    else:
      base = node.module or ""
    if _known(base) is None:
      return []
    out = []
    for alias in node.names:
      if f"{base}.{alias.name}" in MODULES:  # from aejax.data import sources
        out.append(f"{base}.{alias.name}")
      elif base == "aejax" and alias.name in aejax._MODULE_OF:  # pylint: disable=protected-access
        out.append(aejax._MODULE_OF[alias.name])  # a lazy name of aejax
      else:
        out.append(_known(base))
    return out
  if (isinstance(node, ast.Call) and node.args and
      isinstance(node.args[0], ast.Constant) and
      isinstance(node.args[0].value, str) and
      getattr(node.func, "attr", getattr(node.func, "id", None)) ==
      "import_module"):
    target = _known(node.args[0].value)
    return [target] if target else []
  return []


def _import_graph() -> dict[str, dict[str, int]]:
  """module -> {imported aejax module: line of the first such import}."""
  graph = {}
  for module, path in MODULES.items():
    edges = {}
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
      for target in _targets(module, node):
        if target != module:
          edges.setdefault(target, node.lineno)
    graph[module] = edges
  return graph


def _where(module: str, line: int) -> str:
  return f"{MODULES[module].relative_to(ROOT)}:{line}"


def _cycles(graph: dict[str, dict[str, int]]) -> list[list[str]]:
  """One cycle through each strongly connected component (Tarjan)."""
  index, low, stack, on_stack, components = {}, {}, [], set(), []

  def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in graph[v]:
      if w not in index:
        visit(w)
        low[v] = min(low[v], low[w])
      elif w in on_stack:
        low[v] = min(low[v], index[w])
    if low[v] == index[v]:
      component = set()
      while True:
        w = stack.pop()
        on_stack.discard(w)
        component.add(w)
        if w == v:
          break
      if len(component) > 1:
        components.append(component)

  for v in sorted(graph):
    if v not in index:
      visit(v)
  cycles = []
  for component in components:
    start = min(component)
    paths = {start: [start]}  # breadth-first, back to start
    frontier = [start]
    cycle = None
    while frontier and cycle is None:
      nxt = []
      for v in frontier:
        for w in sorted(graph[v]):
          if w == start:
            cycle = paths[v] + [start]
            break
          if w in component and w not in paths:
            paths[w] = paths[v] + [w]
            nxt.append(w)
        if cycle:
          break
      frontier = nxt
    cycles.append(cycle)
  return cycles


def layer(module: str) -> str:
  """The layer of an aejax module (see the module docstring)."""
  parts = module.split(".")
  if len(parts) == 1 or parts[1] in _LOW_MODULES:
    return "data"
  if parts[1] in LAYERS:
    return parts[1]
  return "commands"


def test_layers_know_every_package():
  for module in MODULES:
    assert layer(module) in LAYERS, module


def test_the_import_graph_is_read():
  graph = _import_graph()
  assert "aejax.data.types" in graph["aejax.data.sources"]
  assert "aejax.data.tfds_source" in graph["aejax.data.sources"]  # in a def
  assert "aejax.host_allocator" in graph["aejax"]


def test_no_import_cycles():
  graph = _import_graph()
  cycles = _cycles(graph)
  report = []
  for cycle in cycles:
    report.append(" -> ".join(cycle))
    report += [f"    {_where(a, graph[a][b])}: {a} imports {b}"
               for a, b in zip(cycle, cycle[1:])]
  print("\n".join(report))
  assert not cycles, "import cycles:\n" + "\n".join(report)


def test_imports_point_down_the_layers():
  violations = []
  for module, edges in sorted(_import_graph().items()):
    rank = LAYERS.index(layer(module))
    for target, line in sorted(edges.items()):
      if LAYERS.index(layer(target)) > rank:
        violations.append(
            f"{_where(module, line)}: {module} ({layer(module)}) imports "
            f"{target} ({layer(target)})")
  print("\n".join(violations))
  assert not violations, ("imports above their layer (order: " +
                          " < ".join(LAYERS) + "):\n" + "\n".join(violations))


HEAVY = ("orbax", "matplotlib", "tensorflow_datasets")


@pytest.mark.parametrize("module", ["aejax", "aejax.config", "aejax.data",
                                    "aejax.data.sources"])
def test_light_imports(module):
  code = ("import importlib, json, sys\n"
          f"importlib.import_module({module!r})\n"
          "print(json.dumps(sorted(sys.modules)))\n")
  loaded = json.loads(subprocess.run(
      [sys.executable, "-c", code], check=True, capture_output=True,
      text=True, cwd=ROOT).stdout)
  print(f"import {module}: jax imported: {'jax' in loaded}")
  heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
  upper = [m for m in loaded if m.split(".")[:2] in
           (["aejax", "methods"], ["aejax", "train"], ["aejax", "eval"])]
  assert not heavy, f"import {module} imports {heavy}"
  assert not upper, f"import {module} imports {upper}"


def test_lazy_names_are_the_modules_own():
  for name in aejax.__all__:
    assert name in dir(aejax)
    module = importlib.import_module(aejax._MODULE_OF[name])  # pylint: disable=protected-access
    assert getattr(aejax, name) is getattr(module, name), name
  assert aejax.__version__
  with pytest.raises(AttributeError, match="no_such_name"):
    aejax.no_such_name  # pylint: disable=pointless-statement
