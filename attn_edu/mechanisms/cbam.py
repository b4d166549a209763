r"""Convolutional Block Attention Module (CBAM).

Paper: Sanghyun Woo, Jongchan Park, Joon-Young Lee, In So Kweon. *CBAM: Convolutional Block
Attention Module*. ECCV 2018. https://arxiv.org/abs/1807.06521
Official code: https://github.com/Jongchan/attention-module (``MODELS/cbam.py``).

Deviations from the paper:
- The shared MLP has biases. The paper's Eq. (2) writes :math:`W_1(W_0(\cdot))` without them;
  the official code uses ``nn.Linear`` with bias. (The External-Attention-pytorch collection uses
  1x1 convolutions without bias.)
- The spatial convolution has a bias and no BatchNorm, as in the paper's Eq. (3). The official
  code uses a convolution without bias followed by BatchNorm (momentum 0.01, no ReLU). At
  inference that BatchNorm is a per-map affine ``a*z + b`` that folds into the convolution's
  weights and bias, so both compute the same family of functions; in training the official BN
  additionally normalises with batch statistics, which we do not.
- The two pooled maps are concatenated in the paper's order ``[AvgPool; MaxPool]`` (channel 0 of
  the spatial kernel sees the mean). The official ``ChannelPool`` and the collection put max
  first: when porting their weights, swap the two input channels of the spatial kernel.
- No residual. The paper's output is :math:`F'' = M_s(F') \otimes F'` (Eq. 1); the identity
  shortcut belongs to the host ResBlock. The collection returns ``F'' + x``.
- ``kernel_size`` defaults to the paper's 7; the collection defaults to 49. The keyword keeps the
  collection's meaning (side of the spatial kernel) and must be odd so that the padding
  ``k // 2`` keeps the size.
- ``order`` reproduces the arrangement ablation of the paper (Sec. 4.1, Table 3: channel-first,
  spatial-first, parallel). The paper does not write out how the parallel arrangement combines
  the two maps; we apply both maps, each computed from the input F, multiplicatively:
  :math:`F'' = F \otimes M_c(F) \otimes M_s(F)`. Only ``"channel-spatial"`` is CBAM proper.
- Init: PyTorch's defaults. The official initialisation (``MODELS/model_resnet.py``) zeroes every
  bias of the MLP and sets the weight of the spatial gate's BatchNorm to 0, so the spatial gate is
  a constant 0.5 at init.
- ``reduction`` that does not divide ``channel`` gives a hidden width ``channel // reduction``.
- Two paths, tested equal: ``impl="reference"`` takes the spatial map's channel maximum with
  ``amax(dim=1)``; ``impl="fast"`` (default) with :func:`attn_edu._layers.channel_max`
  (pairwise maxima of contiguous channel halves: the same values, about 3x faster on a CPU), where
  no gradient is recorded; in training it falls back to ``amax``, whose backward is cheaper.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from .._layers import channel_max
from ..introspect import AttentionModule

ORDERS = ("channel-spatial", "spatial-channel", "parallel")


class CBAMBlock(AttentionModule):
    r"""CBAM: a channel gate (what) followed by a spatial gate (where), both from pooled statistics.

    Eq. (1), refinement:
    :math:`F' = M_c(F) \otimes F,\quad F'' = M_s(F') \otimes F'`

    Eq. (2), channel attention, one MLP shared by the two pooled descriptors:
    :math:`M_c(F) = \sigma(\mathrm{MLP}(\mathrm{AvgPool}(F)) + \mathrm{MLP}(\mathrm{MaxPool}(F)))`,
    :math:`\mathrm{MLP}(z) = W_1\,\delta(W_0 z + b_0) + b_1`,
    :math:`W_0 \in \mathbb{R}^{\frac{C}{r} \times C}`, :math:`W_1 \in \mathbb{R}^{C \times \frac{C}{r}}`

    Eq. (3), spatial attention, pooling along the channel axis:
    :math:`M_s(F) = \sigma(f^{k \times k}([\mathrm{AvgPool}(F); \mathrm{MaxPool}(F)]))`

    Args:
        channel: number of channels C of the input.
        reduction: reduction ratio r of the shared MLP (hidden width ``C // r``). Paper default 16.
        kernel_size: side k of the spatial convolution, odd. Paper default 7.
        order: ``"channel-spatial"`` (the paper's CBAM and best arrangement),
            ``"spatial-channel"`` (:math:`F' = M_s(F) \otimes F,\ F'' = M_c(F') \otimes F'`) or
            ``"parallel"`` (:math:`F'' = F \otimes M_c(F) \otimes M_s(F)`), the arrangements of
            the paper's Table 3.
        impl: ``"fast"`` or ``"reference"``: how the channel maximum is taken; same result.

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1
        - Output: ``(B, C, H, W)``

    Complexity:
        params ``= 2 C (C//r) + C//r + C + 2 k^2 + 1``;
        FLOPs ``= 2 (2B) (2 C (C//r)) + 2 B H W (2 k^2)``: the shared MLP runs on the 2B pooled
        vectors, the spatial convolution on the 2-channel pooled map (pooling and gating are
        elementwise and not counted).

    Emits:
        ``channel``: :math:`M_c`, dims ``B C``, kind ``channel``;
        ``spatial``: :math:`M_s`, dims ``B H W``, kind ``spatial``.

    Example:
        >>> cbam = CBAMBlock(channel=512, reduction=16, kernel_size=7)
        >>> cbam(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "CBAM" (book/cbam).
    """

    def __init__(
        self, channel: int = 512, reduction: int = 16, kernel_size: int = 7, order: str = "channel-spatial",
        impl: str = "fast",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = _checks.check_int(name, "channel", channel)
        _checks.check_reduction(name, self.channel, reduction)
        self.reduction = reduction
        self.kernel_size = _checks.check_odd(name, "kernel_size", kernel_size)
        self.order = _checks.check_choice(name, "order", order, ORDERS)
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)
        hidden = channel // reduction
        self.fc1 = nn.Linear(channel, hidden)  # W_0, b_0
        self.fc2 = nn.Linear(hidden, channel)  # W_1, b_1
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)  # f^{k x k}

    def channel_attention(self, x: Tensor) -> Tensor:
        """:math:`M_c(x)`, Eq. (2), as a ``B C`` tensor."""
        b = x.shape[0]
        pooled = torch.cat([x.mean(dim=(2, 3)), x.amax(dim=(2, 3))])  # B C H W -> (2B) C
        # MLP(z) = W_1 delta(W_0 z + b_0) + b_1, shared by the two descriptors
        mlp = self.fc2(torch.relu(self.fc1(pooled)))  # (2B) C -> (2B) C
        # Eq. (2): M_c = sigma(MLP(AvgPool(F)) + MLP(MaxPool(F)))
        return torch.sigmoid(mlp[:b] + mlp[b:])  # (2B) C -> B C

    def spatial_attention(self, x: Tensor) -> Tensor:
        """:math:`M_s(x)`, Eq. (3), as a ``B H W`` tensor."""
        peak = x.amax(dim=1) if self.impl == "reference" else channel_max(x)  # B C H W -> B H W
        pooled = torch.stack([x.mean(dim=1), peak], dim=1)  # B 2 H W
        # Eq. (3): M_s = sigma(f^{k x k}([AvgPool(F); MaxPool(F)]))
        return torch.sigmoid(self.conv(pooled)).squeeze(1)  # B 2 H W -> B H W

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        hw = (x.shape[2], x.shape[3])
        if self.order == "channel-spatial":
            mc = self._site("channel", self.channel_attention(x))  # B C (an ablation may replace it)
            # Eq. (1): F' = M_c(F) * F
            f1 = x * mc[:, :, None, None]  # B C, B C H W -> B C H W
            ms = self._site("spatial", self.spatial_attention(f1))  # B H W (an ablation may replace it)
            # Eq. (1): F'' = M_s(F') * F'
            out = f1 * ms[:, None]  # B H W, B C H W -> B C H W
        elif self.order == "spatial-channel":
            ms = self._site("spatial", self.spatial_attention(x))  # B H W (an ablation may replace it)
            # F' = M_s(F) * F
            f1 = x * ms[:, None]  # B H W, B C H W -> B C H W
            mc = self._site("channel", self.channel_attention(f1))  # B C (an ablation may replace it)
            # F'' = M_c(F') * F'
            out = f1 * mc[:, :, None, None]  # B C, B C H W -> B C H W
        else:  # parallel
            mc = self._site("channel", self.channel_attention(x))  # B C (an ablation may replace it)
            ms = self._site("spatial", self.spatial_attention(x))  # B H W
            # F'' = F * M_c(F) * M_s(F)
            out = x * mc[:, :, None, None] * ms[:, None]  # B C H W -> B C H W
        self._emit("channel", mc, "B C", "channel")
        self._emit("spatial", ms, "B H W", "spatial", hw=hw)
        return out

    def num_params_formula(self) -> int:
        c, hidden, k = self.channel, self.channel // self.reduction, self.kernel_size
        return 2 * c * hidden + hidden + c + 2 * k * k + 1

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, _, h, w = x_shape
        c, hidden, k = self.channel, self.channel // self.reduction, self.kernel_size
        return 2 * (2 * b) * (2 * c * hidden) + 2 * b * h * w * (2 * k * k)
