"""attn_edu.measure.round_ratio: the per-round time ratio of two candidates timed interleaved."""

from __future__ import annotations

import pytest

from attn_edu.measure import Timing, round_ratio, time_interleaved


def _timing(samples: list[float]) -> Timing:
    return Timing(0.0, 0.0, 0.0, len(samples), tuple(samples))


def test_median_and_quartiles_of_the_ratios_of_each_round():
    r = round_ratio(_timing([2.0, 4.0, 6.0, 8.0, 30.0]), _timing([1.0, 1.0, 2.0, 2.0, 3.0]))
    assert (r.estimate, r.lo, r.hi) == (4.0, 3.0, 4.0)  # per round: 2, 4, 3, 4, 10


def test_on_a_real_interleaved_run():
    t = time_interleaved({"a": lambda: sum(range(2000)), "b": lambda: sum(range(200))}, repeats=9)
    r = round_ratio(t["a"], t["b"])
    assert r.lo <= r.estimate <= r.hi and r.estimate > 0


@pytest.mark.parametrize("num, den, error, match", [
    (1.0, _timing([1.0]), TypeError, "two Timings"),
    (_timing([1.0, 2.0]), _timing([1.0]), ValueError, "same rounds"),
    (_timing([]), _timing([]), ValueError, "same rounds"),
])
def test_bad_input_names_the_function(num, den, error, match):
    with pytest.raises(error, match=f"round_ratio: .*{match}"):
        round_ratio(num, den)


def test_threads_sets_and_restores_the_thread_count_also_on_error():
    import torch

    from attn_edu.measure import threads

    before = torch.get_num_threads()
    with threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="inside"), threads(1):
        raise RuntimeError("inside")
    assert torch.get_num_threads() == before
    for bad in (0, 1.5, True, "2"):
        with pytest.raises(ValueError, match="threads: expected a whole number of threads >= 1"), threads(bad):
            pass
