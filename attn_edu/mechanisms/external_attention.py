"""External Attention (EA): attention to two small learned memories instead of to the other tokens.

Paper: Meng-Hao Guo, Zheng-Ning Liu, Tai-Jiang Mu, Shi-Min Hu. *Beyond Self-attention: External
Attention using Two Linear Layers for Visual Tasks*. IEEE TPAMI 2022 (arXiv 2021).
https://arxiv.org/abs/2105.02358
Official code: https://github.com/MenghaoGuo/EANet, ``model_torch.py`` (class ``External_attention``).

Deviations from the paper:
- This is the external-attention unit of the paper's pseudo-code (memories M_k, M_v and the double
  normalisation) without its leading ``query_linear``, and without the official segmentation block's
  1x1 conv before it and 1x1 conv + BN, residual addition and ReLU after it: those belong to the host
  block. The External-Attention-pytorch collection makes the same cut (``ExternalAttention(d_model, S)``).
- Only the single-head unit. The multi-head external attention of the paper (and EAMLP) is not
  implemented.
- The l1 normalisation adds 1e-9 to its denominator, as the official code does (the paper writes
  the plain ratio; the collection adds nothing).
- Init follows what the official code actually produces. There, ``linear_1.weight.data`` is set to
  a permuted VIEW of ``linear_0.weight``, so the init loop's second ``normal_`` (std sqrt(2/n) with
  n = out_channels of ``linear_1`` = d_model) overwrites the first (std sqrt(2/S)): both memories
  start from ONE draw W ~ N(0, 2/d_model), with M_k = W and M_v = W^T. Here M_v is a copy of M_k^T
  and the two are independent parameters from then on. In the official code they share storage:
  a ``.to()`` that changes neither dtype nor device (``.to()``, ``.cpu()`` on a CPU model,
  ``.to(torch.float32)`` on a float32 model) keeps it shared; a dtype change
  (``.to(torch.float64)``, measured) or a device change (``.cuda()``: PyTorch copies each parameter
  alike) gives each its own copy. The collection uses independent N(0, 0.001^2) weights.
- The ``# Eq. (name)`` comments name the steps (``EA-logits``, ``EA-softmax-tokens``, ``EA-l1-units``,
  ``EA-out``, ``EA-single-softmax``), the chapter's equation tags.
- ``normalization="softmax"`` (a single softmax over the memory units, as self-attention normalises
  over the keys) is an addition for the book's comparison; the paper's method is ``"double"``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from ..introspect import AttentionModule

EPS = 1e-9  # the official code's epsilon in the l1 normalisation


class ExternalAttention(AttentionModule):
    r"""External attention: each token is rebuilt from S learned memory units shared by all inputs.

    With the input :math:`F \in \mathbb{R}^{N \times d}` (one sample) and two memories
    :math:`M_k, M_v \in \mathbb{R}^{S \times d}` (``mk.weight`` and ``mv.weight.T``):

    - attention to the memory: :math:`A = \mathrm{Norm}(F M_k^\top) \in \mathbb{R}^{N \times S}`,
    - output: :math:`F_{out} = A M_v`,

    where Norm is the paper's double normalisation of :math:`\tilde\alpha = F M_k^\top`: a softmax
    over the TOKENS, :math:`\hat\alpha_{i,j} = \exp(\tilde\alpha_{i,j}) / \sum_k \exp(\tilde\alpha_{k,j})`,
    then an l1 normalisation over the MEMORY UNITS,
    :math:`\alpha_{i,j} = \hat\alpha_{i,j} / \sum_k \hat\alpha_{i,k}` (with 1e-9 added to the sum,
    as in the official code). Each row of A sums to 1. The paper's pseudo-code::

        attn = M_k(F)                      # B N S
        attn = softmax(attn, dim=1)        # over the N tokens
        attn = l1_norm(attn, dim=2)        # over the S units
        out = M_v(attn)                    # B N d

    With ``normalization="softmax"``, Norm is a single softmax over the S units (the way
    self-attention normalises over its keys), for comparison.

    Args:
        d_model: width d of the tokens (input and output).
        S: number of memory units. The paper recommends 64; the collection's example uses 8.
        normalization: ``"double"`` (the paper) or ``"softmax"`` (a single softmax over S).

    Shape:
        - Input: ``(B, N, d_model)`` (a feature map must be flattened to tokens, ``B C H W -> B N C``)
        - Output: ``(B, N, d_model)``

    With a single token (N = 1) the softmax over the tokens is 1 for every unit, so A = 1/S
    everywhere and the output, the mean of the S value memories, does not depend on the input.

    Complexity:
        params ``= 2 d_model S``;
        FLOPs ``= 2 B N d S * 2`` (the two memory products; the normalisations are not counted).
        Linear in N, where self-attention is quadratic.

    Emits:
        ``memory``: the normalised responses A of the memory units, dims ``B N S``, kind ``memory``.

    Example:
        >>> ea = ExternalAttention(d_model=512, S=8)
        >>> ea(torch.randn(2, 49, 512)).shape
        torch.Size([2, 49, 512])

    See the book: chapter "External attention" (book/external_attention).
    """

    def __init__(self, d_model: int = 512, S: int = 64, normalization: str = "double") -> None:
        super().__init__()
        name = type(self).__name__
        self.d_model = _checks.check_int(name, "d_model", d_model)
        self.S = _checks.check_int(name, "S", S)
        self.normalization = _checks.check_choice(name, "normalization", normalization, ("double", "softmax"))
        self.mk = nn.Linear(d_model, S, bias=False)  # M_k
        self.mv = nn.Linear(S, d_model, bias=False)  # M_v (stored transposed, as nn.Linear does)
        with torch.no_grad():
            # official init (see the header): one draw W ~ N(0, 2/d_model), M_k = W, M_v = W^T (a copy)
            self.mk.weight.normal_(0.0, math.sqrt(2.0 / d_model))
            self.mv.weight.copy_(self.mk.weight.t())

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, S={self.S}, normalization={self.normalization!r}"

    def forward(self, x: Tensor) -> Tensor:
        _checks.expect_shape(type(self).__name__, "x", x, "B N C", C=self.d_model)
        # Eq. (EA-logits): alpha~ = F M_k^T, the response of each memory unit to each token
        attn = self.mk(x)  # B N C -> B N S
        if self.normalization == "double":
            # Eq. (EA-softmax-tokens): softmax over the tokens, alpha^_ij = exp(alpha~_ij) / sum_k exp(alpha~_kj)
            attn = attn.softmax(dim=1)  # B N S
            # Eq. (EA-l1-units): l1 over the memory units, alpha_ij = alpha^_ij / sum_k alpha^_ik
            attn = attn / attn.sum(dim=2, keepdim=True).add_(EPS)  # B N S (the official 1e-9 in the sum)
        else:
            # Eq. (EA-single-softmax): single softmax over the memory units (self-attention's normalisation)
            attn = attn.softmax(dim=2)  # B N S
        self._emit("memory", attn, "B N S", "memory")
        attn = self._site("memory", attn)  # B N S (an ablation may replace it)
        # Eq. (EA-out): F_out = A M_v
        return self.mv(attn)  # B N S -> B N C

    def num_params_formula(self) -> int:
        return 2 * self.d_model * self.S

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        self._one_input(kv_shape)
        b, n = x_shape[0], x_shape[1]
        return 2 * b * n * self.d_model * self.S * 2
