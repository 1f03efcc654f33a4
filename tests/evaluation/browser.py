"""A report page as a browser shows it: headless Chromium's DOM and screenshot, and the checks every
report page must pass (a heading before every table, no Markdown left over, every figure loaded)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = Path("/usr/bin/chromium")
_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
          "--disable-component-update", "--disable-sync", "--no-first-run",
          "--disable-dev-shm-usage", "--hide-scrollbars"]
# Added to a copy of the page: once everything has loaded, each <img> says whether it decoded.
_PROBE = ("<script>window.addEventListener('load',function(){for(const i of document.images)"
          "{i.setAttribute('data-loaded',(i.complete&&i.naturalWidth>0)?'yes':'no');}"
          "document.body.setAttribute('data-probed','yes');});</script>")


def chromium() -> Path:
    """Debian's chromium, or a skip saying how to get it."""
    if not CHROMIUM.is_file():
        pytest.skip(f"{CHROMIUM} is absent (apt-get install chromium): the page is not rendered")
    return CHROMIUM


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess:
    profile = tmp / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    return subprocess.run([str(chromium()), *_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=180, check=False)


def dump_dom(page: Path, tmp: Path) -> str:
    """The DOM after load of a copy of ``page`` with the image probe added."""
    probed = tmp / f"probed-{page.name}"
    probed.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"),
                      encoding="utf-8")
    proc = _run(["--virtual-time-budget=10000", "--dump-dom", probed.resolve().as_uri()], tmp)
    assert proc.returncode == 0 and "<body" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout


def screenshot(page: Path, tmp: Path, *, size: tuple[int, int] = (1280, 2000)) -> np.ndarray:
    """A screenshot of ``page`` as an RGB(A) array in [0, 1]."""
    from matplotlib.image import imread

    png = tmp / f"{page.stem}.png"
    proc = _run([f"--screenshot={png}", f"--window-size={size[0]},{size[1]}",
                 page.resolve().as_uri()], tmp)
    assert png.is_file() and png.stat().st_size > 0, proc.stderr[-2000:]
    return np.asarray(imread(png))


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""
    parents: tuple[str, ...] = ()


@dataclass
class Page:
    """A DOM as a flat list of elements in document order, each with the tags above it."""

    elements: list[Element] = field(default_factory=list)

    def all(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]

    def headings(self) -> list[Element]:
        return [e for e in self.elements if e.tag in ("h1", "h2", "h3", "h4", "h5", "h6")]


class _Parser(HTMLParser):
    _VOID = {"img", "meta", "br", "hr", "link", "input"}

    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self.stack: list[Element] = []

    def handle_starttag(self, tag, attrs):
        el = Element(tag, {k: v or "" for k, v in attrs}, parents=tuple(e.tag for e in self.stack))
        self.page.elements.append(el)
        if tag not in self._VOID:
            self.stack.append(el)

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i].tag == tag:
                del self.stack[i:]
                break

    def handle_data(self, data):
        for el in self.stack:
            el.text += data


def parse(dom: str) -> Page:
    p = _Parser()
    p.feed(dom)
    return p.page


def check_report_page(dom: str, *, figures: int, min_tables: int = 1) -> Page:
    """What every report page must show: each table under a heading of its own, with a header
    row; no Markdown residue (``---`` cells, pipes); ``figures`` figures, each an image that
    loaded and a caption."""
    page = parse(dom)
    assert page.all("body") and page.all("body")[0].attrs.get("data-probed") == "yes", \
        "the page never finished loading"
    assert len(page.all("h1")) == 1, [h.text for h in page.all("h1")]
    tables = page.all("table")
    assert len(tables) >= min_tables
    # In document order, a heading comes between any two tables (and before the first).
    seen_heading = False
    for el in page.elements:
        if el.tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
            seen_heading = True
        elif el.tag == "table":
            assert seen_heading, "a table without a heading of its own"
            seen_heading = False
    for el in page.elements:
        if el.tag == "th":
            assert "thead" in el.parents
        if el.tag == "td":
            text = el.text.strip()
            assert not (len(text) >= 2 and set(text) <= set("-: |")), \
                f"a Markdown separator row became a cell: {text!r}"
        if el.tag == "tr":
            assert "table" in el.parents
    assert all(t.text.count("---") == 0 for t in tables), "Markdown residue in a table"
    assert len(page.all("thead")) == len(tables)
    for h in page.headings():
        assert h.text.strip() and h.text.strip().lower() != "report", h.text
    imgs, figs = page.all("img"), page.all("figure")
    assert len(imgs) == len(figs) == figures, (len(imgs), len(figs), figures)
    assert all(i.attrs.get("data-loaded") == "yes" for i in imgs), "an image did not load"
    caps = page.all("figcaption")
    assert len(caps) == figures and all(c.text.strip() for c in caps)
    return page


def check_not_blank(pixels: np.ndarray) -> None:
    """A screenshot that shows something: not one colour, and more than a sliver of ink."""
    rgb = pixels[..., :3].astype(np.float64)
    gray = rgb.mean(axis=-1)
    assert gray.std() > 0.05, f"a blank screenshot (std {gray.std():.4f})"
    assert (gray < 0.9).mean() > 0.02, "almost nothing drawn"
