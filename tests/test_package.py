import re
import subprocess
import sys

import numpy as np

import dwarflib
from dwarflib import cli, datamodel, paths


def test_version():
    assert dwarflib.__version__.count(".") == 2


def test_cli_help_lists_commands():
    result = subprocess.run([sys.executable, "-m", "dwarflib", "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "dwarflib" in result.stdout
    for name in ("simulate", "train", "classify", "explain", "plan", "crossmatch", "cutouts"):
        assert f"\n    {name}" in result.stdout
    assert len(cli.COMMAND_MODULES) == 7


def test_sweep_dtype_matches_data_model():
    dt = datamodel.sweep_dtype()
    assert dt["FLUX_R"] == np.dtype("f4")
    assert dt["RA"] == np.dtype("f8")
    assert dt["TYPE"] == np.dtype("S3")
    assert set(datamodel.REQUIRED_COLUMNS) <= set(dt.names)


def test_unique_id_is_unique_and_invertible():
    rel = np.array([9010, 9010, 9011])
    brick = np.array([1, 1, 1])
    obj = np.array([0, 1, 0])
    ids = datamodel.unique_id(rel, brick, obj)
    assert len(set(ids.tolist())) == 3
    assert (ids & ((1 << 22) - 1)).tolist() == obj.tolist()  # DESI layout: OBJID 0-21, BRICKID 22-41, RELEASE 42-57
    assert ((ids >> 22) & ((1 << 20) - 1)).tolist() == brick.tolist()
    assert (ids >> 42).tolist() == rel.tolist()


def _module_imports(path, package: str = "dwarflib") -> set[str]:
    """dwarflib modules a source file imports, anywhere in it (an import inside a function counts too:
    it only postpones a cycle to the first call)."""
    import ast

    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith(package + ".")}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from . import x / from .x import y
                base = f"{package}.{base}" if base else package
            if base == package:
                found |= {f"{package}.{a.name}" for a in node.names}
            elif base.startswith(package + "."):
                found.add(base)
    return found


def _import_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of a directed graph (a list of nodes, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the stack, 2: done
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_import_cycle_finder_finds_a_cycle():
    assert _import_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _import_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_dwarflib_modules():
    """No two dwarflib modules import each other, directly or through others."""
    from pathlib import Path

    root = Path(dwarflib.__file__).parent
    graph = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root.parent).with_suffix("")
        name = ".".join(p for p in rel.parts if p != "__init__")
        graph[name] = {m for m in _module_imports(path) if m != name}
    assert len(graph) > 20
    assert _import_cycle(graph) is None, f"import cycle: {' -> '.join(_import_cycle(graph))}"


def test_contributing_lists_every_module():
    """CONTRIBUTING.md's module table names every module of the package, and no module that is gone."""
    root = paths.repo_root()
    modules = {".".join(p.relative_to(root / "dwarflib").with_suffix("").parts)
               for p in (root / "dwarflib").rglob("*.py") if not p.name.startswith("__")}
    listed = set(re.findall(r"^\| `([a-z_.]+)` \|", (root / "CONTRIBUTING.md").read_text(), flags=re.M))
    assert modules - listed == set(), f"modules missing from CONTRIBUTING.md: {sorted(modules - listed)}"
    assert listed - modules == set(), f"CONTRIBUTING.md lists modules that do not exist: {sorted(listed - modules)}"
