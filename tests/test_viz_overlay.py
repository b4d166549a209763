"""attn_edu.viz.overlay's colour bar: its label must not run into a neighbouring axis' label."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from attn_edu.viz import overlay  # noqa: E402


def _photo_and_map():
    rng = np.random.default_rng(0)
    return rng.random((32, 32, 3)), rng.random((8, 8)) * 14


def test_colour_bar_label_clears_the_next_axis_label():
    # the live explorers' layout (SE, ECA, CBAM, BAM chapters): overlay, then a bar chart to its right
    fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [1, 2]})
    overlay(ax0, *_photo_and_map(), title="channel 3", label="feature")
    ax1.bar(range(64), np.linspace(0, 1, 64))
    ax1.set(ylim=(0, 1.02), xlabel="channel", ylabel="SE gate")
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    cbar_label = fig.axes[-1].yaxis.label.get_window_extent(r)
    bar_ylabel = ax1.yaxis.label.get_window_extent(r)
    assert cbar_label.x1 < bar_ylabel.x0, (cbar_label, bar_ylabel)
    plt.close(fig)


def test_an_explicit_layout_is_kept_and_tight_layout_still_works():
    fig, ax = plt.subplots(layout="constrained")
    overlay(ax, *_photo_and_map())
    assert type(fig.get_layout_engine()).__name__ == "ConstrainedLayoutEngine"
    plt.close(fig)
    fig, axes = plt.subplots(1, 3)
    for ax in axes:
        overlay(ax, *_photo_and_map())
    fig.tight_layout()  # the static figures' habit: must not raise with overlay's colour bars
    fig.canvas.draw()
    plt.close(fig)
