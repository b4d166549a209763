"""plotly_explorer's zranges: a fixed colour range per view, e.g. for an untrained network's flat map
(plotly stretches a constant map's range to z - 0.5 .. z + 0.5, so its colour bar would run
-0.5 .. +0.5 for weights that all equal 1/256; the DANet chapter fixes it at 0 .. 2/256)."""

from __future__ import annotations

import numpy as np
import pytest

from attn_edu.viz import plotly_explorer


def _explorer(**kw):
    rng = np.random.default_rng(0)
    maps = np.stack([rng.random((2, 8, 8)), np.full((2, 8, 8), 1 / 256)])  # V=2 views x Q=2 queries
    return plotly_explorer(rng.random((32, 32, 3)), maps, [(4, 4), (20, 20)], ["trained", "untrained"], **kw)


def test_default_leaves_every_range_to_plotly():
    for t in _explorer().data[1:]:
        assert t.zmin is None and t.zmax is None


def test_a_view_gets_its_fixed_range_and_keeps_it_over_the_slider():
    fig = _explorer(zranges=[None, (0.0, 2 / 256)])
    trained, untrained = fig.data[1:]
    assert trained.zmin is None and trained.zmax is None
    assert (untrained.zmin, untrained.zmax) == (0.0, 2 / 256)
    for step in fig.layout.sliders[0].steps:  # a step swaps z only: the range stays
        assert set(step.args[0]) == {"z"}


@pytest.mark.parametrize("bad", [[(0.0, 1.0)], [(1.0, 0.0), None], [(0.0,), None]])
def test_rejects_a_range_per_view_that_is_not_one(bad):
    with pytest.raises(ValueError, match="zranges"):
        _explorer(zranges=bad)


def test_each_view_may_keep_its_own_resolution():
    from attn_edu.viz import from_typed_array

    rng = np.random.default_rng(1)
    fine, coarse = rng.random((3, 16, 16)), rng.random((3, 4, 4))  # Q=3 queries; keys pooled 4x in the second
    fig = plotly_explorer(rng.random((64, 64, 3)), [fine, coarse], [(8, 8), (30, 30), (50, 50)], ["s=1", "s=4"])
    f, c = fig.data[1:]
    assert (f.dx, c.dx, c.x0) == (4.0, 16.0, 7.5)  # a coarse cell covers 16 pixels, centred on its block
    last = fig.layout.sliders[0].steps[2].args[0]["z"]
    assert [from_typed_array(z).shape for z in last] == [(16, 16), (4, 4)]
    np.testing.assert_allclose(from_typed_array(last[1]), np.round(coarse[2], 4), atol=1e-7)
    with pytest.raises(ValueError, match=r"plotly_explorer: maps must be V >= 1 arrays \(Q, h, w\) with the same Q"):
        plotly_explorer(rng.random((64, 64, 3)), [fine, coarse[:2]], [(8, 8)] * 3, ["a", "b"])
