"""Sphinx/myst-nb glue for the book: offline plotly, and one fix for a duplicated script.

Loaded by ``_config.yml`` (``sphinx.extra_extensions``) and, for the plotly renderer, through the
``myst_nb.mime_renderers`` entry point declared in ``pyproject.toml``.

* Plotly: notebooks keep plotly's default output (the ``application/vnd.plotly.v1+json`` mimetype,
  small, rendered natively by JupyterLab and Colab). jupyter-book 1 would drop it with a warning;
  :class:`PlotlyMimeRenderer` turns it into a ``<div>`` + ``Plotly.newPlot`` call, and a plotly.js
  bundle of the book's trace types (:data:`PLOTLY_JS`, built from npm's plotly.js by
  ``scripts/vendor_js.sh`` at the version of the installed plotly.py) is added only to pages that
  have a figure (with the singlehtml builder, which ``scripts/course_pdf.py`` prints, to its one
  page when any chapter has one). No CDN; 1.33 MB where the full bundle is 4.8 MB. A figure with
  a trace type that the bundle lacks (:data:`PLOTLY_TRACES`) is a build warning, an error under
  ``-W``.
* Font Awesome: the theme loads the icons twice, as CSS web fonts and as a 1.5 MB script that
  swaps each icon for an SVG ("so that users can add custom icons"; the book adds none). The
  script's tag is removed from every page (:data:`PAGE_REWRITES`); the web fonts draw the
  same icons, except GitHub's mark on the repository button, the one glyph of the 0.12 MB brands
  font: it becomes an inline SVG (octicons' ``mark-github``, vendored by ``scripts/vendor_js.sh``).
* Search: with ``search_as_you_type`` off (the theme's default, and the book's), the theme still
  loads Sphinx's search tools and the whole search index (0.15 MB) on every page, for a search
  that only runs as you type. Those three tags are removed (:data:`SEARCH_TOOLS`); the search
  button leads to ``search.html``, which loads them itself.
* Phones: :data:`CSS` lets long inline code wrap, so that no page scrolls sideways at 390 px.
* Accessible names (axe-core's ``label-content-name-mismatch``, serious: a control's accessible
  name must contain its visible text, so that a speech user can say what they see): the theme's
  search buttons are labelled "Search" while they show "Search Ctrl+K", and myst-nb's "Show code
  cell source" toggles are labelled "Toggle hidden content". Their ``aria-label`` is removed
  (:data:`NAME_MISMATCHES`, in :data:`PAGE_REWRITES`), so the name is the visible text.
  ``tests/test_browser.py`` runs axe on every page.
* Captions: each figure is a ``<figure>`` whose ``<figcaption>`` (:func:`figure_caption`: its
  title and what its controls do) is also its accessible name.
* Click to select: a figure whose ``layout.meta`` has ``{"attn_edu": {"click_selects_slider": i,
  "slider_points": [[x, y], ...]}}`` (one point per step of slider ``i``, in data coordinates)
  moves that slider to the step nearest a clicked point: a small script, :data:`CLICK_JS`, copied
  to ``_static`` and added only to pages with such a figure (see :func:`attn_edu.viz.plotly_explorer`,
  ``click_selects_query=True``). Figures without the marker are untouched.
* Boxes: the chapters write a box as a Markdown block quote whose first line is a bold title
  (``> **Faithfulness**``), which reads as a box in JupyterLab, Notebook 7 and Colab too; on the
  site, :func:`_blockquotes_to_admonitions` turns each such quote into an admonition of that title
  (class from :data:`BOX_CLASSES`, ``note`` otherwise).
* Execution statistics: the book is executed once, by ``scripts/store_notebooks.py``, which
  records each run in the notebook's metadata; the ``attn-edu-exec-table`` directive tabulates
  those records (``book/exec_stats.md``).
* sphinx-thebe 0.3.1 with Sphinx 7.4 emits its ``const THEBE_JS_URL`` script twice, a
  SyntaxError on every page; duplicates are removed from each page's script list.
"""

from __future__ import annotations

import hashlib
import html as html_lib
import json
import re
from pathlib import Path
from typing import Any

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly/plotly-book.min.js"
"""The site's plotly.js bundle, under ``_static`` (from ``book/_vendor``, see ``scripts/vendor_js.sh``)."""
VENDOR = Path("book") / "_vendor"
"""Where ``scripts/vendor_js.sh`` puts the pages' JavaScript, relative to the repository root
(``html_static_path`` in ``_config.yml``, copied to the site's ``_static``)."""


def vendored_plotly_js(root: Path) -> Path:
    """The site's plotly.js bundle in the checkout at ``root`` (what every page with a figure loads)."""
    return Path(root) / VENDOR / PLOTLY_JS


PLOTLY_TRACES = frozenset({"bar", "heatmap", "image", "scatter"})
"""The trace types of that bundle: plotly.js's core (scatter) and the traces registered by
``scripts/plotly_bundle/index.js``."""
NAME_MISMATCHES = (
    re.compile(r'(<summary) aria-label="Toggle hidden content"(>)'),
    re.compile(r'(<button class="btn search-button-field [^>]*?) aria-label="Search"([^>]*>)'),
)
"""Controls whose ``aria-label`` hides their visible text (see the module docstring): the label
is dropped, groups 1 and 2 kept."""
FONTAWESOME_JS = re.compile(r'[ \t]*<script defer src="[^"]*_static/scripts/fontawesome\.js[^"]*"></script>\n?')
GITHUB_ICON = re.compile(r'<i class="fab fa-github"></i>')
GITHUB_SVG = "octicons/mark-github-16.svg"
"""GitHub's mark, under ``_static`` (see ``scripts/vendor_js.sh``)."""
SEARCH_TOOLS = re.compile(r'[ \t]*<script src="(?:\.\./)*(?:_static/searchtools|_static/language_data|searchindex)'
                          r'\.js"></script>\n?')
"""The theme's tags for Sphinx's search tools and index on pages other than ``search.html``."""
CLICK_JS_FILE = "attn_edu_plotly_click.js"
CLICK_META = "attn_edu"
CSS_FILE = "attn_edu.css"
CSS = """/* attn_edu: a long inline name (torch.utils.flop_counter.FlopCounterMode) wraps on a phone
   instead of widening the page (390 px: the cost page scrolled sideways by 5 px). */
code.literal, code.literal > span.pre { white-space: normal; overflow-wrap: anywhere; }
/* the caption under each interactive figure (attn_edu.sphinxext.figure_caption) */
figure.attn-edu-plotly { margin: 0 0 1em 0; }
figure.attn-edu-plotly figcaption { font-size: 0.9em; color: var(--pst-color-text-muted); margin-top: 0.25em; }
/* GitHub's mark (attn_edu.sphinxext.github_mark) on the baseline of the icon font it replaces */
svg.attn-edu-icon { vertical-align: -0.125em; }
"""
CLICK_JS = r"""// attn_edu: a click on a marked plotly figure moves its slider to the nearest step.
// Marker: layout.meta.attn_edu = {click_selects_slider: i, slider_points: [[x, y], ...]}.
(function () {
  "use strict";
  function spec(gd) {
    var meta = gd.layout && gd.layout.meta;
    var m = meta && meta.attn_edu;
    if (!m || typeof m.click_selects_slider !== "number" || !Array.isArray(m.slider_points)) { return null; }
    return m;
  }
  function select(gd, m, x, y) {
    var i = m.click_selects_slider;
    var slider = (gd.layout.sliders || [])[i];
    if (!slider || !slider.steps) { return; }
    var best = -1, bestD = Infinity;
    for (var k = 0; k < m.slider_points.length && k < slider.steps.length; k++) {
      var dx = m.slider_points[k][0] - x, dy = m.slider_points[k][1] - y, d = dx * dx + dy * dy;
      if (d < bestD) { bestD = d; best = k; }
    }
    if (best < 0) { return; }
    var step = slider.steps[best], args = step.args || [], active = {};
    active["sliders[" + i + "].active"] = best;
    if (step.method === "update") {
      var lay = {}, src = args[1] || {};
      for (var key in src) { if (Object.prototype.hasOwnProperty.call(src, key)) { lay[key] = src[key]; } }
      lay["sliders[" + i + "].active"] = best;
      Plotly.update(gd, args[0] || {}, lay, args[2]);
    } else if (step.method === "restyle") {
      Plotly.restyle(gd, args[0] || {}, args[1]).then(function () { Plotly.relayout(gd, active); });
    } else if (step.method === "relayout") {
      var rl = {}, s2 = args[0] || {};
      for (var k2 in s2) { if (Object.prototype.hasOwnProperty.call(s2, k2)) { rl[k2] = s2[k2]; } }
      rl["sliders[" + i + "].active"] = best;
      Plotly.relayout(gd, rl);
    } else {
      Plotly.relayout(gd, active);
    }
  }
  function attach(gd, tries) {
    if (gd._attnEduClick) { return; }
    if (!gd.on || !gd.layout || !gd._fullLayout) {
      if (tries < 100) { setTimeout(function () { attach(gd, tries + 1); }, 100); }
      return;
    }
    var m = spec(gd);
    if (!m) { return; }
    gd._attnEduClick = true;
    gd.on("plotly_click", function (ev) {
      var p = ev && ev.points && ev.points[0];
      if (p && typeof p.x === "number" && typeof p.y === "number") { select(gd, m, p.x, p.y); }
    });
  }
  function init() {
    if (typeof Plotly === "undefined") { return; }
    var divs = document.querySelectorAll(".plotly-graph-div");
    for (var i = 0; i < divs.length; i++) { attach(divs[i], 0); }
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
})();
"""


def has_click_marker(fig: dict) -> bool:
    """True when a plotly figure (as JSON) asks for click-to-select (see :data:`CLICK_JS`)."""
    layout = fig.get("layout") if isinstance(fig, dict) else None
    meta = layout.get("meta") if isinstance(layout, dict) else None
    marker = meta.get(CLICK_META) if isinstance(meta, dict) else None
    return isinstance(marker, dict) and "click_selects_slider" in marker


def _plain(text: object) -> str:
    """Plotly's title text without its HTML tags (``<br>``, ``<b>``), whitespace folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", str(text or "")).split())


def figure_caption(fig: dict) -> str:
    """The caption of an interactive figure on the site, and its accessible name: its title, then
    what its controls do (plotly draws the title inside the SVG, where a screen reader does not
    find it; the controls are otherwise discovered only by trying)."""
    layout = fig.get("layout", {}) if isinstance(fig, dict) else {}
    title = layout.get("title")
    title = title.get("text") if isinstance(title, dict) else title
    parts = [_plain(title) or "Figure"]
    controls = ["hover to read the values"]
    for slider in layout.get("sliders") or []:
        prefix = _plain((slider.get("currentvalue") or {}).get("prefix", "")).rstrip(": ")
        controls.append(f"the slider picks the {prefix}" if prefix else "the slider steps through the views")
    if layout.get("updatemenus"):
        controls.append("the menu switches the view")
    if has_click_marker(fig):
        controls.append("a click on the image picks the query")
    in_legend = [t for t in fig.get("data", []) if t.get("type", "scatter") in ("scatter", "bar")
                 and t.get("name") and t.get("showlegend") is not False]
    if len(in_legend) > 1 and layout.get("showlegend") is not False:
        controls.append("a click on a legend entry hides or shows it")
    return f"{parts[0].rstrip('.')}. Interactive: " + "; ".join(controls) + "."


def _values(a: object) -> Any:
    """A plotly array as numpy: a typed array (``{"dtype", "bdata", "shape"}``) or a list."""
    import numpy as np

    if isinstance(a, dict) and "bdata" in a:
        from .viz import from_typed_array

        return from_typed_array(a)
    if a is None:
        return None
    try:
        return np.asarray(a, dtype=float)
    except (TypeError, ValueError):  # labels, e.g. a bar chart's categories
        return np.asarray(a, dtype=object)


def _num(v: float) -> str:
    return f"{int(v):,}" if float(v).is_integer() and abs(v) < 1e9 else f"{v:.3g}"


def _map_summary(values: object) -> str:
    import numpy as np

    z = _values(values)
    if z is None or z.ndim != 2 or not np.isfinite(z).any():
        return "no values"
    r, c = np.unravel_index(int(np.nanargmax(z)), z.shape)
    return (f"a {z.shape[0]} × {z.shape[1]} map from {_num(float(np.nanmin(z)))} to {_num(float(np.nanmax(z)))}, "
            f"highest at row {r + 1}, column {c + 1}")


def _trace_text(t: dict) -> str | None:
    kind, name = t.get("type", "scatter"), _plain(t.get("name")) or t.get("type", "trace")
    if kind == "heatmap":
        return f"{name}: {_map_summary(t.get('z'))}"
    if kind in ("scatter", "bar"):
        x, y = _values(t.get("x")), _values(t.get("y"))
        if y is None or y.ndim != 1:
            return None
        xs = list(x) if x is not None and x.ndim == 1 and len(x) == len(y) else list(range(len(y)))
        if y.dtype == object:
            return None
        pairs = [f"({a if isinstance(a, str) else _num(float(a))}, {_num(float(b))})"
                 for a, b in zip(xs, y, strict=True)]
        points = ", ".join(pairs) if len(pairs) <= 40 else f"{len(pairs)} points from {pairs[0]} to {pairs[-1]}"
        return f"{name}: {points}"
    return None


def figure_data_text(fig: dict) -> str:
    """The figure's data as text, for a reader who cannot see it (HTML for a ``<details>`` element):
    each trace's values (a line's points, a map's range and where it peaks, in the first view), then,
    for every slider step and menu entry, the maps it shows."""
    esc = html_lib.escape
    traces = fig.get("data", []) if isinstance(fig, dict) else []
    layout = fig.get("layout", {}) if isinstance(fig, dict) else {}
    lines = [line for t in traces if (line := _trace_text(t))]
    items = ["<li>" + esc(line) + "</li>" for line in lines]
    steps = [s for sl in layout.get("sliders") or [] for s in sl.get("steps", [])]
    buttons = [b for m in layout.get("updatemenus") or [] for b in m.get("buttons", [])]
    for control, entries in [("slider step", steps), ("menu entry", buttons)]:
        for entry in entries:
            args = entry.get("args") or []
            update = args[0] if args and isinstance(args[0], dict) else {}
            zs = update.get("z")
            if isinstance(zs, list) and zs and not isinstance(zs[0], (int, float)):
                per_trace = zs  # one z per trace the step touches (its trace indices, else the first traces)
            else:
                per_trace = [zs] if zs is not None else []
            at = 1 if entry.get("method") == "restyle" else 2  # restyle(update, traces); update(data, layout, traces)
            touched = args[at] if len(args) > at and isinstance(args[at], list) else list(range(len(per_trace)))
            names = [_plain(traces[k].get("name")) if isinstance(k, int) and k < len(traces) else "" for k in touched]
            detail = "; ".join(f"{name + ': ' if name else ''}{_map_summary(z)}"
                               for name, z in zip(names, per_trace, strict=False) if z is not None)
            label = _plain(entry.get("label")) or "(unlabelled)"
            items.append("<li>" + esc(f"{control} {label}" + (f": {detail}" if detail else "")) + "</li>")
    if not items:
        return ""
    return ('<details class="attn-edu-plotly-data"><summary>The figure\'s data as text</summary>\n<ul>\n'
            + "\n".join(items) + "\n</ul>\n</details>\n")


def figure_html(fig: dict, key: str) -> str:
    """One interactive figure as HTML: a ``<figure>`` with the plotly div and its caption
    (:func:`figure_caption`), the data as text (:func:`figure_data_text`) and the script that draws
    it with the page's plotly.js (:data:`PLOTLY_JS`, loaded before). ``key`` (the output's place in
    its notebook, ``"cell:output"``) and the figure make the div's id, unique in a page. Used by
    :class:`PlotlyMimeRenderer` and by ``scripts/course_slides.py``."""
    payload = json.dumps(fig, separators=(",", ":"), sort_keys=True)
    div_id = "plotly-" + hashlib.sha1(f"{key}:{payload}".encode()).hexdigest()[:12]
    height = fig.get("layout", {}).get("height", 450)
    config = {"responsive": True, "displaylogo": False}
    payload = payload.replace("</", "<\\/")  # a "</script>" inside a string must not end the script
    caption = html_lib.escape(figure_caption(fig))
    return (
        f'<figure class="attn-edu-plotly" aria-labelledby="{div_id}-caption">\n'
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>\n'
        f'<figcaption id="{div_id}-caption">{caption}</figcaption>\n</figure>\n'
        f"{figure_data_text(fig)}"
        f'<script type="text/javascript">(function () {{ var fig = {payload};'
        f' Plotly.newPlot("{div_id}", fig.data, fig.layout || {{}}, {json.dumps(config)})'
        f'.then(function (gd) {{ if (fig.frames) {{ Plotly.addFrames(gd, fig.frames); }} }}); }})();</script>'
    )


class PlotlyMimeRenderer:
    """myst-nb mime renderer plugin: plotly figure JSON -> a div drawn by the local plotly.js."""

    # before text/html (30) and text/plain; singlehtml: the whole book as one page (scripts/course_pdf.py)
    mime_priority_overrides = [("html", PLOTLY_MIME, 5), ("singlehtml", PLOTLY_MIME, 5)]

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        if data.mime_type != PLOTLY_MIME or inline:
            return None
        from docutils import nodes

        fig = data.content if isinstance(data.content, dict) else json.loads(data.string)
        env = renderer.renderer.document.settings.env
        missing = sorted({t.get("type", "scatter") for t in fig.get("data", [])} - PLOTLY_TRACES)
        if missing:
            from sphinx.util import logging

            logging.getLogger(__name__).warning(
                f"plotly figure with trace type {', '.join(missing)}, which the site's plotly.js bundle "
                f"({PLOTLY_JS}) does not draw; use a trace of {sorted(PLOTLY_TRACES)} or vendor a larger bundle",
                location=(env.docname, None))
        html = figure_html(fig, f"{data.cell_index}:{data.output_index}")
        env.metadata.setdefault(env.docname, {})["has_plotly"] = True
        if has_click_marker(fig):
            env.metadata[env.docname]["has_plotly_click"] = True
        return [nodes.raw(text=html, format="html", classes=["output", "plotly"])]


def _page_flags(app, pagename: str) -> dict:
    """What the page being written needs (``has_plotly``, ``has_plotly_click``): its document's
    flags, or, on the singlehtml builder's one page (the root document, with every document in it),
    the flags of any document."""
    if app.builder.name == "singlehtml" and pagename == app.config.root_doc:
        metas = [app.env.metadata.get(doc, {}) for doc in sorted(app.env.found_docs)]
        return {flag: True for flag in ("has_plotly", "has_plotly_click") if any(m.get(flag) for m in metas)}
    return app.env.metadata.get(pagename, {})


def _add_page_scripts(app, pagename, templatename, context, doctree):
    meta = _page_flags(app, pagename)
    if meta.get("has_plotly"):
        app.add_js_file(PLOTLY_JS, priority=400)  # before the figures' inline scripts run
    if meta.get("has_plotly_click"):
        app.add_js_file(CLICK_JS_FILE, priority=401)  # waits for DOMContentLoaded, then for each figure
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for js in scripts:
            key = (getattr(js, "filename", None) or "", tuple(sorted((getattr(js, "attributes", None) or {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        context["script_files"] = unique


def _finish_html(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        if not (static / PLOTLY_JS).exists():
            raise FileNotFoundError(f"attn_edu.sphinxext: _static/{PLOTLY_JS} is missing: run `make vendor`")
        (static / CLICK_JS_FILE).write_text(CLICK_JS, encoding="utf-8")
        (static / CSS_FILE).write_text(CSS, encoding="utf-8")
        mark = github_mark(static / GITHUB_SVG)
        rewrites = [*PAGE_REWRITES, (GITHUB_ICON, lambda _match: mark)]  # a function: the SVG as it is
        search_tools = [] if (app.config.html_theme_options or {}).get("search_as_you_type", False) \
            else [(SEARCH_TOOLS, "")]
        _rewrite_pages(Path(app.outdir), rewrites, search_tools)


def github_mark(svg_file: Path) -> str:
    """The repository button's icon: GitHub's mark as an inline SVG, the size and colour of the
    theme's other icons (1em, the text colour), hidden from screen readers like the ``<i>`` it
    replaces (the button's title names it)."""
    if not svg_file.exists():
        raise FileNotFoundError(f"attn_edu.sphinxext: {svg_file} is missing: run `make vendor`")
    svg = svg_file.read_text(encoding="utf-8").strip()
    if not svg.startswith("<svg "):
        raise ValueError(f"attn_edu.sphinxext: {svg_file} is not an SVG file")
    svg = re.sub(r' (width|height)="16"', "", svg)
    return svg.replace("<svg ", '<svg width="1em" height="1em" fill="currentColor" aria-hidden="true" '
                       'focusable="false" class="attn-edu-icon" ', 1)


PAGE_REWRITES = ((FONTAWESOME_JS, ""), *((pattern, r"\1\2") for pattern in NAME_MISMATCHES))
"""(pattern, replacement) applied to every written page: the theme's Font Awesome script tag
removed, and the controls of :data:`NAME_MISMATCHES` left with their visible text as their name.
:func:`_finish_html` adds GitHub's mark (:data:`GITHUB_ICON`) and the search tools
(:data:`SEARCH_TOOLS`) to them."""


def _rewrite_pages(outdir: Path, rewrites=PAGE_REWRITES, not_on_search_page=()) -> dict[str, int]:
    """Apply ``rewrites`` (``(pattern, replacement)`` pairs, a replacement a string or a function
    of the match as for :func:`re.sub`; :data:`PAGE_REWRITES` by default) to every page, and
    ``not_on_search_page`` to every page but ``search.html`` (whose search tools are its own), each
    page read and written once; returns how often each pattern matched. A pattern that no page
    matches any more is a warning: the theme changed, look at what it writes (and at axe's report)
    again."""
    counts = dict.fromkeys((pattern.pattern for pattern, _ in [*rewrites, *not_on_search_page]), 0)
    for page in outdir.rglob("*.html"):
        search_page = page.relative_to(outdir).as_posix() == "search.html"
        html = page.read_text(encoding="utf-8")
        new = html
        for pattern, replacement in [*rewrites, *([] if search_page else not_on_search_page)]:
            new, n = pattern.subn(replacement, new)
            counts[pattern.pattern] += n
        if new != html:
            page.write_text(new, encoding="utf-8")
    from sphinx.util import logging

    for source, n in counts.items():
        if not n:
            logging.getLogger(__name__).warning(f"no page matches {source!r} any more: update PAGE_REWRITES")
    return counts


BOX_CLASSES = {"Faithfulness": "note", "Run it yourself": "tip"}


def _box_title(quote) -> str | None:
    """The title of a block quote that opens with a bold line alone, else None."""
    from docutils import nodes

    first = quote.children[0] if quote.children else None
    if not isinstance(first, nodes.paragraph):
        return None
    parts = [c for c in first.children if not (isinstance(c, nodes.Text) and not c.astext().strip())]
    return parts[0].astext().strip() if len(parts) == 1 and isinstance(parts[0], nodes.strong) else None


def _blockquotes_to_admonitions(app, doctree) -> None:
    from docutils import nodes

    for quote in list(doctree.findall(nodes.block_quote)):
        title = _box_title(quote)
        if title is None or len(quote.children) < 2:
            continue
        box = nodes.admonition("", classes=["admonition", BOX_CLASSES.get(title, "note")])
        box += nodes.title(title, title)
        box += quote.children[1:]
        quote.replace_self(box)


def _exec_table_directive():
    from docutils import nodes
    from docutils.parsers.rst import Directive

    class ExecTable(Directive):
        """A table of the stored runs: one row per notebook listed in the table of contents."""

        has_content = False

        def run(self):
            import nbformat

            from . import course

            env = self.state.document.settings.env
            rows = []
            for docname in sorted(env.found_docs):
                path = Path(env.doc2path(docname))
                if path.suffix != ".ipynb":
                    continue
                nb = nbformat.read(path, as_version=4)
                meta = nb.metadata.get("attn_edu", {}).get("execution")
                if meta is None:
                    raise self.error(f"{path.name} has no stored run: scripts/store_notebooks.py {path.name}")
                try:
                    name = course.title(nb)
                except ValueError:  # a notebook without a "# " title: its document's name
                    name = docname
                rows.append((name, meta))
            rows.sort(key=lambda r: r[0])
            env.note_dependency(__file__)
            table = nodes.table(classes=["attn-edu-exec-table"])
            group = nodes.tgroup(cols=5)
            table += group
            for _ in range(5):
                group += nodes.colspec(colwidth=1)
            head = nodes.thead()
            body = nodes.tbody()
            group += head
            group += body

            def row(cells, parent):
                r = nodes.row()
                for text in cells:
                    entry = nodes.entry()
                    entry += nodes.paragraph(text=str(text))
                    r += entry
                parent += r

            row(["notebook", "run time (s)", "stored on", "torch", "machine"], head)
            for title, m in rows:
                row([title, f"{m['seconds']:.1f}", m["date"], m["torch"], m["machine"]], body)
            row(["all notebooks", f"{sum(m['seconds'] for _, m in rows):.1f}", "", "", ""], body)
            return [table]

    return ExecTable


def setup(app):
    app.connect("doctree-read", _blockquotes_to_admonitions)
    app.add_directive("attn-edu-exec-table", _exec_table_directive())
    app.connect("html-page-context", _add_page_scripts, priority=900)
    app.connect("build-finished", _finish_html)
    app.add_css_file(CSS_FILE)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
