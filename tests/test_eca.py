"""ECA: the paper's equations on a tiny tensor, the adaptive kernel rule, argument handling."""

from __future__ import annotations

import math

import pytest
import torch

from attn_edu import capture
from attn_edu.mechanisms import ECAAttention
from attn_edu.mechanisms.eca import adaptive_kernel_size


def test_compat_call():
    eca = ECAAttention(kernel_size=3).eval()
    x = torch.randn(4, 512, 7, 7)
    assert eca(x).shape == x.shape
    assert eca.kernel_size == 3 and eca.channel is None
    assert sum(p.numel() for p in eca.parameters()) == 3
    assert eca.conv.bias is None  # official eca_layer: bias=False


def test_tiny_case_from_the_equations():
    torch.manual_seed(0)
    b, c, h, w, k = 2, 5, 3, 2, 3
    eca = ECAAttention(kernel_size=k).double()
    x = torch.randn(b, c, h, w, dtype=torch.float64)
    weights = eca.conv.weight.detach()[0, 0]  # w^1..w^k
    want = torch.empty_like(x)
    pad = (k - 1) // 2
    for n in range(b):
        # GAP: y_c = 1/(HW) sum_{i,j} x_c(i, j), as an explicit sum
        y = [sum(x[n, ch, i, j] for i in range(h) for j in range(w)) / (h * w) for ch in range(c)]
        for ch in range(c):
            # Eq. (8): omega_c = sigma(sum_j w^j y_{c-pad+j}), zeros beyond both ends
            acc = sum(weights[j] * y[ch - pad + j] for j in range(k) if 0 <= ch - pad + j < c)
            omega = 1 / (1 + math.exp(-float(acc)))
            want[n, ch] = omega * x[n, ch]
    torch.testing.assert_close(eca(x), want)


def test_emitted_gate_is_the_sigmoid_of_the_conv():
    eca = ECAAttention(channel=16).eval()
    x = torch.randn(3, 16, 4, 5)
    with capture(eca) as maps:
        out = eca(x)
    (m,) = maps
    assert (m.name, m.dims, m.kind, tuple(m.tensor.shape)) == ("channel", "B C", "channel", (3, 16))
    torch.testing.assert_close(out, x * m.tensor[:, :, None, None])


@pytest.mark.parametrize("c,k", [(64, 3), (128, 5), (256, 5), (512, 5), (1024, 5), (2048, 7)])
def test_adaptive_kernel_matches_the_paper(c, k):
    # Eq. (12): k = |log2(C)/gamma + b/gamma|_odd with gamma=2, b=1; |t|_odd = nearest odd, ties up
    t = math.log2(c) / 2 + 1 / 2
    nearest_odd = min(range(1, 31, 2), key=lambda o: (abs(o - t), -o))
    assert adaptive_kernel_size(c) == nearest_odd == k
    assert ECAAttention(channel=c).kernel_size == k


def test_adaptive_rule_takes_gamma_and_b():
    # gamma=1, b=1, C=512: t = 10 -> 11 (tie goes up, as in the paper's listing)
    assert adaptive_kernel_size(512, gamma=1, b=1) == 11
    assert ECAAttention(channel=512, gamma=1, b=1).kernel_size == 11
    assert adaptive_kernel_size(1) == 1


@pytest.mark.parametrize("k", [1, 3, 5, 7, 9])
def test_any_odd_kernel(k):
    eca = ECAAttention(kernel_size=k, channel=8)
    x = torch.randn(2, 8, 3, 3)
    assert eca(x).shape == x.shape
    assert sum(p.numel() for p in eca.parameters()) == k == eca.num_params_formula()


def test_kernel_size_wins_and_channel_checks_the_input():
    eca = ECAAttention(kernel_size=3, channel=512)
    assert eca.kernel_size == 3
    with pytest.raises(ValueError, match="ECAAttention.*C=512"):
        eca(torch.randn(2, 64, 3, 3))


def test_without_channel_any_c_runs():
    eca = ECAAttention(kernel_size=5)
    for c in (1, 2, 7, 64):
        x = torch.randn(1, c, 2, 2)
        assert eca(x).shape == x.shape


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({}, ValueError),  # neither kernel_size nor channel
        ({"kernel_size": 4}, ValueError),
        ({"kernel_size": 0}, ValueError),
        ({"kernel_size": -3}, ValueError),
        ({"kernel_size": 3.0}, TypeError),
        ({"channel": 0}, ValueError),
        ({"channel": "64"}, TypeError),
        ({"kernel_size": 3, "gamma": 3}, ValueError),  # gamma would be silently ignored
        ({"channel": 64, "gamma": 0}, ValueError),
    ],
)
def test_bad_arguments_name_the_class(kwargs, err):
    with pytest.raises(err, match="ECAAttention"):
        ECAAttention(**kwargs)


def test_message_explains_what_to_pass():
    with pytest.raises(ValueError, match="kernel_size.*channel"):
        ECAAttention()


@pytest.mark.parametrize("k", [1, 3, 5, 9])
@pytest.mark.parametrize("channels", [1, 2, 7, 64])
def test_fast_path_equals_the_conv1d_reference(k, channels):
    fast = ECAAttention(kernel_size=k, channel=channels).double()
    ref = ECAAttention(kernel_size=k, channel=channels, impl="reference").double()
    torch.nn.init.normal_(fast.conv.weight)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(3, channels, 2, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fast(x), ref(x))
    torch.testing.assert_close(torch.autograd.grad(fast(x).sum(), x)[0], torch.autograd.grad(ref(x).sum(), x)[0])


def test_impl_is_checked():
    with pytest.raises(ValueError, match="ECAAttention: impl must be one of"):
        ECAAttention(kernel_size=3, impl="fused")
