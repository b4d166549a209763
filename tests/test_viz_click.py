"""Click-to-select on plotly explorers: the opt-in marker and the site script that reads it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from attn_edu import sphinxext
from attn_edu.viz import plotly_explorer

pytest.importorskip("plotly")


def _explorer(**kw):
    img = np.full((32, 32, 3), 0.5)
    maps = np.random.default_rng(0).random((2, 3, 4, 4))
    return plotly_explorer(img, maps, queries=[(4, 4), (4, 28), (28, 16)], view_labels=["a", "b"], **kw)


def test_default_has_no_marker():
    fig = _explorer().to_plotly_json()
    assert "meta" not in fig["layout"]
    assert not sphinxext.has_click_marker(fig)


def test_opt_in_marks_slider_and_query_points_as_x_y():
    fig = _explorer(click_selects_query=True)
    meta = fig.layout.meta["attn_edu"]
    assert meta["click_selects_slider"] == 0
    assert meta["slider_points"] == [[4.0, 4.0], [28.0, 4.0], [16.0, 28.0]]  # [col, row] per step
    assert len(meta["slider_points"]) == len(fig.layout.sliders[0].steps)
    assert sphinxext.has_click_marker(fig.to_plotly_json())
    # everything else is as without the marker
    a, b = json.loads(fig.to_json()), json.loads(_explorer().to_json())
    a["layout"].pop("meta")
    assert a == b


def test_opt_in_rejects_non_bool():
    with pytest.raises(TypeError, match="plotly_explorer: click_selects_query must be a bool"):
        _explorer(click_selects_query="yes")


@pytest.mark.parametrize("fig", [{}, {"layout": {}}, {"layout": {"meta": [1, 2]}}, {"layout": {"meta": {"attn_edu": 3}}},
                                 {"layout": {"meta": {"other": {"click_selects_slider": 0}}}}, "not a figure"])
def test_has_click_marker_false_on_unmarked_figures(fig):
    assert not sphinxext.has_click_marker(fig)


def test_click_script_is_self_contained_and_guarded():
    js = sphinxext.CLICK_JS
    assert "plotly_click" in js and "sliders[" in js and ".active" in js
    assert "http" not in js  # offline: loads nothing
    assert 'typeof Plotly === "undefined"' in js  # a page without plotly is left alone
