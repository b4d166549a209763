"""Squeeze-and-Excitation (SE).

Paper: Jie Hu, Li Shen, Gang Sun. *Squeeze-and-Excitation Networks*. CVPR 2018.
https://arxiv.org/abs/1709.01507
Official code: https://github.com/hujie-frank/SENet (Caffe prototxt of SE-ResNet-50).

Deviations from the paper:
- The FC layers have biases. The paper's Eq. (3) omits them "to simplify the notation"; the
  official SE-ResNet prototxt uses 1x1 convolutions with bias. (The External-Attention-pytorch
  collection drops them.)
- The hidden width is ``channel // reduction`` (floor) when ``reduction`` does not divide
  ``channel``; the paper only uses dividing values.
- This is the SE *block* (recalibration, Eq. (4)). Where it sits in a host network (in SE-ResNet,
  on the residual branch before the addition) is the host's business.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from ..introspect import AttentionModule


class SEAttention(AttentionModule):
    r"""Squeeze-and-Excitation: reweight channels by a gate computed from global context.

    Eq. (2), squeeze:   :math:`z_c = \frac{1}{HW} \sum_{i,j} u_c(i, j)`

    Eq. (3), excite:    :math:`s = \sigma(W_2\, \delta(W_1 z))`, with
    :math:`W_1 \in \mathbb{R}^{\frac{C}{r} \times C}`, :math:`W_2 \in \mathbb{R}^{C \times \frac{C}{r}}`

    Eq. (4), scale:     :math:`\tilde{x}_c = s_c \cdot u_c`

    Args:
        channel: number of channels C of the input.
        reduction: reduction ratio r of the bottleneck (hidden width ``C // r``). Paper default 16.

    Shape:
        - Input: ``(B, C, H, W)``
        - Output: ``(B, C, H, W)``

    Complexity:
        params ``= 2 C (C//r) + C//r + C``;
        FLOPs ``= 2 B (2 C (C//r))`` for the two FC layers (the pooling and the gate are
        elementwise and not counted).

    Emits:
        ``channel``: the gate s, dims ``B C``, kind ``channel``.

    Example:
        >>> se = SEAttention(channel=512, reduction=8)
        >>> se(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "Squeeze-and-Excitation" (book/se).
    """

    def __init__(self, channel: int = 512, reduction: int = 16) -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = _checks.check_int(name, "channel", channel)
        _checks.check_reduction(name, self.channel, reduction)
        self.reduction = reduction
        hidden = channel // reduction
        self.fc1 = nn.Linear(channel, hidden)  # W_1
        self.fc2 = nn.Linear(hidden, channel)  # W_2

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        # Eq. (2): z = F_sq(u), global average pooling
        z = x.mean(dim=(2, 3))  # B C H W -> B C
        # Eq. (3): s = sigma(W_2 delta(W_1 z))
        s = torch.sigmoid(self.fc2(torch.relu(self.fc1(z))))  # B C
        self._emit("channel", s, "B C", "channel")
        s = self._site("channel", s)  # B C (an ablation may replace it)
        # Eq. (4): x~_c = s_c * u_c
        return x * s[:, :, None, None]  # B C, B C H W -> B C H W

    def num_params_formula(self) -> int:
        c, hidden = self.channel, self.channel // self.reduction
        return 2 * c * hidden + hidden + c

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b = x_shape[0]
        c, hidden = self.channel, self.channel // self.reduction
        return 2 * b * (2 * c * hidden)
