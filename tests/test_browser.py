"""Open every page of the built site in headless Chromium, as a reader would.

Fails on any page error, failed request, request leaving 127.0.0.1, or console error that is not
on the allowlist below; on any critical or serious accessibility violation found by axe-core
(vendored from npm into .vendor/axe by scripts/vendor_js.sh); on a page that transfers more than
:data:`PAGE_BUDGET_MB`. On pages with plotly figures, checks that they rendered and answer a hover
and a control, and, on figures marked for it, that a click on the photo selects a query; on a page
that scrolls sideways on a 390 px phone.
Screenshots land in _build/screenshots/ for a human to look at, with one JSON record a page of what
was measured: the bytes it transferred and axe-core's violations of every impact.

Needs the built site (`make book`) and Debian's Chromium (`apt-get install chromium`); it never
downloads a browser. Locally it skips without them; with CI set it fails instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from _chromium import block_outside, chromium, missing, serve

ROOT = Path(__file__).resolve().parent.parent
# ATTN_EDU_SITE points at another built site, e.g. one made by scripts/build_pages.py.
SITE = Path(os.environ.get("ATTN_EDU_SITE", ROOT / "_build" / "html"))
SHOTS = SITE.parent / "screenshots"

# Console errors that are not ours and do not affect the reader; each with its reason.
CONSOLE_ALLOWLIST = [
    # pydata-sphinx-theme 0.17.1 on a fresh browser profile with no stored theme preference.
    "Got invalid theme mode",
]

AXE = ROOT / ".vendor" / "axe" / "axe.min.js"
AXE_FAILS = ("critical", "serious")
PHONE_WIDTH = 390
PAGE_BUDGET_MB = 4.0
"""What one page may transfer, everything it loads included (uncompressed: the test server does
not compress). Measured 2026-12-02: 3.28 to 3.91 MB for the chapters with figures (the plotly.js
bundle 1.33 MB, MathJax 0.76 MB, the theme's CSS and fonts 0.6 MB, the page and its images the
rest), 0.9 to 1.8 MB for the others; each page's figure is in _build/screenshots/<page>.json."""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        missing("no built site: run `make book` first")
    with serve(SITE) as base:
        yield base.rstrip("/")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("profile"), viewport={"width": 1280, "height": 900}) as ctx:
        yield ctx


def pages() -> list[str]:
    if not SITE.exists():
        return ["index.html"]
    skip = {"genindex.html", "search.html"}
    return sorted(
        p.relative_to(SITE).as_posix()
        for p in SITE.rglob("*.html")
        if not p.relative_to(SITE).parts[0].startswith("_") and p.name not in skip
    )


@pytest.mark.parametrize("page", pages())
def test_page_renders_offline_without_errors(server, browser, page):
    problems: list[str] = []
    tab = browser.new_page()
    outside = block_outside(tab, server)
    tab.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    tab.on("requestfailed", lambda r: problems.append(f"failed request: {r.url} {r.failure}"))
    responses = []
    tab.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else responses.append(r))
    tab.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
           if m.type == "error" and not any(a in m.text for a in CONSOLE_ALLOWLIST) else None)
    tab.goto(f"{server}/{page}", wait_until="load")
    tab.wait_for_timeout(800)  # MathJax typesetting and plotly drawing

    figures = tab.locator(".plotly-graph-div")
    n_fig = figures.count()
    for i in range(n_fig):
        fig = figures.nth(i)
        fig.scroll_into_view_if_needed()
        fig.locator(".main-svg").first.wait_for(timeout=15_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(SHOTS / (page.replace("/", "_").removesuffix(".html") + ".png")), full_page=True)

    for i in range(n_fig):
        _check_figure_is_interactive(tab, figures.nth(i), f"{page} figure {i}")
        _check_click_selects_query(tab, figures.nth(i), f"{page} figure {i}")

    if tab.locator("mjx-container").count() == 0 and 'class="math notranslate' in (SITE / page).read_text():
        problems.append("math present but MathJax rendered nothing")
    # bytes as the server sent them (its Content-Length: the body of a page left by a redirect is gone)
    sizes = [(int(r.headers["content-length"]), r.url.rsplit("/", 1)[-1]) for r in responses if r.status < 300]
    weight = sum(b for b, _ in sizes) / 1e6
    if weight > PAGE_BUDGET_MB:
        biggest = sorted(sizes, reverse=True)
        problems.append(f"transfers {weight:.2f} MB > {PAGE_BUDGET_MB} MB: " + ", ".join(f"{u} {b / 1e6:.2f}" for b, u in biggest[:5]))
    violations = _axe_violations(tab)
    problems += [f"axe {v['impact']}: {v['id']} at {v['nodes']}" for v in violations if v["impact"] in AXE_FAILS]
    record = {"page": page, "transferred_mb": round(weight, 3), "requests": len(sizes), "figures": n_fig,
              "axe": {impact: sorted(v["id"] for v in violations if v["impact"] == impact)
                      for impact in ("critical", "serious", "moderate", "minor")}}
    # a phone: nothing may widen the page (a long inline name, a wide table or figure)
    tab.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    tab.wait_for_timeout(400)  # plotly redraws its responsive figures
    scroll, client = tab.evaluate("[document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    if scroll > client:
        problems.append(f"scrolls sideways on a {PHONE_WIDTH} px phone: {scroll} px wide")
    tab.screenshot(path=str(SHOTS / ("phone_" + page.replace("/", "_").removesuffix(".html") + ".png")))
    record["phone_scroll_width"] = scroll
    (SHOTS / (page.replace("/", "_").removesuffix(".html") + ".json")).write_text(json.dumps(record, indent=1) + "\n")
    tab.close()
    assert not outside, f"{page} requested outside 127.0.0.1: {outside}"
    assert not problems, f"{page}: " + "; ".join(problems)


def _axe_violations(tab) -> list[dict]:
    """axe-core's violations on the page as loaded, every impact: ``{id, impact, nodes}`` (the first 3 nodes)."""
    if not AXE.exists():
        missing(f"{AXE} not found: run `make vendor`")
    tab.add_script_tag(path=str(AXE))
    return tab.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")


def _check_figure_is_interactive(tab, fig, where: str) -> None:
    fig.scroll_into_view_if_needed()
    # hover: plotly draws a hover label in the hover layer. Aim at a drawn marker where there is
    # one (a scatter plot may have nothing under the centre), else at the centre (heatmaps, images).
    points = fig.locator(".scatterlayer .point")
    box = points.first.bounding_box() if points.count() else None
    if box is None:
        box = fig.locator(".nsewdrag").first.bounding_box()
    assert box, f"{where}: no plot area"
    tab.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tab.wait_for_timeout(300)
    hover = fig.locator(".hoverlayer .hovertext")
    assert hover.count() > 0, f"{where}: no hover label on the plot area"
    tab.mouse.move(0, 0)
    # what a control can change: traces' visibility and data, the layout's titles, slider positions.
    # The data as plotly.js draws it (_fullData): the figures store typed arrays ({dtype, bdata}),
    # which plotly.js decodes there, so a step whose arrays did not decode shows here as no change.
    state = ("el => JSON.stringify([el._fullData.map(t => [t.visible, t.z && t.z[0] && t.z[0][0], t.y && t.y[0]]),"
             " [el.layout.title, el.layout.yaxis && el.layout.yaxis.title, el.layout.yaxis && el.layout.yaxis.type],"
             " (el.layout.sliders || []).map(s => s.active)])")
    before = fig.evaluate(state)
    sliders = fig.locator(".slider-rail-rect")
    menus = fig.locator(".updatemenu-header")
    if sliders.count():
        rail = sliders.first.bounding_box()
        tab.mouse.click(rail["x"] + rail["width"] * 0.8, rail["y"] + rail["height"] / 2)
    elif menus.count():
        menus.first.click()
        fig.locator(".updatemenu-dropdown-button").nth(1).click()
    else:
        return  # a figure without controls answers hover only
    tab.wait_for_timeout(400)
    after = fig.evaluate(state)
    assert after != before, f"{where}: the control changed nothing ({before})"
    if menus.count():
        # with a slider, the menu has not been tried yet: pick its second entry; without one, the
        # second entry was picked above: go back to the first
        menus.first.click()
        tab.wait_for_timeout(200)
        fig.locator(".updatemenu-dropdown-button").nth(1 if sliders.count() else 0).click()
        tab.wait_for_timeout(300)
        assert fig.evaluate(state) != after, f"{where}: the menu changed nothing"


def _check_click_selects_query(tab, fig, where: str) -> None:
    """On a figure marked for click-to-select (``layout.meta.attn_edu``, see attn_edu.sphinxext),
    a click on the plot at the query point farthest from the selected one selects that query."""
    spec = fig.evaluate("el => (el.layout && el.layout.meta && el.layout.meta.attn_edu) || null")
    if not spec or "click_selects_slider" not in spec:
        return
    i, pts = spec["click_selects_slider"], spec["slider_points"]
    state = (f"el => JSON.stringify([el.layout.sliders[{i}].active, el.layout.shapes,"
             " el._fullData.map(t => t.z && t.z[0] && Array.from(t.z[0]))])")
    active = fig.evaluate(f"el => el.layout.sliders[{i}].active || 0")
    ax, ay = pts[active]
    target = max(range(len(pts)), key=lambda k: (pts[k][0] - ax) ** 2 + (pts[k][1] - ay) ** 2)
    fig.scroll_into_view_if_needed()
    before = fig.evaluate(state)
    xy = fig.evaluate(
        "(el, p) => { const L = el._fullLayout, r = el.querySelector('.main-svg').getBoundingClientRect();"
        " return [r.left + L.xaxis._offset + L.xaxis.d2p(p[0]), r.top + L.yaxis._offset + L.yaxis.d2p(p[1])]; }",
        pts[target])
    tab.mouse.click(xy[0], xy[1])
    tab.wait_for_timeout(500)
    got = fig.evaluate(f"el => el.layout.sliders[{i}].active")
    assert got == target, f"{where}: a click at query {target} selected {got}"
    assert fig.evaluate(state) != before, f"{where}: the click changed nothing"
