"""Scaled dot-product multi-head attention (the Transformer's self-attention).

Paper: Ashish Vaswani, Noam Shazeer, Niki Parmar, Jakob Uszkoreit, Llion Jones, Aidan N. Gomez,
Lukasz Kaiser, Illia Polosukhin. *Attention Is All You Need*. NeurIPS 2017.
https://arxiv.org/abs/1706.03762
Official code: https://github.com/tensorflow/tensor2tensor. Checked numerically against the peer
``torch.nn.MultiheadAttention`` (equal outputs once the weights are copied, see :meth:`from_torch`).

Deviations from the paper:
- ``d_k`` and ``d_v`` are the widths of ONE head, as in the External-Attention-pytorch collection,
  whose users write ``ScaledDotProductAttention(d_model=512, d_k=512, d_v=512, h=8)`` (an inner
  width h*d_k = 4096, eight times the paper's). The paper's choice d_k = d_v = d_model / h is what
  ``d_k=None, d_v=None`` (the default) gives.
- Dropout sits on the attention probabilities and defaults to 0.0. The paper applies dropout to the
  output of each sub-layer, before the residual addition; that belongs to the host block. The
  collection defaults to 0.1 on the probabilities.
- The collection's ``attention_weights`` argument (a multiplicative factor on the logits) is not in
  the paper and is not provided.
- A query whose keys are all masked raises ValueError (the softmax would divide 0 by 0 and give NaN,
  silently, in the collection).
- This is the attention sub-layer only: no residual connection, no LayerNorm, no feed-forward
  network (the host block's business).
- Double backward (a gradient of a gradient): ``impl="fast"`` runs the fused kernel of
  ``F.scaled_dot_product_attention``, which has no second derivative; differentiating a gradient
  through it raises a RuntimeError naming this module and the remedy, ``impl="reference"`` (which
  supports it), instead of torch's message about ``aten::_scaled_dot_product_*_backward``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .. import _checks, _layers
from ..introspect import AttentionModule


class ScaledDotProductAttention(AttentionModule):
    r"""Multi-head scaled dot-product attention: every query mixes the values of the keys it matches.

    Eq. (1):   :math:`\mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\left(\frac{QK^\top}{\sqrt{d_k}}\right) V`

    Multi-head attention (section 3.2.2, unnumbered):
    :math:`\mathrm{MultiHead}(Q, K, V) = \mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h)\, W^O`,
    with :math:`\mathrm{head}_i = \mathrm{Attention}(Q W_i^Q, K W_i^K, V W_i^V)`,
    :math:`W_i^Q, W_i^K \in \mathbb{R}^{d_{model} \times d_k}`, :math:`W_i^V \in \mathbb{R}^{d_{model} \times d_v}`,
    :math:`W^O \in \mathbb{R}^{h d_v \times d_{model}}`. Here the h projections of each kind are one
    ``nn.Linear`` (``fc_q``, ``fc_k``, ``fc_v``) and :math:`W^O` is ``fc_o``; all have biases.

    **Mask convention: ``True`` means MASKED OUT** (the key is hidden from the query), as in the
    External-Attention-pytorch collection and ``nn.MultiheadAttention``. This is the OPPOSITE of
    ``torch.nn.functional.scaled_dot_product_attention``, where a boolean ``True`` means "takes part".

    Args:
        d_model: width of the tokens (input and output).
        d_k: width of the queries and keys of ONE head; ``None`` gives the paper's ``d_model // h``.
        d_v: width of the values of ONE head; ``None`` gives ``d_model // h``.
        h: number of heads.
        dropout: dropout probability on the attention probabilities (training only). Default 0.0.
        impl: ``"fast"`` runs ``F.scaled_dot_product_attention``; ``"reference"`` writes Eq. (1) out
            (logits, mask, softmax, dropout, weighted sum). The reference path also runs while the
            module is being captured, since the fused kernel does not expose the weights.

    Forward:
        ``forward(queries, keys, values, attention_mask=None)``; ``attention_mask`` is a bool tensor
        broadcastable to ``(B, h, N, M)`` (e.g. ``(B, 1, 1, M)`` for padded keys, ``(N, M)`` for a
        causal mask), ``True`` = masked out.

    Shape:
        - queries: ``(B, N, d_model)``; keys, values: ``(B, M, d_model)`` (M may differ from N)
        - Output: ``(B, N, d_model)``

    Complexity:
        params ``= 2 (d_model h d_k + h d_k) + (d_model h d_v + h d_v) + (h d_v d_model + d_model)``;
        FLOPs ``= 2 B [N d_model h d_k + M d_model h d_k + M d_model h d_v + N h d_v d_model]``
        ``+ 2 B h N M (d_k + d_v)`` (the four projections, then :math:`QK^\top` and the weighted sum).

    Emits:
        ``heads``: the attention probabilities of every head (after the mask, before dropout),
        dims ``B h N M``, kind ``token``.

    Example:
        >>> sa = ScaledDotProductAttention(d_model=512, d_k=512, d_v=512, h=8)
        >>> x = torch.randn(2, 49, 512)
        >>> sa(x, x, x).shape
        torch.Size([2, 49, 512])

    See the book: chapter "Self-attention" (book/self_attention).
    """

    def __init__(
        self,
        d_model: int = 512,
        d_k: int | None = None,
        d_v: int | None = None,
        h: int = 8,
        dropout: float = 0.0,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.d_model = _checks.check_int(name, "d_model", d_model)
        self.h = _checks.check_int(name, "h", h)
        self.d_k, self.d_v = _checks.head_widths(name, d_model, h, d_k, d_v)
        p = _checks.check_float(name, "dropout", dropout, low=0.0, high=1.0)
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)

        self.fc_q = nn.Linear(d_model, h * self.d_k)  # W^Q_1..h
        self.fc_k = nn.Linear(d_model, h * self.d_k)  # W^K_1..h
        self.fc_v = nn.Linear(d_model, h * self.d_v)  # W^V_1..h
        self.fc_o = nn.Linear(h * self.d_v, d_model)  # W^O
        self.dropout = nn.Dropout(p)
        for fc in (self.fc_q, self.fc_k, self.fc_v, self.fc_o):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}, h={self.h}, impl={self.impl!r}"

    @classmethod
    def from_torch(cls, mha: nn.MultiheadAttention) -> ScaledDotProductAttention:
        """An equal module with the weights of ``mha`` copied (``batch_first`` does not matter).

        ``nn.MultiheadAttention`` packs :math:`W^Q, W^K, W^V` into ``in_proj_weight`` (rows in that
        order); a module built without biases gets zero biases here.
        """
        name = cls.__name__
        if not isinstance(mha, nn.MultiheadAttention):
            raise TypeError(f"{name}.from_torch: expected an nn.MultiheadAttention, got {type(mha).__name__}")
        if not mha._qkv_same_embed_dim:
            raise ValueError(f"{name}.from_torch: needs kdim == vdim == embed_dim, got kdim={mha.kdim}, "
                             f"vdim={mha.vdim}, embed_dim={mha.embed_dim}")
        if mha.bias_k is not None or mha.bias_v is not None or mha.add_zero_attn:
            raise ValueError(f"{name}.from_torch: add_bias_kv and add_zero_attn are not in the paper and not supported")
        e, h = mha.embed_dim, mha.num_heads
        weight = mha.in_proj_weight
        module = cls(d_model=e, h=h, dropout=float(mha.dropout)).to(device=weight.device, dtype=weight.dtype)
        bias = mha.in_proj_bias if mha.in_proj_bias is not None else torch.zeros_like(weight[:, 0])
        with torch.no_grad():
            for i, fc in enumerate((module.fc_q, module.fc_k, module.fc_v)):
                fc.weight.copy_(weight[i * e:(i + 1) * e])
                fc.bias.copy_(bias[i * e:(i + 1) * e])
            module.fc_o.weight.copy_(mha.out_proj.weight)
            if mha.out_proj.bias is not None:
                module.fc_o.bias.copy_(mha.out_proj.bias)
            else:
                module.fc_o.bias.zero_()
        return module

    def _check_mask(self, mask: object, b: int, n: int, m: int) -> Tensor:
        name = type(self).__name__
        target = (b, self.h, n, m)
        if not isinstance(mask, Tensor):
            raise TypeError(f"{name}: attention_mask must be a torch.Tensor, got {type(mask).__name__}")
        if mask.dtype != torch.bool:
            raise TypeError(f"{name}: attention_mask must be a bool tensor (True = masked out), got dtype {mask.dtype}")
        try:
            fits = torch.broadcast_shapes(mask.shape, target) == target
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(f"{name}: attention_mask must be broadcastable to (B, h, N, M) = {target}, "
                             f"got shape {tuple(mask.shape)}")
        if mask.expand(target).all(dim=-1).any():
            raise ValueError(f"{name}: attention_mask hides every key from some query (a row of True); "
                             "its softmax would be 0/0 = NaN. True means masked out.")
        return mask

    def forward(self, queries: Tensor, keys: Tensor, values: Tensor, attention_mask: Tensor | None = None) -> Tensor:
        name = type(self).__name__
        b, n, _ = _checks.expect_shape(name, "queries", queries, "B N C", C=self.d_model)
        bk, m, _ = _checks.expect_shape(name, "keys", keys, "B M C", C=self.d_model)
        bv, mv, _ = _checks.expect_shape(name, "values", values, "B M C", C=self.d_model)
        if not b == bk == bv:
            raise ValueError(f"{name}: queries, keys and values must have the same batch size B, "
                             f"got {b}, {bk}, {bv}")
        if m != mv:
            raise ValueError(f"{name}: keys and values must have the same number of tokens M, got {m} and {mv}")
        mask = None if attention_mask is None else self._check_mask(attention_mask, b, n, m)

        # Eq. (head): head_i = Attention(Q W_i^Q, K W_i^K, V W_i^V): project, then split the heads
        q = rearrange(self.fc_q(queries), "B N (h d) -> B h N d", h=self.h)  # B N (h d) -> B h N d
        k = rearrange(self.fc_k(keys), "B M (h d) -> B h M d", h=self.h)  # B M (h d) -> B h M d
        v = rearrange(self.fc_v(values), "B M (h d) -> B h M d", h=self.h)  # B M (h d) -> B h M d

        if self.impl == "reference" or self.capturing:
            # Eq. (1): logits QK^T / sqrt(d_k)
            logits = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # B h N d, B h d M -> B h N M
            if mask is not None:
                logits = logits.masked_fill(mask, float("-inf"))  # True = masked out
            # Eq. (1): softmax over the keys
            attn = logits.softmax(dim=-1)  # B h N M
            self._emit("heads", attn, "B h N M", "token")
            attn = self._site("heads", attn)  # B h N M (an ablation may replace it)
            # Eq. (1): the weighted sum of the values
            out = self.dropout(attn) @ v  # B h N M, B h M d -> B h N d
        else:
            # Eq. (1) fused; SDPA's bool mask means "takes part", so it gets the complement
            out = F.scaled_dot_product_attention(
                q, k, v,
                attn_mask=None if mask is None else ~mask,
                dropout_p=self.dropout.p if self.training else 0.0,
            )  # B h N d
            _layers.guard_fused_sdpa(name, out, q, k, v)  # no double backward: say so, and what to do

        # Eq. (MultiHead): Concat(head_1, ..., head_h) W^O
        out = rearrange(out, "B h N d -> B N (h d)")  # B h N d -> B N (h d)
        return self.fc_o(out)

    def num_params_formula(self) -> int:
        c, h, dk, dv = self.d_model, self.h, self.d_k, self.d_v
        return 2 * (c * h * dk + h * dk) + (c * h * dv + h * dv) + (h * dv * c + c)

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        """FLOPs of ``self(q, k, v)`` on the reference path: ``x_shape`` the queries', ``kv_shape`` the keys'
        and values' (default: the queries'); the grid ``H``, ``W`` does not enter."""
        b, n = x_shape[0], x_shape[1]
        m = n if kv_shape is None else kv_shape[1]
        c, h, dk, dv = self.d_model, self.h, self.d_k, self.d_v
        projections = n * c * h * dk + m * c * h * dk + m * c * h * dv + n * h * dv * c
        return 2 * b * projections + 2 * b * h * n * m * (dk + dv)
