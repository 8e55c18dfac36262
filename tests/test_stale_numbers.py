"""Numbers in the book come from the code (issue #16).

A chapter (``notebooks/*.md``) or a page (``book/*.md``) must not type, in prose or in code, a literal equal to a
number the paper reports (:mod:`dwarflib.paper`) or to a package constant (survey limits, thresholds, chunk sizes):
such a literal goes stale when the constant changes. Prose takes the number from a cell with MyST-NB ``glue``;
code imports the constant.

The same file checks the other rules of the book's sources: code lines of at most 88 characters (the width of the
page) and one sentence per line in markdown (no prose line broken in the middle of a sentence).
"""

from __future__ import annotations

import math
import re

import pytest

from dwarflib import catalogue, paper, paths
from dwarflib.selections import BGS_BRIGHT, SAGA
from dwarflib.sky import generate

REPO = paths.repo_root()
SOURCES = sorted((REPO / "notebooks").glob("*.md")) + sorted((REPO / "book").glob("*.md"))
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]-*.md"))

#: Package constants a chapter must not retype (name -> value).
PACKAGE_CONSTANTS: dict[str, float] = {
    "sky.generate.R_LIMIT": generate.R_LIMIT,
    "sky.generate.DEFAULT_CHUNK_SIZE": generate.DEFAULT_CHUNK_SIZE,
    "selections.BGS_BRIGHT.r_max": BGS_BRIGHT.r_max,
    "selections.BGS_BRIGHT.z_min": BGS_BRIGHT.z_min,
    "selections.SAGA.r_max": SAGA.r_max,
    "catalogue.DEFAULT_CHUNK_ROWS": catalogue.DEFAULT_CHUNK_ROWS,
}

#: A number in text: 112,859 / 112_859 / 0.9533 / 19.5 / 36408 (not part of a word, a version or a date).
_NUMBER = re.compile(r"(?<![\w.,\-/:])(\d{1,3}(?:,\d{3})+|\d{1,3}(?:_\d{3})+|\d+\.\d+|\d+)(?![\w]|\.\d|-\d)")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _distinctive(value: float) -> bool:
    """A value that cannot appear by chance (>= 3 significant digits, or >= 1000): 19.5, 0.0104, 112859."""
    if abs(value) >= 1000:
        return True
    digits = f"{value:.10g}".replace("-", "").replace(".", "").lstrip("0")
    return len(digits) >= 3


def protected_values() -> dict[float, str]:
    """value -> name of every number a chapter must take from the package; fractions also as percentages."""
    out: dict[float, str] = {}
    for name, value in paper.reported_values().items():
        out[float(value)] = f"dwarflib.paper.{name}"
        if 0 < value < 1:
            out[round(value * 100, 6)] = f"dwarflib.paper.{name} (as a percentage)"
    for name, value in PACKAGE_CONSTANTS.items():
        out[float(value)] = f"dwarflib.{name}"
    return {v: n for v, n in out.items() if _distinctive(v)}


def find_literals(text: str, protected: dict[float, str]) -> list[tuple[int, str, str]]:
    """(line number, literal, name of the constant it equals) for every protected number typed in ``text``."""
    hits = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        line = _DATE.sub(" ", line)
        for m in _NUMBER.finditer(line):
            value = float(m.group(1).replace(",", "").replace("_", ""))
            for v, name in protected.items():
                if math.isclose(value, v, rel_tol=1e-9, abs_tol=0.0):
                    hits.append((lineno, m.group(1), name))
    return hits


def test_protected_values_cover_the_issue_examples():
    values = protected_values()
    for v in (0.9533, 0.7607, 112_859, 36_408, 0.0104, 19.5, 95.33):
        assert v in values, v


def test_a_planted_literal_is_found():
    protected = protected_values()
    text = ("The paper reports 112,859 candidates.\n"
            "```{code-cell} ipython3\nbgs = sky[(sky.r < 19.5) & (sky.Z > 0.0104)]\n```\n"
            "Their precision is 95.33 % (`paper_f1 = 2 * 0.9533 * 0.7607`).\n")
    found = {(line, lit) for line, lit, _ in find_literals(text, protected)}
    assert found == {(1, "112,859"), (3, "19.5"), (3, "0.0104"), (5, "95.33"), (5, "0.9533"), (5, "0.7607")}


def test_no_false_positives_on_ordinary_numbers():
    protected = protected_values()
    text = ("Built on 2026-11-23 with sphinx 7.4.7; arXiv:2503.00109; 0.5 and 0.95 thresholds; "
            "r < 19.55; figsize=(10, 4); {glue:text}`n_sig:,d` objects; zhang2025; 10.66 dex.\n")
    assert find_literals(text, protected) == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_stale_literal_in_the_book(source):
    hits = find_literals(source.read_text(), protected_values())
    assert not hits, "\n".join(f"{source.name}:{line}: {lit} equals {name}: import or glue it instead"
                               for line, lit, name in hits)


# --------------------------------------------------------------------------------------------------
# Code lines that fit the page, one sentence per line, and the chapter skeleton.

MAX_CODE_LINE = 88
_FENCE = re.compile(r"^(```+|:::+)")


def split_cells(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """(code lines, prose lines) of a MyST notebook, each as (line number, text); front matter is skipped."""
    lines = text.splitlines()
    start = 0
    if lines and lines[0].strip() == "---":
        start = next(i for i in range(1, len(lines)) if lines[i].strip() == "---") + 1
    code, prose, fence = [], [], None
    for i in range(start, len(lines)):
        line = lines[i]
        m = _FENCE.match(line.strip())
        if fence is None and m and line.strip().startswith("```"):
            fence = m.group(1)
            continue
        if fence is not None:
            if line.strip() == fence:
                fence = None
            else:
                code.append((i + 1, line))
            continue
        prose.append((i + 1, line))
    return code, prose


def long_code_lines(text: str, limit: int = MAX_CODE_LINE) -> list[tuple[int, int]]:
    """(line number, length) of every code line longer than ``limit`` characters."""
    return [(n, len(line)) for n, line in split_cells(text)[0] if len(line) > limit]


_ENDS_SENTENCE = re.compile(r"([.!?:;]|[.!?]\)|[.!?]\*\*|[.!?]\"|\$\$|```|:::|\|)\s*$")
_STARTS_BLOCK = re.compile(r"^\s*([-*+] |\d+\. |#|\||:::|```|\$\$|\{|<|>|!\[|\[\^)")


def broken_sentences(text: str) -> list[int]:
    """Line numbers of prose lines that stop in the middle of a sentence (hard-wrapped paragraphs)."""
    prose, in_maths = [], False
    for n, line in split_cells(text)[1]:
        stripped = line.strip()
        if stripped.startswith("$$"):
            if not (len(stripped) > 2 and stripped.endswith("$$")):  # a one-line display stays outside
                in_maths = not in_maths
            continue
        if not in_maths:
            prose.append((n, line))
    out = []
    for (n, line), (m, nxt) in zip(prose, prose[1:], strict=False):
        if m != n + 1:
            continue
        if not line.strip() or not nxt.strip() or line.lstrip().startswith(("#", "|", "$$", ":::", "<!--")):
            continue
        if _STARTS_BLOCK.match(nxt) and not nxt.startswith("  "):
            continue
        if line.strip().endswith(("$$",)):
            continue
        if not _ENDS_SENTENCE.search(line):
            out.append(n)
    return out


def test_checks_find_planted_problems():
    text = ("---\nx: 1\n---\n# T\n\nA sentence that is broken\nin the middle.\n\n"
            "```{code-cell} ipython3\nx = '" + "a" * 90 + "'\n```\n")
    assert broken_sentences(text) == [6]
    assert long_code_lines(text) == [(10, 96)]
    clean = "# T\n\nOne sentence.\nAnother one, with a list:\n\n- item one.\n  Its second sentence.\n"
    assert broken_sentences(clean) == []


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_code_lines_fit_the_page(source):
    long = long_code_lines(source.read_text())
    assert not long, f"{source.name}: code lines longer than {MAX_CODE_LINE} characters at " + ", ".join(
        f"{n} ({k})" for n, k in long)


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_one_sentence_per_line(source):
    broken = broken_sentences(source.read_text())
    assert not broken, f"{source.name}: lines broken in the middle of a sentence: {broken}"


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.name)
def test_chapter_has_prerequisites_and_a_generated_runtime(chapter):
    text = chapter.read_text()
    assert "**Prerequisites**" in text or "## Prerequisites" in text, f"{chapter.name}: no Prerequisites block"
    runtime = [line for line in text.splitlines() if line.lstrip("- ").startswith("**Runtime:**")]
    assert len(runtime) == 1, f"{chapter.name}: expected one runtime line, found {len(runtime)}"
    assert "{glue:text}`runtime_s" in runtime[0], f"{chapter.name}: the runtime line is typed, not generated"
    assert 'glue("runtime_s"' in text, f"{chapter.name}: no cell glues runtime_s"
