"""The lab's one forward (``LabNet.run``) and the maps read from it, for every registry mechanism.

Untrained models on a few scenes (seconds); that the shipped weights still reproduce their recorded
metrics through this path is ``tests/test_lab_weights.py``.
"""

from __future__ import annotations

import pytest
import torch

from attn_edu import lab, registry
from attn_edu.introspect import KINDS
from attn_edu.lab.evaluate import READERS, read_map
from attn_edu.lab.model import CHANNELS, FEATURE_HW, SLOT


@pytest.fixture(scope="module")
def images():
    return lab.test_scenes(4).images


@pytest.mark.parametrize("name", [*registry.MECHANISMS, "se_stages", "emsa_s4"])
def test_run_hands_back_everything_of_one_forward(name, images):
    model = lab.build(name).eval()
    with torch.no_grad():
        out = model.run(images)
        torch.testing.assert_close(out.logits, model(images))  # fused paths step aside while capturing
        torch.testing.assert_close(out.features, model.features(images), rtol=0, atol=0)
    assert out.logits.shape == (4, len(lab.CLASSES)) and out.features.shape == (4, CHANNELS, *FEATURE_HW)
    assert out.attended.shape == out.features.shape
    assert list(out.maps) == [m.key for m in out.maps.values()]
    assert all(m.tensor.shape[0] == 4 for m in out.maps.values())
    slot = [m for m in out.maps.values() if m.module == SLOT]
    assert slot and all(out.slot(m.name) is m for m in slot)
    assert len(out.maps) > len(slot) if model.early else len(out.maps) == len(slot)


def test_run_of_the_bare_backbone_has_no_maps(images):
    model = lab.build("none").eval()
    with torch.no_grad():
        out = model.run(images)
        torch.testing.assert_close(out.logits, model(images), rtol=0, atol=0)
    assert out.maps == {} and out.attended is out.features
    with pytest.raises(KeyError, match="no map 'channel'"):
        out.slot("channel")
    with pytest.raises(ValueError, match="'none' model has no attention"):
        read_map(model, out)


@pytest.mark.parametrize("name", registry.MECHANISMS)
def test_the_registry_says_what_the_lab_reads_and_what_it_is(name, images):
    mech = registry.get(name)
    model = lab.build(name).eval()
    with torch.no_grad():
        out = model.run(images)
    emitted = out.slot(mech.lab_reads)
    assert emitted.kind in KINDS and emitted.kind in READERS
    m = read_map(model, out)
    # the registry's map_kind, derived from its kind, is what the read tensor is
    assert mech.map_kind in registry.MAP_KINDS and lab.map_kind(name) == mech.map_kind
    if mech.map_kind == "spatial":  # a map over the image: B h w, a coarser grid for EMSA's reduced keys
        assert m.dim() == 3 and FEATURE_HW[0] % m.shape[1] == 0 and FEATURE_HW[1] % m.shape[2] == 0
    else:  # weights: B C, or B K C kept structured
        assert emitted.dims in ("B C", "B K C") and m.shape == emitted.tensor.shape
    logits, flat = lab.attention_map(model, images)
    torch.testing.assert_close(logits, out.logits, rtol=0, atol=0)
    torch.testing.assert_close(flat, m.flatten(1) if mech.map_kind == "channel" else m, rtol=0, atol=0)


def test_map_kind_of_variants_is_their_mechanism():
    assert lab.map_kind("none") is None
    for name, v in lab.VARIANTS.items():
        assert lab.map_kind(name) == registry.get(v.mechanism).map_kind == registry.get(lab.mechanism_of(name)).map_kind
    with pytest.raises(ValueError, match="unknown mechanism 'nope'"):
        lab.map_kind("nope")


def test_one_vocabulary_of_kinds():
    assert set(registry.MECHANISM_KINDS) <= set(KINDS)
    assert {m.kind for m in registry.MECHANISMS.values()} == set(registry.MECHANISM_KINDS)
    assert {m.takes for m in registry.MECHANISMS.values()} == {"B N C", "B C H W"}
