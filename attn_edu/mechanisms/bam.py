r"""Bottleneck Attention Module (BAM).

Paper: Jongchan Park, Sanghyun Woo, Joon-Young Lee, In So Kweon. *BAM: Bottleneck Attention
Module*. BMVC 2018. https://arxiv.org/abs/1807.06514
Official code: https://github.com/Jongchan/attention-module (``MODELS/bam.py``).

Deviations from the paper:
- ``combine="sum"`` (default) is the paper's Eq. (2), :math:`\sigma(M_c + M_s)`, the best
  combination in its ablation. The released code multiplies the branches,
  ``1 + sigmoid(channel_att * spatial_att)``; ``combine="product"`` gives that,
  :math:`\sigma(M_c \cdot M_s)`, with everything else unchanged (the final BNs stay).
- Both branches end with the paper's BatchNorm (Eqs. (3)-(4)). The official code and the
  External-Attention-pytorch collection have no BN on the branch outputs.
- The channel branch averages the whole map (global average pooling, the paper's AvgPool). The
  official code pools with ``F.avg_pool2d(x, x.size(2), stride=x.size(2))``, an H x H window: on a
  non-square map with H < W < 2H it averages only the left H x H block, and it fails for H > W and
  for W >= 2H.
- Init: PyTorch's defaults. The official initialisation (``MODELS/model_resnet.py``) zeroes all
  biases and draws the convolutions from kaiming normal (fan_out).
- Every BatchNorm is :class:`attn_edu._layers.BatchNorm`: in training, where a channel has a
  single value (batch 1 on the pooled channel vector, or a 1x1 map) it normalises with the
  running statistics instead of raising, so batch 1 trains.
- Differences from the collection, whose ``BAMBlock(channel=512, reduction=16, dia_val=2)`` call
  we keep (same keyword meaning: ``dia_val`` is the dilation of the 3x3 convolutions):

  * the dilated convolutions use ``padding = dia_val`` and keep the size. The collection pads by
    1, so each convolution shrinks the map by ``2 (dia_val - 1)``: at 7x7 with ``dia_val=2`` the
    "spatial" map is a single value (no spatial selectivity), and other sizes fail;
  * two dilated convolutions (paper and official code), not three;
  * one hidden layer in the channel MLP (paper and official code), not three;
  * ``dia_val`` defaults to the paper's 4; the collection defaults to 2.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from .._layers import BatchNorm
from ..introspect import AttentionModule

COMBINES = ("sum", "product")
NUM_DILATED = 2  # the paper's two 3x3 dilated convolutions


class BAMBlock(AttentionModule):
    r"""BAM: a channel branch and a dilated-conv spatial branch, summed into one residual gate.

    Eq. (1), refinement with an identity path:
    :math:`F' = F + F \otimes M(F)`

    Eq. (2), the 3D attention map:
    :math:`M(F) = \sigma(M_c(F) + M_s(F))` (both broadcast to C x H x W)

    Eq. (3), channel branch:
    :math:`M_c(F) = \mathrm{BN}(\mathrm{MLP}(\mathrm{AvgPool}(F))) = \mathrm{BN}(W_1(W_0\,
    \mathrm{AvgPool}(F) + b_0) + b_1)`, with :math:`W_0 \in \mathbb{R}^{\frac{C}{r} \times C}`,
    :math:`W_1 \in \mathbb{R}^{C \times \frac{C}{r}}` and BN + ReLU after :math:`W_0`

    Eq. (4), spatial branch:
    :math:`M_s(F) = \mathrm{BN}(f_3^{1 \times 1}(f_2^{3 \times 3}(f_1^{3 \times 3}(f_0^{1 \times 1}(F)))))`,
    with :math:`f_0` reducing C to C/r, :math:`f_1, f_2` dilated by ``dia_val``, :math:`f_3`
    giving one map; each of :math:`f_0, f_1, f_2` is followed by BN and ReLU

    Args:
        channel: number of channels C of the input.
        reduction: reduction ratio r of both branches (width ``C // r``). Paper default 16.
        dia_val: dilation d of the two 3x3 convolutions (padding d keeps the size). Paper
            default 4.
        combine: ``"sum"`` (Eq. (2), the paper) or ``"product"`` (the official code).

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1
        - Output: ``(B, C, H, W)``

    Complexity:
        with :math:`c = C // r`: params ``= (2 C c + c + C) + 2 c + 2 C`` (channel branch)
        ``+ (C c + c) + 2 c + 2 (9 c^2 + c + 2 c) + (c + 1) + 2`` (spatial branch);
        FLOPs ``= 2 B (2 C c) + 2 B H W (C c + 2 * 9 c^2 + c)`` (BN, pooling and gating are
        elementwise and not counted).

    Emits:
        ``channel``: :math:`\sigma(M_c)`, dims ``B C``, kind ``channel``;
        ``spatial``: :math:`\sigma(M_s)`, dims ``B H W``, kind ``spatial``;
        ``combined``: :math:`M`, dims ``B C H W``, kind ``spatial``.

    Example:
        >>> bam = BAMBlock(channel=512, reduction=16, dia_val=2)
        >>> bam(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "BAM" (book/bam).
    """

    def __init__(self, channel: int = 512, reduction: int = 16, dia_val: int = 4, combine: str = "sum") -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = _checks.check_int(name, "channel", channel)
        _checks.check_reduction(name, self.channel, reduction)
        self.reduction = reduction
        self.dia_val = _checks.check_int(name, "dia_val", dia_val)
        self.combine = _checks.check_choice(name, "combine", combine, COMBINES)
        hidden = channel // reduction
        # channel branch, Eq. (3)
        self.fc0 = nn.Linear(channel, hidden)  # W_0, b_0
        self.bn_fc0 = BatchNorm(hidden)
        self.fc1 = nn.Linear(hidden, channel)  # W_1, b_1
        self.bn_channel = BatchNorm(channel)  # the paper's BN on M_c
        # spatial branch, Eq. (4)
        self.conv0 = nn.Conv2d(channel, hidden, 1)  # f_0^{1x1}
        self.bn_conv0 = BatchNorm(hidden)
        self.dilated = nn.ModuleList(
            nn.Conv2d(hidden, hidden, 3, padding=dia_val, dilation=dia_val) for _ in range(NUM_DILATED)
        )  # f_1^{3x3}, f_2^{3x3}
        self.bn_dilated = nn.ModuleList(BatchNorm(hidden) for _ in range(NUM_DILATED))
        self.conv3 = nn.Conv2d(hidden, 1, 1)  # f_3^{1x1}
        self.bn_spatial = BatchNorm(1)  # the paper's BN on M_s

    def channel_branch(self, x: Tensor) -> Tensor:
        """:math:`M_c(x)` before the sigmoid, Eq. (3), as a ``B C`` tensor."""
        z = x.mean(dim=(2, 3))  # B C H W -> B C
        # Eq. (3): M_c = BN(W_1 ReLU(BN(W_0 AvgPool(F) + b_0)) + b_1)
        return self.bn_channel(self.fc1(torch.relu(self.bn_fc0(self.fc0(z)))))  # B C -> B C

    def spatial_branch(self, x: Tensor) -> Tensor:
        """:math:`M_s(x)` before the sigmoid, Eq. (4), as a ``B H W`` tensor."""
        y = torch.relu(self.bn_conv0(self.conv0(x)))  # B C H W -> B c H W, c = C//r
        for conv, bn in zip(self.dilated, self.bn_dilated, strict=True):
            y = torch.relu(bn(conv(y)))  # B c H W -> B c H W (padding = dilation keeps H W)
        # Eq. (4): M_s = BN(f_3(f_2(f_1(f_0(F)))))
        return self.bn_spatial(self.conv3(y)).squeeze(1)  # B c H W -> B 1 H W -> B H W

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        # the branches' outputs, before the sigmoid, are the sites an ablation may replace
        mc = self._site("channel", self.channel_branch(x)[:, :, None, None])  # B C -> B C 1 1
        ms = self._site("spatial", self.spatial_branch(x)[:, None])  # B H W -> B 1 H W
        if self.combine == "sum":
            # Eq. (2): M(F) = sigma(M_c(F) + M_s(F))
            m = torch.sigmoid(mc + ms)  # B C 1 1, B 1 H W -> B C H W
        else:
            # official code: M(F) = sigma(M_c(F) * M_s(F))
            m = torch.sigmoid(mc * ms)  # B C 1 1, B 1 H W -> B C H W
        if self.capturing:
            self._emit("channel", torch.sigmoid(mc.flatten(1)), "B C", "channel")  # B C 1 1 -> B C
            self._emit("spatial", torch.sigmoid(ms.squeeze(1)), "B H W", "spatial", hw=(x.shape[2], x.shape[3]))
            self._emit("combined", m, "B C H W", "spatial", hw=(x.shape[2], x.shape[3]))
        # Eq. (1): F' = F + F * M(F)
        return x + x * m  # B C H W

    def num_params_formula(self) -> int:
        c_in, c = self.channel, self.channel // self.reduction
        channel_branch = (c_in * c + c) + 2 * c + (c * c_in + c_in) + 2 * c_in
        spatial_branch = (c_in * c + c) + 2 * c + NUM_DILATED * (9 * c * c + c + 2 * c) + (c + 1) + 2
        return channel_branch + spatial_branch

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, _, h, w = x_shape
        c_in, c = self.channel, self.channel // self.reduction
        return 2 * b * (2 * c_in * c) + 2 * b * h * w * (c_in * c + NUM_DILATED * 9 * c * c + c)
