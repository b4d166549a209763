"""DAModule against the paper's equations (Fu et al., CVPR 2019) on small cases computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from attn_edu import capture
from attn_edu.mechanisms import DAModule


def randn(*shape: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def small_module(**kw) -> DAModule:
    torch.manual_seed(0)
    m = DAModule(d_model=4, kernel_size=3, reduction=2, **kw).double().eval()
    with torch.no_grad():
        m.alpha.fill_(0.7)
        m.beta.fill_(-1.3)
    return m


def conv1x1(a: torch.Tensor, conv) -> list[list[float]]:
    """Per position i (flattened), the vector conv(a)_i, written as plain dot products."""
    c_in, n = a.shape[0], a.shape[1] * a.shape[2]
    flat = a.reshape(c_in, n)
    w, b = conv.weight.detach()[:, :, 0, 0], conv.bias.detach()
    return [[float(b[o] + sum(w[o, c] * flat[c, i] for c in range(c_in))) for o in range(w.shape[0])] for i in range(n)]


def pam_by_hand(m: DAModule, a: torch.Tensor) -> torch.Tensor:
    """Eqs. (1)-(2) for one sample a (C H W), loop by loop."""
    c, h, w = a.shape
    n = h * w
    key, query, value = conv1x1(a, m.key_conv), conv1x1(a, m.query_conv), conv1x1(a, m.value_conv)
    flat = a.reshape(c, n)
    out = torch.zeros(c, n, dtype=a.dtype)
    for j in range(n):
        logits = [sum(bi * cj for bi, cj in zip(key[i], query[j])) for i in range(n)]  # B_i . C_j
        z = sum(math.exp(t) for t in logits)
        s = [math.exp(t) / z for t in logits]  # Eq. (1)
        for ch in range(c):
            out[ch, j] = m.alpha.item() * sum(s[i] * value[i][ch] for i in range(n)) + flat[ch, j]  # Eq. (2)
    return out.reshape(c, h, w)


def cam_by_hand(m: DAModule, a: torch.Tensor, sign: float = 1.0) -> torch.Tensor:
    """Eqs. (3)-(4) for one sample a (C H W); sign=-1 gives softmax(-E)."""
    c, h, w = a.shape
    flat = a.reshape(c, h * w)
    out = torch.zeros_like(flat)
    for j in range(c):
        logits = [sign * float(flat[i] @ flat[j]) for i in range(c)]  # A_i . A_j
        top = max(logits)
        z = sum(math.exp(t - top) for t in logits)
        x = [math.exp(t - top) / z for t in logits]  # Eq. (3)
        out[j] = m.beta.item() * sum(x[i] * flat[i] for i in range(c)) + flat[j]  # Eq. (4)
    return out.reshape(c, h, w)


def branch_features(m: DAModule, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        return torch.relu(m.pam_bn(m.pam_conv(x))), torch.relu(m.cam_bn(m.cam_conv(x)))


def test_compat_call():
    m = DAModule(d_model=512, kernel_size=3, H=7, W=7).eval()
    x = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        assert m(x).shape == x.shape
    assert (m.H, m.W) == (7, 7)
    assert m.alpha.item() == 0.0 and m.beta.item() == 0.0  # the paper's initialisation


@pytest.mark.parametrize("impl", ["fast", "reference"])
def test_matches_paper_equations_with_nonzero_alpha_beta(impl):
    m = small_module(impl=impl)
    x = randn(2, 4, 2, 3)
    a_pos, a_chn = branch_features(m, x)
    with torch.no_grad():
        got_pam = m.position_attention(a_pos)
        got_cam = m.channel_attention(a_chn)
        out = m(x)
    for b in range(2):
        torch.testing.assert_close(got_pam[b], pam_by_hand(m, a_pos[b]))
        torch.testing.assert_close(got_cam[b], cam_by_hand(m, a_chn[b]))
    torch.testing.assert_close(out, got_pam + got_cam)  # sum fusion


def test_official_cam_is_softmax_of_minus_energy():
    m = small_module(cam="official")
    x = randn(2, 4, 3, 2)
    _, a_chn = branch_features(m, x)
    with torch.no_grad():
        got = m.channel_attention(a_chn)
    for b in range(2):
        torch.testing.assert_close(got[b], cam_by_hand(m, a_chn[b], sign=-1.0))
    with capture(m) as maps:
        m(x)
    aff = {mp.name: mp for mp in maps}["channel_affinity"].tensor
    flat = a_chn.flatten(2)
    torch.testing.assert_close(aff, torch.softmax(-(flat @ flat.transpose(1, 2)), dim=-1))


@pytest.mark.parametrize("shape", [(1, 256, 16, 16), (2, 32, 7, 7), (2, 24, 5, 9), (1, 16, 1, 1), (2, 8, 3, 1)])
def test_any_channels_and_size(shape):
    torch.manual_seed(0)
    m = DAModule(d_model=shape[1], kernel_size=3).eval()
    with torch.no_grad():
        m.alpha.fill_(0.5)
        m.beta.fill_(0.5)
        out = m(torch.randn(shape))
    assert out.shape == shape and torch.isfinite(out).all()


@pytest.mark.parametrize("kernel_size", [1, 5])
def test_kernel_size_is_used(kernel_size):
    m = DAModule(d_model=16, kernel_size=kernel_size)
    assert m.pam_conv.weight.shape[-1] == kernel_size and m.cam_conv.weight.shape[-1] == kernel_size
    assert m(randn(2, 16, 4, 5, dtype=torch.float32)).shape == (2, 16, 4, 5)


def test_reference_equals_fast_outputs_and_grads():
    torch.manual_seed(0)
    fast = DAModule(d_model=16, kernel_size=3, reduction=4, impl="fast").double().train()
    with torch.no_grad():
        fast.alpha.fill_(0.8)
        fast.beta.fill_(0.3)
        for conv in (fast.query_conv, fast.key_conv):
            conv.weight.mul_(3.0)  # sharper attention, so the weights matter
    ref = DAModule(d_model=16, kernel_size=3, reduction=4, impl="reference").double().train()
    ref.load_state_dict(fast.state_dict())
    x1 = randn(2, 16, 5, 6).requires_grad_()
    x2 = x1.detach().clone().requires_grad_()
    out_fast, out_ref = fast(x1), ref(x2)
    torch.testing.assert_close(out_fast, out_ref)
    g = randn(*out_fast.shape, seed=3)
    out_fast.backward(g)
    out_ref.backward(g)
    torch.testing.assert_close(x1.grad, x2.grad)
    for (name, p_fast), p_ref in zip(fast.named_parameters(), ref.parameters()):
        torch.testing.assert_close(p_fast.grad, p_ref.grad, msg=name)


def test_capture_runs_reference_and_emits_weights():
    m = small_module(impl="fast")
    x = randn(3, 4, 2, 5)
    with capture(m) as maps:
        out = m(x)
    got = {mp.name: mp for mp in maps}
    pos = got["position"]
    assert pos.dims == "B h N M" and pos.kind == "token" and pos.tensor.shape == (3, 1, 10, 10)
    assert pos.hw == (2, 5) and pos.kv_hw == (2, 5)
    torch.testing.assert_close(pos.tensor.sum(-1), torch.ones(3, 1, 10, dtype=torch.float64))
    aff = got["channel_affinity"]
    assert aff.dims == "B C C" and aff.tensor.shape == (3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(out, m(x))


def test_bad_arguments_name_the_class():
    with pytest.raises(ValueError, match="DAModule.*kernel_size"):
        DAModule(d_model=16, kernel_size=4)
    with pytest.raises(ValueError, match="DAModule.*reduction"):
        DAModule(d_model=4, reduction=8)
    with pytest.raises(ValueError, match="DAModule.*cam"):
        DAModule(d_model=16, cam="max")
    with pytest.raises(ValueError, match="DAModule.*impl"):
        DAModule(d_model=16, impl="flash")
    with pytest.raises(TypeError, match="DAModule.*H"):
        DAModule(d_model=16, H=7.0)
    with pytest.raises(ValueError, match="DAModule"):
        DAModule(d_model=16)(randn(2, 8, 5, 5, dtype=torch.float32))


def test_the_fused_call_is_opt_in():
    assert DAModule(d_model=8).impl == "reference"  # it won no time on a CPU (see the module header)
    assert DAModule(d_model=8, impl="fast").impl == "fast"
