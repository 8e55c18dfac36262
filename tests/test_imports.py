"""Imports of dwarflib sit at the top of their modules; the few lazy ones are listed here, each with a reason."""
from __future__ import annotations

import ast
from pathlib import Path

import dwarflib

ROOT = Path(dwarflib.__file__).parent

#: (module file relative to the package, imported dwarflib module) of the imports allowed inside a function:
#: only those that import torch (seconds), and each carries a "# lazy:" comment saying so.
LAZY_ALLOWED = {
    ("models.py", "dwarflib.torchnet"),
    ("pipeline.py", "dwarflib.torchnet"),
    ("training.py", "dwarflib.torchnet"),
}


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    base = node.module or ""
    if node.level:
        base = f"dwarflib.{base}" if base else "dwarflib"
    return [base]


def function_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every dwarflib import inside a function (or method) of one source file."""
    tree = ast.parse(path.read_text())
    found = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found += [(node.lineno, m) for m in _imported(node) if m == "dwarflib" or m.startswith("dwarflib.")]
    return sorted(set(found))


def test_function_import_finder_sees_nested_and_relative_imports(tmp_path):
    src = tmp_path / "m.py"
    src.write_text("from dwarflib import paths\n\ndef f():\n    from .labels import SIGNAL\n"
                   "    class A:\n        def g(self):\n            import dwarflib.metrics\n")
    assert function_imports(src) == [(4, "dwarflib.labels"), (7, "dwarflib.metrics")]


def test_dwarflib_imports_are_at_module_top():
    """An import of dwarflib inside a function hides a dependency (and a cycle) from readers and tools."""
    bad, missing_reason = [], []
    for path in sorted(ROOT.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        lines = path.read_text().splitlines()
        for lineno, module in function_imports(path):
            if (rel, module) not in LAZY_ALLOWED:
                bad.append(f"{rel}:{lineno} imports {module}")
            elif "# lazy:" not in lines[lineno - 1]:
                missing_reason.append(f"{rel}:{lineno}")
    assert not bad, "dwarflib imports inside functions (move them to the top): " + ", ".join(bad)
    assert not missing_reason, "lazy imports without a '# lazy: <why>' comment: " + ", ".join(missing_reason)
