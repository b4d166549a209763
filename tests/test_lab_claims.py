"""attn_edu.lab.claims: seeds, separation, the claims' models, the words the numbers choose."""

from __future__ import annotations

import math

import pytest

from attn_edu.lab import claims
from attn_edu.lab.claims import Seeds, separation
from attn_edu.lab.model import MODELS
from attn_edu.lab.train import LARGEST_MODELS, LARGEST_SEEDS
from attn_edu.registry import MECHANISMS, LabClaim


def test_seeds_mean_sd_and_format():
    s = Seeds((0.80, 0.82, 0.84))
    assert s.mean == pytest.approx(0.82) and s.sd == pytest.approx(0.02) and (s.lo, s.hi) == (0.80, 0.84)
    assert f"{s:.3f}" == "0.820 ± 0.020" and f"{s}" == "0.820 ± 0.020"
    assert Seeds((0.5,)).sd == 0.0
    with pytest.raises(ValueError, match="at least one"):
        Seeds(())


def test_separation_needs_every_seed_on_one_side():
    assert separation(Seeds((0.9, 0.91, 0.92)), Seeds((0.8, 0.85, 0.89))) == "higher"
    assert separation(Seeds((0.8, 0.85, 0.89)), Seeds((0.9, 0.91, 0.92))) == "lower"
    assert separation(Seeds((0.8, 0.95, 0.96)), Seeds((0.9, 0.91, 0.92))) == "overlapping"
    assert separation(Seeds((0.9, 0.9, 0.9)), Seeds((0.9, 0.9, 0.9))) == "overlapping"  # a tie decides nothing
    with pytest.raises(TypeError, match="two Seeds"):
        separation(0.9, Seeds((0.8,)))


def test_chance_of_a_separation_is_two_orders_in_twenty():
    assert claims.CHANCE_SEPARATED == pytest.approx(2 / math.comb(6, 3)) == pytest.approx(0.1)
    assert len(LARGEST_SEEDS) == 3  # the docstring's arithmetic


def test_every_claim_names_models_of_the_second_task_and_shows_the_controls():
    for name, m in MECHANISMS.items():
        assert isinstance(m.lab_claim, LabClaim)
        assert set(m.lab_claim.models) <= set(LARGEST_MODELS), name
        assert name in m.lab_claim.models, name  # a chapter's claim is about its mechanism
        shown = claims.claim_models(name)
        assert shown[-3:] == claims.CONTROL_NAMES and len(set(shown)) == len(shown)
        assert any(b == "none" for _, b in m.lab_claim.pairs), f"{name}: no comparison with the backbone alone"


def test_words_follow_the_numbers_and_put_max_pooling_beside_none():
    acc = {"se": Seeds((0.80, 0.81, 0.82)), "none": Seeds((0.70, 0.71, 0.72)), "none_max": Seeds((0.97, 0.98, 0.99)),
           "se_r2": Seeds((0.79, 0.83, 0.85)), "se_r32": Seeds((0.60, 0.61, 0.62))}
    words = claims.claim_words("se", acc)
    assert "`se` (0.810 ± 0.010) is more accurate than `none` (0.710 ± 0.010) on every seed" in words
    assert "beside the max-pooling control, `se` (0.810 ± 0.010) is less accurate than `none_max`" in words
    assert "`se_r2` (0.823 ± 0.031) is not separated from `se`" in words
    assert "`se_r32` (0.610 ± 0.010) is less accurate than `se`" in words
    acc["none"] = Seeds((0.80, 0.9, 0.95))
    assert "is not separated from `none`" in claims.claim_words("se", acc)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="claim_models: expected one of"):
        claims.claim_models("resnet")
    with pytest.raises(ValueError, match="is not a model of the second task"):
        claims.recorded("se_stages")
    with pytest.raises(TypeError, match="a list of model names"):
        claims.accuracy("se")
    with pytest.raises(ValueError, match="unknown lab model"):
        claims.cost("vgg")
    with pytest.raises(ValueError, match="LabClaim"):
        LabClaim(says="", pairs=())


def test_describe_names_every_model():
    for name in MODELS:
        assert claims.describe(name)
    assert claims.describe("none_max") == "no attention, global max pooling"
    assert claims.describe("se") == "SE"


def test_cost_counts_the_whole_network_and_the_slot():
    none, se, wide, sa = (claims.cost(n) for n in ("none", "se", "none_wide", "self_attention"))
    assert none.slot_parameters == 0 and se.slot_parameters == 1096  # SE at r=8 on 64 channels: 2 * 64 * 8 + 8 + 64
    assert se.parameters == none.parameters + se.slot_parameters
    assert wide.slot_parameters == 0 and wide.parameters > se.parameters
    assert sa.flops > none.flops  # the readable path is counted: the fused kernel would count 0
