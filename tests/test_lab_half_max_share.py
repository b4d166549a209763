"""attn_edu.lab.evaluate.half_max_share (the SK and PSA chapters' spread of a branch's response) and
attn_edu.bench's Machine.where (the chapters' "in the reference run (...)")."""

from __future__ import annotations

import pytest
import torch

from attn_edu import bench
from attn_edu.lab.evaluate import half_max_share


def test_the_share_of_cells_above_half_the_peak():
    m = torch.zeros(4, 4)
    m[0, :2] = torch.tensor([1.0, 0.6])     # 0.6 > 0.5: counted; the zeros are not
    assert half_max_share(m) == 2 / 16
    assert half_max_share(torch.ones(3, 3)) == 1.0


@pytest.mark.parametrize("bad, error", [(torch.zeros(3, 3), ValueError), (torch.empty(0), TypeError),
                                        ([1.0], TypeError)])
def test_bad_input_names_the_function(bad, error):
    with pytest.raises(error, match="half_max_share: "):
        half_max_share(bad)


def test_the_reference_run_says_where_and_when_it_ran():
    m = bench.load_reference().machine
    assert m.where.startswith(f"{m.cpu}, {m.threads} threads, torch {m.torch}") and m.where.endswith(m.date)
