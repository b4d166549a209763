"""Efficient Channel Attention (ECA).

Paper: Qilong Wang, Banggu Wu, Pengfei Zhu, Peihua Li, Wangmeng Zuo, Qinghua Hu. *ECA-Net:
Efficient Channel Attention for Deep Convolutional Neural Networks*. CVPR 2020.
https://arxiv.org/abs/1910.03151
Official code: https://github.com/BangguWu/ECANet (``models/eca_module.py``, ``eca_layer``).

Deviations from the paper:
- None in the computation: GAP, a 1-D convolution over the channel axis with zero padding
  ``(k-1)/2`` and **no bias** (Eq. (9) has none; the official ``eca_layer`` uses
  ``bias=False``), a sigmoid, a channel-wise product. (The External-Attention-pytorch collection
  adds a bias.)
- Choosing k. The paper picks k from the channel count, :math:`k = \\psi(C)` (Eq. (12)), and
  uses :math:`\\gamma = 2, b = 1`. The collection's ``ECAAttention(kernel_size=3)`` never sees C
  and uses a fixed k (its issue #29). We keep the collection's call, in which ``kernel_size`` is a
  fixed k, and add the paper's rule: ``ECAAttention(channel=C)`` takes
  ``k = adaptive_kernel_size(C)``. When both are given, ``kernel_size`` wins and ``channel`` is
  only used to check the input's C. ``gamma`` and ``b`` belong to the adaptive rule: passing them
  together with ``kernel_size`` is an error rather than silently ignored. (timm's ``EcaModule``
  instead lets ``channels`` silently override ``kernel_size`` and clamps k to at least 3; we do
  neither.)
- :math:`|t|_{odd}` is "the nearest odd number of t" in the paper. We compute it as the paper's
  own PyTorch listing (Fig. 3) does, ``t = int(|(log2 C + b) / gamma|)``, then ``t`` if odd else
  ``t + 1``: this is the nearest odd number, with ties (t an even integer) broken upwards.
  With gamma = 2, b = 1 this gives k = 1 for C <= 7 (one tap: no interaction across channels),
  k = 3 for C = 8 to 127, k = 5 for C = 128 to 2047 and k = 7 for C = 2048 to 32767. The official
  ``eca_resnet`` passes fixed per-stage k values instead of the rule.
- Two paths, tested equal: ``impl="reference"`` calls ``nn.Conv1d`` on the pooled channels as a
  1-channel sequence (the official code); ``impl="fast"`` (default) computes the same k-tap
  convolution as k shifted, weighted copies of the pooled vector. Both use ``self.conv.weight``,
  so state dicts are the same. Why: on a CPU, oneDNN's set-up for a 1-channel convolution costs
  more than all the arithmetic of the gate (see the book's cost chapter).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from ..introspect import AttentionModule


def adaptive_kernel_size(channel: int, gamma: float = 2, b: float = 1) -> int:
    r"""The paper's kernel size for C channels, Eq. (12): :math:`k = |\log_2(C)/\gamma + b/\gamma|_{odd}`.

    :math:`|t|_{odd}` is the nearest odd number to t (ties go up, as in the paper's Fig. 3
    listing). With the paper's :math:`\gamma = 2, b = 1`:
    C = 64 -> 3, 128 -> 5, 256 -> 5, 512 -> 5, 1024 -> 5, 2048 -> 7.

    Args:
        channel: number of channels C (>= 1).
        gamma: :math:`\gamma` of the mapping :math:`C = 2^{\gamma k - b}` (Eq. (11)), > 0.
        b: :math:`b` of that mapping.

    Example:
        >>> adaptive_kernel_size(512)
        5
    """
    where = "adaptive_kernel_size"
    channel = _checks.check_int(where, "channel", channel)
    gamma = _checks.check_float(where, "gamma", gamma, low=0.0, high=math.inf)
    if gamma == 0:
        raise ValueError(f"{where}: gamma must be > 0, got {gamma}")
    b = _checks.check_float(where, "b", b, low=-math.inf, high=math.inf)
    # Eq. (12): t = |log2(C)/gamma + b/gamma|, then the nearest odd number (ties up, as in Fig. 3)
    t = int(abs((math.log2(channel) + b) / gamma))
    return t if t % 2 else t + 1


class ECAAttention(AttentionModule):
    r"""Efficient Channel Attention: a channel gate from a k-tap 1-D convolution over pooled channels.

    GAP, the :math:`g(\mathcal{X})` of Eq. (1): :math:`y_c = \frac{1}{HW} \sum_{i,j} x_c(i, j)`

    Eq. (8), each channel weighs itself and its k-1 neighbours with shared weights:
    :math:`\omega_i = \sigma\big(\sum_{j=1}^{k} w^j y_i^j\big),\ y_i^j \in \Omega_i^k`,
    i.e. Eq. (9): :math:`\omega = \sigma(\mathrm{C1D}_k(y))` (zero padding at both ends)

    Eq. (12), adaptive kernel size: :math:`k = \psi(C) = |\log_2(C)/\gamma + b/\gamma|_{odd}`

    Output: :math:`\tilde{x}_c = \omega_c \cdot x_c`

    Args:
        kernel_size: a fixed odd k (the collection's argument). ``None`` (default): use the
            paper's adaptive k from ``channel``.
        channel: number of channels C of the input. Needed when ``kernel_size`` is ``None``;
            when both are given, ``kernel_size`` wins and ``channel`` checks the input's C.
        gamma, b: parameters of the adaptive rule (paper: 2 and 1); only with
            ``kernel_size=None``.
        impl: ``"fast"`` (shifted taps) or ``"reference"`` (``nn.Conv1d``); same result.

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1 (C must equal ``channel`` where given)
        - Output: ``(B, C, H, W)``

    Complexity:
        params ``= k``;
        FLOPs ``= 2 B C k`` for the 1-D convolution (the pooling and the gate are elementwise and
        not counted).

    Emits:
        ``channel``: the gate :math:`\omega`, dims ``B C``, kind ``channel``.

    Example:
        >>> eca = ECAAttention(kernel_size=3)
        >>> eca(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])
        >>> ECAAttention(channel=512).kernel_size  # the paper's psi(512)
        5

    See the book: chapter "ECA" (book/eca).
    """

    def __init__(
        self, kernel_size: int | None = None, *, channel: int | None = None, gamma: float = 2, b: float = 1,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.channel = None if channel is None else _checks.check_int(name, "channel", channel)
        if kernel_size is None:
            if channel is None:
                raise ValueError(
                    f"{name}: pass kernel_size (a fixed odd k, e.g. kernel_size=3) or channel "
                    f"(the paper's adaptive k = psi(C), e.g. channel=512); got neither"
                )
            try:
                kernel_size = adaptive_kernel_size(channel, gamma, b)
            except (TypeError, ValueError) as err:
                raise type(err)(f"{name}: {err}") from None
        elif (gamma, b) != (2, 1):
            raise ValueError(
                f"{name}: gamma={gamma!r} and b={b!r} only apply to the adaptive kernel size; "
                f"pass kernel_size=None together with channel, or drop gamma/b"
            )
        self.kernel_size = _checks.check_odd(name, "kernel_size", kernel_size)
        self.gamma, self.b = gamma, b
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)
        k = self.kernel_size
        self.conv = nn.Conv1d(1, 1, kernel_size=k, padding=(k - 1) // 2, bias=False)  # C1D_k, weights w^1..w^k

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.channel)
        # GAP: y_c = 1/(HW) sum_{i,j} x_c(i, j)
        y = x.mean(dim=(2, 3))  # B C H W -> B C
        # Eq. (9): omega = sigma(C1D_k(y)), the channels read as a length-C sequence
        w = torch.sigmoid(self.channel_conv(y))  # B C -> B C
        self._emit("channel", w, "B C", "channel")
        w = self._site("channel", w)  # B C (an ablation may replace it)
        # x~_c = omega_c * x_c
        return x * w[:, :, None, None]  # B C, B C H W -> B C H W

    def channel_conv(self, y: Tensor) -> Tensor:
        r""":math:`\mathrm{C1D}_k(y)` of Eq. (9) on pooled channels ``y`` (``B C``), zero-padded."""
        if self.impl == "reference":
            return self.conv(y.unsqueeze(1)).squeeze(1)  # B C -> B 1 C -> B C
        k, c = self.kernel_size, y.shape[1]
        taps = self.conv.weight.view(k)  # w^1 .. w^k
        half = (k - 1) // 2
        # Eq. (8): sum_j w^j y_{i+j-(k+1)/2}: tap j reads channel i + (j - half); zero padding means
        # a shifted tap only touches the channels where the shifted index exists
        out = y * taps[half]  # B C, the centre tap
        for j in range(k):
            shift = j - half
            if shift == 0 or abs(shift) >= c:
                continue
            if shift < 0:
                out[:, -shift:].addcmul_(y[:, : c + shift], taps[j])  # B C
            else:
                out[:, : c - shift].addcmul_(y[:, shift:], taps[j])  # B C
        return out

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, channel={self.channel}, impl={self.impl!r}"

    def num_params_formula(self) -> int:
        return self.kernel_size

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, c = x_shape[0], x_shape[1]
        return 2 * b * c * self.kernel_size
