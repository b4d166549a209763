"""attn_edu beside the External-Attention-pytorch collection (PyPI fightingcv-attention==1.0.0, a
test and book dependency): at every compatibility call both build, the modules the registry calls
the same function compute it (weights copied, float64), and the others differ by a measured amount."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from attn_edu import collection
from attn_edu.registry import MECHANISMS

pytest.importorskip("fightingcv_attention", reason="the collection is a test dependency: pip install -r requirements.txt")

SAME = [n for n, m in MECHANISMS.items() if m.collection.same_function]
OTHER = [n for n, m in MECHANISMS.items() if not m.collection.same_function]


def test_the_registry_splits_the_ten_as_measured():
    assert SAME == ["self_attention", "external_attention", "emsa", "se", "eca", "cbam"]
    assert OTHER == ["sk", "psa", "bam", "danet"]


@pytest.mark.parametrize("name", SAME)
def test_the_same_function_with_the_weights_copied(name):
    c = collection.compare(name)
    assert c.error is None and c.aligned
    # float64: measured 1e-15 or less, except External Attention's 6e-9: the official code's (and
    # our) 1e-9 in the L1 normalisation, which the collection leaves out
    assert c.rel < 1e-7, c


@pytest.mark.parametrize("name", OTHER)
def test_another_function_differs_by_much_more_than_rounding(name):
    c = collection.compare(name, dtype=torch.float32)  # float32: the collection's PSA cannot be moved to float64
    assert c.error is None and not c.aligned
    assert c.rel > 0.04, c  # measured: SK 0.9, PSA 1.4, BAM 0.05, DANet 1.0 (each with its own seeded init)


def test_psa_cannot_be_moved_to_float64_because_its_convolutions_are_not_registered():
    c = collection.compare("psa")
    assert c.theirs_params == 0 and c.error is not None and "Input type (double)" in c.error


def test_cbams_extra_residual_is_the_whole_difference():
    ours, x = MECHANISMS["cbam"].example()
    theirs = collection.construct("cbam")
    collection.align("cbam", ours, theirs)
    with torch.no_grad():
        assert torch.allclose(theirs(x), ours(x) + x, atol=1e-5)
        assert not torch.allclose(theirs(x), ours(x), atol=1e-2)


def test_align_refuses_a_mechanism_whose_functions_differ():
    ours, _ = MECHANISMS["bam"].example()
    with pytest.raises(ValueError, match="bam: the collection's module computes another function"):
        collection.align("bam", ours, collection.construct("bam"))


def test_attn_edu_never_imports_the_collection():
    code = ("import sys, attn_edu, attn_edu.bench, attn_edu.lab, attn_edu.viz, attn_edu.book, attn_edu.collection; "
            "bad = sorted(m for m in sys.modules if m.startswith('fightingcv')); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)
