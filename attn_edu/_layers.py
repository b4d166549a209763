"""Small layers and helpers shared by several mechanisms (BatchNorm, channel max, half precision, SDPA guard)."""

from __future__ import annotations

import contextlib
from functools import partial

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class BatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over dim 1 of a (B, C, ...) tensor that also accepts one value per channel.

    ``nn.BatchNorm1d/2d`` raise in training when each channel has a single value (batch 1 with no
    spatial extent, e.g. SK's fuse vector or BAM's pooled channel vector): batch statistics are
    undefined there. This layer then normalises with the running statistics and leaves them
    unchanged, as in eval mode. Everything else, ``state_dict`` keys included, is
    ``nn.BatchNorm``'s.
    """

    def _check_input_dim(self, input: Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"BatchNorm: expected a (B, C, ...) tensor, got shape {tuple(input.shape)}")

    def forward(self, input: Tensor) -> Tensor:
        values_per_channel = input.numel() // input.shape[1]
        if self.training and values_per_channel == 1 and self.track_running_stats:
            return F.batch_norm(
                input, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps
            )
        return super().forward(input)


def channel_max(x: Tensor) -> Tensor:
    """``x.amax(dim=1)`` for a ``B C ...`` tensor, computed as pairwise maxima of channel halves.

    The same values (max is exact), faster on CPUs for NCHW maps: each step compares two
    contiguous blocks of ``C/2`` channels, where ``amax(dim=1)`` walks a strided axis. Only where
    no gradient is recorded: where autograd records the call, it is ``amax(dim=1)`` itself, whose
    backward is one scatter, where the halving's log2(C) steps each copy a gradient back (CBAM at
    its compatibility call: forward and backward took twice as long, measured 2026-12-02).
    """
    if torch.is_grad_enabled() and x.requires_grad:
        return x.amax(dim=1)
    while x.shape[1] > 1:
        c = x.shape[1]
        half = torch.maximum(x[:, : c // 2], x[:, c // 2 : 2 * (c // 2)])  # B C ... -> B C/2 ...
        x = torch.cat([half, x[:, 2 * (c // 2) :]], dim=1) if c % 2 else half  # odd C: keep the last one
    return x[:, 0]  # B 1 ... -> B ...


def autocast_dtype(device_type: str) -> torch.dtype | None:
    """The dtype ``torch.autocast`` casts to on ``device_type`` when it is on there, else None."""
    if torch.amp.is_autocast_available(device_type) and torch.is_autocast_enabled(device_type):
        return torch.get_autocast_dtype(device_type)
    return None


def autocast_off(device_type: str) -> contextlib.AbstractContextManager:
    """A context with ``torch.autocast`` off on ``device_type`` (a no-op where it is not on)."""
    if autocast_dtype(device_type) is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type, enabled=False)


def at_least_float32(t: Tensor) -> Tensor:
    """``t`` upcast to float32 if it is float16 or bfloat16; float32 and float64 as they are."""
    return t.float() if t.dtype in (torch.float16, torch.bfloat16) else t


class _NoDoubleBackward(torch.autograd.Function):
    """Identity; differentiating it raises the message it carries (see :func:`guard_fused_sdpa`)."""

    generate_vmap_rule = True  # torch.func transforms (grad, vmap) accept it

    @staticmethod
    def forward(grad: Tensor, message: str) -> Tensor:
        return grad.view_as(grad)

    @staticmethod
    def setup_context(ctx, inputs: tuple[Tensor, str], output: Tensor) -> None:
        ctx.message = inputs[1]

    @staticmethod
    def backward(ctx, _: Tensor) -> None:
        raise RuntimeError(ctx.message)


def _refuse_second_order(message: str, grad: Tensor) -> Tensor | None:
    # grad mode is on inside a backward pass only with create_graph=True: then the gradient gets a
    # node that raises ``message`` if it is differentiated; otherwise it is left as it is.
    return _NoDoubleBackward.apply(grad, message) if torch.is_grad_enabled() else None


def guard_fused_sdpa(where: str, out: Tensor, *inputs: Tensor) -> None:
    """Make a double backward through a fused ``F.scaled_dot_product_attention`` fail clearly.

    The fused kernels (flash, memory-efficient, cuDNN; on CPU the flash kernel) have no second
    derivative: a backward through the gradient they computed raises torch's ``derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented``, which names
    no module. When ``out`` came from such a kernel (its autograd node is a
    ``ScaledDotProduct*Backward``; the math fallback is made of ordinary differentiable ops and is
    left alone), hooks on ``inputs`` (the ``q, k, v`` given to it) put a node on their gradients,
    built only with ``create_graph=True``, that raises a message naming ``where`` and the remedy
    before torch's error is reached. First-order gradients are unchanged.
    """
    if out.grad_fn is None or not type(out.grad_fn).__name__.startswith("ScaledDotProduct"):
        return
    message = (f"{where}: double backward (a gradient of a gradient, e.g. a gradient penalty) is not "
               "supported by the fused F.scaled_dot_product_attention kernel of impl=\"fast\"; build the "
               "module with impl=\"reference\" (or set module.impl = \"reference\"), or run the forward "
               "under torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.MATH)")
    for t in inputs:
        if t.requires_grad:
            t.register_hook(partial(_refuse_second_order, message))
