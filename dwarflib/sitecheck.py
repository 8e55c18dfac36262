"""Check the built book (``_build/html``) as a reader would meet it, offline.

``python -m dwarflib.sitecheck _build/html`` exits non-zero and lists every problem when

- an internal link (``href``/``src`` that is not an absolute URL) points to a file that does not exist, or its
  ``#anchor`` is not an ``id`` (or ``name``) in the target page;
- an image referenced by a page does not exist or is empty (0 bytes);
- a page loads a script or a stylesheet from another host (a CDN): the book must display without network;
- a chapter whose source (``notebooks/NN-*.md``) draws figures shows fewer images than it has plotting cells.

Only the standard library is used, so the check runs wherever the book was built.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

#: URL schemes that are not files of the site (left alone by the link check).
EXTERNAL_SCHEMES: tuple[str, ...] = ("http", "https", "mailto", "data", "javascript", "tel", "ftp")

#: A code cell of a chapter that makes a figure calls one of these.
_PLOT_CALL = re.compile(r"\bplt\.(subplots|figure|show)\(|\.hist2d\(|\bsns\.")
_CODE_CELL = re.compile(r"^```\{code-cell\}[^\n]*\n(.*?)^```", re.S | re.M)


@dataclass
class _Page:
    ids: set[str] = field(default_factory=set)
    links: list[tuple[str, str]] = field(default_factory=list)  # (tag.attr, url)
    images: list[str] = field(default_factory=list)
    external_assets: list[str] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = _Page()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        for key in ("id", "name") if tag in ("a", "span", "div", "section") else ("id",):
            if a.get(key):
                self.page.ids.add(a[key])
        if tag == "a" and "href" in a:
            self.page.links.append(("a.href", a["href"]))
        if tag == "img" and a.get("src"):
            self.page.images.append(a["src"])
        if tag == "script" and a.get("src"):
            self.page.links.append(("script.src", a["src"]))
            if _is_external(a["src"]):
                self.page.external_assets.append(a["src"])
        if tag == "link" and a.get("href"):
            rel = a.get("rel", "").lower()
            if "stylesheet" in rel or "preload" in rel or "icon" in rel:
                self.page.links.append(("link.href", a["href"]))
                if _is_external(a["href"]) and ("stylesheet" in rel or "preload" in rel):
                    self.page.external_assets.append(a["href"])


def _is_external(url: str) -> bool:
    url = url.strip()
    return url.startswith("//") or urlsplit(url).scheme.lower() in EXTERNAL_SCHEMES


def parse_page(path: Path) -> _Page:
    """Ids, links, images and external assets of one HTML file."""
    parser = _Parser()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return parser.page


def expected_figures(source: Path) -> int:
    """Number of code cells of a MyST notebook that draw a figure (calls to ``plt.subplots`` and the like)."""
    return sum(1 for cell in _CODE_CELL.findall(source.read_text()) if _PLOT_CALL.search(cell))


def check_site(html_dir: Path, notebooks_dir: Path | None = None) -> list[str]:
    """All problems of the built site in ``html_dir``, as readable lines ('page: problem'); empty when clean.

    ``notebooks_dir``: where the chapters' MyST sources are (``notebooks/NN-*.md``); their pages are expected at
    ``html_dir/notebooks/NN-*.html``. ``None`` skips the figure check.
    """
    html_dir = Path(html_dir).resolve()
    if not (html_dir / "index.html").is_file():
        return [f"{html_dir}: no index.html (was the book built?)"]
    pages = {p: parse_page(p) for p in sorted(html_dir.rglob("*.html")) if "_static" not in p.parts}
    problems: list[str] = []
    for page, info in pages.items():
        rel = page.relative_to(html_dir)
        for url in info.external_assets:
            problems.append(f"{rel}: loads {url} from another host (needs the network to display)")
        for kind, url in info.links:
            if not url or _is_external(url):
                continue
            parts = urlsplit(url)
            target = page if not parts.path else (page.parent / unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{rel}: {kind} {url!r} points to a missing file")
                continue
            if parts.fragment and target.suffix == ".html":
                tinfo = pages.get(target) or parse_page(target)
                if unquote(parts.fragment) not in tinfo.ids:
                    problems.append(f"{rel}: {kind} {url!r}: no anchor #{parts.fragment} in {target.name}")
        for src in info.images:
            if _is_external(src):
                if not src.startswith("data:"):
                    problems.append(f"{rel}: image {src} comes from another host")
                continue
            target = (page.parent / unquote(urlsplit(src).path)).resolve()
            if not target.is_file():
                problems.append(f"{rel}: image {src!r} does not exist")
            elif target.stat().st_size == 0:
                problems.append(f"{rel}: image {src!r} is empty")
    if notebooks_dir is not None:
        for source in sorted(Path(notebooks_dir).glob("[0-9][0-9]-*.md")):
            page = html_dir / "notebooks" / f"{source.stem}.html"
            n_expected = expected_figures(source)
            if not page.is_file():
                problems.append(f"notebooks/{page.name}: chapter page missing")
                continue
            n_images = sum(1 for s in pages[page.resolve()].images if "_images/" in s or s.startswith("data:image"))
            if n_images < n_expected:
                problems.append(f"notebooks/{page.name}: {n_images} figures shown, its source draws {n_expected}")
    return problems


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dwarflib.sitecheck", description=__doc__.splitlines()[0])
    ap.add_argument("html_dir", nargs="?", default="_build/html", type=Path)
    ap.add_argument("--notebooks", default="notebooks", type=Path,
                    help="folder of the chapters' MyST sources, for the figure check (default: notebooks)")
    args = ap.parse_args(argv)
    problems = check_site(args.html_dir, args.notebooks if args.notebooks.is_dir() else None)
    n_pages = sum(1 for p in Path(args.html_dir).rglob("*.html") if "_static" not in p.parts)
    for line in problems:
        print(line)
    print(f"site check of {args.html_dir}: {n_pages} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
