"""The whole book as one PDF (``scripts/course_pdf.py``, run by ``make course``), read back with
poppler as a reader would get it: every chapter and figure in it, its images, no code line past the
margin, a page number on every page and a table of contents whose numbers are true.

The PDF is ``$ATTN_EDU_COURSE/attn-edu-book.pdf`` (default ``_build/course``); without it the tests
skip, and fail in CI. A few pages are rendered to ``screenshots/pdf-*.png`` beside it, to look at.
The titles and the figure counts come from the stored notebooks, the captions from the HTML page
that was printed, so that a chapter or figure missing from that page is caught too.
"""

from __future__ import annotations

import html
import importlib.util
import json
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path

import pytest
import yaml

from tests._chromium import missing

pytestmark = [pytest.mark.course]

ROOT = Path(__file__).resolve().parent.parent
COURSE = Path(os.environ.get("ATTN_EDU_COURSE", ROOT / "_build" / "course"))
PDF = COURSE / "attn-edu-book.pdf"
SHOTS = COURSE / "screenshots"
LEFT_OUT = ["book/TEMPLATE"]  # the contributors' template, not part of the book a reader prints
MM = 72 / 25.4  # PDF points per mm
_spec = importlib.util.spec_from_file_location("course_pdf", ROOT / "scripts" / "course_pdf.py")
course_pdf = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(course_pdf)
MARGIN_MM = course_pdf.MARGIN_MM  # the margins it prints with
SHOWN = ("image/png", "image/jpeg")


def norm(text: str) -> str:
    """Text as compared: Unicode compatibility forms (ligatures), whitespace folded, and hyphens
    dropped with the space after them: pdftotext joins a word that wraps after its hyphen
    ("cross-" at a line end, "entropy" on the next) and drops that hyphen."""
    text = unicodedata.normalize("NFKC", text).replace("\u00ad", "")
    return " ".join(re.sub(r"-\s*", "", text).split())


def run(*cmd: str) -> str:
    return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout


def toc_pages() -> list[str]:
    """The pages of ``_toc.yml`` that the PDF prints, in order."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    pages = [toc["root"]] + [c["file"] for p in toc["parts"] for c in p["chapters"]]
    return [p for p in pages if p not in LEFT_OUT]


def cells(page: str) -> list[dict]:
    """The cells of a page that are printed: not removed, not a solution (the PDF leaves those out)."""
    path = ROOT / f"{page}.ipynb"
    if not path.exists():
        return []
    nb = json.loads(path.read_text())
    return [c for c in nb["cells"]
            if not set(c.get("metadata", {}).get("tags", [])) & {"remove-cell", "remove-output", "solution"}]


def title(page: str) -> str:
    """A page's title: its first ``# `` heading (in a notebook's Markdown cells, or a .md file)."""
    path = ROOT / f"{page}.md"
    sources = [path.read_text()] if path.exists() else \
        ["".join(c["source"]) for c in cells(page) if c["cell_type"] == "markdown"]
    for source in sources:
        for line in source.splitlines():
            if line.startswith("# "):
                return re.sub(r"[*_`]", "", line[2:]).strip()
    raise AssertionError(f"{page} has no '# ' title")


def outputs(mimes) -> int:
    """How many outputs of these types the printed cells of the printed pages have."""
    return sum(1 for page in toc_pages() for c in cells(page) for o in c.get("outputs", [])
               if set(o.get("data", {})) & set(mimes))


def longest_code_lines(n: int = 5) -> list[str]:
    """The ``n`` longest lines of the printed code cells (not ``hide-input``, ``remove-input``), longest last."""
    code = [line for p in toc_pages() for c in cells(p) if c["cell_type"] == "code"
            and not {"hide-input", "remove-input"} & set(c.get("metadata", {}).get("tags", []))
            for line in "".join(c["source"]).splitlines()]
    return sorted(code, key=len)[-n:]


def squeeze(text: str) -> str:
    """Text without whitespace (and hyphens, see :func:`norm`): a wrapped line reads as the line."""
    return "".join(norm(text).split())


@pytest.fixture(scope="module")
def book():
    if not PDF.exists():
        missing(f"{PDF} not found: run make course (or scripts/course_pdf.py {PDF})")
    for tool in ("pdftotext", "pdfimages", "pdftoppm", "pdfinfo"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found: apt-get install poppler-utils")
    report = json.loads(PDF.with_suffix(".json").read_text())
    text = run("pdftotext", str(PDF), "-").split("\f")[:-1]  # one string per page (the last \f ends the file)
    boxes = []  # per page: its width and height, and its words as (xMin, yMin, xMax, yMax, word), in points
    layout = run("pdftotext", "-bbox-layout", str(PDF), "-")
    for width, height, body in re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', layout, re.S):
        words = [(*map(float, box), html.unescape(word)) for *box, word in re.findall(
            r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', body)]
        boxes.append((float(width), float(height), words))
    return {"report": report, "pages": text, "boxes": boxes}


def test_the_page_count_is_reported(book):
    pages = int(re.search(r"Pages:\s+(\d+)", run("pdfinfo", str(PDF))).group(1))
    print(f"{PDF}: {pages} pages, {PDF.stat().st_size / 1e6:.1f} MB, built in {book['report']['seconds']} s")
    assert book["report"]["pages"] == pages == len(book["pages"])
    assert book["report"]["bytes"] == PDF.stat().st_size
    assert book["report"]["left_out"]["pages"] == LEFT_OUT
    assert book["report"]["blocked_requests"] == [], "the page asked for something outside 127.0.0.1"


def test_every_page_has_its_number_in_the_footer(book):
    total = len(book["boxes"])
    footers = [" ".join(w for *_, y_min, _, _, w in sorted(words, key=lambda b: b[0])
                        if y_min > height - MARGIN_MM["bottom"] * MM)
               for _, height, words in book["boxes"]]
    assert footers == [f"{i} / {total}" for i in range(1, total + 1)]


def test_every_chapter_title_and_every_figure_caption_is_printed(book):
    printed = norm("\n".join(book["pages"]))
    titles = [title(p) for p in toc_pages()]
    assert [c["title"] for c in book["report"]["chapters"]] == titles
    assert [t for t in titles if norm(t) not in printed] == []

    page = (COURSE / book["report"]["printed_html"]).read_text()
    captions = [norm(html.unescape(re.sub(r"<[^>]+>", "", c)))
                for c in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", page, re.S)]
    plotly = outputs(["application/vnd.plotly.v1+json"])
    assert len(captions) >= plotly == book["report"]["figures"] > 0
    assert [c for c in captions if c not in printed] == []
    # a plotly figure's caption opens with its title, which plotly also draws in the printed SVG
    drawn = [c.split(". Interactive:")[0] for c in captions if ". Interactive:" in c]
    assert len(drawn) == plotly
    assert [t for t in drawn if printed.count(t) < 2] == []


def test_the_images_are_in_the_pdf(book):
    # pdfimages lists every raster image drawn, per page: at least the notebooks' PNG and JPEG
    # outputs (matplotlib figures, photographs: 41 when this was written, of which 30 PNG); plotly's
    # heatmaps add theirs.
    rows = run("pdfimages", "-list", str(PDF)).splitlines()[2:]
    images = [r.split() for r in rows if r.strip()]
    expected = outputs(SHOWN)
    print(f"{len(images)} raster images in the PDF, {expected} image outputs in the printed cells")
    assert expected >= 30
    assert len(images) >= expected


def test_no_line_runs_past_the_margins_and_long_code_lines_wrap(book):
    left, right = MARGIN_MM["left"] * MM - 1, MARGIN_MM["right"] * MM - 1  # 1 pt of rounding
    past = [(n, word, x_min, x_max) for n, (width, _, words) in enumerate(book["boxes"], 1)
            for x_min, _, x_max, _, word in words if x_min < left or x_max > width - right]
    assert not past, f"words outside the margins (page, word, xMin, xMax): {past[:10]}"

    # The longest code lines of the book, wider than the page: every character of each is printed
    # (wrapped, not cut), in order.
    longest = longest_code_lines()
    assert len(longest[-1]) > 100  # wider than the page at the code font: these must wrap
    squeezed = squeeze("\n".join(book["pages"]))
    assert [line for line in longest if squeeze(line) not in squeezed] == []


def test_the_contents_give_true_page_numbers(book):
    # the numbers as printed on the contents page, read back from the PDF, not from the report
    front = run("pdftotext", "-layout", "-f", "1", "-l", "1", str(PDF), "-")
    entries = dict((norm(t), int(n)) for t, n in re.findall(r"^\s*(\S.*?)\s{2,}(\d+)\s*$", front, re.M))
    titles = [title(p) for p in toc_pages()]
    assert [t for t in titles if norm(t) not in entries] == [], front
    for t in titles:
        first = norm(book["pages"][entries[norm(t)] - 1])
        assert first.startswith(norm(t)), f"page {entries[norm(t)]} does not start with {t!r}: {first[:80]!r}"
    assert [entries[norm(t)] for t in titles] == [c["page"] for c in book["report"]["chapters"]]
    assert sorted(entries.values()) == [entries[norm(t)] for t in titles]  # in reading order


def test_pages_to_look_at(book):
    # The contents, the first chapter page, a page with an interactive figure, the page with the
    # longest code line: rendered for a person to look at (figures, wrapped code, page numbers).
    pages = book["pages"]
    figure = next(i for i, t in enumerate(pages, 1) if "Interactive:" in t)
    line = squeeze(longest_code_lines(1)[0])
    code = next(i for i, t in enumerate(pages, 1) if line in squeeze(t))
    SHOTS.mkdir(parents=True, exist_ok=True)
    for old in SHOTS.glob("pdf-*.png"):
        old.unlink()
    shots = {"contents": 1, "intro": book["report"]["chapters"][0]["page"], "figure": figure, "code": code}
    for name, n in shots.items():
        run("pdftoppm", "-r", "60", "-png", "-singlefile", "-f", str(n), "-l", str(n), str(PDF),
            str(SHOTS / f"pdf-{name}-p{n}"))
    assert sorted(p.name for p in SHOTS.glob("pdf-*.png")) == sorted(f"pdf-{k}-p{v}.png" for k, v in shots.items())
