"""The hover label of every plotly map names what the map shows (its label), not always "weight"."""

from __future__ import annotations

import numpy as np

from attn_edu.viz import plotly_channel_weights, plotly_explorer, plotly_map_slider, plotly_scene_explorer


def _heatmap_hovers(fig) -> list[str]:
    return [t.hovertemplate for t in fig.data if t.type == "heatmap"]


def test_map_hovers_say_the_label():
    rng = np.random.default_rng(0)
    img, imgs = rng.random((32, 32, 3)), rng.random((2, 32, 32, 3))
    figs = {
        "explorer": plotly_explorer(img, rng.random((1, 2, 8, 8)), [(4, 4), (20, 20)], ["a"], label="gate"),
        "scene_explorer": plotly_scene_explorer(imgs, rng.random((1, 2, 8, 8)), ["a"], label="gate"),
        "map_slider": plotly_map_slider(img, rng.random((2, 8, 8)), ["u0", "u1"], label="gate"),
    }
    for name, fig in figs.items():
        hovers = _heatmap_hovers(fig)
        assert hovers and all("<br>gate %{z:.4f}" in h for h in hovers), (name, hovers)
    fig = plotly_channel_weights(imgs, rng.random((2, 8)), ["s0", "s1"], maps=rng.random((2, 8, 8)),
                                 label="SE gate", map_label="feature")
    assert all("<br>feature %{z:.4f}" in h for h in _heatmap_hovers(fig))
    assert all("SE gate %{y:.3f}" in t.hovertemplate for t in fig.data if t.type == "bar")
