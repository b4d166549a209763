"""measure.scaling and viz.plot_scaling: the chapters' time-and-memory sweeps of two paths."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import pytest  # noqa: E402
import torch  # noqa: E402

from attn_edu.measure import Scaling, scaling  # noqa: E402
from attn_edu.viz import plot_scaling  # noqa: E402


def _call(kind: str, n: int):
    x = torch.randn(n, 8)
    if kind == "quadratic":
        return lambda: (x @ x.T).sum()   # an N x N matrix: memory ~ N^2
    return lambda: (x * 2).sum()         # memory ~ N


def test_scaling_measures_every_candidate_at_every_size_and_fits_exponents():
    sizes = [256, 512, 1024, 2048]
    cost = scaling(_call, ["quadratic", "linear"], sizes)
    assert cost.sizes == tuple(sizes) and set(cost.ms) == set(cost.mib) == {"quadratic", "linear"}
    assert all(len(v) == len(sizes) and min(v) > 0 for v in cost.ms.values())
    slopes = cost.slopes(fit_from=1)
    assert slopes["quadratic"][1] == pytest.approx(2.0, abs=0.1)   # peak memory: the N x N product
    assert slopes["linear"][1] == pytest.approx(1.0, abs=0.1)
    lines = cost.lines()
    assert len(lines) == 2 and lines[0].startswith("quadratic: N=256: ")
    fig = plot_scaling(cost, slopes, xlabel="N", what="rows")
    assert [ax.get_title() for ax in fig.axes] == ["time vs rows", "peak memory vs rows"]
    assert "slope 2.0" in fig.axes[1].get_legend().get_texts()[0].get_text()


def test_bad_sweeps_are_named():
    with pytest.raises(ValueError, match="scaling: expected candidates and sizes"):
        scaling(_call, [], [1, 2])
    cost = Scaling((1, 2), {"a": (1.0, 2.0)}, {"a": (1.0, 2.0)})
    with pytest.raises(ValueError, match="fit_from must leave at least 2"):
        cost.slopes(fit_from=1)
    with pytest.raises(ValueError, match="plot_scaling: slopes for"):
        plot_scaling(cost, {"b": (1.0, 1.0)}, xlabel="N", what="rows")
