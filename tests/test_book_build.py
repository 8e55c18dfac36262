"""The book build fails when a notebook cell raises (issue: a crashing notebook must not pass CI).

Builds two tiny books with the project's own ``_config.yml``: one whose notebook runs cleanly (must exit 0, so the
test below cannot pass merely because the configuration is broken) and one with a cell that raises (must exit
non-zero).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dwarflib import paths

pytestmark = [pytest.mark.book, pytest.mark.slow]

NOTEBOOK = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
    format_version: 0.13
kernelspec:
  display_name: Python 3 (ipykernel)
  language: python
  name: python3
---

# A tiny chapter

```{{code-cell}} ipython3
x = 1 + 1
print("value", x)
{extra}
```
"""


def _jupyter_book() -> str:
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        pytest.skip("jupyter-book is not installed in this environment (install the 'book' extra)")
    return str(exe)


def _build_tiny_book(root: Path, extra_code: str) -> subprocess.CompletedProcess:
    repo = paths.repo_root()
    shutil.copy(repo / "_config.yml", root / "_config.yml")
    (root / "book").mkdir()
    shutil.copy(repo / "book" / "references.bib", root / "book" / "references.bib")
    shutil.copytree(repo / "book" / "_static", root / "book" / "_static")  # html_static_path of the config
    (root / "index.md").write_text("# Tiny book\n\nA test of the project's book configuration.\n")
    (root / "chapter.md").write_text(NOTEBOOK.format(extra=extra_code))
    (root / "_toc.yml").write_text("format: jb-book\nroot: index\nchapters:\n  - file: chapter\n")
    return subprocess.run(
        [_jupyter_book(), "build", str(root), "-W", "-n", "--keep-going"],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_clean_notebook_builds(tmp_path):
    result = _build_tiny_book(tmp_path, "")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert (tmp_path / "_build" / "html" / "chapter.html").exists()
    assert "value 2" in (tmp_path / "_build" / "html" / "chapter.html").read_text()


def test_failing_cell_fails_the_build(tmp_path):
    result = _build_tiny_book(tmp_path, 'raise RuntimeError("deliberate failure in a notebook cell")')
    assert result.returncode != 0
    assert "deliberate failure" in result.stdout + result.stderr
