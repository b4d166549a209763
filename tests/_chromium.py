"""How the browser tests start Debian's Chromium through Playwright (never a downloaded browser).

Shared by tests/test_browser.py (the built site), tests/test_jupyterlab.py (JupyterLab and
Notebook 7 on a live kernel) and tests/test_viz_typed_arrays_browser.py (plotly.js alone).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest

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


def block_outside(page, base: str) -> list[str]:
    """Let ``page`` load only ``base`` (and data:/blob: URLs); returns the list the other requests go to, aborted."""
    outside: list[str] = []

    def route(r):
        if r.request.url.startswith((base, "data:", "blob:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return outside
