"""Sphinx/myst-nb glue for the book: offline plotly, and one fix for a duplicated script.

Loaded by ``_config.yml`` (``sphinx.extra_extensions``) and, for the plotly renderer, through the
``myst_nb.mime_renderers`` entry point declared in ``pyproject.toml``.

* Plotly: notebooks keep plotly's default output (the ``application/vnd.plotly.v1+json`` mimetype,
  small, rendered natively by JupyterLab and Colab). jupyter-book 1 would drop it with a warning;
  :class:`PlotlyMimeRenderer` turns it into a ``<div>`` + ``Plotly.newPlot`` call, and
  ``plotly.min.js`` from the installed plotly package is copied once into ``_static`` and added
  only to pages that have a figure. No CDN, no 4.8 MB inlined per page.
* sphinx-thebe 0.3.1 with Sphinx 7.4 emits its ``const THEBE_JS_URL`` script twice, a
  SyntaxError on every page; duplicates are removed from each page's script list.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

PLOTLY_MIME = "application/vnd.plotly.v1+json"
PLOTLY_JS = "plotly.min.js"


def _plotly_js_path() -> Path:
    import plotly

    return Path(plotly.__file__).parent / "package_data" / PLOTLY_JS


class PlotlyMimeRenderer:
    """myst-nb mime renderer plugin: plotly figure JSON -> a div drawn by the local plotly.js."""

    mime_priority_overrides = [("html", PLOTLY_MIME, 5)]  # before text/html (10) and text/plain

    @staticmethod
    def handle_mime(renderer, data, inline: bool):
        if data.mime_type != PLOTLY_MIME or inline:
            return None
        from docutils import nodes

        fig = data.content if isinstance(data.content, dict) else json.loads(data.string)
        payload = json.dumps(fig, separators=(",", ":"), sort_keys=True)
        div_id = "plotly-" + hashlib.sha1(f"{data.cell_index}:{data.output_index}:{payload}".encode()).hexdigest()[:12]
        height = fig.get("layout", {}).get("height", 450)
        config = {"responsive": True, "displaylogo": False}
        payload = payload.replace("</", "<\\/")  # a "</script>" inside a string must not end the script
        html = (
            f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px; width:100%;"></div>\n'
            f'<script type="text/javascript">(function () {{ var fig = {payload};'
            f' Plotly.newPlot("{div_id}", fig.data, fig.layout || {{}}, {json.dumps(config)})'
            f'.then(function (gd) {{ if (fig.frames) {{ Plotly.addFrames(gd, fig.frames); }} }}); }})();</script>'
        )
        env = renderer.renderer.document.settings.env
        env.metadata.setdefault(env.docname, {})["has_plotly"] = True
        return [nodes.raw(text=html, format="html", classes=["output", "plotly"])]


def _add_page_scripts(app, pagename, templatename, context, doctree):
    meta = app.env.metadata.get(pagename, {})
    if meta.get("has_plotly"):
        app.add_js_file(PLOTLY_JS, priority=400)  # before the figures' inline scripts run
    scripts = context.get("script_files")
    if scripts:
        seen, unique = set(), []
        for js in scripts:
            key = (getattr(js, "filename", None) or "", tuple(sorted((getattr(js, "attributes", None) or {}).items())))
            if key not in seen:
                seen.add(key)
                unique.append(js)
        context["script_files"] = unique


def _copy_plotly_js(app, exception):
    if exception is None and app.builder.format == "html":
        static = Path(app.outdir) / "_static"
        static.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(_plotly_js_path(), static / PLOTLY_JS)


def setup(app):
    app.connect("html-page-context", _add_page_scripts, priority=900)
    app.connect("build-finished", _copy_plotly_js)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
