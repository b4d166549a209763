"""A folder served on 127.0.0.1, and a Playwright page kept on it: what the scripts that print or
check pages in Chromium share (scripts/course_pdf.py, and the browser tests through
tests/_chromium.py), so that nothing a page asks for leaves this machine."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def serve(folder: Path | str) -> Iterator[str]:
    """``folder`` over HTTP on 127.0.0.1 (a free port), quietly; yields the base URL, ending in ``/``."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


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
