"""BAMBlock against the paper's equations (Park et al., BMVC 2018), computed with explicit ops."""

from __future__ import annotations

import pytest
import torch

from attn_edu import capture
from attn_edu.mechanisms import BAMBlock


def randn(*shape: int, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.randn(*shape, dtype=dtype, generator=torch.Generator().manual_seed(seed))


def conv2d_by_hand(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, dilation: int = 1) -> torch.Tensor:
    """Size-keeping (padding = dilation * (k // 2)) convolution as a sum over kernel offsets."""
    k = weight.shape[-1]
    p = dilation * (k // 2)
    h, w = x.shape[-2:]
    xp = torch.zeros(*x.shape[:-2], h + 2 * p, w + 2 * p, dtype=x.dtype)
    xp[..., p : p + h, p : p + w] = x
    out = bias.view(1, -1, 1, 1).expand(x.shape[0], -1, h, w).clone()
    for u in range(k):
        for v in range(k):
            patch = xp[:, :, u * dilation : u * dilation + h, v * dilation : v * dilation + w]
            out = out + torch.einsum("oc,bchw->bohw", weight[:, :, u, v], patch)
    return out


def bn_eval(x: torch.Tensor, bn) -> torch.Tensor:
    shape = (1, -1) + (1,) * (x.dim() - 2)
    mean, var = bn.running_mean.view(shape), bn.running_var.view(shape)
    return (x - mean) / torch.sqrt(var + bn.eps) * bn.weight.view(shape) + bn.bias.view(shape)


def randomise_batchnorms(m: torch.nn.Module, seed: int = 7) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.modules.batchnorm._BatchNorm):
                n = mod.num_features
                mod.running_mean.copy_(torch.randn(n, generator=g) * 0.3)
                mod.running_var.copy_(torch.rand(n, generator=g) + 0.5)
                mod.weight.copy_(torch.rand(n, generator=g) + 0.5)
                mod.bias.copy_(torch.randn(n, generator=g) * 0.2)


def paper_bam(m: BAMBlock, f: torch.Tensor, combine: str) -> torch.Tensor:
    # Eq. (3): M_c = BN(W_1 ReLU(BN(W_0 AvgPool(F) + b_0)) + b_1)
    z = f.sum(dim=(2, 3)) / (f.shape[2] * f.shape[3])
    hidden = torch.relu(bn_eval(z @ m.fc0.weight.T + m.fc0.bias, m.bn_fc0))
    mc = bn_eval(hidden @ m.fc1.weight.T + m.fc1.bias, m.bn_channel)[:, :, None, None]
    # Eq. (4): M_s = BN(f_3(f_2(f_1(f_0(F))))), f_1, f_2 dilated, each f_0..f_2 + BN + ReLU
    y = torch.relu(bn_eval(conv2d_by_hand(f, m.conv0.weight, m.conv0.bias), m.bn_conv0))
    for conv, bn in zip(m.dilated, m.bn_dilated):
        y = torch.relu(bn_eval(conv2d_by_hand(y, conv.weight, conv.bias, m.dia_val), bn))
    ms = bn_eval(conv2d_by_hand(y, m.conv3.weight, m.conv3.bias), m.bn_spatial)
    # Eq. (2) (sum) or the official product; Eq. (1): F' = F + F * M(F)
    att = torch.sigmoid(mc + ms) if combine == "sum" else torch.sigmoid(mc * ms)
    return f + f * att


def test_compat_call():
    m = BAMBlock(channel=512, reduction=16, dia_val=2).eval()
    x = torch.randn(2, 512, 7, 7)
    assert m(x).shape == x.shape
    assert BAMBlock().dia_val == 4  # the paper's default (the collection's is 2)


@pytest.mark.parametrize("combine", ["sum", "product"])
@pytest.mark.parametrize("hw,dia", [((5, 3), 4), ((6, 6), 2), ((1, 1), 4)])
def test_matches_paper_equations(combine, hw, dia):
    torch.manual_seed(0)
    m = BAMBlock(channel=16, reduction=4, dia_val=dia, combine=combine).double()
    randomise_batchnorms(m)
    m.eval()
    x = randn(2, 16, *hw)
    with torch.no_grad():
        torch.testing.assert_close(m(x), paper_bam(m, x, combine))


@pytest.mark.parametrize("hw", [(8, 8), (14, 14), (5, 5), (7, 7), (3, 9)])
@pytest.mark.parametrize("dia", [1, 2, 3, 4, 6])
def test_spatial_size_kept_and_map_varies(hw, dia):
    torch.manual_seed(0)
    m = BAMBlock(channel=16, reduction=4, dia_val=dia).double().eval()
    x = randn(2, 16, *hw)
    with torch.no_grad():
        y = m.conv0(x)
        for conv in m.dilated:
            y = conv(y)
            assert y.shape[-2:] == hw  # the collection's padding=1 shrinks by 2 (dia - 1) here
    with capture(m) as maps:
        out = m(x)
    assert out.shape == x.shape
    spatial = {mp.name: mp for mp in maps}["spatial"].tensor
    assert spatial.shape == (2, *hw)
    spread = spatial.flatten(1).amax(dim=1) - spatial.flatten(1).amin(dim=1)
    assert (spread > 1e-6).all()  # selective over positions, not one broadcast scalar


def test_sum_and_product_differ():
    x = randn(2, 16, 6, 5)
    outs = []
    for combine in ("sum", "product"):
        torch.manual_seed(0)
        m = BAMBlock(channel=16, reduction=4, combine=combine).double().eval()
        with torch.no_grad():
            outs.append(m(x))
    assert not torch.allclose(outs[0], outs[1])


def test_residual_form_and_emits():
    torch.manual_seed(0)
    m = BAMBlock(channel=16, reduction=4).double().eval()
    x = randn(3, 16, 5, 7)
    with capture(m) as maps:
        out = m(x)
    got = {mp.name: mp for mp in maps}
    assert got["channel"].tensor.shape == (3, 16) and got["channel"].dims == "B C"
    assert got["spatial"].tensor.shape == (3, 5, 7) and got["spatial"].hw == (5, 7)
    combined = got["combined"].tensor
    assert got["combined"].dims == "B C H W" and combined.shape == x.shape
    assert ((combined > 0) & (combined < 1)).all()
    torch.testing.assert_close(out, x * (1 + combined))  # Eq. (1): F + F * M(F)


def test_batch_one_trains():
    torch.manual_seed(0)
    m = BAMBlock(channel=16, reduction=4).train()
    x = randn(1, 16, 4, 4, dtype=torch.float32).requires_grad_()
    m(x).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_bad_arguments_name_the_class():
    with pytest.raises(ValueError, match="BAMBlock.*reduction"):
        BAMBlock(channel=16, reduction=32)
    with pytest.raises(ValueError, match="BAMBlock.*combine"):
        BAMBlock(channel=16, combine="max")
    with pytest.raises(ValueError, match="BAMBlock.*dia_val"):
        BAMBlock(channel=16, dia_val=0)
    with pytest.raises(TypeError, match="BAMBlock"):
        BAMBlock(channel=16, dia_val=2.0)
    with pytest.raises(ValueError, match="BAMBlock"):
        BAMBlock(channel=16)(randn(2, 8, 5, 5, dtype=torch.float32))
