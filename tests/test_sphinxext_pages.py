"""attn_edu.sphinxext's work on the written pages: the Font Awesome script dropped, accessible
names fixed, GitHub's mark inlined, the search tools loaded only by the search page, and every
trace type the chapters use drawn by the site's plotly.js bundle."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from attn_edu import sphinxext

ROOT = Path(__file__).resolve().parent.parent

THEME_HEAD = (
    '  <script defer src="../_static/scripts/fontawesome.js?digest=55c26ed414f5f8a31ebb"></script>\n'
    '<button class="btn search-button-field search-button__button pst-js-only" title="Search" aria-label="Search"'
    ' data-bs-placement="bottom" data-bs-toggle="tooltip">\n'
    '<details><summary aria-label="Toggle hidden content">\n<p class="collapsed">Show code cell source</p>'
)


def test_pages_lose_the_fontawesome_script_and_the_mismatched_labels(tmp_path):
    page = tmp_path / "book" / "se.html"
    page.parent.mkdir()
    page.write_text(THEME_HEAD)
    counts = sphinxext._rewrite_pages(tmp_path)
    assert list(counts.values()) == [1, 1, 1]  # the script tag, the toggle's label, the search button's label
    html = page.read_text()
    assert "fontawesome.js" not in html and "aria-label" not in html
    assert 'title="Search" data-bs-placement="bottom"' in html and "<summary>\n" in html


def test_every_trace_type_of_the_stored_chapters_is_in_the_site_bundle():
    used = set()
    for nb in (ROOT / "book").glob("*.ipynb"):
        for cell in json.loads(nb.read_text())["cells"]:
            for out in cell.get("outputs", []):
                fig = out.get("data", {}).get(sphinxext.PLOTLY_MIME)
                if fig:
                    used |= {t.get("type", "scatter") for t in fig["data"]}
    assert used, "no plotly figure found in the stored chapters"
    assert used <= sphinxext.PLOTLY_TRACES, used - sphinxext.PLOTLY_TRACES


def test_the_bundle_registers_the_traces_the_extension_expects():
    source = (ROOT / "scripts" / "plotly_bundle" / "index.js").read_text()
    registered = set(re.findall(r"require\('plotly\.js/lib/(\w+)'\)", source)) - {"core"}
    assert registered | {"scatter"} == sphinxext.PLOTLY_TRACES  # scatter: in plotly.js's core


SEARCH_HEAD = ('    <script src="../_static/searchtools.js"></script>\n'
               '    <script src="../_static/language_data.js"></script>\n'
               '    <script src="../searchindex.js"></script>\n'
               '<span class="btn__icon-container">\n  <i class="fab fa-github"></i>\n  </span>\n')


def test_the_search_tools_leave_every_page_but_the_search_page_and_githubs_mark_is_inlined(tmp_path):
    svg = tmp_path / "mark.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">'
                   '<path d="M8 0Z"/></svg>\n')
    mark = sphinxext.github_mark(svg)
    assert mark.startswith('<svg width="1em" height="1em" fill="currentColor" aria-hidden="true"')
    assert 'width="16"' not in mark and 'viewBox="0 0 16 16"' in mark
    page, search = tmp_path / "book" / "se.html", tmp_path / "search.html"
    page.parent.mkdir()
    page.write_text(SEARCH_HEAD)
    search.write_text(SEARCH_HEAD.replace("../", ""))
    counts = sphinxext._rewrite_pages(tmp_path, [(sphinxext.GITHUB_ICON, lambda _m: mark)],
                                      [(sphinxext.SEARCH_TOOLS, "")])
    assert list(counts.values()) == [2, 3]  # the mark on both pages, the search tools on one
    html = page.read_text()
    assert "search" not in html and "language_data" not in html and mark in html and "fa-github" not in html
    on_search = search.read_text()  # the search page keeps its own tools, and gets the mark like every page
    assert on_search == SEARCH_HEAD.replace("../", "").replace('<i class="fab fa-github"></i>', mark)
    with pytest.raises(FileNotFoundError, match="run `make vendor`"):
        sphinxext.github_mark(tmp_path / "none.svg")


def test_an_interactive_figure_is_captioned_with_its_title_and_controls():
    fig = {"data": [{"type": "heatmap"}, {"type": "scatter", "name": "a"}, {"type": "scatter", "name": "b"}],
           "layout": {"title": {"text": "Maps <br><b>of one scene</b>"},
                      "sliders": [{"currentvalue": {"prefix": "query: "}}], "updatemenus": [{}]}}
    assert sphinxext.figure_caption(fig) == (
        "Maps of one scene. Interactive: hover to read the values; the slider picks the query; "
        "the menu switches the view; a click on a legend entry hides or shows it.")
    assert sphinxext.figure_caption({"data": [{"type": "bar"}], "layout": {}}) == (
        "Figure. Interactive: hover to read the values.")


def test_a_figures_data_is_also_text():
    from attn_edu.sphinxext import figure_data_text
    from attn_edu.viz import typed_array

    z = [[0.1, 0.2], [0.9, 0.3]]
    fig = {"data": [{"type": "scatter", "name": "SE", "x": [49, 196], "y": [0.04, 0.05]},
                    {"type": "heatmap", "name": "gate", "z": typed_array(z)}],
           "layout": {"sliders": [{"steps": [{"label": "scene 2", "method": "restyle",
                                              "args": [{"z": [typed_array([[0.5, 0.7], [0.1, 0.2]])]}, [1]]}]}]}}
    text = figure_data_text(fig)
    assert text.startswith("<details") and "(49, 0.04), (196, 0.05)" in text
    assert "gate: a 2 × 2 map from 0.1 to 0.9, highest at row 2, column 1" in text
    assert "slider step scene 2: gate: a 2 × 2 map from 0.1 to 0.7, highest at row 1, column 2" in text
    assert figure_data_text({"data": [{"type": "image", "source": "data:"}], "layout": {}}) == ""


def test_the_extension_draws_plotly_on_the_one_page_of_singlehtml():
    # attn_edu.sphinxext, for the singlehtml build that the PDF is printed from: plotly's JSON is
    # rendered (not dropped for want of a mime type), and plotly.js goes on the one page, the root
    # document's, when any document has a figure; the site's pages get what they got before.
    from types import SimpleNamespace

    from myst_nb.core.render import get_mime_priority


    for builder in ("html", "singlehtml"):
        order = get_mime_priority(builder, [])
        assert order.index(sphinxext.PLOTLY_MIME) < order.index("text/html"), builder

    def scripts(builder: str, page: str) -> list[str]:
        added: list[str] = []
        metadata = {"book/intro": {}, "book/se": {"has_plotly": True}, "book/sk": {"has_plotly_click": True}}
        app = SimpleNamespace(builder=SimpleNamespace(name=builder), config=SimpleNamespace(root_doc="book/intro"),
                              env=SimpleNamespace(metadata=metadata, found_docs=set(metadata)),
                              add_js_file=lambda name, priority: added.append(name))
        sphinxext._add_page_scripts(app, page, "page.html", {}, None)
        return added

    both = [sphinxext.PLOTLY_JS, sphinxext.CLICK_JS_FILE]
    assert scripts("singlehtml", "book/intro") == both
    assert scripts("html", "book/intro") == [] and scripts("html", "book/se") == [sphinxext.PLOTLY_JS]
    assert scripts("singlehtml", "genindex") == []
