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


def test_the_figures_viz_stores_compare_by_value_float32_shapes_and_all():
    # attn_edu.viz stores rounded float32 typed arrays with a shape, in traces and in slider steps
    from attn_edu.viz import typed_array

    z = np.round(np.random.default_rng(0).random((16, 24)), 4)
    flipped = z.copy()
    flipped[2, 3] += 1e-4                                         # one boundary flip on another CPU

    def fig(a: np.ndarray) -> dict:
        return {"data": [{"type": "heatmap", "z": typed_array(a)}],
                "layout": {"sliders": [{"steps": [{"method": "restyle", "args": [{"z": [typed_array(a)]}, [0]]}]}]}}

    assert typed_array(z)["dtype"] == "f4" and typed_array(z)["shape"] == "16, 24"
    assert conftest._close(fig(z), fig(flipped))
    off = z.copy()
    off[2, 3] += 1e-3
    assert not conftest._close(fig(z), fig(off))
    assert not conftest._close(fig(z), fig(z.reshape(24, 16)))    # same values, other shape
    as_f8 = {"dtype": "f8", "bdata": base64.b64encode(z.astype("<f8").tobytes()).decode(), "shape": "16, 24"}
    assert not conftest._close(fig(z)["data"][0], {"type": "heatmap", "z": as_f8})  # other dtype
    listed = {"type": "heatmap", "z": z.tolist()}
    assert not conftest._close(fig(z)["data"][0], listed)          # a typed array is not a plain list


def test_integer_typed_arrays_compare_too():
    ints = {"dtype": "i1", "bdata": base64.b64encode(np.arange(8, dtype="i1").tobytes()).decode()}
    other = {"dtype": "i1", "bdata": base64.b64encode((np.arange(8) + 1).astype("i1").tobytes()).decode()}
    assert conftest._close({"x": ints}, {"x": dict(ints)})
    assert not conftest._close({"x": ints}, {"x": other})
