"""scripts/store_notebooks.py stores each image as the smallest of a lossless PNG, a faithful palette PNG and a JPEG."""

from __future__ import annotations

import base64
import importlib.util
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import nbformat  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("store_notebooks", ROOT / "scripts" / "store_notebooks.py")
store_notebooks = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(store_notebooks)


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return buf.getvalue()


def _line_chart() -> bytes:
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.plot(np.linspace(0, 1, 50) ** 2, "o-")
    ax.set(xlabel="tokens", ylabel="ms", title="a line chart")
    return _png(fig)


def _photo_grid() -> bytes:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:256, 0:256] / 256
    fig, axes = plt.subplots(2, 3, figsize=(9, 6))
    for ax in axes.ravel():  # smooth photo-like content with noise: what JPEG is for
        img = np.clip(np.stack([np.sin(6 * xx + rng.random()), yy, xx * yy], -1) * 0.5 + 0.5
                      + rng.normal(0, 0.03, (256, 256, 3)), 0, 1)
        ax.imshow(img)
        ax.set_title("a photo", fontsize=9)
    return _png(fig)


def _pixels(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_a_line_chart_stays_png_no_larger_and_within_the_palette_bound():
    png = _line_chart()
    mime, data = store_notebooks.compact_image(png)
    assert mime == "image/png" and len(data) < len(png)
    assert _pixels(data).shape == _pixels(png).shape
    assert store_notebooks.psnr_db(Image.open(io.BytesIO(data)), Image.open(io.BytesIO(png))) \
        >= store_notebooks.PALETTE_MIN_PSNR_DB


def test_an_image_a_palette_would_posterise_gets_no_palette():
    yy, xx = np.mgrid[0:256, 0:256]
    img = Image.fromarray(np.stack([xx, yy, (xx + yy) // 2], -1).astype(np.uint8), "RGB")  # 65,536 colours
    assert store_notebooks._palette(img) is None
    q = img.quantize(256, method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)
    assert store_notebooks.psnr_db(img, q) < store_notebooks.PALETTE_MIN_PSNR_DB  # why: what the bound refuses


def test_the_lossless_recompression_keeps_every_pixel():
    img = Image.fromarray((np.random.default_rng(1).random((64, 64, 3)) * 255).astype(np.uint8), "RGB")
    data = store_notebooks._encode(img, "PNG")
    assert np.array_equal(_pixels(data), np.asarray(img))


def test_a_grid_of_photos_becomes_a_jpeg_at_least_the_gain_smaller():
    png = _photo_grid()
    mime, data = store_notebooks.compact_image(png)
    assert mime == "image/jpeg" and data[:2] == b"\xff\xd8"
    assert len(data) * store_notebooks.JPEG_GAIN <= len(png)
    assert Image.open(io.BytesIO(data)).size == Image.open(io.BytesIO(png)).size  # same pixels, no resampling


def test_transparency_keeps_png():
    img = Image.fromarray((np.random.default_rng(0).random((128, 128, 4)) * 255).astype(np.uint8), "RGBA")
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    assert store_notebooks.compact_image(buf.getvalue())[0] == "image/png"


def test_compact_images_rewrites_the_outputs_in_place():
    photo, chart = _photo_grid(), _line_chart()
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("plt.show()")
    cell.outputs = [
        nbformat.v4.new_output("display_data", metadata={"image/png": {"width": 450}} if png is photo else {},
                               data={"image/png": base64.b64encode(png).decode(), "text/plain": "<Figure>"})
        for png in (photo, chart)
    ]
    nb.cells = [cell]
    saved = store_notebooks.compact_images(nb)
    first, second = cell.outputs
    assert set(first.data) == {"image/jpeg", "text/plain"} and first.metadata == {"image/jpeg": {"width": 450}}
    assert "image/png" in second.data and "image/jpeg" not in second.data
    assert saved > len(photo) // 3
    nbformat.validate(nb)
