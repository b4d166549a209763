r"""Dual Attention Network (DANet): position attention + channel attention.

Paper: Jun Fu, Jing Liu, Haijie Tian, Yong Li, Yongjun Bao, Zhiwei Fang, Hanqing Lu. *Dual
Attention Network for Scene Segmentation*. CVPR 2019. https://arxiv.org/abs/1809.02983
Official code: https://github.com/junfu1115/DANet (``encoding/nn/da_att.py``: ``PAM_Module``,
``CAM_Module``; the head in ``encoding/models/sseg/danet.py``).

Deviations from the paper:
- This is the DANet head's attention part as a C -> C drop-in block: two branches, each
  ``Conv(k x k, no bias) + BN + ReLU`` then PAM or CAM, fused by a sum. In the paper's head the
  first convolution also reduces the width (C -> C/4), each module is followed by another
  Conv-BN-ReLU, and a dropout + 1x1 classifier comes after the sum; those belong to the
  segmentation network and are not part of this module.
- ``cam="paper"`` (default) is the paper's Eq. (3), softmax of :math:`A A^\top`.
  ``cam="official"`` reproduces the official ``CAM_Module``, softmax of ``max(E) - E``: softmax
  is shift-invariant, so that is softmax of :math:`-E`, which gives *more* weight to the channels
  *least* similar to channel j (the authors say it prevents loss divergence).
- No :math:`1/\sqrt{d}` scaling in PAM, as in the paper and the official code. ``impl="reference"``
  (the default) writes Eqs. (1)-(2) out, and runs whenever a :func:`~attn_edu.capture` is open;
  ``impl="fast"`` runs PAM with ``F.scaled_dot_product_attention(..., scale=1.0)`` (the value may
  be wider than query and key). The fused call is opt-in: on a CPU it takes the math fallback for
  these shapes and won no time, at the compatibility call in three fresh processes (readable /
  fused time 1.00 to 1.01 forward, 0.98 to 0.99 forward and backward, 2026-12-02) nor at 4,096
  tokens (the DANet chapter); a GPU may pick a fused kernel for it. Where torch does, a double
  backward through ``impl="fast"`` raises a RuntimeError naming this module and the remedy
  ``impl="reference"``.
- Every BatchNorm is :class:`attn_edu._layers.BatchNorm` (batch 1 on a 1x1 map trains).
- Differences from the External-Attention-pytorch collection, whose call
  ``DAModule(d_model=512, kernel_size=3, H=7, W=7)`` we keep:

  * the collection ignores its arguments and always builds 512 channels on 7x7 maps (its issue
    #56: 256 channels on 16x16 fails); here ``d_model`` and ``kernel_size`` are used and any H, W
    works. ``H`` and ``W`` are accepted and stored for compatibility only: the size comes from
    the input;
  * the collection uses full-width Q/K/V Linears with :math:`1/\sqrt{d}` scaling, an output
    projection and dropout in PAM, a learned 49x49 Linear over positions in CAM, no
    :math:`\alpha, \beta`, no identity, and a bias conv without BN/ReLU before each branch;
    we follow the paper: Q and K reduced to ``C // reduction`` (official 8), V at C, no output
    projection, no dropout, :math:`\alpha, \beta` learnable and initialised to 0.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import _checks, _layers
from .._layers import BatchNorm
from ..introspect import AttentionModule

CAMS = ("paper", "official")


class DAModule(AttentionModule):
    r"""DANet dual attention: self-attention over positions (PAM) plus over channels (CAM), summed.

    Notation of the paper: A is a branch's feature map (C x N, N = H W). PAM maps A through three
    1x1 convolutions to B and C (width C/r) and D (width C); here ``key_conv`` gives B,
    ``query_conv`` gives C and ``value_conv`` gives D (the official names).

    Eq. (1), position attention, over all positions i for each position j:
    :math:`s_{ji} = \frac{\exp(B_i \cdot C_j)}{\sum_{i=1}^{N} \exp(B_i \cdot C_j)}` (no scaling)

    Eq. (2): :math:`E_j = \alpha \sum_{i=1}^{N} (s_{ji} D_i) + A_j`, :math:`\alpha` learnable, init 0

    Eq. (3), channel attention, directly on A (no projections):
    :math:`x_{ji} = \frac{\exp(A_i \cdot A_j)}{\sum_{i=1}^{C} \exp(A_i \cdot A_j)}`

    Eq. (4): :math:`E_j = \beta \sum_{i=1}^{C} (x_{ji} A_i) + A_j`, :math:`\beta` learnable, init 0

    Output: :math:`E^{\mathrm{PAM}} + E^{\mathrm{CAM}}` (the head's sum fusion), each branch with its
    own ``Conv(k x k) + BN + ReLU`` producing its A.

    Fast path (``impl="fast"``), equivalent to Eqs. (1)-(2) written out::

        S = softmax(Q @ K.T, dim=-1)           # Q: B N C/r (C_j), K: B N C/r (B_i)
        ctx = S @ V                            # V: B N C (D_i)
        ctx = F.scaled_dot_product_attention(Q, K, V, scale=1.0)   # the same, fused

    Args:
        d_model: number of channels C of the input.
        kernel_size: side k of each branch's first convolution, odd (padding ``k // 2``).
        H, W: accepted for compatibility with the collection and stored; not needed, the spatial
            size comes from the input (any H, W works).
        reduction: width divisor of PAM's query and key (``C // reduction``). Official 8.
        cam: ``"paper"`` (Eq. (3)) or ``"official"`` (softmax of ``max(E) - E``, see the header).
        impl: ``"reference"`` (default: the equations written out) or ``"fast"`` (fused SDPA for
            PAM; opt-in, see the header).

    Shape:
        - Input: ``(B, C, H, W)``, any H, W >= 1
        - Output: ``(B, C, H, W)``

    Complexity:
        with :math:`c = C // r` and :math:`N = H W`: params
        ``= 2 C^2 k^2 + 4 C`` (two branch convs and BNs) ``+ 2 (C c + c) + C^2 + C + 1`` (PAM)
        ``+ 1`` (CAM's :math:`\beta`);
        FLOPs ``= 2 B N (2 C^2 k^2 + 2 C c + C^2) + 2 B N^2 (c + C) + 4 B C^2 N`` (the two
        branch convs, the three 1x1 convs, PAM's two matmuls, CAM's two matmuls).

    Emits:
        ``position``: the PAM weights :math:`s_{ji}` (query j, key i), dims ``B h N M`` with h = 1,
        kind ``token``, ``hw = kv_hw = (H, W)``;
        ``channel_affinity``: the CAM weights :math:`x_{ji}`, dims ``B C C``, kind ``channel``.

    Example:
        >>> da = DAModule(d_model=512, kernel_size=3, H=7, W=7)
        >>> da(torch.randn(2, 512, 7, 7)).shape
        torch.Size([2, 512, 7, 7])

    See the book: chapter "DANet" (book/danet).
    """

    def __init__(
        self,
        d_model: int = 512,
        kernel_size: int = 3,
        H: int | None = None,
        W: int | None = None,
        reduction: int = 8,
        cam: str = "paper",
        impl: str = "reference",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.d_model = _checks.check_int(name, "d_model", d_model)
        self.kernel_size = _checks.check_odd(name, "kernel_size", kernel_size)
        self.H = None if H is None else _checks.check_int(name, "H", H)
        self.W = None if W is None else _checks.check_int(name, "W", W)
        _checks.check_reduction(name, self.d_model, reduction, channel_name="d_model")  # query/key width C//r
        self.reduction = reduction
        self.cam = _checks.check_choice(name, "cam", cam, CAMS)
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)
        c, c_qk = d_model, d_model // reduction
        # position branch: A = ReLU(BN(conv(x))), then PAM
        self.pam_conv = nn.Conv2d(c, c, kernel_size, padding=kernel_size // 2, bias=False)
        self.pam_bn = BatchNorm(c)
        self.query_conv = nn.Conv2d(c, c_qk, 1)  # the paper's C
        self.key_conv = nn.Conv2d(c, c_qk, 1)  # the paper's B
        self.value_conv = nn.Conv2d(c, c, 1)  # the paper's D
        self.alpha = nn.Parameter(torch.zeros(1))
        # channel branch: A = ReLU(BN(conv(x))), then CAM
        self.cam_conv = nn.Conv2d(c, c, kernel_size, padding=kernel_size // 2, bias=False)
        self.cam_bn = BatchNorm(c)
        self.beta = nn.Parameter(torch.zeros(1))

    def position_attention(self, a: Tensor) -> Tensor:
        """PAM, Eqs. (1)-(2), on a branch feature map ``a`` (B C H W)."""
        h, w = a.shape[2], a.shape[3]
        q = self.query_conv(a).flatten(2).transpose(1, 2)  # B c H W -> B N c  (C_j)
        k = self.key_conv(a).flatten(2).transpose(1, 2)  # B c H W -> B M c  (B_i)
        v = self.value_conv(a).flatten(2).transpose(1, 2)  # B C H W -> B M C  (D_i)
        if self.impl == "reference" or self.capturing:
            # Eq. (1): s_ji = exp(B_i . C_j) / sum_i exp(B_i . C_j), no 1/sqrt(d)
            s = torch.softmax(q @ k.transpose(1, 2), dim=-1)  # B N c, B c M -> B N M
            self._emit("position", s[:, None], "B h N M", "token", hw=(h, w), kv_hw=(h, w))  # B N M -> B h N M
            s = self._site("position", s)  # B N M (an ablation may replace it)
            ctx = s @ v  # B N M, B M C -> B N C
        else:
            # Eq. (1) fused: softmax(Q K^T) V with scale=1.0
            q, k, v = q[:, None], k[:, None], v[:, None]  # B N c -> B h N c (h = 1)
            ctx = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # B h N C
            _layers.guard_fused_sdpa(type(self).__name__, ctx, q, k, v)  # no double backward: say so
            ctx = ctx[:, 0]  # B h N C -> B N C
        ctx = ctx.transpose(1, 2).unflatten(2, (h, w))  # B N C -> B C H W
        # Eq. (2): E_j = alpha * sum_i s_ji D_i + A_j
        return self.alpha * ctx + a  # B C H W

    def channel_attention(self, a: Tensor) -> Tensor:
        """CAM, Eqs. (3)-(4), on a branch feature map ``a`` (B C H W)."""
        h, w = a.shape[2], a.shape[3]
        a_flat = a.flatten(2)  # B C H W -> B C N
        energy = a_flat @ a_flat.transpose(1, 2)  # B C N, B N C -> B C C
        if self.cam == "official":
            # official CAM_Module: softmax(max(E) - E), which equals softmax(-E)
            energy = energy.amax(dim=-1, keepdim=True) - energy  # B C C
        # Eq. (3): x_ji = exp(A_i . A_j) / sum_i exp(A_i . A_j)
        x_aff = torch.softmax(energy, dim=-1)  # B C C
        self._emit("channel_affinity", x_aff, "B C C", "channel")
        x_aff = self._site("channel_affinity", x_aff)  # B C C (an ablation may replace it)
        ctx = (x_aff @ a_flat).unflatten(2, (h, w))  # B C C, B C N -> B C N -> B C H W
        # Eq. (4): E_j = beta * sum_i x_ji A_i + A_j
        return self.beta * ctx + a  # B C H W

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B C H W", C=self.d_model)
        a_pos = torch.relu(self.pam_bn(self.pam_conv(x)))  # B C H W -> B C H W
        a_chn = torch.relu(self.cam_bn(self.cam_conv(x)))  # B C H W -> B C H W
        # the head's sum fusion: E^PAM + E^CAM
        return self.position_attention(a_pos) + self.channel_attention(a_chn)  # B C H W

    def num_params_formula(self) -> int:
        c, c_qk, k = self.d_model, self.d_model // self.reduction, self.kernel_size
        branches = 2 * c * c * k * k + 4 * c
        pam = 2 * (c * c_qk + c_qk) + c * c + c + 1
        return branches + pam + 1

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, _, h, w = x_shape
        n = h * w
        c, c_qk, k = self.d_model, self.d_model // self.reduction, self.kernel_size
        return 2 * b * n * (2 * c * c * k * k + 2 * c * c_qk + c * c) + 2 * b * n * n * (c_qk + c) + 4 * b * c * c * n
