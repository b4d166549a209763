"""CBAMBlock against the paper's equations (Woo et al., ECCV 2018), computed with explicit ops."""

from __future__ import annotations

import pytest
import torch

from attn_edu import capture
from attn_edu._layers import channel_max
from attn_edu.mechanisms import CBAMBlock


def randn(*shape: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def conv2d_by_hand(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """'Same' convolution as a sum over kernel offsets of shifted, zero-padded inputs."""
    k = weight.shape[-1]
    p = k // 2
    h, w = x.shape[-2:]
    xp = torch.zeros(*x.shape[:-2], h + 2 * p, w + 2 * p, dtype=x.dtype)
    xp[..., p : p + h, p : p + w] = x
    out = bias.view(1, -1, 1, 1).expand(x.shape[0], -1, h, w).clone()
    for u in range(k):
        for v in range(k):
            patch = xp[:, :, u : u + h, v : v + w]  # B Cin H W
            out = out + torch.einsum("oc,bchw->bohw", weight[:, :, u, v], patch)
    return out


def paper_cbam(m: CBAMBlock, f: torch.Tensor, order: str) -> torch.Tensor:
    def mlp(z):  # W_1 delta(W_0 z + b_0) + b_1
        return torch.relu(z @ m.fc1.weight.T + m.fc1.bias) @ m.fc2.weight.T + m.fc2.bias

    def mc(t):  # Eq. (2)
        avg = t.sum(dim=(2, 3)) / (t.shape[2] * t.shape[3])
        mx = t.flatten(2).max(dim=2).values
        return torch.sigmoid(mlp(avg) + mlp(mx))[:, :, None, None]

    def ms(t):  # Eq. (3), [AvgPool; MaxPool] along channels
        pooled = torch.stack([t.sum(1) / t.shape[1], t.max(dim=1).values], dim=1)
        return torch.sigmoid(conv2d_by_hand(pooled, m.conv.weight, m.conv.bias))

    if order == "channel-spatial":  # Eq. (1)
        f1 = mc(f) * f
        return ms(f1) * f1
    if order == "spatial-channel":
        f1 = ms(f) * f
        return mc(f1) * f1
    return f * mc(f) * ms(f)


def test_compat_call():
    m = CBAMBlock(channel=512, reduction=16, kernel_size=7).eval()
    x = torch.randn(2, 512, 7, 7)
    assert m(x).shape == x.shape
    assert m.conv.weight.shape == (1, 2, 7, 7) and m.fc1.weight.shape == (32, 512)
    assert CBAMBlock().kernel_size == 7  # the paper's default (the collection's is 49)
    assert CBAMBlock(channel=512, kernel_size=49)(torch.randn(1, 512, 7, 7)).shape == (1, 512, 7, 7)


@pytest.mark.parametrize("order", ["channel-spatial", "spatial-channel", "parallel"])
@pytest.mark.parametrize("hw", [(5, 3), (1, 1), (4, 6)])
def test_matches_paper_equations(order, hw):
    torch.manual_seed(0)
    m = CBAMBlock(channel=12, reduction=4, kernel_size=5, order=order).double().eval()
    x = randn(2, 12, *hw)
    with torch.no_grad():
        torch.testing.assert_close(m(x), paper_cbam(m, x, order))


def test_no_residual_and_orders_differ():
    x = randn(2, 16, 6, 5)
    outs = {}
    for order in ("channel-spatial", "spatial-channel", "parallel"):
        torch.manual_seed(0)
        m = CBAMBlock(channel=16, reduction=4, kernel_size=3, order=order).double()
        with torch.no_grad():
            outs[order] = m(x)
    out = outs["channel-spatial"]
    # gates in (0, 1) scale every element towards zero: |F''| < |F| elementwise, no "+ x"
    assert (out.abs() < x.abs()).all()
    with torch.no_grad():
        torch.testing.assert_close(out / x, (out / x).clamp(0, 1))
    assert not torch.allclose(outs["channel-spatial"], outs["spatial-channel"])
    assert not torch.allclose(outs["channel-spatial"], outs["parallel"])
    assert not torch.allclose(outs["spatial-channel"], outs["parallel"])


def test_avg_then_max_order_of_the_spatial_input():
    torch.manual_seed(0)
    m = CBAMBlock(channel=8, reduction=2, kernel_size=1, order="parallel").double()
    with torch.no_grad():
        m.conv.weight.copy_(torch.tensor([1.0, 0.0]).view(1, 2, 1, 1))  # keep only channel 0
        m.conv.bias.zero_()
    x = randn(1, 8, 3, 4)
    with capture(m) as maps:
        m(x)
    spatial = {mp.name: mp for mp in maps}["spatial"]
    torch.testing.assert_close(spatial.tensor, torch.sigmoid(x.mean(dim=1)))  # channel 0 = mean


def test_emits_channel_and_spatial():
    m = CBAMBlock(channel=16, reduction=4)
    with capture(m) as maps:
        m(randn(3, 16, 5, 7, dtype=torch.float32))
    got = {mp.name: mp for mp in maps}
    assert got["channel"].dims == "B C" and got["channel"].tensor.shape == (3, 16)
    assert got["spatial"].dims == "B H W" and got["spatial"].tensor.shape == (3, 5, 7)
    assert got["spatial"].hw == (5, 7) and got["spatial"].kind == "spatial"


def test_bad_arguments_name_the_class():
    with pytest.raises(ValueError, match="CBAMBlock.*kernel_size"):
        CBAMBlock(channel=16, kernel_size=4)
    with pytest.raises(ValueError, match="CBAMBlock.*reduction"):
        CBAMBlock(channel=16, reduction=32)
    with pytest.raises(ValueError, match="CBAMBlock.*order"):
        CBAMBlock(channel=16, order="spatial-first")
    with pytest.raises(TypeError, match="CBAMBlock"):
        CBAMBlock(channel=16, reduction=2.0)
    with pytest.raises(ValueError, match="CBAMBlock"):
        CBAMBlock(channel=16)(randn(2, 8, 5, 5, dtype=torch.float32))


@pytest.mark.parametrize("channels", [1, 2, 3, 7, 64])
def test_channel_max_is_amax(channels):
    x = torch.randn(2, channels, 3, 4, generator=torch.Generator().manual_seed(channels))
    assert torch.equal(channel_max(x), x.amax(dim=1))


@pytest.mark.parametrize("order", ["channel-spatial", "spatial-channel", "parallel"])
def test_fast_path_equals_the_amax_reference(order):
    fast = CBAMBlock(channel=24, reduction=4, kernel_size=3, order=order).double()
    ref = CBAMBlock(channel=24, reduction=4, kernel_size=3, order=order, impl="reference").double()
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, 24, 5, 3, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(fast(x), ref(x), rtol=0, atol=0)
    torch.testing.assert_close(torch.autograd.grad(fast(x).sum(), x)[0], torch.autograd.grad(ref(x).sum(), x)[0])


def test_channel_max_halves_only_where_no_gradient_is_recorded():
    x = torch.randn(2, 64, 5, 5, requires_grad=True)
    y = channel_max(x)
    assert type(y.grad_fn).__name__ == "AmaxBackward0"  # one backward node, not one per halving
    with torch.no_grad():
        assert torch.equal(channel_max(x), y.detach())
    assert channel_max(x.detach()).grad_fn is None
    y.sum().backward()
    x2 = x.detach().clone().requires_grad_()
    x2.amax(dim=1).sum().backward()
    assert torch.equal(x.grad, x2.grad)
