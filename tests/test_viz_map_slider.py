"""attn_edu.viz.plotly_map_slider: one photo, a slider over maps, each map on its own colour scale by default."""

from __future__ import annotations

import numpy as np
import pytest

from attn_edu.viz import from_typed_array, plotly_map_slider


def _inputs(q: int = 3):
    rng = np.random.default_rng(0)
    maps = rng.random((q, 4, 6)) * np.array([1.0, 0.05, 0.02])[:q, None, None]   # peaks near 1, 0.05, 0.02
    return rng.random((16, 24, 3)), maps


def test_own_scale_follows_each_map_and_says_so():
    image, maps = _inputs()
    fig = plotly_map_slider(image, maps, ["a", "b", "c"], slider_label="unit")
    assert [t.type for t in fig.data] == ["image", "heatmap"]
    assert fig.data[1].zmin == 0 and fig.data[1].zmax == round(maps[0].max(), 4)  # the stored map's max
    assert "this map's max" in fig.data[1].colorbar.title.text
    steps = fig.layout.sliders[0].steps
    assert [s.label for s in steps] == ["a", "b", "c"]
    data, traces = steps[2].args
    assert list(traces) == [1]
    assert data["z"][0]["dtype"] == "f4" and data["z"][0]["shape"] == "4, 6"
    np.testing.assert_allclose(from_typed_array(data["z"][0]), np.round(maps[2], 4), atol=1e-7)
    assert data["zmin"] == [0] and data["zmax"] == [round(maps[2].max(), 4)]
    assert fig.layout.sliders[0].currentvalue.prefix == "unit: "


def test_shared_and_fixed_scales():
    image, maps = _inputs()
    shared = plotly_map_slider(image, maps, ["a", "b", "c"], scale="shared")
    assert [s.args[0]["zmax"][0] for s in shared.layout.sliders[0].steps] == [round(maps.max(), 4)] * 3
    assert "max" not in shared.data[1].colorbar.title.text
    fixed = plotly_map_slider(image, maps, ["a", "b", "c"], scale=(0, 1))
    assert [s.args[0]["zmax"][0] for s in fixed.layout.sliders[0].steps] == [1, 1, 1]


def test_constant_map_gets_a_usable_range():
    image, _ = _inputs()
    fig = plotly_map_slider(image, np.zeros((1, 4, 6)), ["z"])
    assert fig.data[1].zmin == 0 and fig.data[1].zmax == 1


@pytest.mark.parametrize("kwargs, match", [
    ({"names": ["a"]}, "expected 3 names"),
    ({"scale": "auto"}, "scale must be"),
    ({"scale": (1, 0)}, "scale must be"),
])
def test_bad_input_names_the_function(kwargs, match):
    image, maps = _inputs()
    args = {"names": ["a", "b", "c"], **kwargs}
    with pytest.raises(ValueError, match=f"plotly_map_slider: .*{match}"):
        plotly_map_slider(image, maps, **args)
