"""ExternalAttention: the collection's call, the double normalisation by hand, N = 1, init, errors."""

from __future__ import annotations

import math

import pytest
import torch

from attn_edu import capture
from attn_edu.mechanisms import ExternalAttention


def randn(*shape: int, dtype=torch.float32, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def test_compat_call_and_param_count():
    torch.manual_seed(0)
    ea = ExternalAttention(d_model=512, S=8)
    x = randn(50, 49, 512)
    out = ea(x)
    assert out.shape == (50, 49, 512) and torch.isfinite(out).all()
    assert sum(p.numel() for p in ea.parameters()) == 8192 == ea.num_params_formula()


def _by_hand(x: torch.Tensor, mk: torch.Tensor, mv: torch.Tensor, normalization: str) -> torch.Tensor:
    """The equations with explicit loops: x (B, N, d), mk (S, d), mv (d, S) as stored by nn.Linear."""
    b, n, d = x.shape
    s = mk.shape[0]
    out = torch.zeros(b, n, d, dtype=torch.float64)
    for bi in range(b):
        logits = [[sum(float(x[bi, i, c]) * float(mk[j, c]) for c in range(d)) for j in range(s)] for i in range(n)]
        if normalization == "double":
            # softmax over the tokens i (each column j), then l1 over the units j (each row i)
            col = [sum(math.exp(logits[i][j]) for i in range(n)) for j in range(s)]
            hat = [[math.exp(logits[i][j]) / col[j] for j in range(s)] for i in range(n)]
            att = [[hat[i][j] / (1e-9 + sum(hat[i])) for j in range(s)] for i in range(n)]
        else:
            att = [[math.exp(logits[i][j]) / sum(math.exp(v) for v in logits[i]) for j in range(s)] for i in range(n)]
        for i in range(n):
            for c in range(d):
                out[bi, i, c] = sum(att[i][j] * float(mv[c, j]) for j in range(s))
    return out


@pytest.mark.parametrize("normalization", ["double", "softmax"])
def test_matches_the_equations_by_hand(normalization):
    torch.manual_seed(0)
    ea = ExternalAttention(d_model=4, S=3, normalization=normalization).double()
    x = randn(2, 5, 4, dtype=torch.float64)
    with torch.no_grad():
        got = ea(x)
    want = _by_hand(x, ea.mk.weight.detach(), ea.mv.weight.detach(), normalization)
    torch.testing.assert_close(got, want, atol=1e-12, rtol=1e-10)


def test_double_normalisation_properties():
    torch.manual_seed(0)
    ea = ExternalAttention(d_model=16, S=6)
    x = randn(2, 9, 16)
    with capture(ea) as maps:
        ea(x)
    (m,) = maps
    assert (m.name, m.dims, m.kind) == ("memory", "B N S", "memory")
    a = m.tensor
    assert a.shape == (2, 9, 6) and (a >= 0).all()
    # after the l1 step every token's responses over the S units sum to 1
    torch.testing.assert_close(a.sum(dim=2), torch.ones(2, 9))
    # the softmax was over the tokens: rescaling each row back gives columns that sum to 1
    hat = (ea.mk(x)).softmax(dim=1)
    torch.testing.assert_close(hat.sum(dim=1), torch.ones(2, 6))
    torch.testing.assert_close(a, hat / hat.sum(dim=2, keepdim=True))


def test_single_softmax_variant_differs_from_double():
    torch.manual_seed(0)
    double = ExternalAttention(d_model=16, S=6)
    single = ExternalAttention(d_model=16, S=6, normalization="softmax")
    single.load_state_dict(double.state_dict())
    x = randn(2, 9, 16)
    with torch.no_grad():
        torch.testing.assert_close(single(x), (double.mk(x).softmax(dim=-1)) @ double.mv.weight.t())
        assert not torch.allclose(single(x), double(x))


def test_one_token_gives_a_constant_output():
    # softmax over a single token is 1 for every unit, so A = 1/S and out = mean of the M_v rows
    torch.manual_seed(0)
    ea = ExternalAttention(d_model=8, S=4)
    with torch.no_grad():
        a, b = ea(randn(1, 1, 8, seed=1)), ea(randn(1, 1, 8, seed=2))
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(a[0, 0], ea.mv.weight.mean(dim=1))


def test_init_as_the_official_code():
    torch.manual_seed(0)
    ea = ExternalAttention(d_model=512, S=64)
    # M_v starts as M_k^T, from one draw with std sqrt(2 / d_model)
    assert torch.equal(ea.mv.weight, ea.mk.weight.t())
    assert abs(ea.mk.weight.std().item() - math.sqrt(2 / 512)) < 0.003
    # ... but the two are independent parameters afterwards
    assert ea.mv.weight.data_ptr() != ea.mk.weight.data_ptr()
    with torch.no_grad():
        ea.mk.weight.add_(1.0)
    assert not torch.equal(ea.mv.weight, ea.mk.weight.t())


def test_does_not_mutate_and_float64():
    ea = ExternalAttention(d_model=8, S=4).double()
    x = randn(1, 3, 8, dtype=torch.float64)
    x0 = x.clone()
    assert ea(x).dtype == torch.float64
    assert torch.equal(x, x0)


def test_bad_inputs_name_the_class():
    ea = ExternalAttention(d_model=8, S=4)
    with pytest.raises(ValueError, match="ExternalAttention.*C=8"):
        ea(randn(2, 5, 9))
    with pytest.raises(ValueError, match="ExternalAttention"):
        ea(randn(2, 8, 3, 3))  # a feature map must be flattened first
    with pytest.raises(TypeError, match="ExternalAttention"):
        ea(torch.ones(2, 5, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="ExternalAttention"):
        ExternalAttention(d_model=8, S=0)
    with pytest.raises(TypeError, match="ExternalAttention"):
        ExternalAttention(d_model=8, S="4")
    with pytest.raises(ValueError, match="ExternalAttention.*normalization"):
        ExternalAttention(d_model=8, S=4, normalization="l2")
