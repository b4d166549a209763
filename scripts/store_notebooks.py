"""Execute chapters and store them with their outputs: what the site, Jupyter, Colab and nbval share.

    .venv/bin/python scripts/store_notebooks.py                 # every book/*.ipynb
    .venv/bin/python scripts/store_notebooks.py book/se.ipynb   # some

The book is executed here, once: the site is built from these stored notebooks (``_config.yml``:
``execute_notebooks: off``) and ``pytest --nbval`` re-executes each one and compares. Each notebook
is run from ``book/`` by a fresh kernel with the default plotly renderer (plotly's own JSON output,
drawn by the site's local plotly.js and natively by JupyterLab and Colab). What is stored:

* every output, except those of widget cells: an ipywidgets output needs a live kernel, and a
  stored one shows as a text repr (``interactive(children=...``) in an untrusted notebook;
* no widget state (``metadata.widgets``), for the same reason;
* each matplotlib image as the smallest of three encodings of its pixels (:func:`compact_images`):
  the PNG recompressed losslessly by oxipng (RGB: matplotlib's alpha channel is constant); a PNG of
  at most 256 colours, where that palette keeps the image within :data:`PALETTE_MIN_PSNR_DB` of the
  original (line charts, bar charts, most figures: their anti-aliased text and lines use few
  colours); or, where it is at least :data:`JPEG_GAIN` times smaller than both, a JPEG at quality
  :data:`JPEG_QUALITY` without chroma subsampling (figures full of photographs, whose text stays
  as sharp to the eye). nbval does not compare images, so a fresh run's PNG and the stored one are
  the same output to it;
* each plotly figure as the kernel wrote it: nbval compares plotly's JSON to the letter, so its
  photographs (PNG data URIs) stay as :func:`attn_edu.viz.image_source` encodes them;
* ``metadata.attn_edu.execution``: the seconds the run took, and the versions and machine it ran
  on, for the execution-statistics page and the course guide (``book/course.ipynb``), which is
  therefore stored again, last, whenever another notebook is.
"""

from __future__ import annotations

import inspect
import os
import platform
import sys
import time
from pathlib import Path

from queue import Empty

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
CELL_TIMEOUT_S = 120
GUIDE = ROOT / "book" / "course.ipynb"


class SlicedReplyClient(NotebookClient):
    """A NotebookClient that waits for each cell's execute_reply in polls of at most 1 s.

    nbclient waits for the reply with one asyncio ZMQ poll as long as the cell timeout. pyzmq's
    asyncio poll relies on edge-triggered wake-ups; when one is missed (seen after ipywidgets
    cells, jupyter/nbclient#312), the poll returns only when its timer fires, so the cell appears
    to take exactly the timeout while the kernel replied at once (the book once lost 300 s to it).
    Short polls bound the loss to one slice.
    """

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        get_msg = kc.shell_channel.get_msg

        async def sliced(timeout=None):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = None if deadline is None else deadline - time.monotonic()
                try:
                    msg = get_msg(timeout=1.0 if left is None else max(0.0, min(1.0, left)))
                    return await msg if inspect.isawaitable(msg) else msg  # async or blocking client
                except Empty:
                    if left is not None and left <= 1.0:
                        raise

        kc.shell_channel.get_msg = sliced
        return kc


def strip_widgets(nb: nbformat.NotebookNode) -> None:
    """Drop widget state and the outputs of cells that display a widget."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        if cell.cell_type == "code" and any(WIDGET_VIEW in o.get("data", {}) for o in cell.get("outputs", [])):
            cell.outputs = []


PNG, JPEG = "image/png", "image/jpeg"
JPEG_QUALITY = 90
JPEG_GAIN = 1.5
PALETTE_MIN_PSNR_DB = 42.0  # measured on the book's figures: no visible change above it; posterised
#                             photo overlays (banded skin, blotched backgrounds) at 35-38 dB
OXIPNG_LEVEL = 4


def _encode(img, fmt: str) -> bytes:
    import io

    import oxipng

    buf = io.BytesIO()
    if fmt == "PNG":
        img.save(buf, format="PNG")
        return oxipng.optimize_from_memory(buf.getvalue(), level=OXIPNG_LEVEL)
    img.save(buf, format="JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    return buf.getvalue()


def psnr_db(a, b) -> float:
    """Peak signal-to-noise ratio of two same-sized 8-bit RGB images, in dB (inf when equal)."""
    import numpy as np

    x = np.asarray(a.convert("RGB"), dtype=np.float64)
    y = np.asarray(b.convert("RGB"), dtype=np.float64)
    mse = float(((x - y) ** 2).mean())
    return float("inf") if mse == 0 else 10 * float(np.log10(255.0**2 / mse))


def _palette(img):
    """The smallest 256-colour version of ``img`` within :data:`PALETTE_MIN_PSNR_DB`, or None."""
    from PIL import Image

    best = None
    for method in (Image.Quantize.MAXCOVERAGE, Image.Quantize.MEDIANCUT):
        q = img.quantize(256, method=method, dither=Image.Dither.NONE)
        if psnr_db(img, q) >= PALETTE_MIN_PSNR_DB:
            data = _encode(q, "PNG")
            best = data if best is None or len(data) < len(best) else best
    return best


def compact_image(png: bytes) -> tuple[str, bytes]:
    """``(mimetype, bytes)``: the smallest encoding of a PNG's pixels (see the module docstring).

    An opaque RGBA image (matplotlib's) is stored as RGB, the same pixels without the constant
    alpha channel. An image with transparency stays a lossless PNG (a palette or JPEG would drop
    its alpha). The pixels are never resampled.
    """
    import io

    from PIL import Image

    img = Image.open(io.BytesIO(png))
    img.load()
    opaque = img.mode in ("RGB", "L") or (img.mode == "RGBA" and img.getchannel("A").getextrema() == (255, 255))
    if not opaque:
        return PNG, min(png, _encode(img, "PNG"), key=len)
    img = img.convert("RGB")
    candidates = [png, _encode(img, "PNG")]
    palette = _palette(img)
    if palette is not None:
        candidates.append(palette)
    best = min(candidates, key=len)
    jpeg = _encode(img, "JPEG")
    if len(jpeg) * JPEG_GAIN <= len(best):
        return JPEG, jpeg
    return PNG, best


def compact_images(nb: nbformat.NotebookNode) -> int:
    """Re-encode the PNG outputs of ``nb`` in place with :func:`compact_image`; returns the bytes saved."""
    import base64

    saved = 0
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if PNG not in data or JPEG in data:
                continue
            png = base64.b64decode(data[PNG])
            mime, new = compact_image(png)
            if mime == PNG and new == png:
                continue
            saved += len(png) - len(new)
            del data[PNG]
            data[mime] = base64.b64encode(new).decode("ascii")
            meta = out.get("metadata", {})
            if PNG in meta:  # e.g. a width for a high-dpi figure: it describes the same pixels
                meta[mime] = meta.pop(PNG)
    return saved


def store(path: Path) -> float:
    nb = nbformat.read(path, as_version=4)
    client = SlicedReplyClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3", allow_errors=False,
                            resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    client.execute()
    seconds = time.perf_counter() - start
    strip_widgets(nb)
    compact_images(nb)
    import torch  # noqa: PLC0415 - only for the record

    nb.metadata.setdefault("attn_edu", {})["execution"] = {
        "seconds": round(seconds, 1),
        "date": time.strftime("%Y-%m-%d"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    nbformat.write(nb, path)
    return seconds


def main(argv: list[str]) -> int:
    os.environ.pop("PLOTLY_RENDERER", None)  # the kernel inherits it; plotly's default output is its JSON
    paths = [Path(a).resolve() for a in argv] or sorted((ROOT / "book").glob("*.ipynb"))
    for p in paths:
        if p.suffix != ".ipynb" or not p.exists():
            raise SystemExit(f"store_notebooks: no notebook {p}")
    # The course guide tabulates the other notebooks' stored runs: store it again, after them.
    paths = [p for p in paths if p != GUIDE] + [GUIDE]
    total = 0.0
    for p in paths:
        s = store(p)
        total += s
        print(f"{p.relative_to(ROOT)}: {s:.1f} s", flush=True)
    print(f"{len(paths)} notebooks stored in {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
