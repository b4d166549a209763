"""The teacher's edition's reveal.js slides (``make course``, scripts/course_slides.py), opened in
headless Chromium as a teacher would, served from 127.0.0.1.

* Every chapter that marks cells for slides has its deck, and ``index.html`` links each one.
* Each deck loads with no request leaving 127.0.0.1, no failed request, no page or console error,
  and has at least 8 slides.
* Math: no raw ``$$`` or ``$...$`` is left in any slide's text, and every slide made from a cell
  with display math (``$$``) has a typeset equation (``mjx-container``).
* Each plotly figure, on its slide, is drawn to the slide's width (drawn while hidden, it would
  have none) and answers a hover; on a figure marked for it (``layout.meta.attn_edu``, see
  attn_edu.sphinxext), a click on the plot selects the query under it.

Screenshots of each deck's first slide and of a figure slide land in ``_build/course/screenshots/``
(``slides-<chapter>-first.png``, ``slides-<chapter>-figure.png``) for a human to look at.

Needs ``make course`` (``_build/course``; ``ATTN_EDU_COURSE`` points at another one) and Debian's
Chromium. Locally it skips without them; with CI set it fails.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from _chromium import block_outside, chromium, missing, serve

from attn_edu import course

ROOT = Path(__file__).resolve().parent.parent
COURSE = Path(os.environ.get("ATTN_EDU_COURSE", ROOT / "_build" / "course"))
SLIDES = COURSE / "slides"
SHOTS = COURSE / "screenshots"
sys.path.insert(0, str(ROOT / "scripts"))
from course_slides import MIN_SLIDES, slide_type  # noqa: E402

pytestmark = [pytest.mark.course, pytest.mark.browser]


def marked_chapters() -> dict[str, list[bool]]:
    """For each chapter that marks cells, in the order of ``_toc.yml``: per slide, whether one of
    its cells has display math (``$$`` in its Markdown or in a Markdown output)."""
    chapters = {}
    for path in course.toc_notebooks(ROOT):
        nb = nbformat.read(path, as_version=4)
        slides: list[bool] = []
        for cell in nb.cells:
            kind = slide_type(cell)
            if kind is None or kind in ("skip", "notes"):
                continue
            if kind in ("slide", "subslide") or not slides:
                slides.append(False)
            texts = [cell.source] if cell.cell_type == "markdown" else [
                out.data["text/markdown"] for out in cell.get("outputs", []) if "text/markdown" in out.get("data", {})]
            slides[-1] |= any("$$" in text for text in texts)
        if slides:
            chapters[path.stem] = slides
    return chapters


CHAPTERS = marked_chapters()


@pytest.fixture(scope="module")
def server():
    if not (SLIDES / "index.html").exists():
        missing(f"no slides in {SLIDES}: run `make course`")

    with serve(SLIDES) as base:
        yield base.rstrip("/")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("profile"), viewport={"width": 1280, "height": 720}) as ctx:
        yield ctx


def open_page(browser, server: str, page: str):
    """A tab on ``page`` with what went wrong collected in the returned list (requests outside
    127.0.0.1 are aborted and listed too)."""
    problems: list[str] = []
    tab = browser.new_page()
    outside = block_outside(tab, server)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    tab.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    tab.goto(f"{server}/{page}", wait_until="load")
    return tab, problems, outside


def test_index_links_every_deck(server, browser):
    assert CHAPTERS, "no chapter of _toc.yml marks cells for slides"
    tab, problems, outside = open_page(browser, server, "index.html")
    links = tab.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    tab.close()
    assert links == [f"{chapter}.html" for chapter in CHAPTERS]
    missing_decks = [chapter for chapter in CHAPTERS if not (SLIDES / f"{chapter}.html").exists()]
    assert not missing_decks, f"no deck for {missing_decks}"
    assert not outside and not problems, outside + problems


# The text of every slide, without typeset math, code and the figures' own SVG text.
SLIDE_TEXTS = """() => Reveal.getSlides().map(s => {
  const c = s.cloneNode(true);
  c.querySelectorAll('mjx-container, pre, code, .plotly-graph-div, script').forEach(e => e.remove());
  return c.textContent;
})"""
RAW_MATH = re.compile(r"\$\$|\$[^$\s][^$]*\$")


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_deck(server, browser, chapter):
    tab, problems, outside = open_page(browser, server, f"{chapter}.html")
    tab.wait_for_function("() => window.Reveal && Reveal.isReady()")
    # MathJax typesets once its components have loaded (window.MathJax is its configuration until then)
    tab.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    tab.evaluate("() => MathJax.startup.promise")
    tab.evaluate("() => Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    n = tab.evaluate("() => Reveal.getTotalSlides()")
    assert n >= MIN_SLIDES, f"{chapter}: {n} slides"
    assert n == len(CHAPTERS[chapter]), f"{chapter}: {n} slides, the chapter marks {len(CHAPTERS[chapter])}"

    texts = tab.evaluate(SLIDE_TEXTS)
    raw = {k: RAW_MATH.findall(text)[:3] for k, text in enumerate(texts) if RAW_MATH.search(text)}
    assert not raw, f"{chapter}: math left as TeX on slides (0-based) {raw}"
    typeset = tab.evaluate("() => Reveal.getSlides().map(s => !!s.querySelector('mjx-container[display=\"true\"]'))")
    untypeset = [k for k, has_math in enumerate(CHAPTERS[chapter]) if has_math and not typeset[k]]
    assert not untypeset, f"{chapter}: slides (0-based) {untypeset} have $$ math but no typeset equation"

    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / f"slides-{chapter}-first.png"))
    figures = tab.locator(".plotly-graph-div")
    for i in range(figures.count()):
        fig = figures.nth(i)
        fig.evaluate("el => { const at = Reveal.getIndices(el.closest('section')); Reveal.slide(at.h, at.v); }")
        fig.locator(".main-svg").first.wait_for(timeout=15_000)
        tab.wait_for_timeout(300)  # the resize after the slide change
        widths = fig.evaluate("el => [el.clientWidth, el.querySelector('.main-svg').getBoundingClientRect().width,"
                              " el.getBoundingClientRect().width]")
        assert widths[0] > 300 and abs(widths[1] - widths[2]) < 2, \
            f"{chapter} figure {i}: not drawn to its slide's width (div, svg, div on screen: {widths})"
        _check_hover(tab, fig, f"{chapter} figure {i}")
        _check_click_selects_query(tab, fig, f"{chapter} figure {i}")
        if i == 0:
            tab.screenshot(path=str(SHOTS / f"slides-{chapter}-figure.png"))
    if not figures.count():  # a figure of another kind: an image or a table
        shown = tab.evaluate("() => Reveal.getSlides().findIndex(s => s.querySelector('.jp-OutputArea img, table'))")
        if shown >= 0:
            tab.evaluate(f"() => Reveal.slide({shown})")
            tab.wait_for_timeout(200)
            tab.screenshot(path=str(SHOTS / f"slides-{chapter}-figure.png"))
    tab.close()
    assert not outside, f"{chapter}: requests outside 127.0.0.1: {outside}"
    assert not problems, f"{chapter}: {problems}"


def _check_hover(tab, fig, where: str) -> None:
    """A hover label appears over a drawn point (scatter plots), else over the plot's centre."""
    points = fig.locator(".scatterlayer .point")
    box = points.first.bounding_box() if points.count() else None
    if box is None:
        box = fig.locator(".nsewdrag").first.bounding_box()
    assert box, f"{where}: no plot area"
    tab.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tab.wait_for_timeout(300)
    assert fig.locator(".hoverlayer .hovertext").count() > 0, f"{where}: no hover label on the plot area"
    tab.mouse.move(0, 0)


def _check_click_selects_query(tab, fig, where: str) -> None:
    """On a figure marked for click-to-select, a click at the last query point selects it (reveal.js
    scales the slide: plotly's pixel offsets are scaled to the screen by the drawn width)."""
    spec = fig.evaluate("el => (el.layout.meta && el.layout.meta.attn_edu) || null")
    if not spec or "click_selects_slider" not in spec:
        return
    i, target = spec["click_selects_slider"], len(spec["slider_points"]) - 1
    xy = fig.evaluate(
        "(el, p) => { const L = el._fullLayout, r = el.querySelector('.main-svg').getBoundingClientRect(),"
        " k = r.width / L.width; return [r.left + k * (L.xaxis._offset + L.xaxis.d2p(p[0])),"
        " r.top + k * (L.yaxis._offset + L.yaxis.d2p(p[1]))]; }", spec["slider_points"][target])
    tab.mouse.click(xy[0], xy[1])
    tab.wait_for_timeout(400)
    got = fig.evaluate(f"el => el.layout.sliders[{i}].active")
    assert got == target, f"{where}: a click at query {target} selected {got}"


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_links_to_chapters_open_the_course_site(chapter):
    """A deck's links to other chapters go to the course's site beside it (``../site/book``), and the
    page each names is there: no link into the slides folder's void, none to the public site."""
    deck = SLIDES / f"{chapter}.html"
    if not deck.exists():
        missing(f"no deck {deck}: run `make course`")
    hrefs = re.findall(r'<a [^>]*href="([^"#]+)(?:#[^"]*)?"', deck.read_text(encoding="utf-8"))
    local = [h for h in hrefs if not h.startswith(("http://", "https://", "mailto:"))]
    assert not [h for h in local if ".ipynb" in h], f"{chapter}: links to notebooks: {local}"
    broken = [h for h in local if not (SLIDES / h).resolve().exists()]
    assert not broken, f"{chapter}: links to pages the course folder lacks: {broken}"
