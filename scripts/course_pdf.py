"""The whole book as one printable PDF, offline: every chapter of ``_toc.yml``, a table of contents
with page numbers, page numbers on every page, the plotly figures as drawn, code wrapped at the
margin.

    .venv/bin/python scripts/course_pdf.py _build/course/attn-edu-book.pdf   # `make course` runs this

Writes OUT.pdf, OUT.json beside it (pages, seconds, each chapter's first page, bytes) and a build
folder ``.pdf-build`` beside it. About a minute on a 2-core machine.

The route, and why:

1. Sphinx's singlehtml builder, through jupyter-book with the site's ``_config.yml`` and the same
   strictness as ``make book`` (``-W -n``), renders the stored notebooks as one HTML page, into
   ``.pdf-build/_build/singlehtml``. The table of contents it builds from is ``_toc.yml`` without
   the contributors' template (:data:`LEFT_OUT`), which is not part of the book a reader prints.
   ``attn_edu.sphinxext`` renders the plotly figures for singlehtml as for html and loads plotly.js
   on that one page.
2. That page, with the print style sheet :data:`PRINT_CSS` in its head, is served on 127.0.0.1 and
   opened in Debian's Chromium through Playwright (never a downloaded browser; every request
   leaving 127.0.0.1 is aborted and reported). The style sheet is there from the first layout, at
   the print width, so that plotly draws each figure at the width it is printed at.
3. In the page: a front page (title, authors, licence, contents) is put before the introduction,
   each chapter's title becomes a top-level heading (the PDF's bookmarks) starting a new page;
   then the script waits for MathJax, every plotly figure, the images and the fonts.
4. Chromium prints it (``page.pdf``, A4, a page number in the footer, tagged, with bookmarks);
   qpdf then compresses what Chromium leaves uncompressed (:func:`compact`).
   The page each chapter starts on is read from the PDF's named destinations (``pdfinfo -dests``,
   poppler: the contents link to each chapter), written into the contents, and the page printed
   again; the contents keep their length (one line per entry, numbers in a fixed-width box), so the
   numbers stay true, and the second print's destinations are checked against them.

What is left out, as on the site before a reader opens anything: the exercises' solutions (cells
tagged ``solution``, collapsed toggles on the site), the source of the other collapsed cells
(``hide-input``: their output is printed) and the "figure's data as text" toggles (the figure is
printed). jupyter-book's own ``pdfhtml`` builder is not used: it needs pyppeteer's browser
download, which fails offline.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from local_http import block_outside, serve  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NAME = "scripts/course_pdf.py"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
LEFT_OUT = ("book/TEMPLATE",)
"""Pages of ``_toc.yml`` the PDF leaves out: the contributors' chapter template."""
PRINTED = "attn-edu-book.html"
"""The page that is printed, in the singlehtml folder: the root document's page, moved up to the
folder's top, where its links (``_static/``, ``_images/``) point (Sphinx writes them relative to
the top even when the root document is ``book/intro``)."""

# Paper: A4, margins in mm (the bottom one holds the page number), and a scale that fits the widest
# figure (1000 px tall, see the stored chapters) on a page and prints body text at about 10 pt.
PAPER = "A4"
MARGIN_MM = {"top": 14, "bottom": 16, "left": 16, "right": 16}
SCALE = 0.8
A4_WIDTH_MM = 210
CSS_PX_PER_MM = 96 / 25.4
PRINT_WIDTH_PX = round((A4_WIDTH_MM - MARGIN_MM["left"] - MARGIN_MM["right"]) * CSS_PX_PER_MM / SCALE)
"""The width, in CSS pixels, that Chromium lays the page out at when it prints: the browser's
viewport is set to it, so the figures are drawn at the width they are printed at."""
A4_HEIGHT_MM = 297
LONG_PX = round(0.4 * (A4_HEIGHT_MM - MARGIN_MM["top"] - MARGIN_MM["bottom"]) * CSS_PX_PER_MM / SCALE)
"""A code cell or table taller than this (40 % of a page's height, in CSS pixels) may break across
pages; a shorter one is kept whole."""
WAIT_S = 90
"""How long the page may take to load and draw everything (MathJax, the figures)."""

FOOTER = ('<div style="font-size: 8px; width: 100%; text-align: center; color: #555;">'
          '<span class="pageNumber"></span> / <span class="totalPages"></span></div>')

PRINT_CSS = """
/* scripts/course_pdf.py: the book on paper. */
/* colours as on screen; no shadows (Chromium prints each as a 300 dpi image: megabytes) */
* { -webkit-print-color-adjust: exact; print-color-adjust: exact; box-shadow: none !important;
    text-shadow: none !important; }
/* the site's chrome: navigation, header, buttons, search, footers, link anchors */
.bd-header, .bd-header-announcement, .bd-sidebar-primary, .bd-sidebar-secondary, .bd-header-article,
.bd-footer, .bd-footer-article, .bd-footer-content, .prev-next-area, .search-button-field,
.search-button, .theme-switch-button, .dropdown-launch-buttons, .article-header-buttons,
.sidebar-toggle, #pst-back-to-top, .skip-link, .headerlink, .copybtn, .pst-async-banner-revealer,
#pst-scroll-pixel-helper, .sbt-scroll-pixel-helper, .search-button__wrapper { display: none !important; }
/* the theme's print title and contents of one page (#jb-print-docs-body) stand in for the page's
   own title, which it hides (h1:first-of-type): here each chapter prints its own title */
#jb-print-docs-body { display: none !important; }
.bd-main .bd-content .bd-article h1 { display: block !important; }
html, body { background: #fff !important; }
.bd-page-width, .bd-container, .bd-container__inner, .bd-main, .bd-main .bd-content,
.bd-main .bd-content .bd-article-container, .bd-article {
  max-width: none !important; width: auto !important; margin: 0 !important; padding: 0 !important;
  display: block !important; overflow: visible !important; }
/* code: wrapped, never cut or scrolled; outputs printed in full */
pre, pre code, .highlight pre { white-space: pre-wrap !important; overflow-wrap: anywhere !important;
  word-break: break-word; overflow: visible !important; max-height: none !important; }
div.highlight, div.cell_output, div.output, .output_area, .cell_input { overflow: visible !important;
  max-height: none !important; }
code.literal { overflow-wrap: anywhere; }
/* tables: inside the margins */
.pst-scrollable-table-container, .table-wrapper { overflow: visible !important; }
table { max-width: 100% !important; }
th, td { overflow-wrap: break-word; }  /* not "anywhere": that would squeeze the columns */
img { max-width: 100% !important; height: auto; }
mjx-container[display="true"] { overflow: visible !important; max-width: 100%; }
/* what a reader of the site sees only after opening a toggle is left out (see the docstring) */
.cell.tag_solution, details.hide, details.attn-edu-plotly-data { display: none !important; }
/* pages: every chapter on a new one; figures, images and boxes kept whole; titles with their text */
.attn-pdf-chapter { break-before: page; }
figure, .attn-edu-plotly, .cell_output img, .admonition, tr, mjx-container { break-inside: avoid; }
/* a code cell's frame goes with its code, which the theme keeps whole (div.highlight), so that no
   empty frame ends a page; but a long cell or table (.attn-pdf-long, marked by READY_JS) may break,
   rather than leave most of a page empty */
div.cell div.cell_input { break-inside: avoid; }
.attn-pdf-long, .attn-pdf-long div.highlight, .attn-pdf-long div[class*=highlight-],
.bd-main .bd-content table.attn-pdf-long { break-inside: auto !important; }
h1, h2, h3, h4, h5 { break-after: avoid; }
a { color: inherit !important; text-decoration: none !important; }
/* the front page and its contents */
#attn-pdf-front { break-after: page; }
#attn-pdf-front .attn-pdf-title { font-size: 2.2em; font-weight: 700; margin: 2em 0 0.3em; }
#attn-pdf-front .attn-pdf-meta { color: #444; margin: 0.2em 0; }
#attn-pdf-front .attn-pdf-contents { font-size: 1.4em; font-weight: 700; margin: 1.6em 0 0.6em; }
#attn-pdf-toc .attn-pdf-part { font-weight: 700; margin: 0.8em 0 0.2em; }
#attn-pdf-toc a { display: flex; align-items: baseline; white-space: nowrap; margin: 0.15em 0 0.15em 1em; }
#attn-pdf-toc .attn-pdf-entry { overflow: hidden; text-overflow: ellipsis; flex: 0 1 auto; }
#attn-pdf-toc .attn-pdf-dots { flex: 1 1 auto; border-bottom: 1px dotted #888; margin: 0 0.4em; min-width: 1em; }
#attn-pdf-toc .attn-pdf-page { flex: 0 0 3em; text-align: right; font-variant-numeric: tabular-nums; }
"""

PREPARE_JS = """
({parts, meta}) => {
  // Each chapter: the section after Sphinx's <span id="document-DOCNAME">, or the root document's.
  const article = document.querySelector("article.bd-article");
  const found = [];
  for (const part of parts) {
    for (const doc of part.docs) {
      const anchor = document.getElementById("document-" + doc);
      const section = anchor ? anchor.nextElementSibling : article.querySelector("section");
      const heading = section && section.querySelector("h1, h2");
      if (!section || section.tagName !== "SECTION" || !heading) { return {missing: doc}; }
      const title = heading.cloneNode(true);
      title.querySelectorAll(".headerlink").forEach((a) => a.remove());
      if (heading.tagName !== "H1") {  // a chapter's title is a top-level heading, as in the site
        const h1 = document.createElement("h1");
        h1.innerHTML = heading.innerHTML;
        heading.replaceWith(h1);
      }
      if (anchor) { section.classList.add("attn-pdf-chapter"); }
      found.push({doc, part: part.caption, id: section.id, title: title.textContent.trim()});
    }
  }
  const front = document.createElement("section");
  front.id = "attn-pdf-front";
  const esc = (s) => { const d = document.createElement("div"); d.textContent = s; return d.innerHTML; };
  let toc = "";
  let caption = null;
  for (const ch of found) {
    if (ch.part !== caption) {
      caption = ch.part;
      if (caption) { toc += `<div class="attn-pdf-part">${esc(caption)}</div>`; }
    }
    toc += `<a href="#${ch.id}"><span class="attn-pdf-entry">${esc(ch.title)}</span>` +
           `<span class="attn-pdf-dots"></span><span class="attn-pdf-page" data-doc="${esc(ch.doc)}"></span></a>`;
  }
  front.innerHTML = `<div class="attn-pdf-title">${esc(meta.title)}</div>` +
    `<p class="attn-pdf-meta">${esc(meta.author)}, ${esc(meta.copyright)}</p>` +
    `<p class="attn-pdf-meta">${meta.licence}</p>` +
    `<div class="attn-pdf-contents">Contents</div><nav id="attn-pdf-toc">${toc}</nav>`;
  article.prepend(front);
  document.title = meta.title;
  return {chapters: found};
}
"""

READY_JS = """
async ({waitMs, longPx}) => {
  // Resolves when MathJax has typeset, every plotly figure is drawn, every image is loaded and the
  // fonts are in, and marks the code cells and tables taller than longPx (see LONG_PX); else,
  // after waitMs, says what is still missing.
  const deadline = Date.now() + waitMs;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  const figures = () => Array.from(document.querySelectorAll(".plotly-graph-div"));
  const drawn = (gd) => gd._fullLayout && gd.querySelector("svg.main-svg");
  const pending = () => {
    const out = [];
    if (!(window.MathJax && MathJax.startup && MathJax.startup.promise)) { out.push("MathJax not started"); }
    if (typeof Plotly === "undefined" && figures().length) { out.push("plotly.js not loaded"); }
    const undrawn = figures().filter((gd) => !drawn(gd)).map((gd) => gd.id);
    if (undrawn.length) { out.push("figures not drawn: " + undrawn.join(", ")); }
    const images = Array.from(document.images).filter((im) => !im.complete).map((im) => im.src);
    if (images.length) { out.push("images not loaded: " + images.join(", ")); }
    return out;
  };
  while (pending().length) {
    if (Date.now() > deadline) { return {missing: pending()}; }
    await sleep(200);
  }
  await MathJax.startup.promise;
  await Promise.all(figures().map((gd) => Plotly.Plots.resize(gd)));  // at the final width, to be sure
  await document.fonts.ready;
  for (const el of document.querySelectorAll("article div.cell_input, article table")) {
    if (el.getBoundingClientRect().height > longPx) { el.classList.add("attn-pdf-long"); }
  }
  await new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)));
  const broken = Array.from(document.images).filter((im) => !im.naturalWidth).map((im) => im.src);
  const visible = (el) => el.getClientRects().length > 0;
  const overflowing = Array.from(document.querySelectorAll("pre, table, mjx-container[display='true']"))
    .filter((el) => visible(el) && el.scrollWidth > el.clientWidth + 1)
    .map((el) => el.tagName.toLowerCase() + ": " + el.textContent.slice(0, 60));
  const page = document.querySelector("article.bd-article").getBoundingClientRect().width;
  return {
    figures: figures().length,
    math: document.querySelectorAll("mjx-container").length,
    images: Array.from(document.images).filter(visible).length,
    broken, overflowing, articleWidth: page,
  };
}
"""

FILL_TOC_JS = """
(pages) => {
  for (const span of document.querySelectorAll("#attn-pdf-toc .attn-pdf-page")) {
    span.textContent = String(pages[span.dataset.doc]);
  }
}
"""


def fail(what: str) -> None:
    """Stop with a message that names the script, what it expected and what it found."""
    raise SystemExit(f"{NAME}: {what}")


def printed_toc(build: Path) -> tuple[Path, list[dict]]:
    """``_toc.yml`` without :data:`LEFT_OUT`, written into ``build``; and its parts as
    ``{"caption", "docs"}``, the root document first, with no caption."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    present = [c["file"] for p in toc["parts"] for c in p["chapters"]]
    stale = [page for page in LEFT_OUT if page not in present]
    if stale:
        fail(f"expected {', '.join(stale)} in _toc.yml (LEFT_OUT), found it missing: update LEFT_OUT")
    toc["parts"] = [dict(p, chapters=[c for c in p["chapters"] if c["file"] not in LEFT_OUT]) for p in toc["parts"]]
    toc["parts"] = [p for p in toc["parts"] if p["chapters"]]
    path = build / "_toc.yml"
    path.write_text(yaml.safe_dump(toc, sort_keys=False), encoding="utf-8")
    parts = [{"caption": None, "docs": [toc["root"]]}]
    parts += [{"caption": p.get("caption"), "docs": [c["file"] for c in p["chapters"]]} for p in toc["parts"]]
    return path, parts


def build_singlehtml(build: Path, toc: Path) -> Path:
    """The book as one page (jupyter-book's singlehtml builder, ``-W -n``); returns the folder."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb), "build", str(ROOT), "--builder", "singlehtml", "--toc", str(toc),
           "--path-output", str(build), "-W", "-n", "--keep-going", "-q"]
    run = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if run.returncode:
        log = (run.stdout + run.stderr).strip().splitlines()
        fail("expected the singlehtml build to succeed without warnings, it failed:\n  " + " ".join(cmd)
             + "\n" + "\n".join(log[-30:]))
    return build / "_build" / "singlehtml"


def page_to_print(site: Path, root_doc: str) -> Path:
    """The root document's page with :data:`PRINT_CSS` in its head, as :data:`PRINTED` (see there)."""
    source = site / f"{root_doc}.html"
    if not source.exists():
        fail(f"expected the singlehtml build to write {source}, found no such file")
    page = source.read_text(encoding="utf-8")
    if page.count("</head>") != 1:
        fail(f"expected one </head> in {source}, found {page.count('</head>')}")
    page = page.replace("</head>", f"<style>{PRINT_CSS}</style>\n</head>")
    (site / PRINTED).write_text(page, encoding="utf-8")
    return site / PRINTED


def destinations(pdf: Path) -> dict[str, int]:
    """The PDF's named destinations (the targets of its internal links) and their pages, from poppler."""
    run = subprocess.run(["pdfinfo", "-dests", str(pdf)], capture_output=True, text=True)
    if run.returncode:
        fail(f"expected pdfinfo -dests to read {pdf}, it said: {run.stderr.strip()}")
    dests = {}
    for line in run.stdout.splitlines():
        m = re.match(r'\s*(\d+)\s+\[.*\]\s+"(.*)"\s*$', line)
        if m:
            dests[m.group(2)] = int(m.group(1))
    return dests


def start_pages(pdf: Path, chapters: list[dict]) -> dict[str, int]:
    """The page each chapter starts on, ``{docname: page}``, from the links of the contents."""
    dests = destinations(pdf)
    missing = [c["id"] for c in chapters if c["id"] not in dests]
    if missing:
        fail(f"expected a PDF destination for every chapter, found none for {', '.join(missing)} in {pdf}")
    return {c["doc"]: dests[c["id"]] for c in chapters}


def print_pdf(page, path: Path) -> None:
    page.pdf(path=str(path), format=PAPER, scale=SCALE, print_background=True,
             margin={k: f"{v}mm" for k, v in MARGIN_MM.items()},
             display_header_footer=True, header_template="<span></span>", footer_template=FOOTER,
             outline=True, tagged=True)


def front_matter() -> dict:
    """The front page's title, authors, copyright and licence, from ``_config.yml``."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    licence = config.get("html", {}).get("extra_footer", "")
    licence = re.sub(r"</?p>", "", licence).strip()  # the site footer's sentence, its links kept
    return {"title": config["title"], "author": config["author"], "copyright": str(config["copyright"]),
            "licence": licence}


def compact(pdf: Path) -> None:
    """Rewrite ``pdf`` smaller with qpdf, the same pages: Chromium writes the tagged PDF's structure
    (what gives it bookmarks) uncompressed, about 15 of its 22 MB; object streams and recompressed
    streams take it to about 9 MB in a few seconds."""
    tmp = pdf.with_suffix(".qpdf.pdf")
    subprocess.run(["qpdf", "--object-streams=generate", "--compress-streams=y", "--recompress-flate",
                    str(pdf), str(tmp)], check=True)
    tmp.replace(pdf)


def check_tools() -> None:
    if not CHROMIUM.exists():
        fail(f"expected Chromium at {CHROMIUM}, found nothing there: apt-get install chromium")
    if shutil.which("pdfinfo") is None:
        fail("expected poppler's pdfinfo on the PATH, found none: apt-get install poppler-utils")
    if shutil.which("qpdf") is None:
        fail("expected qpdf on the PATH, found none: apt-get install qpdf")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        fail("expected Playwright in this Python, found none: pip install -r requirements.txt")


def main(argv: list[str]) -> int:
    if len(argv) != 1 or not argv[0].endswith(".pdf"):
        print(__doc__, file=sys.stderr)
        fail(f"expected one argument, OUT.pdf, found {argv}")
    start = time.monotonic()
    check_tools()
    from playwright.sync_api import sync_playwright

    out = Path(argv[0]).resolve()
    build = out.parent / ".pdf-build"
    build.mkdir(parents=True, exist_ok=True)
    toc, parts = printed_toc(build)
    site = build_singlehtml(build, toc)
    printed = page_to_print(site, parts[0]["docs"][0])
    built_s = time.monotonic() - start
    print(f"{NAME}: singlehtml built in {built_s:.0f} s: {printed}", flush=True)

    with serve(site) as base, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        try:
            page = browser.new_page(viewport={"width": PRINT_WIDTH_PX, "height": 1200})
            page.set_default_timeout(WAIT_S * 1000)
            page.emulate_media(media="print", color_scheme="light")

            blocked = block_outside(page, base)  # only the local server (and data:/blob: URLs)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(base + PRINTED, wait_until="load")
            prepared = page.evaluate(PREPARE_JS, {"parts": parts, "meta": front_matter()})
            if "missing" in prepared:
                fail(f"expected every page of the table of contents in {printed}, found no {prepared['missing']}")
            chapters = prepared["chapters"]
            ready = page.evaluate(READY_JS, {"waitMs": WAIT_S * 1000, "longPx": LONG_PX})
            if "missing" in ready:
                fail(f"expected the page to be drawn within {WAIT_S} s, still missing: {'; '.join(ready['missing'])}")
            if ready["broken"] or ready["overflowing"]:
                fail(f"expected every image loaded and nothing wider than the page, found broken images "
                     f"{ready['broken']} and overflowing {ready['overflowing']}")
            if errors:
                fail(f"expected no script errors in {printed}, found: {errors}")

            # Print, read each chapter's first page, write them into the contents, print again; the
            # contents keep their length, so the second print has the same pages (checked).
            drawn_s = time.monotonic() - start
            print(f"{NAME}: page drawn at {drawn_s:.0f} s ({ready['figures']} figures); printing twice", flush=True)
            print_pdf(page, out)
            pages = start_pages(out, chapters)
            page.evaluate(FILL_TOC_JS, pages)
            print_pdf(page, out)
            again = start_pages(out, chapters)
            if again != pages:
                fail(f"expected the chapters on the pages the contents give, found {again} for {pages}")
        finally:
            browser.close()
    printed_bytes = out.stat().st_size
    compact(out)
    total = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(out)], capture_output=True, text=True, check=True).stdout).group(1))
    report = {
        "pdf": out.name,
        "pages": total,
        "bytes": out.stat().st_size,
        "bytes_as_printed": printed_bytes,
        "seconds": round(time.monotonic() - start, 1),
        "singlehtml_seconds": round(built_s, 1),
        "drawn_seconds": round(drawn_s, 1),
        "printed_html": str(printed.relative_to(out.parent)),
        "left_out": {"pages": list(LEFT_OUT),
                     "content": "exercise solutions (cells tagged solution), the source of hide-input "
                                "cells, the figures' data-as-text toggles"},
        "chapters": [{"doc": c["doc"], "part": c["part"], "title": c["title"], "page": pages[c["doc"]]}
                     for c in chapters],
        "figures": ready["figures"], "images": ready["images"], "math": ready["math"],
        "blocked_requests": blocked,
    }
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"{NAME}: {out} ({total} pages, {report['bytes'] / 1e6:.1f} MB) in {report['seconds']:.0f} s"
          + (f"; {len(blocked)} requests outside 127.0.0.1 blocked" if blocked else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
