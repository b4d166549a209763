"""The scale-slider figures' parts (SK and PSA chapters): images.zoom, images.strip, viz.ScaleStrip."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import pytest
from plotly.subplots import make_subplots

from attn_edu.images import load_photo, strip, zoom
from attn_edu.viz import ScaleStrip


def test_zoom_crops_the_centre_and_resizes():
    img = np.zeros((90, 90, 3), dtype=np.float32)
    img[30:60, 30:60] = 1.0  # a white centre square of a third of the side
    assert zoom(img, 1.0, size=30).shape == (30, 30, 3)
    np.testing.assert_allclose(zoom(img, 3.0, size=16), 1.0)  # a 3x zoom sees only the centre
    with pytest.raises(ValueError, match="zoom: factor must be a number >= 1"):
        zoom(img, 0.5)
    with pytest.raises(ValueError, match=r"zoom: expected a square \(H, W, 3\)"):
        zoom(img[:, :60], 2.0)


def test_strip_puts_images_side_by_side_with_white_gaps():
    a, b = np.zeros((8, 5, 3), np.float32), np.full((8, 4, 3), 0.5, np.float32)
    s = strip([a, b], gap=2)
    assert s.shape == (8, 11, 3)
    np.testing.assert_array_equal(s[:, 5:7], 1.0)
    with pytest.raises(ValueError, match="strip: expected"):
        strip([a, np.zeros((7, 5, 3), np.float32)])


def test_scale_strip_swaps_the_strip_and_marks_the_scale():
    photo = load_photo("chelsea", size=32)
    parts = ScaleStrip.of({0.2: [photo, photo], 0.4: [photo, photo[::-1]]}, "x2", (0.3, 0.45))
    assert (parts.width, parts.height) == (66, 32)
    assert parts.sources[0.2] != parts.sources[0.4] and parts.sources[0.2].startswith("data:image/jpeg;base64,")
    assert parts.images(0.4)[0]["source"] == parts.sources[0.4]
    band, line = parts.shapes(0.4)
    assert (band["x0"], band["x1"], band["xref"], band["yref"]) == (0.3, 0.45, "x2", "y2 domain")
    assert line["x0"] == line["x1"] == 0.4
    fig = make_subplots(rows=2, cols=1)
    fig.add_trace(go.Scatter(x=[0.2, 0.4], y=[1, 2]), row=2, col=1)
    parts.frame(fig)
    assert list(fig.layout.xaxis.range) == [0, 66] and list(fig.layout.yaxis.range) == [32, 0]
    assert fig.layout.xaxis.visible is False


def test_scale_strip_layout_puts_the_strip_slider_and_legend_in_place():
    photo = load_photo("chelsea", size=32)
    parts = ScaleStrip.of({0.2: [photo], 0.4: [photo[::-1]]}, "x2", (0.3, 0.45))
    fig = make_subplots(rows=2, cols=1)
    fig.add_trace(go.Scatter(x=[0.2, 0.4], y=[1, 2], name="b"), row=2, col=1)
    steps = [{"method": "relayout", "label": f"{s:g}", "args": [parts.step_layout(s)]} for s in (0.2, 0.4)]
    assert steps[1]["args"][0] == {"images": parts.images(0.4), "shapes": parts.shapes(0.4)}
    parts.layout(fig, steps, 0.4, title="t", height=500, legend_x=0.3)
    assert fig.layout.sliders[0].active == 1 and len(fig.layout.sliders[0].steps) == 2
    assert fig.layout.images[0].source == parts.sources[0.4] and fig.layout.shapes[1].x0 == 0.4
    assert (fig.layout.title.text, fig.layout.height, fig.layout.legend.x) == ("t", 500, 0.3)
    with pytest.raises(ValueError, match=r"ScaleStrip.layout: scale must be one of \[0.2, 0.4\], got 0.3"):
        parts.layout(fig, steps, 0.3, title="t", height=500)
