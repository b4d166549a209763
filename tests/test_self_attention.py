"""ScaledDotProductAttention: the collection's call, parity with nn.MultiheadAttention, both paths, masks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from attn_edu import capture
from attn_edu.mechanisms import ScaledDotProductAttention

E, H = 32, 4


def randn(*shape: int, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_compat_call_and_param_count():
    torch.manual_seed(0)
    sa = ScaledDotProductAttention(d_model=512, d_k=512, d_v=512, h=8).eval()
    x = randn(2, 49, 512)
    with torch.no_grad():
        out = sa(x, x, x)
    assert out.shape == x.shape and torch.isfinite(out).all()
    # the collection's count at this configuration (per-head d_k = 512, inner width 4096)
    assert sum(p.numel() for p in sa.parameters()) == 8_401_408 == sa.num_params_formula()


def test_default_head_width_is_the_papers():
    sa = ScaledDotProductAttention(d_model=512, h=8)
    assert (sa.d_k, sa.d_v) == (64, 64)
    assert sa.fc_q.out_features == 512 and sa.fc_o.in_features == 512
    assert torch.count_nonzero(sa.fc_q.bias) == 0  # xavier weights, zero biases


def _mha(seed: int = 0) -> nn.MultiheadAttention:
    torch.manual_seed(seed)
    mha = nn.MultiheadAttention(E, H, batch_first=True).eval()
    with torch.no_grad():  # non-zero biases so that copying them is tested too
        mha.in_proj_bias.normal_()
        mha.out_proj.bias.normal_()
    return mha


def test_matches_nn_multihead_attention_self_attention():
    mha = _mha()
    sa = ScaledDotProductAttention.from_torch(mha).eval()
    x = randn(3, 7, E)
    with torch.no_grad():
        want = mha(x, x, x, need_weights=False)[0]
        for impl in ("fast", "reference"):
            sa.impl = impl
            torch.testing.assert_close(sa(x, x, x), want, atol=1e-5, rtol=1e-5)


def test_matches_nn_multihead_attention_cross_attention_with_masks():
    mha = _mha(seed=1)
    sa = ScaledDotProductAttention.from_torch(mha).eval()
    b, n, m = 3, 5, 8
    q, k, v = randn(b, n, E, seed=1), randn(b, m, E, seed=2), randn(b, m, E, seed=3)
    key_padding = torch.zeros(b, m, dtype=torch.bool)
    key_padding[0, -3:] = True  # sample 0 has 3 padded keys
    key_padding[2, :2] = True
    attn_mask = torch.rand(n, m, generator=torch.Generator().manual_seed(4)) > 0.7
    attn_mask[:, 3] = False  # key 3 is never padded nor masked: no row is fully masked
    with torch.no_grad():
        want = mha(q, k, v, key_padding_mask=key_padding, attn_mask=attn_mask, need_weights=False)[0]
        ours = key_padding[:, None, None, :] | attn_mask  # B 1 1 M | N M -> B 1 N M
        for impl in ("fast", "reference"):
            sa.impl = impl
            torch.testing.assert_close(sa(q, k, v, attention_mask=ours), want, atol=1e-5, rtol=1e-5)


def test_from_torch_rejects_what_the_paper_does_not_have():
    with pytest.raises(ValueError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention.from_torch(nn.MultiheadAttention(E, H, kdim=16, vdim=16))
    with pytest.raises(ValueError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention.from_torch(nn.MultiheadAttention(E, H, add_bias_kv=True))
    with pytest.raises(ValueError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention.from_torch(nn.MultiheadAttention(E, H, add_zero_attn=True))
    with pytest.raises(TypeError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention.from_torch(nn.Linear(E, E))


def _masks(b: int, n: int, m: int) -> dict[str, torch.Tensor | None]:
    causal = torch.ones(n, m, dtype=torch.bool).triu(1)  # N M, True above the diagonal
    padding = torch.zeros(b, 1, 1, m, dtype=torch.bool)
    padding[..., -2:] = True
    return {"none": None, "causal": causal, "padding": padding}


@pytest.mark.parametrize("mask_name", ["none", "causal", "padding"])
@pytest.mark.parametrize("bnm", [(1, 7, 7), (2, 5, 9)])
def test_reference_equals_fast_outputs_and_grads(mask_name, bnm):
    b, n, m = bnm
    mask = _masks(b, n, m)[mask_name]
    torch.manual_seed(0)
    sa = ScaledDotProductAttention(d_model=E, h=H).train()  # dropout 0: train is deterministic
    results = []
    for impl in ("reference", "fast"):
        sa.impl = impl
        q, k, v = (randn(b, t, E, seed=s).requires_grad_() for s, t in ((1, n), (2, m), (3, m)))
        out = sa(q, k, v, attention_mask=mask)
        out.square().sum().backward()
        results.append((out.detach(), q.grad, k.grad, v.grad))
    for ref, fast in zip(*results):
        torch.testing.assert_close(fast, ref, atol=1e-5, rtol=1e-5)


def test_mask_true_means_masked_out():
    torch.manual_seed(0)
    sa = ScaledDotProductAttention(d_model=E, h=H, impl="reference").eval()
    q, k, v = randn(2, 4, E, seed=1), randn(2, 6, E, seed=2), randn(2, 6, E, seed=3)
    mask = torch.zeros(2, 1, 1, 6, dtype=torch.bool)
    mask[..., 4:] = True  # hide keys 4 and 5
    with capture(sa) as maps, torch.no_grad():
        out = sa(q, k, v, attention_mask=mask)
    weights = maps[0].tensor
    assert maps[0].dims == "B h N M" and weights.shape == (2, H, 4, 6)
    assert torch.all(weights[..., 4:] == 0)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, H, 4))
    # what the masked keys carry does not reach the output, on either path
    k2, v2 = k.clone(), v.clone()
    k2[:, 4:], v2[:, 4:] = 100.0, -100.0
    for impl in ("reference", "fast"):
        sa.impl = impl
        with torch.no_grad():
            torch.testing.assert_close(sa(q, k2, v2, attention_mask=mask), out, atol=1e-5, rtol=1e-5)


def test_a_query_with_every_key_masked_raises():
    sa = ScaledDotProductAttention(d_model=E, h=H)
    x = randn(2, 5, E)
    mask = torch.zeros(2, H, 5, 5, dtype=torch.bool)
    mask[1, 2, 3, :] = True
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*every key"):
        sa(x, x, x, attention_mask=mask)


def test_flops_formula_cross_attention():
    sa = ScaledDotProductAttention(d_model=E, d_k=8, d_v=12, h=3, impl="reference").eval()
    q, kv = randn(2, 5, E), randn(2, 9, E)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        sa(q, kv, kv)
    assert counter.get_total_flops() == sa.flops_formula(tuple(q.shape), tuple(kv.shape))
    assert sum(p.numel() for p in sa.parameters()) == sa.num_params_formula()


def test_bad_inputs_name_the_class():
    sa = ScaledDotProductAttention(d_model=E, h=H)
    x = randn(2, 5, E)
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*keys"):
        sa(x, randn(2, 5, E + 1), x)  # mismatched widths
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*same number of tokens"):
        sa(x, randn(2, 6, E), randn(2, 7, E))  # keys/values length mismatch
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*batch"):
        sa(x, randn(3, 5, E), randn(3, 5, E))
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*broadcastable"):
        sa(x, x, x, attention_mask=torch.zeros(2, 5, 4, dtype=torch.bool))  # wrong shape
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*broadcastable"):
        sa(x, x, x, attention_mask=torch.zeros(1, 2, H, 5, 5, dtype=torch.bool))  # too many dims
    with pytest.raises(TypeError, match="ScaledDotProductAttention.*bool"):
        sa(x, x, x, attention_mask=torch.zeros(5, 5))
    with pytest.raises(ValueError, match="ScaledDotProductAttention.*h=3 must divide d_model=32"):
        ScaledDotProductAttention(d_model=E, h=3)
    ScaledDotProductAttention(d_model=E, d_k=5, d_v=7, h=3)  # fine with explicit head widths
    with pytest.raises(ValueError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention(d_model=E, h=H, impl="flash")
    with pytest.raises(ValueError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention(d_model=E, h=H, dropout=1.5)
    with pytest.raises(TypeError, match="ScaledDotProductAttention"):
        ScaledDotProductAttention(d_model=E, d_k=8.0, h=H)


def test_from_torch_without_biases_and_not_batch_first():
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(E, H, bias=False).eval()  # batch_first=False: (N, B, E)
    sa = ScaledDotProductAttention.from_torch(mha).eval()
    x = randn(6, 2, E)
    with torch.no_grad():
        want = mha(x, x, x, need_weights=False)[0].transpose(0, 1)  # N B E -> B N E
        t = x.transpose(0, 1)  # N B E -> B N E
        torch.testing.assert_close(sa(t, t, t), want, atol=1e-5, rtol=1e-5)
    assert torch.count_nonzero(sa.fc_o.bias) == 0
