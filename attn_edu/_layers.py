"""Small layers shared by several mechanisms."""

from __future__ import annotations

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
    contiguous blocks of ``C/2`` channels, where ``amax(dim=1)`` walks a strided axis.
    """
    while x.shape[1] > 1:
        c = x.shape[1]
        half = torch.maximum(x[:, : c // 2], x[:, c // 2 : 2 * (c // 2)])  # B C ... -> B C/2 ...
        x = torch.cat([half, x[:, 2 * (c // 2) :]], dim=1) if c % 2 else half  # odd C: keep the last one
    return x[:, 0]  # B 1 ... -> B ...
