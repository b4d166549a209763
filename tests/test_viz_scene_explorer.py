"""attn_edu.viz.plotly_scene_explorer: a slider over photos, a menu over views (used by the CBAM and BAM chapters)."""

from __future__ import annotations

import numpy as np
import pytest

from attn_edu.viz import from_typed_array, plotly_scene_explorer


def _inputs(q: int = 3, v: int = 2):
    rng = np.random.default_rng(0)
    return rng.random((q, 16, 16, 3)), rng.random((v, q, 4, 4))


def test_slider_swaps_photo_maps_and_box_menu_toggles_views():
    images, maps = _inputs()
    boxes = np.array([[0, 0, 8, 8], [2, 2, 10, 10], [4, 4, 12, 12]])
    fig = plotly_scene_explorer(images, maps, ["a", "b"], scene_names=["x", "y", "z"], boxes=boxes, zrange=(0, 1))
    assert [t.type for t in fig.data] == ["image", "heatmap", "heatmap"]
    assert [t.visible for t in fig.data[1:]] == [True, False]
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["x", "y", "z"]
    data, layout, traces = steps[2].args
    assert list(traces) == [0, 1, 2]
    assert data["source"][0].startswith("data:image/png;base64,") and data["source"][0] != steps[0].args[0]["source"][0]
    assert data["z"][0] is None  # the photo's trace
    np.testing.assert_allclose(from_typed_array(data["z"][2]), np.round(maps[1, 2], 4), atol=1e-7)
    assert layout["shapes"][0]["x0"] == 4 - 0.5
    assert fig.data[1].zmin == 0 and fig.data[1].zmax == 1
    menu = fig.layout.updatemenus[0].buttons
    assert [b.args[0]["visible"] for b in menu] == [[True, True, False], [True, False, True]]


def test_without_boxes_no_shapes():
    images, maps = _inputs()
    fig = plotly_scene_explorer(images, maps, ["a", "b"])
    assert fig.layout.shapes == ()
    assert fig.layout.sliders[0].steps[1].args[1]["shapes"] == []


@pytest.mark.parametrize("kwargs, match", [
    ({"view_labels": ["a"]}, "2 views x 3 photos"),
    ({"scene_names": ["x"]}, "expected 3 scene names"),
    ({"boxes": np.zeros((2, 4))}, r"boxes must have shape \(3, 4\)"),
    ({"zrange": (1, 0)}, "zrange"),
])
def test_bad_input_names_the_function(kwargs, match):
    images, maps = _inputs()
    args = {"view_labels": ["a", "b"], **kwargs}
    with pytest.raises(ValueError, match=f"plotly_scene_explorer: .*{match}"):
        plotly_scene_explorer(images, maps, **args)


def test_bad_images():
    _, maps = _inputs()
    with pytest.raises(ValueError, match="plotly_scene_explorer"):
        plotly_scene_explorer(np.zeros((3, 16, 16)), maps, ["a", "b"])
    with pytest.raises(ValueError, match="plotly_scene_explorer: .*RGB"):
        plotly_scene_explorer(np.zeros((3, 16, 16, 4)), maps, ["a", "b"])
    with pytest.raises(ValueError, match=r"plotly_scene_explorer: .*\[0, 1\]"):
        plotly_scene_explorer(np.full((3, 16, 16, 3), 2.0), maps, ["a", "b"])
