"""attn_edu.viz.plotly_channel_weights: channel-weight bars beside the photo, a menu over photos (SE, ECA chapters)."""

from __future__ import annotations

import numpy as np
import pytest

from attn_edu.viz import plotly_channel_weights


def _inputs(q: int = 3, c: int = 8):
    rng = np.random.default_rng(0)
    return rng.random((q, 16, 16, 3)), rng.random((q, c))


def test_menu_shows_one_photo_with_its_bars_and_map():
    images, weights = _inputs()
    maps = np.random.default_rng(1).random((3, 4, 4))
    fig = plotly_channel_weights(images, weights, ["a", "b", "c"], maps=maps, marked=[0, 5, 7], title="T")
    assert [t.type for t in fig.data] == ["image", "heatmap", "bar"] * 3
    assert [t.visible for t in fig.data] == [True] * 3 + [False] * 6
    np.testing.assert_allclose(fig.data[5].y, np.round(weights[1], 4))
    np.testing.assert_allclose(fig.data[4].z, np.round(maps[1], 4))
    assert fig.data[5].marker.color[5] != fig.data[5].marker.color[0]
    buttons = fig.layout.updatemenus[0].buttons
    assert [b.label for b in buttons] == ["a", "b", "c"]
    assert buttons[2].args[0]["visible"] == [False] * 6 + [True] * 3
    assert buttons[1].args[1]["title.text"] == "T: b"
    assert tuple(fig.layout.yaxis2.range) == (0.0, 1.0)


def test_without_maps_two_traces_per_photo_and_free_axis():
    images, weights = _inputs(q=2)
    fig = plotly_channel_weights(images, weights, ["a", "b"], y_range=None)
    assert [t.type for t in fig.data] == ["image", "bar"] * 2
    assert fig.layout.updatemenus[0].buttons[1].args[0]["visible"] == [False, False, True, True]
    assert fig.layout.yaxis2.range is None


def test_height_grows_so_the_open_menu_fits():
    images, weights = _inputs(q=12)
    fig = plotly_channel_weights(images, weights, [str(i) for i in range(12)], height=300)
    assert fig.layout.height == 36 * 12 + 130
    assert plotly_channel_weights(images[:2], weights[:2], ["a", "b"], height=300).layout.height == 300


@pytest.mark.parametrize("kwargs, match", [
    ({"names": ["a"]}, "expected 3 names"),
    ({"weights": np.zeros((2, 8))}, "weights has 2 rows"),
    ({"maps": np.zeros((2, 4, 4))}, "one \\(h, w\\) map per photo"),
    ({"marked": [0, 1, 8]}, "marked must be 3 channel indices"),
    ({"y_range": (1, 0)}, "y_range"),
    ({"images": np.zeros((3, 16, 16))}, "expected a 4-D array"),
    ({"images": np.full((3, 16, 16, 3), 2.0)}, "values must lie in"),
])
def test_bad_input_names_the_function(kwargs, match):
    images, weights = _inputs()
    args = {"images": images, "weights": weights, "names": ["a", "b", "c"], **kwargs}
    with pytest.raises(ValueError, match=f"plotly_channel_weights: .*{match}"):
        plotly_channel_weights(**args)
