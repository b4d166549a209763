"""The nbval comparison of plotly figures (root conftest.py): one unit of the last kept decimal, no more."""

from __future__ import annotations

import base64
import copy

import numpy as np

import conftest


def figure(z: np.ndarray, title: str = "gates") -> dict:
    return {"data": [{"type": "heatmap", "z": {"dtype": "f8", "bdata": base64.b64encode(z.tobytes()).decode()}}],
            "layout": {"title": {"text": title}, "height": 400.0}}


def test_a_flip_in_the_fourth_decimal_is_the_same_figure():
    z = np.round(np.linspace(0, 1, 64), 4)
    other = z.copy()
    other[3] += 1e-4
    assert conftest._close(figure(z), figure(other))


def test_larger_differences_text_and_structure_still_fail():
    z = np.round(np.linspace(0, 1, 64), 4)
    off = z.copy()
    off[3] += 1e-3
    assert not conftest._close(figure(z), figure(off))
    assert not conftest._close(figure(z), figure(z, title="weights"))
    assert not conftest._close(figure(z), figure(z[:-1]))
    changed = copy.deepcopy(figure(z))
    changed["layout"]["height"] = 480.0
    assert not conftest._close(figure(z), changed)
    assert not conftest._close(figure(z), figure(z.astype(np.float32).astype(np.float64) + 0.01))


def test_nbval_is_patched():
    from nbval.plugin import IPyNbCell

    assert getattr(IPyNbCell.compare_outputs, "_attn_edu", False)
