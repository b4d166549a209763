"""EMSA: the collection's call, any grid and ratio, keys/values really used, the transform by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from attn_edu import capture
from attn_edu.mechanisms import EMSA

C = 16


def randn(*shape: int, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_compat_call_and_param_count():
    torch.manual_seed(0)
    emsa = EMSA(d_model=512, d_k=512, d_v=512, h=8, H=8, W=8, ratio=2, apply_transform=True).eval()
    x = randn(2, 64, 512)
    with torch.no_grad():
        out = emsa(x, x, x)
    assert out.shape == (2, 64, 512) and torch.isfinite(out).all()
    # the collection's count at this configuration
    assert sum(p.numel() for p in emsa.parameters()) == 8_407_624 == emsa.num_params_formula()


def _reduced(size: int, s: int) -> int:
    return size if s == 1 else (size + 2 * (s // 2) - (s + 1)) // s + 1


@pytest.mark.parametrize("ratio", [1, 2, 3])
@pytest.mark.parametrize("hw", [(5, 7), (1, 1), (3, 1), (2, 2), (4, 6)])
@pytest.mark.parametrize("transform", [True, False])
def test_any_grid_and_ratio(ratio, hw, transform):
    H, W = hw
    torch.manual_seed(0)
    emsa = EMSA(d_model=C, h=4, ratio=ratio, apply_transform=transform).train()
    x = randn(1, H * W, C)
    if ratio % 2 == 1 and ratio > 1 and min(H, W) < 2:
        with pytest.raises(ValueError, match="EMSA.*H, W >= 2"):
            emsa(x, x, x, H=H, W=W)
        return
    with capture(emsa) as maps:
        out = emsa(x, x, x, H=H, W=W)
    assert out.shape == x.shape and torch.isfinite(out).all()
    kv_hw = (_reduced(H, ratio), _reduced(W, ratio))
    assert [m.name for m in maps] == (["heads", "heads_normalized"] if transform else ["heads"])
    for m in maps:
        assert m.dims == "B h N M" and m.hw == (H, W) and m.kv_hw == kv_hw
        assert m.tensor.shape == (1, 4, H * W, kv_hw[0] * kv_hw[1])
        assert m.spatial().shape[-2:] == kv_hw
    torch.testing.assert_close(maps[0].tensor.sum(-1), torch.ones(1, 4, H * W))


@pytest.mark.parametrize("ratio", [1, 2])
def test_keys_and_values_are_used(ratio):
    torch.manual_seed(0)
    emsa = EMSA(d_model=C, h=4, H=4, W=5, ratio=ratio).eval()
    x, other = randn(2, 20, C, seed=1), randn(2, 20, C, seed=2)
    with torch.no_grad():
        self_attn = emsa(x, x, x)
        assert not torch.allclose(emsa(x, other, x), self_attn)  # keys matter
        assert not torch.allclose(emsa(x, x, other), self_attn)  # values matter
        # equal tensors that are not the same object give the same result as keys is values
        torch.testing.assert_close(emsa(x, x.clone(), x.clone()), self_attn)


def test_ratio_one_allows_any_number_of_keys():
    emsa = EMSA(d_model=C, h=4, ratio=1)
    out = emsa(randn(2, 12, C), randn(2, 5, C), randn(2, 5, C), H=3, W=4)
    assert out.shape == (2, 12, C)
    with pytest.raises(ValueError, match="EMSA.*ratio=2.*M=5"):
        EMSA(d_model=C, h=4, ratio=2)(randn(2, 12, C), randn(2, 5, C), randn(2, 5, C), H=3, W=4)


@pytest.mark.parametrize("ratio", [1, 2])
@pytest.mark.parametrize("hw", [(1, 1), (3, 5)])
def test_reference_equals_fast_without_transform(ratio, hw):
    H, W = hw
    torch.manual_seed(0)
    emsa = EMSA(d_model=C, h=4, ratio=ratio, apply_transform=False).train()
    results = []
    for impl in ("reference", "fast"):
        emsa.impl = impl
        x = randn(1, H * W, C).requires_grad_()
        out = emsa(x, x, x, H=H, W=W)
        out.square().sum().backward()
        results.append((out.detach(), x.grad))
    for ref, fast in zip(*results):
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("transform", [True, False])
@pytest.mark.parametrize("slice_bytes", [1, 3000, EMSA.FAST_SLICE_BYTES])  # slices of 1, 2 (and 1), the whole batch
@pytest.mark.parametrize("widths", [(None, None), (3, 5)])  # d_k = d_v = C / h, and other head widths
def test_fast_path_slices_the_batch_and_equals_the_reference(transform, slice_bytes, widths):
    torch.manual_seed(0)
    emsa = EMSA(d_model=C, d_k=widths[0], d_v=widths[1], h=4, ratio=2, apply_transform=transform).train()
    emsa.FAST_SLICE_BYTES = slice_bytes  # per sample: N h max(d_k, d_v) 4 bytes = 20*4*{4,5}*4 = 1280, 1600
    results = []
    for impl in ("reference", "fast"):
        emsa.impl = impl
        x = randn(5, 20, C).requires_grad_(not transform)  # the transform's fast path: inference only
        with torch.set_grad_enabled(not transform):
            out = emsa(x, x, x, H=4, W=5)
        if transform:
            results.append((out,))
            continue
        out.square().sum().backward()
        results.append((out.detach(), x.grad, emsa.fc_q.weight.grad.clone()))
        emsa.zero_grad()
    for ref, fast in zip(*results):
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("transform", [True, False])
@pytest.mark.parametrize("grad", ["none", "weights", "input"])
def test_fast_path_runs_where_it_was_measured_faster(transform, grad, monkeypatch):
    """impl="fast" with the transform is an inference path: where autograd records, the reference
    path runs. The fused kernel (no transform) runs in training too."""
    emsa = EMSA(d_model=C, h=4, ratio=2, apply_transform=transform).train()
    emsa.requires_grad_(grad == "weights")
    calls = []
    fast = emsa._attend_fast
    monkeypatch.setattr(emsa, "_attend_fast", lambda *a: calls.append(1) or fast(*a))
    x = randn(2, 20, C).requires_grad_(grad == "input")
    emsa(x, x, x, H=4, W=5)
    with torch.no_grad():
        emsa(x, x, x, H=4, W=5)
    records = grad != "none"
    assert len(calls) == (1 if transform and records else 2)


def test_transform_order_by_hand():
    """IN(Softmax(Conv(QK^T / sqrt(d_k)))) V, one step at a time, on a 2-head toy."""
    torch.manual_seed(0)
    d, h, dk = 4, 2, 3
    emsa = EMSA(d_model=d, d_k=dk, d_v=dk, h=h, ratio=1, apply_transform=True).double().eval()
    with torch.no_grad():
        for p in emsa.parameters():  # weights large enough for the transform to matter
            p.copy_(torch.randn_like(p))
    x = randn(1, 6, d, dtype=torch.float64)  # a 2 x 3 grid
    with torch.no_grad():
        got = emsa(x, x, x, H=2, W=3)

    def linear(fc, t):
        return t @ fc.weight.t() + fc.bias

    q, k, v = linear(emsa.fc_q, x[0]), linear(emsa.fc_k, x[0]), linear(emsa.fc_v, x[0])  # N (h d)
    logits = [q[:, i * dk:(i + 1) * dk] @ k[:, i * dk:(i + 1) * dk].t() / math.sqrt(dk) for i in range(h)]
    w, b = emsa.transform_conv.weight[:, :, 0, 0], emsa.transform_conv.bias
    heads = []
    for o in range(h):
        mixed = sum(w[o, i] * logits[i] for i in range(h)) + b[o]  # 1. conv across the heads
        e = torch.exp(mixed - mixed.max(dim=1, keepdim=True).values)
        soft = e / e.sum(dim=1, keepdim=True)  # 2. softmax over the keys
        mean = soft.mean()
        var = ((soft - mean) ** 2).mean()  # biased, over the whole N x M map of this head
        normed = (soft - mean) / torch.sqrt(var + 1e-5)  # 3. instance norm
        heads.append(normed @ v[:, o * dk:(o + 1) * dk])
    want = linear(emsa.fc_o, torch.cat(heads, dim=1))
    torch.testing.assert_close(got[0], want, atol=1e-10, rtol=1e-10)

    # the order matters: softmax first, then the conv, gives something else
    wrong = [F.softmax(t, dim=1) for t in logits]
    wrong = [sum(w[o, i] * wrong[i] for i in range(h)) + b[o] for o in range(h)]
    assert not torch.allclose(wrong[0], F.softmax(sum(w[0, i] * logits[i] for i in range(h)) + b[0], dim=1))


def test_one_head_has_no_transform():
    emsa = EMSA(d_model=C, h=1, apply_transform=True)
    assert not emsa.transform and not hasattr(emsa, "transform_conv")
    assert sum(p.numel() for p in emsa.parameters()) == emsa.num_params_formula()


def test_grid_from_constructor_call_or_square():
    emsa = EMSA(d_model=C, h=4, ratio=2)
    with capture(emsa) as maps:
        emsa(randn(1, 16, C), randn(1, 16, C), randn(1, 16, C))  # square N: 4 x 4
    assert maps[0].hw == (4, 4) and maps[0].kv_hw == (2, 2)
    emsa = EMSA(d_model=C, h=4, H=2, W=8, ratio=2)
    with capture(emsa) as maps:
        x = randn(1, 16, C)
        emsa(x, x, x)  # the constructor's grid
        emsa(x, x, x, H=8, W=2)  # the call's grid wins
    assert [m.hw for m in maps if m.name == "heads"] == [(2, 8), (8, 2)]


def test_bad_inputs_name_the_class():
    emsa = EMSA(d_model=C, h=4, ratio=2)
    x = randn(2, 12, C)
    with pytest.raises(ValueError, match="EMSA.*N=12.*3\\*5"):
        emsa(x, x, x, H=3, W=5)
    with pytest.raises(ValueError, match="EMSA.*not a square"):
        emsa(x, x, x)
    with pytest.raises(ValueError, match="EMSA.*both H and W"):
        emsa(x, x, x, H=3)
    with pytest.raises(ValueError, match="EMSA.*same number of tokens"):
        EMSA(d_model=C, h=4)(x, randn(2, 5, C), randn(2, 6, C), H=3, W=4)
    with pytest.raises(ValueError, match="EMSA.*batch"):
        emsa(x, randn(3, 12, C), randn(3, 12, C), H=3, W=4)
    with pytest.raises(ValueError, match="EMSA.*C=16"):
        emsa(x, randn(2, 12, C + 1), x, H=3, W=4)
    with pytest.raises(ValueError, match="EMSA.*h=3 must divide"):
        EMSA(d_model=C, h=3)
    with pytest.raises(ValueError, match="EMSA"):
        EMSA(d_model=C, h=4, ratio=0)
    with pytest.raises(TypeError, match="EMSA"):
        EMSA(d_model=C, h=4, apply_transform="yes")
    with pytest.raises(ValueError, match="EMSA.*both H and W"):
        EMSA(d_model=C, h=4, H=4)
    with pytest.raises(ValueError, match="EMSA"):
        EMSA(d_model=C, h=4, impl="flash")


@pytest.mark.parametrize(("ratio", "transform", "hw"), [(1, True, (3, 5)), (3, True, (5, 4)), (2, False, (7, 3))])
def test_flops_formula(ratio, transform, hw):
    emsa = EMSA(d_model=C, d_k=5, d_v=6, h=3, ratio=ratio, apply_transform=transform, impl="reference").eval()
    x = randn(2, hw[0] * hw[1], C)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        emsa(x, x, x, H=hw[0], W=hw[1])
    assert counter.get_total_flops() == emsa.flops_formula(tuple(x.shape), H=hw[0], W=hw[1])
    assert sum(p.numel() for p in emsa.parameters()) == emsa.num_params_formula()


@pytest.mark.parametrize("transform", [True, False])
def test_flops_formula_cross_attention(transform):
    # ratio 1: the keys are not reduced on the queries' grid, so they may be other tokens
    emsa = EMSA(d_model=C, d_k=5, d_v=6, h=3, ratio=1, apply_transform=transform, impl="reference").eval()
    q, kv = randn(2, 12, C), randn(2, 7, C)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        emsa(q, kv, kv, H=3, W=4)
    assert counter.get_total_flops() == emsa.flops_formula(tuple(q.shape), tuple(kv.shape), H=3, W=4)
    reduced = EMSA(d_model=C, h=4, ratio=2)
    with pytest.raises(ValueError, match="EMSA.*reduced on the queries"):
        reduced.flops_formula((2, 12, C), (2, 7, C), H=3, W=4)
