"""The built book as a reader meets it, offline (issue #16).

- ``dwarflib.sitecheck`` finds a planted broken link, a missing anchor, an empty image, a CDN script and a chapter
  whose figures are missing, and passes a clean site;
- a tiny book built with the project's ``_config.yml`` serves MathJax from its own ``_static`` (no CDN) and loads
  the book's width stylesheet;
- the real ``_build/html`` (when built: ``make book``) passes the site check, and, where Chromium is installed
  (``make browser``), two chapters open offline in headless Chromium with their maths typeset and a screenshot
  that is not blank.
"""

from __future__ import annotations

import importlib.util
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from dwarflib import paths, sitecheck

REPO = paths.repo_root()
BUILT = REPO / "_build" / "html"
SCREENSHOT_CHAPTERS = ("01-simulated-sky", "06-neural-network")

PAGE = """<!DOCTYPE html><html><head>
<link rel="stylesheet" href="_static/theme.css">
<script src="_static/mathjax/tex-chtml.js"></script>
</head><body>
<section id="intro"><h1>Intro</h1>
<a href="notebooks/01-x.html#sec-1">chapter one, section 1</a>
<a href="#intro">top</a>
<a href="https://arxiv.org/abs/2503.00109">the paper (an external link is fine)</a>
</section></body></html>
"""
CHAPTER = """<!DOCTYPE html><html><head><link rel="stylesheet" href="../_static/theme.css"></head><body>
<section id="sec-1"><h2>1.</h2><img src="../_images/fig1.png" alt="figure"></section>
<a href="../index.html">back</a></body></html>
"""
SOURCE = """# x

```{code-cell} ipython3
fig, ax = plt.subplots()
```

```{code-cell} ipython3
print(1)
```
"""


def _tiny_site(root: Path) -> tuple[Path, Path]:
    html = root / "html"
    (html / "_static" / "mathjax").mkdir(parents=True)
    (html / "_images").mkdir()
    (html / "notebooks").mkdir()
    (html / "_static" / "theme.css").write_text("body {}")
    (html / "_static" / "mathjax" / "tex-chtml.js").write_text("// mathjax")
    (html / "_images" / "fig1.png").write_bytes(b"\x89PNG not empty")
    (html / "index.html").write_text(PAGE)
    (html / "notebooks" / "01-x.html").write_text(CHAPTER)
    nb = root / "notebooks"
    nb.mkdir()
    (nb / "01-x.md").write_text(SOURCE)
    return html, nb


def test_site_check_passes_a_clean_site(tmp_path):
    html, nb = _tiny_site(tmp_path)
    assert sitecheck.check_site(html, nb) == []
    assert sitecheck.main([str(html), "--notebooks", str(nb)]) == 0


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        (lambda h: _edit(h / "index.html", "notebooks/01-x.html#sec-1", "notebooks/02-missing.html"),
         "points to a missing file"),
        (lambda h: _edit(h / "index.html", "#sec-1", "#no-such-section"), "no anchor #no-such-section"),
        (lambda h: (h / "_images" / "fig1.png").write_bytes(b""), "is empty"),
        (lambda h: (h / "_images" / "fig1.png").unlink(), "does not exist"),
        (lambda h: _edit(h / "index.html", "_static/mathjax/tex-chtml.js",
                         "https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"), "from another host"),
        (lambda h: _edit(h / "index.html", 'href="_static/theme.css"',
                         'href="https://cdnjs.cloudflare.com/x.css"'), "from another host"),
        (lambda h: _edit(h / "notebooks" / "01-x.html", '<img src="../_images/fig1.png" alt="figure">', ""),
         "0 figures shown, its source draws 1"),
    ],
    ids=["broken-link", "broken-anchor", "empty-image", "missing-image", "cdn-script", "cdn-stylesheet",
         "missing-figure"],
)
def test_site_check_finds_a_planted_problem(tmp_path, plant, expected, capsys):
    html, nb = _tiny_site(tmp_path)
    plant(html)
    problems = sitecheck.check_site(html, nb)
    assert any(expected in p for p in problems), problems
    assert sitecheck.main([str(html), "--notebooks", str(nb)]) == 1
    assert expected in capsys.readouterr().out


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_expected_figures_counts_plotting_cells():
    assert sitecheck.expected_figures(REPO / "notebooks" / "01-simulated-sky.md") >= 5


# --------------------------------------------------------------------------------------------------
# A tiny book with the project's configuration: MathJax and the stylesheet come from the site itself.

MATH_PAGE = """# Maths

Inline $\\log_{10} M_\\star$ and a display:

$$
p = {\\rm softmax}(z/T + b)
$$
"""


@pytest.mark.book
@pytest.mark.slow
def test_tiny_book_serves_its_own_mathjax_and_stylesheet(tmp_path):
    exe = Path(sys.executable).with_name("jupyter-book")
    if not exe.exists():
        pytest.skip("jupyter-book is not installed in this environment (install the 'book' extra)")
    if importlib.util.find_spec("sphinx-mathjax-offline") is None:
        pytest.skip("sphinx-mathjax-offline is not installed in this environment (install the 'book' extra)")
    shutil.copy(REPO / "_config.yml", tmp_path / "_config.yml")
    shutil.copytree(REPO / "book", tmp_path / "book")
    (tmp_path / "index.md").write_text(MATH_PAGE)
    (tmp_path / "_toc.yml").write_text("format: jb-book\nroot: index\n")
    result = subprocess.run([str(exe), "build", str(tmp_path), "-W", "-n", "--keep-going"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    html = tmp_path / "_build" / "html"
    index = (html / "index.html").read_text()
    assert "_static/mathjax/tex-chtml.js" in index
    assert (html / "_static" / "mathjax" / "tex-chtml.js").stat().st_size > 100_000
    assert "custom.css" in index and (html / "_static" / "custom.css").is_file()
    assert sitecheck.check_site(html) == []


# --------------------------------------------------------------------------------------------------
# The real built book (after `make book`).


def _built_book() -> Path:
    if not (BUILT / "index.html").is_file():
        pytest.skip(f"the book is not built ({BUILT} missing): run `make book` first; CI runs this after it")
    return BUILT


def test_built_book_passes_the_site_check():
    html = _built_book()
    problems = sitecheck.check_site(html, REPO / "notebooks")
    assert problems == [], "\n".join(problems)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        exe = shutil.which(name)
        if exe:
            return exe
    pytest.skip("no Chromium on this machine: `make browser` installs the Debian package where apt-get may run "
                "(as root, or with sudo); without it the headless-browser test cannot run")


def _chromium_run(exe: str, *args: str) -> subprocess.CompletedProcess:
    cmd = [exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
           "--no-first-run", "--hide-scrollbars", "--virtual-time-budget=15000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180)


def _png_size_and_colours(path: Path) -> tuple[int, int, int]:
    """(width, height, number of distinct byte values in the decompressed image data) of a PNG."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        length = struct.unpack(">I", data[pos:pos + 4])[0]
        kind = data[pos + 4:pos + 8]
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + length]
        pos += 12 + length
    return width, height, len(set(zlib.decompress(idat)))


@pytest.mark.slow
@pytest.mark.parametrize("chapter", SCREENSHOT_CHAPTERS)
def test_chapter_renders_offline_in_headless_chromium(chapter, tmp_path):
    html = _built_book()
    exe = _chromium()
    page = html / "notebooks" / f"{chapter}.html"
    assert page.is_file(), page
    # The DOM after scripts ran: MathJax (served from _static) has typeset the formulas.
    dom = _chromium_run(exe, "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "<mjx-container" in dom.stdout, "MathJax did not typeset the page offline"
    # an <mjx-merror> element is a formula MathJax could not parse (its stylesheet, also in the DOM, names
    # the selector mjx-merror on every page, so look for the element)
    assert "<mjx-merror" not in dom.stdout, "MathJax reported a TeX error"
    shot = tmp_path / f"{chapter}.png"
    res = _chromium_run(exe, f"--screenshot={shot}", "--window-size=1400,2400", page.as_uri())
    assert res.returncode == 0 and shot.is_file(), res.stderr[-2000:]
    width, height, colours = _png_size_and_colours(shot)
    assert (width, height) == (1400, 2400)
    assert colours > 20, "the screenshot is blank"
    out = paths.outputs_dir() / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(shot, out / shot.name)
