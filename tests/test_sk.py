"""SK: branch weights, dilated branches, a tiny case by hand from the module's own layers."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from attn_edu import capture
from attn_edu.mechanisms import SKAttention


def test_compat_call():
    sk = SKAttention(channel=512, reduction=8).eval()
    x = torch.randn(2, 512, 7, 7)
    assert sk(x).shape == x.shape
    assert sk.kernels == (3, 5) and sk.group == 32 and sk.d == 64


def test_collection_kernels_run():
    sk = SKAttention(channel=32, kernels=[1, 3, 5, 7], reduction=8, group=1).train()
    x = torch.randn(2, 32, 5, 4)
    assert sk(x).shape == x.shape
    assert sum(p.numel() for p in sk.parameters()) == sk.num_params_formula()


def test_branch_weights_sum_to_one_over_k():
    sk = SKAttention(channel=16, kernels=(1, 3, 5), reduction=4, group=4, L=8).eval()
    with capture(sk) as maps:
        sk(torch.randn(3, 16, 6, 5))
    (m,) = maps
    assert (m.name, m.dims, m.kind, tuple(m.tensor.shape)) == ("branch", "B K C", "branch", (3, 3, 16))
    torch.testing.assert_close(m.tensor.sum(dim=1), torch.ones(3, 16))
    assert (m.tensor > 0).all()


def test_dilation_realises_the_receptive_field():
    sk = SKAttention(channel=16, kernels=(1, 3, 5, 7, 9), group=8)
    got = [
        (b.conv.kernel_size, b.conv.dilation, b.conv.padding, b.conv.groups, b.conv.bias is None) for b in sk.branches
    ]
    assert got == [
        ((1, 1), (1, 1), (0, 0), 8, True),
        ((3, 3), (1, 1), (1, 1), 8, True),
        ((3, 3), (2, 2), (2, 2), 8, True),  # the paper's "5x5 as dilated 3x3"
        ((3, 3), (3, 3), (3, 3), 8, True),
        ((3, 3), (4, 4), (4, 4), 8, True),
    ]
    # receptive field: an impulse spreads exactly k x k in branch k
    x = torch.zeros(1, 16, 11, 11)
    x[0, :, 5, 5] = 1.0
    for k, branch in zip(sk.kernels, sk.branches):
        reach = branch.conv(x).abs().sum(dim=(0, 1)) > 0
        rows, cols = reach.nonzero(as_tuple=True)
        assert (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1) == (k, k)


def test_d_is_max_of_c_over_r_and_l():
    assert SKAttention(channel=64, reduction=8, group=32).d == 32  # max(8, 32)
    assert SKAttention(channel=1024, reduction=16, group=32).fc.out_features == 64


def test_tiny_case_by_hand():
    torch.manual_seed(0)
    sk = SKAttention(channel=4, kernels=(3, 5), reduction=2, group=2, L=3).eval().double()
    for m in sk.modules():  # non-trivial running statistics so that BN is not the identity
        if hasattr(m, "running_mean"):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
    x = torch.randn(2, 4, 5, 3, dtype=torch.float64)

    def bn(t, layer):
        shape = (1, -1) + (1,) * (t.dim() - 2)
        mean, var = layer.running_mean.view(shape), layer.running_var.view(shape)
        return (t - mean) / torch.sqrt(var + layer.eps) * layer.weight.view(shape) + layer.bias.view(shape)

    # Split, with the dilations written out: 3x3 and 3x3 dilated by 2, 2 groups
    u = []
    for branch, dil in zip(sk.branches, (1, 2)):
        conv = F.conv2d(x, branch.conv.weight, padding=dil, dilation=dil, groups=2)
        u.append(torch.relu(bn(conv, branch.bn)))
    s = (u[0] + u[1]).mean(dim=(2, 3))  # Eq. (1), (2)
    z = torch.relu(bn(s @ sk.fc.weight.T, sk.fc_bn))  # Eq. (3)
    logits = [z @ a_k.weight.T for a_k in sk.fcs]
    a = torch.exp(logits[0]) / (torch.exp(logits[0]) + torch.exp(logits[1]))  # Eq. (5)
    b = torch.exp(logits[1]) / (torch.exp(logits[0]) + torch.exp(logits[1]))
    want = a[:, :, None, None] * u[0] + b[:, :, None, None] * u[1]  # Eq. (6)
    torch.testing.assert_close(sk(x), want)


def test_batch_one_trains_and_backward_reaches_everything():
    sk = SKAttention(channel=8, reduction=2, group=4, L=4).train()
    x = torch.randn(1, 8, 1, 1, requires_grad=True)
    sk(x).sum().backward()
    assert x.grad is not None
    assert all(p.grad is not None for p in sk.parameters())


@pytest.mark.parametrize(
    "kwargs,err",
    [
        ({"kernels": (3, 4)}, ValueError),  # even kernel
        ({"kernels": (3,)}, ValueError),  # nothing to select from
        ({"kernels": 3}, TypeError),
        ({"group": 5}, ValueError),  # does not divide 16
        ({"group": 0}, ValueError),
        ({"reduction": 0}, ValueError),
        ({"L": 0}, ValueError),
        ({"channel": 16.0}, TypeError),
    ],
)
def test_bad_arguments_name_the_class(kwargs, err):
    args = {"channel": 16, "group": 4, **kwargs}
    with pytest.raises(err, match="SKAttention"):
        SKAttention(**args)


def test_group_message_says_what_must_divide_what():
    with pytest.raises(ValueError, match="group=5 must divide channel=16"):
        SKAttention(channel=16, group=5)


def _trained_like_pair(kernels=(1, 3, 5)) -> tuple[SKAttention, SKAttention]:
    """A fast and a readable SK with the same weights and non-trivial BN statistics."""
    torch.manual_seed(0)
    fast = SKAttention(channel=16, kernels=kernels, reduction=4, group=4, L=8).double()
    for m in fast.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            torch.nn.init.normal_(m.weight)
            torch.nn.init.normal_(m.bias)
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
    ref = SKAttention(channel=16, kernels=kernels, reduction=4, group=4, L=8, impl="reference").double()
    ref.load_state_dict(fast.state_dict())
    return fast, ref


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_fast_path_equals_the_readable_path(mode):
    fast, ref = _trained_like_pair()
    fast.train(mode == "train")
    ref.train(mode == "train")
    x = torch.randn(3, 16, 6, 5, dtype=torch.float64, requires_grad=True)
    with capture(fast) as got, capture(ref) as want:
        out_fast, out_ref = fast(x), ref(x)
    torch.testing.assert_close(out_fast, out_ref)
    torch.testing.assert_close(got[0].tensor, want[0].tensor)  # the emitted branch weights
    torch.testing.assert_close(torch.autograd.grad(out_fast.sum(), x)[0], torch.autograd.grad(out_ref.sum(), x)[0])
    if mode == "train":  # same running statistics afterwards
        torch.testing.assert_close(fast.state_dict(), ref.state_dict())


def test_fast_path_folds_batchnorm_only_in_eval():
    fast, _ = _trained_like_pair()
    x = torch.randn(2, 16, 4, 4, dtype=torch.float64)
    calls = []
    handle = fast.branches[0].bn.register_forward_hook(lambda *_: calls.append(1))
    fast.eval()(x)
    assert calls == []  # folded into the convolution
    fast.train()(x)
    assert calls == [1]  # batch statistics: the BN layer itself runs
    handle.remove()
