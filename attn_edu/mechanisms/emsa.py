"""Efficient Multi-head Self-Attention (EMSA) of ResT.

Paper: Qinglong Zhang, Yubin Yang. *ResT: An Efficient Transformer for Visual Recognition*.
NeurIPS 2021. https://arxiv.org/abs/2105.13677
Official code: https://github.com/wofmanaf/ResT, ``models/rest.py`` (class ``Attention``).

Deviations from the paper:
- ``d_k`` and ``d_v`` are the widths of ONE head, as in the External-Attention-pytorch collection,
  whose users write ``EMSA(d_model=512, d_k=512, d_v=512, h=8, ...)``. ``None`` (the default) gives
  the paper's and official code's ``d_model // h``.
- Keys and values are separate inputs, each reduced (depthwise conv + LayerNorm) and projected; the
  official code builds both from the same ``x`` (self-attention, one ``kv`` Linear). With
  ``keys is values is queries`` the two agree. (The collection silently ignores ``keys`` and
  ``values`` when ``ratio > 1`` and reduces the queries; here they are always used.)
- ``apply_transform`` defaults to True; the official ``Attention`` and ``ResT`` classes default to
  False (the released ``rest_*`` models pass True).
- On a 1x1 grid (H = W = 1) with the transform, each head's attention map is a single value, which
  instance norm sets to 0: the output is ``fc_o.bias`` for every input. The official
  ``nn.InstanceNorm2d`` raises there, in training and in eval mode (it needs more than 1 spatial
  element).
- Q, K, V projections always have a bias (official: ``qkv_bias``, True in the released models).
- Attention dropout defaults to 0.0 (official default; the collection uses 0.1). No output dropout.
- No attention mask: the paper has none (the collection's mask is applied after the softmax and
  gives NaN).
- The grid (H, W) may be given at construction as a default; the official code takes it at call
  time only, which is also supported (``forward(..., H=, W=)``), and a square N is inferred.
- With an odd ``ratio`` the paper's reduction conv (kernel ratio+1, padding ratio//2) needs
  H, W >= 2; smaller grids raise ValueError instead of a convolution error.
- ``impl="fast"`` (default) computes the batch in slices (same arithmetic, fewer cache misses);
  without the transform it uses ``F.scaled_dot_product_attention``, with it per-head products on
  strided views and ``W^O`` applied head by head (no copies of the heads). Tested equal to
  ``impl="reference"``, on which FLOPs are counted. With the transform it is an inference path:
  where autograd records the forward, the reference path runs (it was the faster of the two for
  forward+backward; the fused kernel without the transform stays the faster in training).
- Init as the official code: trunc_normal(std 0.02) for Linear and Conv2d weights, zero Linear
  biases (conv biases keep PyTorch's default), LayerNorm 1/0.
- Half precision: the attention weights (head-mixing conv, softmax, instance norm) are computed in
  float32, with autocast off, and cast back to the dtype of the logits; the projections and the
  products with V run in the module's (or autocast's) dtype. In float16/bfloat16 throughout, the
  conv bias (about 0.3) dwarfs the logits (about 1e-3 at init), the softmax rounds to a uniform
  map and IN normalises rounding noise: the output was off by 100% (bfloat16: every token equal
  to ``fc_o.bias``) to 300% (float16). The official code runs all of it in the autocast dtype.
  The maps emitted while capturing are then in float32.
- ``impl="fast"`` without the transform uses the fused kernel of ``F.scaled_dot_product_attention``,
  which has no second derivative: a double backward through it raises a RuntimeError naming this
  module and the remedy (``impl="reference"``); the transform path and the reference path support it.

Equation markers: the ``# Eq. (name)`` comments name the steps (``EMSA-reduce``, ``EMSA-project``,
``EMSA-logits``, ``EMSA-mix``, ``EMSA-softmax``, ``EMSA-IN``, ``EMSA-weighted``, ``EMSA-concat``),
the chapter's equation tags.

See the book: chapter "EMSA (ResT)" (book/emsa).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import Tensor, nn

from .. import _checks, _layers
from ..introspect import AttentionModule


class EMSA(AttentionModule):
    r"""Efficient multi-head self-attention: attention to a spatially reduced set of keys, heads mixed.

    The keys and values (``B N C``, N = H W) are reshaped to a map, shrunk by a depthwise convolution
    of kernel s+1, stride s (s = ``ratio``) and normalised by a LayerNorm, giving M = H' W' tokens;
    then

    :math:`\mathrm{EMSA}(Q, K, V) = \mathrm{IN}(\mathrm{Softmax}(\mathrm{Conv}(QK^\top / \sqrt{d_k}))) V`

    where Conv is a 1x1 convolution across the h heads of the logits (it lets the heads interact) and
    IN an instance normalisation of each head's N x M map (no affine parameters), which restores the
    diversity of the heads. The heads are concatenated and projected, as in multi-head attention:
    :math:`\mathrm{Concat}(\mathrm{head}_1, \dots, \mathrm{head}_h) W^O`. With ``apply_transform=False``
    or h = 1 it is plain softmax attention to the reduced keys. After IN the rows of the attention
    no longer sum to 1 (they sum to about 0).

    Args:
        d_model: width C of the tokens (input and output).
        d_k: width of the queries and keys of ONE head; ``None`` gives ``d_model // h``.
        d_v: width of the values of ONE head; ``None`` gives ``d_model // h``.
        h: number of heads.
        H, W: default grid of the tokens (``N = H W``), used when ``forward`` gets none. Without
            either, a square N is taken as sqrt(N) x sqrt(N).
        ratio: spatial reduction s of the keys and values (1: no reduction).
        apply_transform: the head-mixing conv and the instance norm (only acts when h > 1).
        dropout: dropout on the attention map (training only). Default 0.0.
        impl: ``"fast"`` runs the batch in slices of about ``FAST_SLICE_BYTES`` of projected
            queries, and uses ``F.scaled_dot_product_attention`` where it is equivalent (no
            transform) or per-head products that copy no heads; not while capturing, nor with
            the transform where autograd records (training runs the reference path there).
            ``"reference"`` writes the equations out on the whole batch. Same result.

    Forward:
        ``forward(queries, keys, values, H=None, W=None)``. With ``ratio > 1`` keys and values must
        lie on the same H x W grid as the queries; with ``ratio == 1`` they may have any M.

    Shape:
        - queries: ``(B, N, d_model)`` with N = H W; keys, values: ``(B, M, d_model)``
        - Output: ``(B, N, d_model)``
        - M = H' W' with H' = (H + 2 (s//2) - (s+1)) // s + 1 (likewise W') when s > 1.

    Complexity:
        params ``= 2 (C h d_k + h d_k) + (C h d_v + h d_v) + (h d_v C + C)``
        ``+ [s > 1] (C (s+1)^2 + C + 2 C) + [transform] (h^2 + h)``;
        FLOPs (self-attention, keys = values = x) ``= 2 B [N C h d_k + M C h d_k + M C h d_v + N h d_v C]``
        ``+ 2 B h N M (d_k + d_v) + [s > 1] 2 B M C (s+1)^2 + [transform] 2 B N M h^2``.

    Emits:
        ``heads``: the softmax of every head, dims ``B h N M``, kind ``token``, ``hw=(H, W)``,
        ``kv_hw=(H', W')``; with the transform also ``heads_normalized``: the map after IN (what
        multiplies V), same dims.

    Example:
        >>> emsa = EMSA(d_model=512, d_k=512, d_v=512, h=8, H=8, W=8, ratio=2, apply_transform=True)
        >>> x = torch.randn(2, 64, 512)
        >>> emsa(x, x, x).shape
        torch.Size([2, 64, 512])

    See the book: chapter "EMSA (ResT)" (book/emsa).
    """

    FAST_SLICE_BYTES = 8 * 2**20
    """Target size of one batch slice's projected queries on the fast path: a quarter of a 32 MiB
    L3 cache. Slicing keeps the arithmetic and lowers the peak memory; the cost chapter measures
    both paths' time and peak memory at the compatibility call."""

    def __init__(
        self,
        d_model: int = 512,
        d_k: int | None = None,
        d_v: int | None = None,
        h: int = 8,
        H: int | None = None,
        W: int | None = None,
        ratio: int = 1,
        apply_transform: bool = True,
        dropout: float = 0.0,
        impl: str = "fast",
    ) -> None:
        super().__init__()
        name = type(self).__name__
        self.d_model = _checks.check_int(name, "d_model", d_model)
        self.h = _checks.check_int(name, "h", h)
        self.d_k, self.d_v = _checks.head_widths(name, d_model, h, d_k, d_v)
        if (H is None) != (W is None):
            raise ValueError(f"{name}: give both H and W or neither, got H={H}, W={W}")
        self.H = None if H is None else _checks.check_int(name, "H", H)
        self.W = None if W is None else _checks.check_int(name, "W", W)
        self.ratio = _checks.check_int(name, "ratio", ratio)
        if not isinstance(apply_transform, bool):
            raise TypeError(f"{name}: apply_transform must be a bool, got {type(apply_transform).__name__}")
        self.apply_transform = apply_transform
        self.transform = apply_transform and h > 1  # the official code's rule
        p = _checks.check_float(name, "dropout", dropout, low=0.0, high=1.0)
        self.impl = _checks.check_choice(name, "impl", impl, _checks.IMPLS)

        self.fc_q = nn.Linear(d_model, h * self.d_k)
        self.fc_k = nn.Linear(d_model, h * self.d_k)
        self.fc_v = nn.Linear(d_model, h * self.d_v)
        self.fc_o = nn.Linear(h * self.d_v, d_model)
        if self.ratio > 1:
            s = self.ratio
            self.sr_conv = nn.Conv2d(d_model, d_model, kernel_size=s + 1, stride=s, padding=s // 2, groups=d_model)
            self.sr_norm = nn.LayerNorm(d_model)
        if self.transform:
            self.transform_conv = nn.Conv2d(h, h, kernel_size=1)  # mixes the heads
            self.transform_norm = nn.InstanceNorm2d(h)  # no affine, eps 1e-5
        self.dropout = nn.Dropout(p)

        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Conv2d):
                nn.init.trunc_normal_(module.weight, std=0.02)

    def extra_repr(self) -> str:
        return (f"d_model={self.d_model}, d_k={self.d_k}, d_v={self.d_v}, h={self.h}, H={self.H}, W={self.W}, "
                f"ratio={self.ratio}, apply_transform={self.apply_transform}, impl={self.impl!r}")

    def _grid(self, n: int, H: int | None, W: int | None) -> tuple[int, int]:
        """The query grid: from the call, else the constructor, else a square root of N."""
        name = type(self).__name__
        if (H is None) != (W is None):
            raise ValueError(f"{name}: give both H and W or neither, got H={H}, W={W}")
        if H is not None:
            H, W = _checks.check_int(name, "H", H), _checks.check_int(name, "W", W)
        elif self.H is not None and self.W is not None:  # the constructor takes both or neither
            H, W = self.H, self.W
        else:
            side = math.isqrt(n)
            if side * side != n:
                raise ValueError(f"{name}: cannot tell the grid of N={n} tokens (not a square); "
                                 "pass H and W to the constructor or to forward")
            H = W = side
        if n != H * W:
            raise ValueError(f"{name}: the queries have N={n} tokens but H*W = {H}*{W} = {H * W}")
        if self.ratio > 1 and self.ratio % 2 == 1 and min(H, W) < 2:
            raise ValueError(f"{name}: ratio={self.ratio} (odd) reduces with a {self.ratio + 1}x{self.ratio + 1} "
                             f"conv and padding {self.ratio // 2}, which needs H, W >= 2; got H={H}, W={W}")
        return H, W

    def _reduce(self, t: Tensor, H: int, W: int) -> tuple[Tensor, tuple[int, int]]:
        """Spatial reduction of keys or values: depthwise conv (kernel s+1, stride s), then LayerNorm."""
        t = rearrange(t, "B (H W) C -> B C H W", H=H, W=W)  # B N C -> B C H W
        # Eq. (EMSA-reduce): DWConv with kernel s+1, stride s (then LayerNorm, below)
        t = self.sr_conv(t)  # B C H W -> B C H' W'
        hw = (t.shape[2], t.shape[3])
        t = rearrange(t, "B C H W -> B (H W) C")  # B C H' W' -> B M C
        return self.sr_norm(t), hw

    def forward(
        self, queries: Tensor, keys: Tensor, values: Tensor, H: int | None = None, W: int | None = None
    ) -> Tensor:
        name = type(self).__name__
        b, n, _ = _checks.expect_shape(name, "queries", queries, "B N C", C=self.d_model)
        bk, m, _ = _checks.expect_shape(name, "keys", keys, "B M C", C=self.d_model)
        bv, mv, _ = _checks.expect_shape(name, "values", values, "B M C", C=self.d_model)
        if not b == bk == bv:
            raise ValueError(f"{name}: queries, keys and values must have the same batch size B, got {b}, {bk}, {bv}")
        if m != mv:
            raise ValueError(f"{name}: keys and values must have the same number of tokens M, got {m} and {mv}")
        H, W = self._grid(n, H, W)

        kv_hw: tuple[int, int] | None  # the keys' grid, where they have one
        if self.ratio > 1:
            if m != n:
                raise ValueError(f"{name}: with ratio={self.ratio} the keys and values are reduced on the "
                                 f"queries' {H}x{W} grid, so they need N={n} tokens, got M={m}")
            # reduce keys and values: DWConv(s+1, stride s) + LayerNorm
            k_in, kv_hw = self._reduce(keys, H, W)  # B N C -> B M C
            v_in = k_in if values is keys else self._reduce(values, H, W)[0]  # B N C -> B M C
        else:
            k_in, v_in = keys, values
            kv_hw = (H, W) if m == n else None

        if self.impl == "fast" and not self.capturing and not (self.transform and self._records_grad(queries)):
            # (With the transform and autograd recording, the reference path runs: there the slices
            # save nothing, every slice's activations are kept for the backward, and the 2h per-head
            # products add 2h graph nodes; fwd+bwd at the collection's call, six interleaved runs in
            # fresh processes: the reference path was faster in five.)
            # The batch in slices: each slice's projected queries (b N h d floats) stay near
            # FAST_SLICE_BYTES, so the big intermediates are reused from the caches (and from the
            # allocator's free list) instead of being written out to fresh memory, and the peak
            # memory falls; the arithmetic is the same.
            step = max(1, self.FAST_SLICE_BYTES // (n * self.h * max(self.d_k, self.d_v) * queries.element_size()))
            if step >= b:
                return self._attend_fast(queries, k_in, v_in)
            return torch.cat([self._attend_fast(queries[i:i + step], k_in[i:i + step], v_in[i:i + step])
                              for i in range(0, b, step)])  # B N C
        return self._attend(queries, k_in, v_in, (H, W), kv_hw)

    def _records_grad(self, queries: Tensor) -> bool:
        """Whether autograd records this forward (grad mode on, and the input or a weight needs grad)."""
        return torch.is_grad_enabled() and (queries.requires_grad or self.fc_q.weight.requires_grad)

    def _attend(self, queries: Tensor, k_in: Tensor, v_in: Tensor, hw: tuple[int, int],
                kv_hw: tuple[int, int] | None) -> Tensor:
        """Project, attend to the (reduced) keys and values, concatenate the heads and project back."""
        # Eq. (EMSA-project): Q = X W^Q, K = X' W^K, V = X' W^V, split into h heads
        q = rearrange(self.fc_q(queries), "B N (h d) -> B h N d", h=self.h)  # B N (h d) -> B h N d
        k = rearrange(self.fc_k(k_in), "B M (h d) -> B h M d", h=self.h)  # B M (h d) -> B h M d
        v = rearrange(self.fc_v(v_in), "B M (h d) -> B h M d", h=self.h)  # B M (h d) -> B h M d
        # Eq. (EMSA-logits): QK^T / sqrt(d_k)
        logits = q @ k.transpose(-2, -1) / math.sqrt(self.d_k)  # B h N d, B h d M -> B h N M
        attn = self._weights(logits, hw, kv_hw)  # B h N M
        # Eq. (EMSA-weighted): (.) V
        out = self.dropout(attn) @ v  # B h N M, B h M d -> B h N d
        # Eq. (EMSA-concat): Concat(head_1, ..., head_h) W^O
        out = rearrange(out, "B h N d -> B N (h d)")  # B h N d -> B N (h d)
        return self.fc_o(out)

    def _weights(self, logits: Tensor, hw: tuple[int, int] | None = None,
                 kv_hw: tuple[int, int] | None = None) -> Tensor:
        """The attention weights from the logits (``B h N M``): IN(Softmax(Conv(.))), or Softmax(.).

        Computed in at least float32 with autocast off, returned in the logits' dtype: in float16
        or bfloat16 the nearly uniform softmax (and the conv bias, which dwarfs the logits at init)
        leaves IN nothing but rounding noise to normalise.
        """
        dtype = logits.dtype
        with _layers.autocast_off(logits.device.type):
            logits = _layers.at_least_float32(logits)  # B h N M
            if self.transform:
                w, b = self.transform_conv.weight, self.transform_conv.bias
                assert b is not None  # transform_conv is built with a bias
                # Eq. (EMSA-mix): Conv(.), a 1x1 conv across the heads
                logits = F.conv2d(logits, w.to(logits.dtype), b.to(logits.dtype))  # B h N M
            # Eq. (EMSA-softmax): Softmax(.) over the keys
            attn = logits.softmax(dim=-1)  # B h N M
            self._emit("heads", attn, "B h N M", "token", hw=hw, kv_hw=kv_hw)
            if not self.transform:
                attn = self._site("heads", attn)  # B h N M (an ablation may replace it)
            else:
                if attn.shape[-2] * attn.shape[-1] > 1:
                    # Eq. (EMSA-IN): IN(.), instance norm of each head's N x M map
                    attn = self.transform_norm(attn)  # B h N M
                else:  # one element: x - mean(x) = 0 (InstanceNorm2d refuses a 1x1 map)
                    attn = attn - attn
                self._emit("heads_normalized", attn, "B h N M", "token", hw=hw, kv_hw=kv_hw)
                attn = self._site("heads_normalized", attn)  # B h N M (an ablation may replace it)
        return attn.to(dtype)

    def _attend_fast(self, queries: Tensor, k_in: Tensor, v_in: Tensor) -> Tensor:
        """``_attend`` without copying the heads apart or back together.

        Without the transform: the fused kernel. With it: each head's products run on strided
        views of the projections (``bmm`` takes them as they are), and ``W^O`` is applied head by
        head, ``Concat(head_1, ..., head_h) W^O = sum_i head_i W^O_i``, accumulated in place
        (under autocast, which does not cast in-place ops, ``W^O`` is cast to V's dtype once).
        """
        b, n, _ = queries.shape
        q, k, v = self.fc_q(queries), self.fc_k(k_in), self.fc_v(v_in)  # B N (h d), B M (h d), B M (h d)
        if not self.transform:
            q, k, v = (rearrange(t, "B N (h d) -> B h N d", h=self.h) for t in (q, k, v))  # views: B h N d
            out = F.scaled_dot_product_attention(q, k, v, dropout_p=self.dropout.p if self.training else 0.0)
            _layers.guard_fused_sdpa(type(self).__name__, out, q, k, v)
            return self.fc_o(rearrange(out, "B h N d -> B N (h d)"))  # B h N d -> B N (h d) -> B N C
        dk, dv = self.d_k, self.d_v
        logits = torch.stack([torch.bmm(q[..., i * dk:(i + 1) * dk], k[..., i * dk:(i + 1) * dk].transpose(1, 2))
                              for i in range(self.h)], dim=1) / math.sqrt(dk)  # h x (B N d, B d M) -> B h N M
        attn = self.dropout(self._weights(logits))  # B h N M
        # in V's dtype: autocast casts addmm but not the in-place addmm_ (a no-op without autocast)
        w_o, bias = self.fc_o.weight.to(v.dtype), self.fc_o.bias.to(v.dtype)  # C (h d_v), C
        y: Tensor | None = None  # (B N) C: bias + sum of head_i W^O_i over the heads so far
        for i in range(self.h):
            head = torch.bmm(attn[:, i], v[..., i * dv:(i + 1) * dv]).view(b * n, dv)  # B N M, B M d -> (B N) d
            w_i = w_o[:, i * dv:(i + 1) * dv].t()  # d_v C, the rows of W^O that head i meets
            y = torch.addmm(bias, head, w_i) if y is None else y.addmm_(head, w_i)  # (B N) C
        assert y is not None  # h >= 1 heads
        return y.view(b, n, self.d_model)  # (B N) C -> B N C

    def _reduced_size(self, size: int) -> int:
        s = self.ratio
        return (size + 2 * (s // 2) - (s + 1)) // s + 1

    def num_params_formula(self) -> int:
        c, h, dk, dv, s = self.d_model, self.h, self.d_k, self.d_v, self.ratio
        total = 2 * (c * h * dk + h * dk) + (c * h * dv + h * dv) + (h * dv * c + c)
        if s > 1:
            total += c * (s + 1) ** 2 + c + 2 * c  # depthwise conv (weight, bias) + LayerNorm
        if self.transform:
            total += h * h + h  # 1x1 conv over the heads
        return total

    def flops_formula(self, x_shape: tuple[int, ...], kv_shape: tuple[int, ...] | None = None, *,
                      H: int | None = None, W: int | None = None) -> int:
        """FLOPs of ``self(x, kv, kv, H=H, W=W)`` on the reference path (keys and values reduced once).

        ``kv`` is ``x`` unless ``kv_shape`` is given; with ``ratio > 1`` the keys are reduced on the
        queries' grid, so they must be as many as the queries (as in :meth:`forward`).
        """
        b, n = x_shape[0], x_shape[1]
        H, W = self._grid(n, H, W)
        c, h, dk, dv, s = self.d_model, self.h, self.d_k, self.d_v, self.ratio
        m_in = n if kv_shape is None else kv_shape[1]
        if s > 1 and m_in != n:
            raise ValueError(f"{type(self).__name__}: with ratio={s} the keys and values are reduced on the "
                             f"queries' {H}x{W} grid, so they need N={n} tokens, got M={m_in}")
        m = self._reduced_size(H) * self._reduced_size(W) if s > 1 else m_in
        flops = 2 * b * (n * c * h * dk + m * c * h * dk + m * c * h * dv + n * h * dv * c)
        flops += 2 * b * h * n * m * (dk + dv)
        if s > 1:
            flops += 2 * b * m * c * (s + 1) ** 2  # depthwise: one input channel per output channel
        if self.transform:
            flops += 2 * b * n * m * h * h
        return flops
