"""attn_edu: ten visual attention mechanisms, from scratch and faithful to their papers.

The package behind the book *Attention in Vision, Interactively*. Every mechanism is one file
in :mod:`attn_edu.mechanisms`; :data:`attn_edu.registry.MECHANISMS` lists them with their papers;
:func:`capture` hands back what any of them attends with.
"""

from .introspect import AttentionMap, AttentionModule, ablate, capture, per_image_mean
from .mechanisms import (
    BAMBlock,
    CBAMBlock,
    DAModule,
    ECAAttention,
    EMSA,
    ExternalAttention,
    PSA,
    ScaledDotProductAttention,
    SEAttention,
    SKAttention,
)
from .registry import MECHANISMS

__version__ = "0.1.0"

__all__ = [
    "AttentionMap",
    "AttentionModule",
    "BAMBlock",
    "CBAMBlock",
    "DAModule",
    "ECAAttention",
    "EMSA",
    "ExternalAttention",
    "MECHANISMS",
    "PSA",
    "SEAttention",
    "SKAttention",
    "ScaledDotProductAttention",
    "ablate",
    "capture",
    "per_image_mean",
]
