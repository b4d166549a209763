"""Build the teacher's edition's slides: one reveal.js deck per chapter (``make course``, second step).

    .venv/bin/python scripts/course_slides.py _build/course/slides

Writes ``OUT_DIR/<chapter>.html`` for every chapter of ``_toc.yml`` that marks cells for slides,
``OUT_DIR/index.html`` linking them, and under ``OUT_DIR/_vendor`` what the decks load (reveal.js
from ``.vendor/reveal``, MathJax and the site's plotly.js bundle from ``book/_vendor``; all from
``make vendor``), so that the folder can be zipped and opened anywhere offline.

What is on a slide comes from the stored chapter, never from a copy: a chapter marks its cells
with Jupyter's standard slideshow metadata (``"metadata": {"slideshow": {"slide_type": "slide"}}``,
also ``"subslide"``, ``"fragment"`` or ``"-"``, the cell continuing the slide before; what
JupyterLab's property inspector, RISE and nbconvert write). Only marked cells are in a deck, and of
a code cell only its outputs: a figure, the Markdown a ``prose(...)`` cell writes, or, for a cell
without either (the equation-to-code listing), its printed text. Interactive plotly figures are
drawn as on the site (:func:`attn_edu.sphinxext.figure_html`), and redrawn to the slide's size
when their slide shows; ipywidgets outputs are not stored, and skipped. Links to other chapters
open the course's site beside the slides (:data:`SITE`, built by ``scripts/build_course.py``). The
decks are nbconvert's reveal template with its CDN URLs pointed at the local copies;
:data:`TEMPLATE` says what it replaces and why.

Fails, naming the chapter, on a chapter with fewer than :data:`MIN_SLIDES` slides, on an unknown
slide type and on a marked solution cell (``solution`` tag), which must never be shown.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import sys
import time
from pathlib import Path

import jinja2
import nbformat
import yaml
from nbconvert import SlidesExporter

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # attn_edu from this checkout, as the site build uses it

from attn_edu import course  # noqa: E402
from attn_edu.sphinxext import CLICK_JS, PLOTLY_MIME, PLOTLY_TRACES, VENDOR, figure_html, has_click_marker  # noqa: E402

SCRIPT = "course_slides.py"
MIN_SLIDES = 8
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
FIGURE_HEIGHT = 620
"""The most a plotly figure is high on a slide, in pixels (a slide is 720), with its caption under it."""
ASSETS = {  # under OUT_DIR/_vendor: where it comes from, relative to the repository root
    "reveal": Path(".vendor") / "reveal",
    "mathjax": VENDOR / "mathjax",
    "plotly": VENDOR / "plotly",
}
REVEAL = "_vendor/reveal"
MATHJAX = "_vendor/mathjax/startup.js"
PLOTLY = "_vendor/plotly/plotly-book.min.js"
CLICK = "_vendor/attn_edu_plotly_click.js"

# nbconvert's reveal template (reveal/index.html.j2), with what it would load from a CDN, or that
# breaks without it, replaced:
# * html_head_js: jQuery, require.js and mermaid from cdnjs; the decks load reveal.js as a plain
#   script (its UMD build sets window.Reveal), and draw no mermaid. Instead: the plotly.js bundle,
#   on decks with a figure (before the figures' inline scripts run), and the site's click-to-select
#   script (attn_edu.sphinxext.CLICK_JS) on decks with a figure marked for it.
# * jupyter_widgets: widget scripts from a CDN; the notebooks store no widget state.
# * html_head_js_mathjax: MathJax 2 from cdnjs, configured through MathJax.Hub; here the site's
#   MathJax 3 (the components of _config.yml's mathjax3_config), with $...$ and $$...$$ delimiters,
#   which Markdown cells use and the site's MyST turns into \(...\) before MathJax sees them.
# * footer_js: require()s reveal.js and its notes plugin, calls MathJax.Hub (MathJax 2, a TypeError
#   at every slide change under MathJax 3), and scrolls long slides with jQuery. Here reveal.js is
#   initialised directly, long slides scroll by CSS (SLIDE_CSS), and the plotly figures of the
#   slide shown are resized to it (drawn while hidden, they have no size).
TEMPLATE = r"""{%- extends 'index.html.j2' -%}

{%- block html_head_js -%}
{%- if resources.attn_edu.plotly %}
<script src="{{ resources.attn_edu.plotly }}"></script>
{%- endif %}
{%- if resources.attn_edu.click %}
<script src="{{ resources.attn_edu.click }}"></script>
{%- endif %}
{%- endblock html_head_js -%}

{% block jupyter_widgets %}{% endblock jupyter_widgets %}

{%- block html_head_js_mathjax -%}
<script>window.MathJax = {{ resources.attn_edu.mathjax_config }};</script>
<script defer src="{{ resources.mathjax_url }}"></script>
{%- endblock html_head_js_mathjax -%}

{%- block html_head_css -%}
<style type="text/css">
{{ resources.attn_edu.css }}
</style>
{%- endblock html_head_css -%}

{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script>
(function () {
  "use strict";
  // A figure drawn on a hidden slide has no size: fit those of the slide shown to it.
  function fitFigures() {
    if (typeof Plotly === "undefined") { return; }
    var figures = Reveal.getCurrentSlide().querySelectorAll(".plotly-graph-div");
    for (var i = 0; i < figures.length; i++) { Plotly.Plots.resize(figures[i]); }
  }
  Reveal.on("slidechanged", fitFigures);
  Reveal.initialize({
    controls: true,
    progress: true,
    hash: true,
    center: false,
    transition: "{{ resources.reveal.transition }}",
    slideNumber: "c/t",
    width: {{ resources.reveal.width }},
    height: {{ resources.reveal.height }},
    margin: 0.04
  }).then(fitFigures);
})();
</script>
{% endblock footer_js %}
"""

# On top of nbconvert's reveal CSS: a slide is the canvas' height and scrolls when a cell is longer
# (a chapter's cells are written for a page, not for a slide); text a little smaller than
# nbconvert's 20 px, so that most cells fit; an image no larger than the slide.
SLIDE_CSS = """
.reveal .slides section:not(.stack) { height: 100%; overflow-y: auto; }
:root { --jp-content-font-size1: 18px; --jp-ui-font-size1: 18px; --jp-code-font-size: 16px; }
.reveal .jp-RenderedHTMLCommon { padding-right: 0; }
.reveal .jp-RenderedHTMLCommon table { font-size: 15px; }
.reveal .jp-OutputArea-output img { max-width: 100%; max-height: 640px; width: auto; height: auto; }
.reveal figure.attn-edu-plotly { margin: 0; }
.reveal figure.attn-edu-plotly figcaption, .reveal details.attn-edu-plotly-data { font-size: 0.55em; }
"""

INDEX = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8" />
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{title}: slides</title>
<style type="text/css">
body {{ font-family: sans-serif; max-width: 40em; margin: 2em auto; padding: 0 1em; line-height: 1.5; }}
li {{ margin: 0.3em 0; }}
</style>
</head>
<body>
<main>
<h1>{title}: slides</h1>
<p>One reveal.js deck per chapter, made from the chapter's marked cells. Arrow keys or space move on,
<kbd>Esc</kbd> shows all slides of a deck, <kbd>F</kbd> full screen. Everything is in this folder and
works offline.</p>
<ol>
{items}
</ol>
</main>
</body>
</html>
"""


def fail(message: str):
    raise SystemExit(f"{SCRIPT}: {message}")


def slide_type(cell) -> str | None:
    """A cell's ``slideshow.slide_type``, ``None`` for a cell without one (not in the deck)."""
    return (cell.metadata.get("slideshow") or {}).get("slide_type")


def count_slides(cells) -> int:
    """How many slides nbconvert makes of marked cells: one for each ``slide`` or ``subslide``, and
    the first cell shown (not ``skip`` or ``notes``) starts one whatever its mark."""
    shown = [slide_type(cell) for cell in cells if slide_type(cell) not in (None, "skip", "notes")]
    return bool(shown) + sum(kind in ("slide", "subslide") for kind in shown[1:])


def mathjax_config() -> str:
    """The site's MathJax 3 configuration (``_config.yml``), with the TeX delimiters of Markdown."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    mathjax = dict(config["sphinx"]["config"]["mathjax3_config"])
    mathjax["tex"] = {"inlineMath": [["$", "$"], ["\\(", "\\)"]],
                      "displayMath": [["$$", "$$"], ["\\[", "\\]"]], "processEscapes": True}
    return json.dumps(mathjax)


def slide_outputs(outputs: list, cell_index: int) -> list:
    """A code cell's outputs as a slide shows them: plotly figures as the site draws them (no higher
    than :data:`FIGURE_HEIGHT`), no widget views, and printed text only where the cell has no figure
    or Markdown to show."""
    rich = []
    for j, out in enumerate(outputs):
        if out.output_type not in ("display_data", "execute_result"):
            continue
        data = {k: v for k, v in out.data.items() if k != WIDGET_MIME}
        if PLOTLY_MIME in data:
            fig = data[PLOTLY_MIME]
            layout = {**fig.get("layout", {})}
            layout["height"] = min(layout.get("height", 450), FIGURE_HEIGHT)
            data = {"text/html": figure_html({**fig, "layout": layout}, f"{cell_index}:{j}")}
        if data:
            rich.append(nbformat.from_dict({**out, "data": data}))
    return rich or [out for out in outputs if out.output_type == "stream"]


CHAPTER_LINK = re.compile(r"\]\(([a-z_]+)\.(?:ipynb|md)(#[^)]*)?\)")
SITE = "../site/book"
"""Where the slides' links to chapters go: the course's site, beside the slides folder in
``_build/course`` (its pages are the student notebooks, so no solution is a click away)."""


def site_links(markdown: str) -> str:
    """Markdown with its links to chapters (``glossary.ipynb#gap``) pointed at the course's site."""
    return CHAPTER_LINK.sub(lambda m: f"]({SITE}/{m.group(1)}.html{m.group(2) or ''})", markdown)


def deck_notebook(nb, chapter: str):
    """The chapter's marked cells, checked, their outputs as :func:`slide_outputs` shows them, the
    plotly figures among them (as stored) and the number of slides; ``None`` when the chapter marks
    no cell (it has no deck)."""
    marked = [(i, cell) for i, cell in enumerate(nb.cells) if slide_type(cell) is not None]
    if not marked:
        return None
    where = f"book/{chapter}.ipynb"
    for i, cell in marked:
        if slide_type(cell) not in SLIDE_TYPES:
            fail(f"{where}, cell {i}: slideshow.slide_type {slide_type(cell)!r}, expected one of {sorted(SLIDE_TYPES)}")
        if "solution" in cell.metadata.get("tags", []):
            fail(f"{where}, cell {i}: a solution cell is marked for a slide; solutions are never shown, "
                 "remove its slideshow metadata")
    n_slides = count_slides(cell for _, cell in marked)
    if n_slides < MIN_SLIDES:
        fail(f"{where} marks cells for {n_slides} slides (a slide starts at slideshow.slide_type \"slide\" or "
             f"\"subslide\"), expected at least {MIN_SLIDES}")
    figs = [out.data[PLOTLY_MIME] for _, cell in marked if cell.cell_type == "code"
            for out in cell.outputs if PLOTLY_MIME in out.get("data", {})]
    missing = sorted({t.get("type", "scatter") for fig in figs for t in fig.get("data", [])} - PLOTLY_TRACES)
    if missing:
        fail(f"{where}: a plotly figure with trace type {', '.join(missing)}, which the vendored plotly.js "
             f"bundle does not draw; expected one of {sorted(PLOTLY_TRACES)}")
    cells = []
    for i, cell in marked:
        cell = nbformat.from_dict(cell)
        if cell.cell_type == "code":
            cell.outputs = slide_outputs(cell.outputs, i)
            for out in cell.outputs:
                if "text/markdown" in out.get("data", {}):
                    out.data["text/markdown"] = site_links(out.data["text/markdown"])
        else:
            cell.source = site_links(cell.source)
        cells.append(cell)
    # the notebook's metadata without widget state, for which the template would load widget scripts
    metadata = {k: v for k, v in nb.metadata.items() if k != "widgets"}
    return nbformat.v4.new_notebook(cells=cells, metadata=metadata), figs, n_slides


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        fail(f"expected one argument, the output folder (e.g. _build/course/slides), got {len(argv)}")
    out_dir = Path(argv[0])
    start = time.perf_counter()
    for src in ASSETS.values():
        if not (ROOT / src).is_dir():
            fail(f"{src} is missing: run `make vendor` (scripts/vendor_js.sh)")
    exporter = SlidesExporter(
        extra_loaders=[jinja2.DictLoader({"attn_edu_slides.html.j2": TEMPLATE})],
        template_file="attn_edu_slides.html.j2",
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
        reveal_url_prefix=REVEAL, reveal_theme="white", reveal_width="1280", reveal_height="720",
        mathjax_url=MATHJAX,
    )
    config = mathjax_config()
    decks = []  # (chapter, title, number of slides)
    any_click = False
    for path in course.toc_notebooks(ROOT):
        nb = nbformat.read(path, as_version=4)
        found = deck_notebook(nb, path.stem)
        if found is None:
            continue
        deck, figs, n_slides = found
        click = any(has_click_marker(f) for f in figs)
        any_click |= click
        name = course.title(nb)
        resources = {"metadata": {"name": name}, "attn_edu": {
            "plotly": PLOTLY if figs else "", "click": CLICK if click else "",
            "mathjax_config": config, "css": SLIDE_CSS}}
        body, _ = exporter.from_notebook_node(deck, resources=resources)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{path.stem}.html").write_text(body, encoding="utf-8")
        decks.append((path.stem, name, n_slides))
    if not decks:
        fail("no chapter of _toc.yml marks cells for slides (slideshow.slide_type in the cells' metadata)")
    items = "\n".join(f'<li><a href="{chapter}.html">{html.escape(name)}</a> ({n} slides)</li>'
                      for chapter, name, n in decks)
    book_title = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))["title"]
    (out_dir / "index.html").write_text(INDEX.format(title=html.escape(book_title), items=items), encoding="utf-8")
    for folder, src in ASSETS.items():
        shutil.copytree(ROOT / src, out_dir / "_vendor" / folder, dirs_exist_ok=True)
    if any_click:
        (out_dir / CLICK).write_text(CLICK_JS, encoding="utf-8")
    print(f"{SCRIPT}: {len(decks)} decks ({sum(n for *_, n in decks)} slides) in {out_dir} "
          f"in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
