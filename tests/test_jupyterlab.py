"""The chapters in a real JupyterLab (and Notebook 7), on a live kernel, as a reader opens them.

For each chapter in CHAPTERS (chapters with an ipywidgets explorer that run in seconds): open it
in JupyterLab, clear its outputs, Run All, wait until every code cell has run (no error, kernel
idle), then check that

* the explorer answers: pressing ArrowRight on the ipywidgets slider of the ``widgets.interact``
  cell redraws the figure below it (the ``<img>`` of the Output widget changes);
* the plotly figures are drawn (each plotly output has a ``.js-plotly-plot`` with an ``svg.main-svg``);
* no raw MyST is on screen: the rendered text of every Markdown cell and of every output has none of
  the patterns of tests/_raw_myst.py (``{glue:``, ``{cite``, ``:::{``, ``(label)=`` ...); every
  finding is listed in the failure message.

One chapter is also opened, not run, in Notebook 7 (same server, ``/notebooks/<path>``), and
checked for raw MyST.

The server runs from this venv (so the ``python3`` kernel is this venv's python and imports
attn_edu) on 127.0.0.1 with a free port, no token, and a root directory that is a temporary COPY of
book/: Run All and autosave never touch the repository. Its settings directory (temporary too)
turns off notebook windowing (JupyterLab 4 would otherwise attach only the visible cells), the news
and update checks, the extension manager and autosave. The browser is Debian's Chromium (see
tests/_chromium.py); requests that leave 127.0.0.1 are aborted and listed.

Screenshots (each chapter after Run All and after the slider move, and the Notebook 7 page) go to
``$ATTN_EDU_SHOTS`` (default: a pytest tmp dir); their paths are printed (``pytest -s``).

Environment: ``ATTN_EDU_LAB_CHAPTERS`` (comma-separated, default ``se,eca,cbam``) and
``ATTN_EDU_LAB_BOOK`` (the folder of notebooks to copy, default book/; e.g. an older revision
extracted with ``git archive``).

Run: ``pytest tests/test_jupyterlab.py -s`` (2.5-3.5 minutes on a shared 2-core machine).
Locally it skips without Chromium or Playwright; with CI set it fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from _chromium import block_outside, chromium, missing
from _raw_myst import find_raw_myst

ROOT = Path(__file__).resolve().parent.parent
BOOK = Path(os.environ.get("ATTN_EDU_LAB_BOOK", ROOT / "book"))
CHAPTERS = [c.strip() for c in os.environ.get("ATTN_EDU_LAB_CHAPTERS", "se,eca,cbam").split(",") if c.strip()]
NOTEBOOK7_CHAPTER = CHAPTERS[0] if CHAPTERS else "se"
RUN_ALL_TIMEOUT_S = 150     # one chapter's Run All (each runs in well under a minute on 2 cores)
SERVER_START_TIMEOUT_S = 90

pytestmark = pytest.mark.jupyterlab

# The lab settings that make the check see every cell and keep the server offline and hands-off.
LAB_SETTINGS = {
    # recordTiming: each cell's start and end in its metadata, to report the slow cells
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none", "recordTiming": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}

# The text a reader sees in a cell's rendered Markdown or in an output, as plain text: block
# elements on their own lines, typeset math as "$$" (display) or "$" (inline) so that a MyST
# equation label left after it reads "$$ (label)", a code block of language "{name}" (a MyST
# directive the Markdown renderer took for a fenced code block) as "```{name}".
TEXT_OF_JS = r"""
(node) => {
  const BLOCK = new Set(['P', 'DIV', 'PRE', 'LI', 'UL', 'OL', 'H1', 'H2', 'H3', 'H4', 'H5', 'H6', 'TR',
                         'TABLE', 'BLOCKQUOTE', 'SECTION', 'DT', 'DD', 'DL', 'HR']);
  const walk = (n) => {
    if (n.nodeType === Node.TEXT_NODE) return n.data;
    if (n.nodeType !== Node.ELEMENT_NODE) return '';
    const tag = n.tagName.toUpperCase();
    if (tag === 'MJX-CONTAINER') return n.getAttribute('display') === 'true' ? '\n$$' : '$';
    if (tag === 'SCRIPT' || tag === 'STYLE' || tag === 'MJX-ASSISTIVE-MML' || tag === 'SVG') return '';
    if (tag === 'BR') return '\n';
    if (tag === 'PRE') {
      const code = n.querySelector('code');
      const lang = code && [...code.classList].find(c => c.startsWith('language-'));
      if (lang) return '\n```' + lang.slice('language-'.length) + '\n' + n.textContent + '\n```\n';
    }
    const inner = [...n.childNodes].map(walk).join('');
    return BLOCK.has(tag) ? '\n' + inner + '\n' : inner;
  };
  return walk(node).replace(/\n{3,}/g, '\n\n');
}
"""

# What a notebook panel shows: per cell, its kind, source, execution count, output kinds and
# mimetypes, errors, and the rendered text of its Markdown and outputs.
STATE_JS = """
(textOf) => {
  const nb = window.__attn_nb, textFn = eval(textOf);
  const kernel = nb.sessionContext.session && nb.sessionContext.session.kernel;
  const cells = [];
  nb.content.widgets.forEach((w, i) => {
    const m = w.model, c = {index: i, type: m.type, source: m.sharedModel.getSource()};
    w.node.setAttribute('data-attn-cell', String(i));
    if (m.type === 'code') {
      c.count = m.executionCount;
      const t = m.getMetadata('execution') || {};
      c.seconds = t['iopub.status.busy'] && t['iopub.status.idle']
        ? (Date.parse(t['iopub.status.idle']) - Date.parse(t['iopub.status.busy'])) / 1000 : null;
      c.outputs = [];
      for (let k = 0; k < m.outputs.length; k++) {
        const o = m.outputs.get(k), j = o.toJSON();
        c.outputs.push({type: o.type, mimes: Object.keys(o.data || {}), ename: j.ename, evalue: j.evalue});
      }
      c.texts = [...w.node.querySelectorAll('.jp-OutputArea-output')].map(textFn);
    } else if (m.type === 'markdown') {
      const r = w.node.querySelector('.jp-MarkdownOutput');
      c.rendered = !!r && w.rendered !== false;
      c.texts = r ? [textFn(r)] : [];
    }
    cells.push(c);
  });
  return {kernel: kernel ? kernel.status : null, cells: cells,
          windowing: nb.content.notebookConfig && nb.content.notebookConfig.windowingMode,
          attached: nb.content.node.querySelectorAll('.jp-Cell').length};
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    d = Path(os.environ["ATTN_EDU_SHOTS"]) if os.environ.get("ATTN_EDU_SHOTS") else tmp_path_factory.mktemp("shots")
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """``jupyter lab`` from this venv on a temporary copy of the book; yields (base URL, log path)."""
    if not BOOK.is_dir():
        pytest.fail(f"no notebook folder at {BOOK}")
    try:
        import jupyterlab  # noqa: F401
        import notebook  # noqa: F401
    except ImportError as e:
        missing(f"JupyterLab / Notebook 7 not installed: {e}")
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "book"
    shutil.copytree(BOOK, root, ignore=shutil.ignore_patterns("_vendor", ".ipynb_checkpoints", "_build"))
    settings = base / "user-settings"
    for rel, value in LAB_SETTINGS.items():
        (settings / rel).parent.mkdir(parents=True, exist_ok=True)
        (settings / rel).write_text(json.dumps(value))
    for d in ("config", "workspaces", "runtime"):
        (base / d).mkdir()
    bindir = str(Path(sys.executable).parent)
    env = {**os.environ, "JUPYTER_CONFIG_DIR": str(base / "config"), "JUPYTERLAB_SETTINGS_DIR": str(settings),
           "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces"), "JUPYTER_RUNTIME_DIR": str(base / "runtime"),
           "PATH": bindir + os.pathsep + os.environ.get("PATH", ""), "PYTHONUNBUFFERED": "1"}
    env.pop("JUPYTER_TOKEN", None)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = base / "server.log"
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
           "--ServerApp.port_retries=0", "--IdentityProvider.token=", "--PasswordIdentityProvider.hashed_password=",
           "--ServerApp.disable_check_xsrf=True", f"--ServerApp.root_dir={root}", "--ServerApp.terminals_enabled=False",
           "--allow-root", "--LabApp.extension_manager=readonly",
           f"--LabApp.user_settings_dir={settings}", f"--LabApp.workspaces_dir={base / 'workspaces'}",
           "--LabApp.expose_app_in_browser=True", "--JupyterNotebookApp.expose_app_in_browser=True"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"jupyter lab exited with {proc.returncode}:\n{_tail(log_path)}")
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"jupyter lab did not answer on {url} within {SERVER_START_TIMEOUT_S} s:\n{_tail(log_path)}")
            time.sleep(0.5)
        with urllib.request.urlopen(f"{url}/api/kernelspecs", timeout=5) as r:
            specs = json.load(r)
        assert "python3" in specs["kernelspecs"], f"no python3 kernel: {specs}"
        yield url, log_path
    finally:
        proc.send_signal(signal.SIGINT)     # jupyter_server: SIGINT twice shuts down (kernels too) without asking
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the server's own process group (start_new_session above)
            proc.wait(timeout=10)


def _tail(path: Path, n: int = 4000) -> str:
    return path.read_text(errors="replace")[-n:]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    with chromium(tmp_path_factory.mktemp("profile"), viewport={"width": 1400, "height": 1000}) as ctx:
        yield ctx


def _new_page(browser, base: str):
    errors: list[str] = []
    page = browser.new_page()
    outside = block_outside(page, base)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.outside, page.errors = outside, errors  # read by the tests' messages
    return page


def _load_app(page, base: str, app_url: str) -> None:
    page.goto(f"{base}{app_url}", wait_until="domcontentloaded")
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=60_000)
    page.evaluate("async () => { await window.jupyterapp.started; await window.jupyterapp.restored; }")


def _open(page, path: str, *, wait_for_kernel: bool = True) -> None:
    """Open ``path`` in the loaded app through its commands (as ``window.__attn_nb``); wait for its kernel."""
    page.evaluate("""async (path) => {
        const app = window.jupyterapp, cur = app.shell.currentWidget;
        const w = cur && cur.context && cur.context.path === path
            ? cur : await app.commands.execute('docmanager:open', {path: path});
        window.__attn_nb = w;
        await w.context.ready;
        app.shell.activateById(w.id);
    }""", path)
    if wait_for_kernel:
        page.wait_for_function(
            "() => { const s = window.__attn_nb.sessionContext, k = s.session && s.session.kernel;"
            " return s.isReady && k && k.connectionStatus === 'connected' && k.status === 'idle'; }", timeout=60_000)


def _close(page) -> None:
    """Shut down the open notebook's kernel and close it without saving (the root is a copy anyway)."""
    try:
        page.evaluate("""async () => { const w = window.__attn_nb; if (!w) return;
            window.__attn_nb = null;
            try { await w.sessionContext.shutdown(); } finally { w.context.model.dirty = false; w.dispose(); } }""")
    except Exception:  # the page may be gone; the server's shutdown stops the kernel anyway
        pass


def _state(page) -> dict:
    return page.evaluate(STATE_JS, TEXT_OF_JS)


def _shot(page, shots: Path, name: str) -> Path:
    path = shots / f"{name}.png"
    page.screenshot(path=str(path))
    print(f"screenshot: {path}")
    return path


@pytest.fixture(scope="module")
def lab_page(server, browser):
    """One JupyterLab page for every chapter (loading the app costs seconds on 2 cores)."""
    base, _ = server
    page = _new_page(browser, base)
    _load_app(page, base, "/lab")
    yield page
    page.close()


class Ran:
    """A chapter after Run All: its page, its final state, and the index of its explorer cell."""

    def __init__(self, chapter, page, state, widget_cell, seconds):
        self.chapter, self.page, self.state, self.widget_cell, self.seconds = chapter, page, state, widget_cell, seconds


@pytest.fixture(scope="module", params=CHAPTERS)
def ran(request, server, lab_page, shots):
    chapter = request.param
    _, log_path = server
    if not (BOOK / f"{chapter}.ipynb").exists():
        pytest.fail(f"no chapter {chapter}.ipynb in {BOOK}")
    page = lab_page
    n_errors, n_outside = len(page.errors), len(page.outside)
    try:
        _open(page, f"{chapter}.ipynb")
        state = _state(page)
        assert state["windowing"] == "none", f"{chapter}: notebook windowing is {state['windowing']!r}, not 'none'"
        assert state["attached"] == len(state["cells"]), (
            f"{chapter}: only {state['attached']} of {len(state['cells'])} cells are in the page")
        t0 = time.monotonic()
        page.evaluate("""() => { const app = window.jupyterapp;
            app.shell.activateById(window.__attn_nb.id);
            return app.commands.execute('notebook:clear-all-cell-outputs'); }""")
        page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")  # not awaited: polled
        deadline = t0 + RUN_ALL_TIMEOUT_S
        while True:
            page.wait_for_timeout(1000)
            state = _state(page)
            code = [c for c in state["cells"] if c["type"] == "code"]
            errors = [f"cell {c['index']}: {o['ename']}: {o['evalue']}" for c in code for o in c["outputs"]
                      if o["type"] == "error"]
            if errors:
                first = next(c["index"] for c in code for o in c["outputs"] if o["type"] == "error")
                page.locator(f'[data-attn-cell="{first}"]').scroll_into_view_if_needed()
                _shot(page, shots, f"{chapter}_error")
                pytest.fail(f"{chapter}: Run All raised in " + "; ".join(errors))
            todo = [c["index"] for c in code if c["count"] is None]
            if not todo and state["kernel"] == "idle":
                break
            if time.monotonic() > deadline:
                _shot(page, shots, f"{chapter}_timeout")
                pytest.fail(f"{chapter}: Run All not done after {RUN_ALL_TIMEOUT_S} s: kernel {state['kernel']}, "
                            f"cells not run: {todo}\nserver log:\n{_tail(log_path)}")
        seconds = time.monotonic() - t0
        widget_cells = [c["index"] for c in state["cells"] if c["type"] == "code" and "widgets.interact(" in c["source"]]
        widget_cell = widget_cells[0] if widget_cells else None
        slow = sorted((c for c in code if c.get("seconds") is not None), key=lambda c: -c["seconds"])[:3]
        print(f"{chapter}: Run All took {seconds:.1f} s ({len(code)} code cells; slowest: "
              + ", ".join(f"cell {c['index']} {c['seconds']:.1f} s" for c in slow) + ")")
        ran = Ran(chapter, page, state, widget_cell, seconds)
        ran.errors, ran.outside = page.errors[n_errors:], page.outside[n_outside:]
        yield ran
    finally:
        _close(page)


def test_run_all_executes_every_cell(ran):
    code = [c for c in ran.state["cells"] if c["type"] == "code"]
    assert code and all(c["count"] is not None for c in code)
    assert not ran.errors, f"{ran.chapter}: page errors: {ran.errors}"
    if ran.outside:
        print(f"{ran.chapter}: aborted requests outside 127.0.0.1: {sorted(set(ran.outside))}")


def test_explorer_slider_redraws_the_figure(ran, shots):
    page, chapter = ran.page, ran.chapter
    assert ran.widget_cell is not None, f"{chapter}: no cell calls widgets.interact("
    cell = page.locator(f'[data-attn-cell="{ran.widget_cell}"]')
    handle = cell.locator(".widget-slider .noUi-handle").first
    img = cell.locator(".widget-output img").first
    try:
        img.wait_for(timeout=30_000)
    except Exception:
        _shot(page, shots, f"{chapter}_no_explorer")
        pytest.fail(f"{chapter}: the explorer (cell {ran.widget_cell}) shows no figure after Run All")
    img.evaluate("el => el.scrollIntoView({block: 'end'})")  # the figure and, above it, the controls
    page.wait_for_timeout(300)
    _shot(page, shots, f"{chapter}_1_after_run_all")
    readout = cell.locator(".widget-slider .widget-readout").first
    value_before = readout.inner_text()
    src_before = img.get_attribute("src")
    handle.focus()  # a noUiSlider handle: focusable, and the arrow keys step it
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        page.wait_for_timeout(150)
    value_after = readout.inner_text()
    assert value_after != value_before, f"{chapter}: ArrowRight on the slider left it at {value_before}"
    # the kernel redraws once per step: wait for a new image, then for the last one
    try:
        page.wait_for_function(
            "([i, src]) => { const im = document.querySelector(`[data-attn-cell=\"${i}\"] .widget-output img`);"
            " return im && im.getAttribute('src') !== src; }", arg=[ran.widget_cell, src_before], timeout=30_000)
    except Exception:
        _shot(page, shots, f"{chapter}_2_after_slider")
        pytest.fail(f"{chapter}: slider moved {value_before} -> {value_after} but the figure did not change in 30 s")
    # then for the last redraw: the kernel idle and the image unchanged for a second
    last, deadline = None, time.monotonic() + 30
    while time.monotonic() < deadline:
        page.wait_for_timeout(1000)
        src = img.get_attribute("src")
        idle = page.evaluate("() => window.__attn_nb.sessionContext.session.kernel.status === 'idle'")
        if idle and src == last:
            break
        last = src
    _shot(page, shots, f"{chapter}_2_after_slider")
    assert img.get_attribute("src") != src_before


def test_plotly_figures_are_drawn(ran, shots):
    page, chapter = ran.page, ran.chapter
    expected = sum("application/vnd.plotly.v1+json" in o["mimes"] for c in ran.state["cells"] if c["type"] == "code"
                   for o in c["outputs"])
    if expected == 0:
        pytest.skip(f"{chapter} has no plotly output")
    drawn = page.evaluate(
        "() => [...window.__attn_nb.content.node.querySelectorAll('.js-plotly-plot, .plot-container')]"
        ".filter(el => el.querySelector('svg.main-svg')).map(el => el.closest('.js-plotly-plot') || el)"
        ".filter((el, i, all) => all.indexOf(el) === i).length")
    if drawn < expected:
        page.locator(".jp-OutputArea-output").filter(has=page.locator(".js-plotly-plot")).first.scroll_into_view_if_needed()
        _shot(page, shots, f"{chapter}_plotly")
    assert drawn >= expected, f"{chapter}: {expected} plotly outputs, {drawn} drawn (.js-plotly-plot with svg.main-svg)"


def test_plotly_slider_steps_draw_their_typed_arrays(ran, shots):
    """A plotly slider (attn_edu.viz stores each step's maps as typed arrays, ``{dtype, bdata, shape}``)
    redraws with the step's numbers, decoded by JupyterLab's plotly.js (``_fullData``, what it draws)."""
    page, chapter = ran.page, ran.chapter
    figs = page.locator(".js-plotly-plot").filter(has=page.locator(".slider-rail-rect"))
    if figs.count() == 0:
        pytest.skip(f"{chapter} has no plotly slider")
    fig = figs.first
    fig.scroll_into_view_if_needed()
    state = ("el => JSON.stringify(el._fullData.filter(t => t.type === 'heatmap' && t.visible === true)"
             ".map(t => Array.isArray(t.z) && t.z.length && typeof t.z[0][0] === 'number'"
             " ? Array.from(t.z[0]) : String(t.z)))")
    before = json.loads(fig.evaluate(state))
    rail = fig.locator(".slider-rail-rect").first.bounding_box()
    page.mouse.click(rail["x"] + rail["width"] * 0.8, rail["y"] + rail["height"] / 2)
    page.wait_for_timeout(500)
    after = json.loads(fig.evaluate(state))
    _shot(page, shots, f"{chapter}_plotly_slider")
    assert after and all(isinstance(z, list) for z in after), f"{chapter}: a heatmap holds no decoded array: {after}"
    assert after != before, f"{chapter}: the slider step changed no heatmap"


def _raw_myst_findings(chapter: str, state: dict) -> tuple[list[str], list[int]]:
    findings, unrendered = [], []
    for c in state["cells"]:
        if c["type"] == "markdown" and not c["rendered"]:
            unrendered.append(c["index"])
        kind = "markdown" if c["type"] == "markdown" else "output"
        for k, text in enumerate(c.get("texts", [])):
            findings += find_raw_myst(text, f"{chapter} cell {c['index']} {kind}" + (f" {k}" if kind == "output" else ""))
    return findings, unrendered


def test_no_raw_myst_on_screen(ran):
    findings, unrendered = _raw_myst_findings(ran.chapter, _state(ran.page))
    assert not unrendered, f"{ran.chapter}: Markdown cells not rendered: {unrendered}"
    assert not findings, f"{ran.chapter}: {len(findings)} raw MyST on screen in JupyterLab:\n" + "\n".join(findings)


def test_notebook7_renders_without_raw_myst(server, browser, shots):
    base, _ = server
    chapter = NOTEBOOK7_CHAPTER
    page = _new_page(browser, base)
    try:
        _load_app(page, base, f"/notebooks/{chapter}.ipynb")
        _open(page, f"{chapter}.ipynb", wait_for_kernel=False)  # not run: the stored outputs are checked
        page.wait_for_timeout(1000)  # Markdown and MathJax rendering
        state = _state(page)
        assert state["attached"] == len(state["cells"]), (
            f"Notebook 7, {chapter}: only {state['attached']} of {len(state['cells'])} cells are in the page")
        _shot(page, shots, f"{chapter}_notebook7")
        findings, unrendered = _raw_myst_findings(chapter, state)
        assert not unrendered, f"Notebook 7, {chapter}: Markdown cells not rendered: {unrendered}"
        assert not findings, (f"Notebook 7, {chapter}: {len(findings)} raw MyST on screen:\n" + "\n".join(findings))
    finally:
        _close(page)
        page.close()
