"""Pyramid Squeeze Attention (PSA), the attention module of EPSANet.

Paper: Hu Zhang, Keke Zu, Jian Lu, Yuru Zou, Deyu Meng. *EPSANet: An Efficient Pyramid Squeeze
Attention Block on Convolutional Neural Network*. ACCV 2022 (arXiv 2021; earlier titled "Pyramid
Split Attention"). https://arxiv.org/abs/2105.14447
Official code: https://github.com/murufeng/EPSANet (``models/epsanet.py``, ``PSAModule``;
``models/SE_weight_module.py``).

Deviations from the paper:
- Groups of the SPC convolutions. We use the paper's rule :math:`G_i = 2^{(k_i - 1)/2}`, i.e.
  2, 4, 8, 16 for k = 3, 5, 7, 9. The official code uses ``conv_groups=[1, 4, 8, 16]`` (a plain
  3x3 convolution in the first branch); pass ``conv_groups=(1, 4, 8, 16)`` to get it.
- Every branch convolution reads the **full** input X (C -> C/S channels), as in the paper's
  :math:`F_i = \\mathrm{Conv}(k_i \\times k_i, G_i)(X)` and in the official code, with padding
  ``k_i // 2`` and no bias. The External-Attention-pytorch collection instead first splits the
  channels into S chunks and convolves chunk i alone (C/S -> C/S, with bias, ``groups=1``).
- One SE weight module is **shared** by all S branches (official ``self.se = SEWeightModule(...)``);
  its two 1x1 convolutions have biases and act on the pooled vector, so we write them as
  ``nn.Linear`` (the same map). The collection has S separate bias-free SE blocks.
- ``reduction`` keeps the collection's meaning and default (4): the SE hidden width is
  ``(C/S) // reduction``. The official SE module uses 16.
- The output concatenates :math:`Y_0, \\dots, Y_{S-1}` in branch order (the paper's
  :math:`\\mathrm{Cat}([Y_0, \\dots, Y_{S-1}])`). The official loop concatenates them in reverse
  order (the 9x9 branch first): a fixed channel permutation, which the BN and 1x1 convolution
  that follow PSA in the EPSA block absorb.
- Init: PyTorch's defaults. EPSANet draws every convolution from N(0, 2/(k^2 out)), with k the
  kernel size and out the number of output channels.
- Stride 1 only: the output keeps the input's size. (The official module also takes a stride, for
  the downsampling blocks of EPSANet.)
- The collection's ``PSA`` keeps its convolutions in plain Python lists (unregistered: no
  ``parameters()``, no ``.to()``, no ``state_dict``), writes its results into the caller's input
  tensor and cannot run backward. Ours registers everything (``nn.ModuleList``) and never mutates
  its input.
- This is the PSA module; in EPSANet it replaces the 3x3 convolution of a ResNet bottleneck (the
  EPSA block), whose 1x1 convolutions, BNs and residual belong to the host.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .. import _checks
from ..introspect import AttentionModule


class PSA(AttentionModule):
    r"""Pyramid Squeeze Attention: S convolutions of growing kernel, weighted per channel by a softmax over scales.

    SPC (Split and Concat), one branch per scale :math:`i = 0, \dots, S-1`:
    :math:`F_i = \mathrm{Conv}(k_i \times k_i, G_i)(X)`, :math:`k_i = 2(i+1)+1`,
    :math:`G_i = 2^{(k_i-1)/2}`, each giving C/S channels

    SEWeight, one module shared by the branches:
    :math:`Z_i = \sigma(W_2\, \delta(W_1\, \mathrm{GAP}(F_i) + b_1) + b_2) \in \mathbb{R}^{C/S}`

    Softmax across the scales, per channel:
    :math:`att_i = \frac{\exp(Z_i)}{\sum_{j=0}^{S-1} \exp(Z_j)}`

    Reweight and concatenate: :math:`Y_i = F_i \odot att_i`,
    :math:`\mathrm{Out} = \mathrm{Cat}([Y_0, Y_1, \dots, Y_{S-1}])`

    (The ``# Eq. (name)`` comments in :meth:`forward` use these names, the chapter's equation tags.)

    Args:
        channel: number of channels C of the input (and output); S must divide it.
        reduction: reduction ratio r of the shared SE module (hidden width ``(C/S) // r``, so
            ``C/S >= r``). Collection default 4.
        S: number of scales (branches), >= 2. Paper default 4.
        conv_kernels: odd kernel size of each branch; default :math:`k_i = 2(i+1)+1`
            (3, 5, 7, 9 for S = 4).
        conv_groups: groups of each branch convolution, each dividing C and C/S; default
            :math:`G_i = 2^{(k_i-1)/2}` (2, 4, 8, 16). The official code uses (1, 4, 8, 16).

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1
        - Output: ``(B, C, H, W)``

    Complexity:
        with ``C' = C/S`` and ``h = C' // r``:
        params ``= sum_i C' (C/G_i) k_i^2 + 2 C' h + h + C'``
        (branch convolutions, shared SE with biases);
        FLOPs ``= sum_i 2 B C' H W (C/G_i) k_i^2 + 2 (2 B S C' h)``
        (branch convolutions, the two SE layers on the S pooled vectors of each image; pooling,
        gates, softmax and products are elementwise and not counted).

    Emits:
        ``branch``: :math:`att`, dims ``B K C`` with K = S and C = C/S (channel c of branch i is
        output channel ``i*C/S + c``), kind ``branch``; sums to 1 over K.

    Example:
        >>> psa = PSA(channel=512, reduction=8)
        >>> psa(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "Pyramid Squeeze Attention" (book/psa).
    """

    def __init__(
        self,
        channel: int = 512,
        reduction: int = 4,
        S: int = 4,
        conv_kernels: Sequence[int] | None = None,
        conv_groups: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = _checks.check_int(name, "channel", channel)
        self.reduction = _checks.check_int(name, "reduction", reduction)
        self.S = _checks.check_int(name, "S", S, minimum=2)
        _checks.check_divides(name, "S", S, "channel", channel)
        split = channel // S
        if reduction > split:
            raise ValueError(
                f"{name}: reduction={reduction} must be <= channel/S={split} "
                f"(SE hidden width (C/S)//r >= 1 with channel={channel}, S={S})"
            )
        self.split, self.hidden = split, split // reduction

        if conv_kernels is None:
            conv_kernels = [2 * (i + 1) + 1 for i in range(S)]
        self.conv_kernels = self._int_list(name, "conv_kernels", conv_kernels, S)
        for i, k in enumerate(self.conv_kernels):
            _checks.check_odd(name, f"conv_kernels[{i}]", k)
        if conv_groups is None:
            conv_groups = [2 ** ((k - 1) // 2) for k in self.conv_kernels]
        self.conv_groups = self._int_list(name, "conv_groups", conv_groups, S)
        for i, g in enumerate(self.conv_groups):
            _checks.check_int(name, f"conv_groups[{i}]", g)
            if channel % g or split % g:
                raise ValueError(
                    f"{name}: conv_groups[{i}]={g} must divide channel={channel} and channel/S={split}; "
                    f"pass conv_groups explicitly (e.g. (1,) * S) for this channel count"
                )

        self.convs = nn.ModuleList(
            nn.Conv2d(channel, split, k, padding=k // 2, groups=g, bias=False)
            for k, g in zip(self.conv_kernels, self.conv_groups, strict=True)
        )  # Conv(k_i x k_i, G_i)
        self.se_fc1 = nn.Linear(split, self.hidden)  # W_1, b_1 (shared by all branches)
        self.se_fc2 = nn.Linear(self.hidden, split)  # W_2, b_2

    @staticmethod
    def _int_list(where: str, name: str, value: object, length: int) -> tuple[int, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise TypeError(f"{where}: {name} must be a sequence of ints, got {type(value).__name__} {value!r}")
        if len(value) != length:
            raise ValueError(f"{where}: {name} must have S={length} entries, got {len(value)}: {list(value)}")
        return tuple(value)

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        # Eq. (spc): F_i = Conv(k_i x k_i, G_i)(X), every branch reads all C channels of X and gives C/S
        f = torch.stack([conv(x) for conv in self.convs], dim=1)  # B C H W -> B K C H W
        # SEWeight: Z_i = sigma(W_2 delta(W_1 GAP(F_i) + b_1) + b_2), one module for all i
        pooled = f.mean(dim=(3, 4))  # B K C H W -> B K C
        # Eq. (seweight)
        z = torch.sigmoid(self.se_fc2(torch.relu(self.se_fc1(pooled))))  # B K C -> B K C
        # Eq. (softmax): att_i = exp(Z_i) / sum_j exp(Z_j), per channel across the S scales
        att = torch.softmax(z, dim=1)  # B K C
        self._emit("branch", att, "B K C", "branch")
        att = self._site("branch", att)  # B K C (an ablation may replace it)
        # Eq. (reweight): Y_i = F_i * att_i
        y = f * att[:, :, :, None, None]  # B K C, B K C H W -> B K C H W
        # Eq. (concat): Out = Cat([Y_0, ..., Y_{S-1}])
        return y.flatten(1, 2)  # B K C H W -> B C H W

    def extra_repr(self) -> str:
        return (
            f"channel={self.channel}, S={self.S}, conv_kernels={self.conv_kernels}, "
            f"conv_groups={self.conv_groups}, hidden={self.hidden}"
        )

    def num_params_formula(self) -> int:
        c, cs, h = self.channel, self.split, self.hidden
        convs = sum(cs * (c // g) * k * k for k, g in zip(self.conv_kernels, self.conv_groups, strict=True))
        return convs + 2 * cs * h + h + cs

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, _, hh, ww = x_shape
        c, cs, h = self.channel, self.split, self.hidden
        kernels = zip(self.conv_kernels, self.conv_groups, strict=True)
        convs = sum(2 * b * cs * hh * ww * (c // g) * k * k for k, g in kernels)
        return convs + 2 * (2 * b * self.S * cs * h)
