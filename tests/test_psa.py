"""PSA: the SPC branches read the full input, softmax over scales, registration, no mutation."""

from __future__ import annotations

import pytest
import torch

from attn_edu import capture
from attn_edu.mechanisms import PSA


def test_compat_call():
    psa = PSA(channel=512, reduction=8).eval()
    x = torch.randn(2, 512, 7, 7)
    with torch.no_grad():
        assert psa(x).shape == x.shape
    assert psa.conv_kernels == (3, 5, 7, 9)
    assert psa.conv_groups == (2, 4, 8, 16)  # the paper's G = 2^((k-1)/2)
    assert psa.hidden == 16


def test_att_sums_to_one_over_branches():
    psa = PSA(channel=64, reduction=2).eval()
    with capture(psa) as maps:
        psa(torch.randn(3, 64, 5, 6))
    (m,) = maps
    assert (m.name, m.dims, m.kind, tuple(m.tensor.shape)) == ("branch", "B K C", "branch", (3, 4, 16))
    torch.testing.assert_close(m.tensor.sum(dim=1), torch.ones(3, 16))


def test_each_branch_conv_sees_the_full_input():
    psa = PSA(channel=64, reduction=2)
    x = torch.randn(2, 64, 5, 5, requires_grad=True)
    for k, g, conv in zip(psa.conv_kernels, psa.conv_groups, psa.convs):
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.groups) == (64, 16, (k, k), g)
        assert conv.padding == (k // 2, k // 2) and conv.bias is None
        (grad,) = torch.autograd.grad(conv(x).square().sum(), x)
        assert (grad.abs().sum(dim=(0, 2, 3)) > 0).all(), "some input channel does not reach this branch"


def test_output_is_the_branches_reweighted_and_concatenated_in_order():
    torch.manual_seed(0)
    psa = PSA(channel=16, reduction=2, S=4, conv_groups=(1, 2, 4, 4)).double()
    x = torch.randn(2, 16, 4, 3, dtype=torch.float64)
    f = [conv(x) for conv in psa.convs]  # F_i, all from X
    z = [torch.sigmoid(psa.se_fc2(torch.relu(psa.se_fc1(fi.mean(dim=(2, 3)))))) for fi in f]  # shared SE
    e = [torch.exp(zi) for zi in z]
    att = [ei / sum(e) for ei in e]
    want = torch.cat([fi * ai[:, :, None, None] for fi, ai in zip(f, att)], dim=1)  # Y_0 .. Y_3
    torch.testing.assert_close(psa(x), want)


def test_parameters_are_registered_and_move():
    psa = PSA(channel=16, reduction=2, conv_groups=(1, 2, 4, 4))
    names = {n for n, _ in psa.named_parameters()}
    assert names == {f"convs.{i}.weight" for i in range(4)} | {
        "se_fc1.weight",
        "se_fc1.bias",
        "se_fc2.weight",
        "se_fc2.bias",
    }
    assert set(psa.state_dict()) == names
    psa = psa.to(torch.float64)
    assert all(p.dtype == torch.float64 for p in psa.parameters())
    assert psa(torch.randn(1, 16, 3, 3, dtype=torch.float64)).dtype == torch.float64


def test_backward_and_no_input_mutation():
    psa = PSA(channel=64, reduction=2).train()
    x = torch.randn(2, 64, 5, 4, requires_grad=True)
    x_before = x.detach().clone()
    psa(x).sum().backward()
    assert torch.equal(x.detach(), x_before)
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in psa.parameters())


def test_official_groups_and_other_s():
    psa = PSA(channel=64, reduction=4, conv_groups=(1, 4, 8, 16))
    assert sum(p.numel() for p in psa.parameters()) == psa.num_params_formula()
    psa3 = PSA(channel=48, reduction=2, S=3)
    assert psa3.conv_kernels == (3, 5, 7) and psa3.conv_groups == (2, 4, 8)
    assert psa3(torch.randn(1, 48, 3, 3)).shape == (1, 48, 3, 3)


@pytest.mark.parametrize(
    "kwargs,err,match",
    [
        ({"channel": 30}, ValueError, "S=4 must divide channel=30"),
        ({"channel": 16, "reduction": 8}, ValueError, "reduction=8 must be <= channel/S=4"),
        ({"S": 1}, ValueError, "S must be >= 2"),
        ({"conv_kernels": (3, 5, 6, 9)}, ValueError, "odd"),
        ({"conv_kernels": (3, 5, 7)}, ValueError, "4 entries"),
        ({"conv_groups": (1, 3, 8, 16)}, ValueError, "conv_groups\\[1\\]=3 must divide"),
        ({"conv_groups": (1, 2, 4)}, ValueError, "4 entries"),
        ({"conv_kernels": 3}, TypeError, "sequence"),
        ({"channel": 32}, ValueError, "conv_groups\\[3\\]=16 must divide"),  # default G=16 vs C/S=8
    ],
)
def test_bad_arguments_name_the_class(kwargs, err, match):
    with pytest.raises(err, match="PSA") as info:
        PSA(**{"channel": 64, **kwargs})
    assert info.match(match)
