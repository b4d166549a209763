"""attn_edu.stats: the intervals every "claim checked" section puts on its numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attn_edu import stats


def test_wilson_matches_the_closed_form_and_stays_in_0_1():
    # Wilson (1927) at k = 8, n = 10, z = 1.96, from its formula written out once more here
    p, n, z = 0.8, 10, 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = stats.wilson(8, 10)
    assert got.estimate == pytest.approx(0.8)
    assert (got.lo, got.hi) == pytest.approx((centre - half, centre + half))
    assert (got.lo, got.hi) == pytest.approx((0.4902, 0.9433), abs=1e-4)  # the textbook value
    full = stats.wilson(500, 500)
    assert full.hi == pytest.approx(1.0) and 0.99 < full.lo < 1.0  # sensible at k = n, unlike the normal approximation
    assert stats.wilson(0, 500).lo == pytest.approx(0.0, abs=1e-12)


def test_boot_ci_is_the_percentile_bootstrap_of_the_mean_and_is_seeded():
    v = torch.arange(100, dtype=torch.float64) % 7
    ci = stats.boot_ci(v, n_boot=500, seed=3)
    idx = torch.randint(0, 100, (500, 100), generator=torch.Generator().manual_seed(3))
    means = v[idx].mean(1).numpy()
    assert ci.estimate == pytest.approx(float(v.mean()))
    assert (ci.lo, ci.hi) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert ci == stats.boot_ci(v, n_boot=500, seed=3)
    assert ci != stats.boot_ci(v, n_boot=500, seed=4)
    assert ci.lo < ci.estimate < ci.hi


def test_interval_unpacks_and_says_whether_it_excludes_a_value():
    mean, lo, hi = stats.Interval(0.1, 0.02, 0.2)
    assert (mean, lo, hi) == (0.1, 0.02, 0.2)
    assert stats.Interval(0.1, 0.02, 0.2).excludes(0)
    assert not stats.Interval(0.1, -0.02, 0.2).excludes(0)
    assert not stats.Interval(0.0, 0.0, 0.2).excludes(0)  # an end on the value does not exclude it


def test_envelope_spans_every_interval():
    env = stats.Interval.envelope([stats.Interval(1.0, 0.5, 1.5), stats.Interval(3.0, 2.0, 4.0),
                                   stats.Interval(2.0, 1.8, 2.6)])
    assert env == (2.0, 0.5, 4.0)
    with pytest.raises(ValueError, match="Interval.envelope: expected at least one interval"):
        stats.Interval.envelope([])


def test_interval_formats_the_estimate_and_its_ends():
    iv = stats.Interval(0.914, 0.9021, 0.925)
    assert f"{iv:.3f}" == "0.914 [0.902, 0.925]"
    assert f"{iv:+.1f}" == "+0.9 [+0.9, +0.9]"
    assert f"{iv:<22.3f}|" == "0.914 [0.902, 0.925]  |"  # a width pads the whole text
    assert f"{iv}" == str(iv)


@pytest.mark.parametrize(("call", "error", "words"), [
    (lambda: stats.wilson(11, 10), ValueError, "k (successes) must be <= n"),
    (lambda: stats.wilson(-1, 10), ValueError, "k (successes) must be >= 0"),
    (lambda: stats.wilson(0.5, 10), TypeError, "k (successes) must be an int"),
    (lambda: stats.wilson(1, 0), ValueError, "n (trials) must be >= 1"),
    (lambda: stats.boot_ci([1.0, 2.0]), TypeError, "boot_ci: expected a 1-D tensor"),
    (lambda: stats.boot_ci(torch.ones(3, 2)), ValueError, "got shape (3, 2)"),
    (lambda: stats.boot_ci(torch.ones(3), n_boot=0), ValueError, "n_boot must be >= 1"),
])
def test_bad_input_is_named(call, error, words):
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        call()


def test_scene_batch_chance_levels_and_hwc_image():
    from attn_edu import lab

    scenes = lab.make_scenes(4, seed=5, split="test")
    b = scenes.boxes
    expected = ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])).double() / 64**2
    torch.testing.assert_close(scenes.box_share, expected)
    torch.testing.assert_close(scenes.mask_share, scenes.masks.double().mean(dim=(1, 2)))
    assert bool((scenes.mask_share <= scenes.box_share).all())  # the disc is inscribed in its box
    img = scenes.image(2)
    assert img.shape == (64, 64, 3) and img.dtype == np.float32
    np.testing.assert_array_equal(img, lab.make_scene(2, seed=5, split="test").image)


def test_class_scenes_give_one_scene_per_class_at_the_scale_asked():
    from attn_edu import lab

    scenes = lab.class_scenes(0.5, (0.5, 0.5))
    assert [s.label for s in scenes] == list(range(len(lab.CLASSES)))
    assert {s.scale for s in scenes} == {32 / 64}
