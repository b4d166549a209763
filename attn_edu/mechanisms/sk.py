"""Selective Kernel (SK) convolution.

Paper: Xiang Li, Wenhai Wang, Xiaolin Hu, Jian Yang. *Selective Kernel Networks*. CVPR 2019.
https://arxiv.org/abs/1903.06586
Official code: https://github.com/implus/SKNet (Caffe prototxt of SKNet-50/101).

Deviations from the paper:
- None in the computation for the paper's setting (``kernels=(3, 5)``, grouped convolutions,
  fuse with BN and ReLU, bias-free fc layers as in the official prototxt). The paper writes the
  two-branch case and says it extends to more branches through Eqs. (1), (5), (6); we take any
  number K >= 2 of branches.
- Kernel sizes. The paper realises its "5x5" branch as a 3x3 convolution with dilation 2. We
  apply the same rule to every kernel k > 3: a 3x3 convolution with dilation ``(k-1)//2`` (same
  receptive field k x k, 9 taps). Kernels 1 and 3 are plain. So the collection's
  ``kernels=[1, 3, 5, 7]`` gives 1x1, 3x3, 3x3 dilation 2, 3x3 dilation 3.
- Differences from the External-Attention-pytorch collection (same argument names, paper
  meaning): its branches are plain k x k convolutions with ``groups=1`` by default and a bias
  (followed by BN, so the bias is redundant); its fuse layer ``z = W s + b`` has no BN and no ReLU
  (the paper's Eq. (3) has both); its select layers have biases; its defaults are
  ``kernels=[1, 3, 5, 7], group=1``. Ours default to the paper's SKNet-50 setting
  ``kernels=(3, 5), group=32`` (:math:`[M, G, r] = [2, 32, 16]`, L = 32).
- ``d = max(C // r, L)``: the paper writes C/r; we floor it where r does not divide C.
- BatchNorm layers are :class:`attn_edu._layers.BatchNorm`, so batch 1 in training works: where a
  channel has a single value (the fuse vector z at batch 1, or a 1x1 map at batch 1) it normalises
  with the running statistics, as in eval mode.
- BatchNorm momentum is PyTorch's default 0.1 (the running statistics move 10% of the way to the
  batch's at each step). The prototxt uses 0.95 (Caffe's ``moving_average_fraction``: the running
  statistics keep 95% and move 5% per step).
- No ``stride`` argument: the output keeps the input's size. The official units that start a stage
  use stride 2.
- Init: PyTorch's defaults. The SKNet prototxt uses ``msra`` fillers for the branch convolutions
  and gaussian fillers with std 0.01 for fc1/fc2.
- Two paths, tested equal: ``impl="reference"`` writes Eqs. (1)-(6) out as above (stacks the
  branches, sums them, weights them); ``impl="fast"`` (default) gives the same result with less
  memory traffic: in eval mode each branch's BN is folded into its convolution's weights and
  bias, Eq. (2) pools each branch and adds the K channel vectors (the mean is linear, so U is
  never built), and Eq. (6) accumulates the weighted branches in place. FLOPs are counted on the
  readable path.
- This is the SK *convolution* (Split-Fuse-Select). In SKNet it replaces the 3x3 grouped
  convolution of a ResNeXt bottleneck; the 1x1 convolutions and the residual around it belong to
  the host.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks
from .._layers import BatchNorm
from ..introspect import AttentionModule


def _taps(k: int) -> int:
    """Taps per filter of the branch realising kernel k: 1x1 for k = 1, else 3x3 (dilated if k > 3)."""
    return 1 if k == 1 else 9


class SKAttention(AttentionModule):
    r"""Selective Kernel: per channel, a softmax over branches with different receptive fields.

    Split: for each kernel :math:`k`, :math:`U_k = \delta(\mathcal{B}(\mathrm{Conv}_k(X)))`, a grouped
    convolution (G groups) with receptive field k x k, BN and ReLU.

    Eq. (1), fuse: :math:`U = \sum_k U_k`

    Eq. (2): :math:`s_c = \frac{1}{H \times W} \sum_{i=1}^{H} \sum_{j=1}^{W} U_c(i, j)`

    Eq. (3): :math:`z = \delta(\mathcal{B}(W s))`, :math:`W \in \mathbb{R}^{d \times C}`

    Eq. (4): :math:`d = \max(C/r, L)`

    Eq. (5), select (K branches): :math:`a_{k,c} = \frac{e^{A_{k,c} z}}{\sum_{k'} e^{A_{k',c} z}}`,
    :math:`A_k \in \mathbb{R}^{C \times d}`

    Eq. (6): :math:`V_c = \sum_k a_{k,c} \cdot U_{k,c}`, :math:`\sum_k a_{k,c} = 1`

    Args:
        channel: number of channels C of the input (and output).
        kernels: receptive field of each branch, odd positive ints, at least 2 of them. k > 3 is
            a 3x3 convolution with dilation ``(k-1)//2``. Paper default ``(3, 5)``.
        reduction: reduction ratio r of the fuse layer. Paper default 16.
        group: number of groups G of every branch convolution; must divide ``channel``. Paper
            (SKNet-50) default 32.
        L: minimal width of z. Paper default 32.
        impl: ``"fast"`` (BN folded into the convolutions in eval mode, no stacked branches) or
            ``"reference"`` (the equations as written); same result.

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1
        - Output: ``(B, C, H, W)``

    Complexity:
        with K branches, :math:`t_k` taps per filter (1 for k = 1, else 9) and
        ``d = max(C//r, L)``:
        params ``= sum_k C (C/G) t_k + 2 C K + C d + 2 d + K d C``
        (branch convolutions, branch BNs, fuse W, fuse BN, select A_k);
        FLOPs ``= sum_k 2 B C H W (C/G) t_k + 2 B C d + K (2 B d C)``
        (branch convolutions, W, the A_k; BN, pooling, softmax and the weighted sum are
        elementwise and not counted).

    Emits:
        ``branch``: the weights :math:`a`, dims ``B K C``, kind ``branch`` (they sum to 1 over K).

    Example:
        >>> sk = SKAttention(channel=512, reduction=8)
        >>> sk(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "Selective Kernel" (book/sk).
    """

    def __init__(
        self,
        channel: int = 512,
        kernels: Sequence[int] = (3, 5),
        reduction: int = 16,
        group: int = 32,
        L: int = 32,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = _checks.check_int(name, "channel", channel)
        if isinstance(kernels, (str, bytes)) or not isinstance(kernels, Sequence):
            raise TypeError(f"{name}: kernels must be a sequence of odd ints, got {type(kernels).__name__} {kernels!r}")
        self.kernels = tuple(_checks.check_odd(name, f"kernels[{i}]", k) for i, k in enumerate(kernels))
        if len(self.kernels) < 2:
            raise ValueError(f"{name}: kernels must give at least 2 branches to select from, got {list(kernels)}")
        self.reduction = _checks.check_int(name, "reduction", reduction)
        self.group = _checks.check_int(name, "group", group)
        _checks.check_divides(name, "group", group, "channel", channel)
        self.L = _checks.check_int(name, "L", L)
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)
        # Eq. (4): d = max(C/r, L)
        self.d = max(channel // reduction, L)

        branches = []
        for k in self.kernels:
            dilation = 1 if k <= 3 else (k - 1) // 2
            size = k if k <= 3 else 3
            conv = nn.Conv2d(
                channel, channel, size, padding=dilation * (size // 2), dilation=dilation, groups=group, bias=False
            )
            branches.append(nn.Sequential(OrderedDict(conv=conv, bn=BatchNorm(channel), relu=nn.ReLU())))
        self.branches = nn.ModuleList(branches)  # U_k = delta(B(Conv_k(X)))
        self.fc = nn.Linear(channel, self.d, bias=False)  # W
        self.fc_bn = BatchNorm(self.d)  # B of Eq. (3)
        self.fcs = nn.ModuleList(nn.Linear(self.d, channel, bias=False) for _ in self.kernels)  # A_k

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        if self.impl == "fast":
            return self._forward_fast(x)
        # Split: U_k = delta(B(Conv_k(X)))
        u_k = torch.stack([branch(x) for branch in self.branches], dim=1)  # B C H W -> B K C H W
        # Eq. (1): U = sum_k U_k
        u = u_k.sum(dim=1)  # B K C H W -> B C H W
        # Eq. (2): s_c = 1/(H W) sum_{i,j} U_c(i, j)
        s = u.mean(dim=(2, 3))  # B C H W -> B C
        a = self._select(s)  # B K C
        # Eq. (6): V_c = sum_k a_{k,c} U_{k,c}
        return (u_k * a[:, :, :, None, None]).sum(dim=1)  # B K C H W -> B C H W

    def _select(self, s: Tensor) -> Tensor:
        """Eqs. (3) and (5): the branch weights a (``B K C``) from the pooled channels s (``B C``)."""
        # Eq. (3): z = delta(B(W s))
        z = torch.relu(self.fc_bn(self.fc(s)))  # B C -> B d
        logits = torch.stack([a_k(z) for a_k in self.fcs], dim=1)  # B d -> B K C
        # Eq. (5): a_{k,c} = exp(A_{k,c} z) / sum_k' exp(A_{k',c} z)
        a = torch.softmax(logits, dim=1)  # B K C
        self._emit("branch", a, "B K C", "branch")
        return self._site("branch", a)  # B K C (an ablation may replace it)

    def _forward_fast(self, x: Tensor) -> Tensor:
        """Eqs. (1)-(6) without the stacked ``B K C H W`` tensor; BN folded into the convolutions in eval."""
        u_k = [self._branch_fast(branch, x) for branch in self.branches]  # K x (B C H W)
        # Eqs. (1), (2): mean(sum_k U_k) = sum_k mean(U_k)
        s = u_k[0].mean(dim=(2, 3))  # B C H W -> B C
        for u in u_k[1:]:
            s = s + u.mean(dim=(2, 3))
        a = self._select(s)  # B K C
        # Eq. (6), accumulated in place
        out = u_k[0] * a[:, 0, :, None, None]  # B C H W
        for k in range(1, len(u_k)):
            out.addcmul_(u_k[k], a[:, k, :, None, None])  # B C H W
        return out

    def _branch_fast(self, branch: nn.Module, x: Tensor) -> Tensor:
        """delta(B(Conv_k(X))); in eval B is an affine map per channel, folded into the conv."""
        conv, bn = branch.conv, branch.bn
        assert isinstance(conv, nn.Conv2d) and isinstance(bn, BatchNorm)  # as built in __init__
        if self.training or not bn.track_running_stats or bn.running_mean is None or bn.running_var is None:
            return branch(x)
        # B(y) = gamma (y - mu) / sqrt(var + eps) + beta = scale y + shift, and y = Conv(x) is linear
        scale = torch.rsqrt(bn.running_var + bn.eps)
        scale = scale if bn.weight is None else bn.weight * scale
        shift = -bn.running_mean * scale
        shift = shift if bn.bias is None else bn.bias + shift
        weight = conv.weight * scale[:, None, None, None]
        y = F.conv2d(x, weight, shift, conv.stride, conv.padding, conv.dilation, conv.groups)
        return y.relu_()

    def extra_repr(self) -> str:
        return f"channel={self.channel}, kernels={self.kernels}, group={self.group}, d={self.d}, impl={self.impl!r}"

    def num_params_formula(self) -> int:
        c, g, d, k = self.channel, self.group, self.d, len(self.kernels)
        convs = sum(c * (c // g) * _taps(ks) for ks in self.kernels)
        return convs + 2 * c * k + c * d + 2 * d + k * d * c

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, _, h, w = x_shape
        c, g, d, k = self.channel, self.group, self.d, len(self.kernels)
        convs = sum(2 * b * c * h * w * (c // g) * _taps(ks) for ks in self.kernels)
        return convs + 2 * b * c * d + k * (2 * b * d * c)
