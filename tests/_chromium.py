"""How the browser tests start Debian's Chromium through Playwright (never a downloaded browser).

Shared by tests/test_browser.py (the built site), tests/test_jupyterlab.py (JupyterLab and
Notebook 7 on a live kernel), tests/test_viz_typed_arrays_browser.py (plotly.js alone) and
tests/test_course_slides.py (the teacher's edition's decks). The local server and the block on
requests leaving it (:func:`serve`, :func:`block_outside`) come from scripts/local_http.py, which
scripts/course_pdf.py prints the book through.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from local_http import block_outside, serve  # noqa: E402, F401 - the tests import them from here

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def missing(reason: str):
    """Skip locally; in CI (``CI`` set) a missing prerequisite is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"browser check cannot run in CI: {reason}")
    pytest.skip(reason)


def sync_playwright():
    """``playwright.sync_api.sync_playwright`` after checking that Chromium and Playwright are there."""
    if not Path(CHROMIUM).exists():
        missing(f"{CHROMIUM} not found: apt-get install chromium")
    try:
        from playwright.sync_api import sync_playwright as pw
    except ImportError:
        missing("playwright is not installed")
    return pw()


def persistent_context(pw, profile_dir: Path, **kwargs):
    """A headless Chromium with a fresh profile in ``profile_dir`` (Playwright refuses ``--user-data-dir`` in args)."""
    return pw.chromium.launch_persistent_context(
        str(profile_dir), executable_path=CHROMIUM, headless=True, args=FLAGS, **kwargs)


@contextlib.contextmanager
def chromium(profile_dir: Path, **kwargs):
    """Playwright's headless Chromium with a fresh profile (:func:`persistent_context`), closed on exit."""
    with sync_playwright() as pw:
        ctx = persistent_context(pw, profile_dir, **kwargs)
        try:
            yield ctx
        finally:
            ctx.close()
