"""attn_edu.viz stores figures compactly: typed float32 arrays everywhere, rounded first; photos as pixels."""

from __future__ import annotations

import base64
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from attn_edu import viz  # noqa: E402


def test_typed_array_is_rounded_little_endian_float32_with_plotlys_shape():
    a = np.array([[0.123456, -0.00001], [1.0, 2.5]])
    spec = viz.typed_array(a)
    assert spec["dtype"] == "f4" and spec["shape"] == "2, 2"
    raw = np.frombuffer(base64.b64decode(spec["bdata"]), dtype="<f4")
    np.testing.assert_array_equal(raw, np.array([0.1235, 0.0, 1.0, 2.5], dtype="<f4"))
    assert not np.signbit(raw[1])  # -0.0 is stored as 0.0
    np.testing.assert_array_equal(viz.from_typed_array(spec), raw.reshape(2, 2))
    assert "shape" not in viz.typed_array(np.arange(3.0))
    # plotly.py's own encoding of a float32 trace array reads back the same way
    import plotly.graph_objects as go

    z = json.loads(go.Figure(go.Heatmap(z=viz.compact(a))).to_json())["data"][0]["z"]
    assert z["dtype"] == "f4" and z["shape"] == spec["shape"] and z["bdata"] == spec["bdata"]


def test_stored_bytes_do_not_depend_on_the_last_bits():
    rng = np.random.default_rng(0)
    a = rng.random((16, 16))
    noisy = a * (1 + rng.uniform(-4, 4, a.shape) * np.finfo(float).eps)  # another CPU's rounding
    near_boundary = np.abs((a * 1e4) % 1 - 0.5) < 1e-9                   # (none here; nbval allows those)
    assert not near_boundary.any()
    assert viz.typed_array(noisy) == viz.typed_array(a)


def _numeric_lists(obj, path="", found=None):
    """Paths of plain JSON lists of more than 8 numbers (what the typed arrays replace)."""
    found = [] if found is None else found
    if isinstance(obj, dict):
        for k, v in obj.items():
            _numeric_lists(v, f"{path}.{k}", found)
    elif isinstance(obj, list):
        if len(obj) > 8 and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in obj):
            found.append(path)
        for i, v in enumerate(obj):
            _numeric_lists(v, f"{path}[{i}]", found)
    return found


def _figures():
    rng = np.random.default_rng(0)
    img, imgs = rng.random((32, 32, 3)), rng.random((3, 32, 32, 3))
    yield viz.plotly_explorer(img, rng.random((2, 3, 8, 8)), [(4, 4), (4, 28), (28, 16)], ["a", "b"])
    yield viz.plotly_scene_explorer(imgs, rng.random((2, 3, 8, 8)), ["a", "b"])
    yield viz.plotly_map_slider(img, rng.random((3, 8, 8)), ["a", "b", "c"])
    yield viz.plotly_channel_weights(imgs, rng.random((3, 16)), ["a", "b", "c"], maps=rng.random((3, 8, 8)))


@pytest.mark.parametrize("fig", list(_figures()), ids=["explorer", "scene_explorer", "map_slider", "channel_weights"])
def test_every_array_of_a_figure_is_typed_float32_or_small_int(fig):
    js = json.loads(fig.to_json())
    assert _numeric_lists(js) == []
    dtypes = set()

    def walk(o):
        if isinstance(o, dict):
            if "bdata" in o:
                dtypes.add(o["dtype"])
            for v in o.values():
                walk(v)
        elif isinstance(o, list):
            for v in o:
                walk(v)

    walk(js)
    assert dtypes and dtypes <= {"f4", "i1", "i2", "u1"}, dtypes  # no float64


def test_slider_steps_and_traces_store_the_same_bytes():
    rng = np.random.default_rng(1)
    maps = rng.random((3, 8, 8))
    js = json.loads(viz.plotly_map_slider(rng.random((32, 32, 3)), maps, ["a", "b", "c"]).to_json())
    first = js["layout"]["sliders"][0]["steps"][0]["args"][0]["z"][0]
    assert js["data"][1]["z"] == first


def test_image_source_png_and_jpeg():
    img = np.random.default_rng(0).random((64, 96, 3))
    assert viz.image_source(img).startswith("data:image/png;base64,")
    jpeg = viz.image_source(img, format="jpeg", quality=80)
    assert jpeg.startswith("data:image/jpeg;base64,") and base64.b64decode(jpeg.split(",", 1)[1])[:2] == b"\xff\xd8"
    with pytest.raises(ValueError, match="image_source: format must be"):
        viz.image_source(img, format="webp")
    with pytest.raises(ValueError, match="image_source: quality"):
        viz.image_source(img, format="jpeg", quality=100)


def test_overlay_draws_an_enlarged_photo_as_pixels_and_a_shrunk_one_antialiased():
    rng = np.random.default_rng(0)
    fig, (big, small) = plt.subplots(1, 2, figsize=(8, 4), dpi=100)       # axes of about 300 px
    overlay_big = viz.overlay(big, rng.random((64, 64, 3)), rng.random((8, 8)), colorbar=False)
    viz.overlay(small, rng.random((512, 512, 3)), rng.random((8, 8)), colorbar=False)
    photo_big, photo_small = big.get_images()[0], small.get_images()[0]
    assert photo_big.get_interpolation() == "nearest"
    assert photo_small.get_interpolation() == matplotlib.rcParams["image.interpolation"]
    assert overlay_big.get_interpolation() == "nearest"  # the map, as before
    plt.close(fig)


def test_photo_draws_pixels_a_box_and_no_ticks():
    rng = np.random.default_rng(0)
    fig, ax = plt.subplots(figsize=(3, 3), dpi=100)
    viz.photo(ax, rng.random((64, 64, 3)), title="coffee", box=(10, 20, 30, 50))
    assert ax.get_images()[0].get_interpolation() == "nearest"       # 64 px on about 230 px
    (rect,) = ax.patches
    assert (rect.get_x(), rect.get_y(), rect.get_width(), rect.get_height()) == (20, 10, 30, 20)
    assert not ax.axison and ax.get_title() == "coffee"
    with pytest.raises(ValueError, match="photo: box"):
        viz.photo(ax, rng.random((64, 64, 3)), box=(1, 2, 3))
    plt.close(fig)
