"""The ten mechanisms and what the book, the lab and the benchmarks need to know about each.

``MECHANISMS`` is an ordered dict ``name -> Mechanism``; iterate over it instead of listing the
ten by hand. Each entry carries the paper's metadata, the mechanism's kind, its chapter, the call
users of the External-Attention-pytorch collection write (``example()``), a factory for any
channel count (``build(channels)``) and a uniform map-in/map-out adaptor (``apply``) so that a
backbone can host a token mechanism as easily as a channel gate.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

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


def _map_to_tokens(x: Tensor) -> Tensor:
    return x.flatten(2).transpose(1, 2)  # B C H W -> B N C


def _tokens_to_map(t: Tensor, h: int, w: int) -> Tensor:
    return t.transpose(1, 2).unflatten(2, (h, w))  # B N C -> B C H W


def _apply_map(module: nn.Module, x: Tensor) -> Tensor:
    return module(x)


def _apply_external(module: nn.Module, x: Tensor) -> Tensor:
    t = _map_to_tokens(x)
    return _tokens_to_map(module(t), x.shape[2], x.shape[3])


def _apply_self_attention(module: nn.Module, x: Tensor) -> Tensor:
    t = _map_to_tokens(x)
    return _tokens_to_map(module(t, t, t), x.shape[2], x.shape[3])


def _apply_emsa(module: nn.Module, x: Tensor) -> Tensor:
    t = _map_to_tokens(x)
    return _tokens_to_map(module(t, t, t, H=x.shape[2], W=x.shape[3]), x.shape[2], x.shape[3])


@dataclass(frozen=True)
class Mechanism:
    """Metadata and entry points of one mechanism.

    Attributes:
        name: short key, e.g. ``"se"``.
        cls: the module class in :mod:`attn_edu.mechanisms`.
        title, authors, venue, year, arxiv, official_code: the paper and the authors' code.
        kind: ``"channel"``, ``"spatial"`` or ``"token"`` -- what the weights range over.
        chapter: the book page, relative to the repository root (without suffix).
        compat_call: the constructor call users of External-Attention-pytorch write.
        compat_input: the input shape that call is documented with.
    """

    name: str
    cls: type[nn.Module]
    title: str
    authors: str
    venue: str
    year: int
    arxiv: str
    official_code: str
    kind: str
    chapter: str
    compat_call: str
    compat_input: tuple[int, ...]
    _build: Callable[[int], nn.Module]
    _apply: Callable[[nn.Module, Tensor], Tensor]

    def example(self, seed: int = 0) -> tuple[nn.Module, Tensor]:
        """The compatibility call and a seeded input of its documented shape."""
        torch.manual_seed(seed)
        module = eval(self.compat_call, {self.cls.__name__: self.cls})  # a literal call from this file
        x = torch.randn(self.compat_input, generator=torch.Generator().manual_seed(seed + 1))
        return module, x

    def call_example(self, module: nn.Module, x: Tensor) -> Tensor:
        """Call ``module`` on ``x`` the way users of the collection do (``sa(x, x, x)`` for tokens)."""
        if self.cls in (ScaledDotProductAttention, EMSA):
            return module(x, x, x)
        return module(x)

    def build(self, channels: int) -> nn.Module:
        """A module of this mechanism for a ``channels``-wide feature map (book/lab settings)."""
        return self._build(channels)

    def apply(self, module: nn.Module, x: Tensor) -> Tensor:
        """Run ``module`` on a B C H W map and return a B C H W map (tokens go through B N C)."""
        return self._apply(module, x)

    @property
    def citation(self) -> str:
        return f"{self.authors}. {self.title}. {self.venue} {self.year}. arXiv:{self.arxiv}"


_ENTRIES = [
    Mechanism(
        "self_attention", ScaledDotProductAttention, "Attention Is All You Need",
        "Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser, Polosukhin", "NeurIPS", 2017,
        "1706.03762", "https://github.com/tensorflow/tensor2tensor", "token", "book/self_attention",
        "ScaledDotProductAttention(d_model=512, d_k=512, d_v=512, h=8)", (50, 49, 512),
        lambda c: ScaledDotProductAttention(d_model=c, d_k=max(1, c // 4), d_v=max(1, c // 4), h=4),
        _apply_self_attention,
    ),
    Mechanism(
        "external_attention", ExternalAttention,
        "Beyond Self-attention: External Attention using Two Linear Layers for Visual Tasks",
        "Guo, Liu, Mu, Hu", "IEEE TPAMI", 2022, "2105.02358", "https://github.com/MenghaoGuo/EANet",
        "token", "book/external_attention", "ExternalAttention(d_model=512, S=8)", (50, 49, 512),
        lambda c: ExternalAttention(d_model=c, S=64), _apply_external,
    ),
    Mechanism(
        "emsa", EMSA, "ResT: An Efficient Transformer for Visual Recognition", "Zhang, Yang",
        "NeurIPS", 2021, "2105.13677", "https://github.com/wofmanaf/ResT", "token", "book/emsa",
        "EMSA(d_model=512, d_k=512, d_v=512, h=8, H=8, W=8, ratio=2, apply_transform=True)", (50, 64, 512),
        lambda c: EMSA(d_model=c, d_k=max(1, c // 4), d_v=max(1, c // 4), h=4, ratio=2, apply_transform=True),
        _apply_emsa,
    ),
    Mechanism(
        "se", SEAttention, "Squeeze-and-Excitation Networks", "Hu, Shen, Sun", "CVPR", 2018,
        "1709.01507", "https://github.com/hujie-frank/SENet", "channel", "book/se",
        "SEAttention(channel=512, reduction=8)", (50, 512, 7, 7),
        lambda c: SEAttention(channel=c, reduction=8), _apply_map,
    ),
    Mechanism(
        "eca", ECAAttention, "ECA-Net: Efficient Channel Attention for Deep Convolutional Neural Networks",
        "Wang, Wu, Zhu, Li, Zuo, Hu", "CVPR", 2020, "1910.03151", "https://github.com/BangguWu/ECANet",
        "channel", "book/eca", "ECAAttention(kernel_size=3)", (50, 512, 7, 7),
        lambda c: ECAAttention(channel=c), _apply_map,
    ),
    Mechanism(
        "sk", SKAttention, "Selective Kernel Networks", "Li, Wang, Hu, Yang", "CVPR", 2019, "1903.06586",
        "https://github.com/implus/SKNet", "channel", "book/sk", "SKAttention(channel=512, reduction=8)",
        (50, 512, 7, 7), lambda c: SKAttention(channel=c, reduction=8, group=min(32, c // 2)), _apply_map,
    ),
    Mechanism(
        "psa", PSA, "EPSANet: An Efficient Pyramid Squeeze Attention Block on Convolutional Neural Network",
        "Zhang, Zu, Lu, Zou, Meng", "ACCV", 2022, "2105.14447", "https://github.com/murufeng/EPSANet",
        "channel", "book/psa", "PSA(channel=512, reduction=8)", (50, 512, 7, 7),
        lambda c: PSA(channel=c, reduction=4), _apply_map,
    ),
    Mechanism(
        "cbam", CBAMBlock, "CBAM: Convolutional Block Attention Module", "Woo, Park, Lee, Kweon", "ECCV",
        2018, "1807.06521", "https://github.com/Jongchan/attention-module", "spatial", "book/cbam",
        "CBAMBlock(channel=512, reduction=16, kernel_size=7)", (50, 512, 7, 7),
        lambda c: CBAMBlock(channel=c, reduction=8, kernel_size=7), _apply_map,
    ),
    Mechanism(
        "bam", BAMBlock, "BAM: Bottleneck Attention Module", "Park, Woo, Lee, Kweon", "BMVC", 2018,
        "1807.06514", "https://github.com/Jongchan/attention-module", "spatial", "book/bam",
        "BAMBlock(channel=512, reduction=16, dia_val=2)", (50, 512, 7, 7),
        lambda c: BAMBlock(channel=c, reduction=8, dia_val=2), _apply_map,
    ),
    Mechanism(
        "danet", DAModule, "Dual Attention Network for Scene Segmentation",
        "Fu, Liu, Tian, Li, Bao, Fang, Lu", "CVPR", 2019, "1809.02983", "https://github.com/junfu1115/DANet",
        "spatial", "book/danet", "DAModule(d_model=512, kernel_size=3, H=7, W=7)", (50, 512, 7, 7),
        lambda c: DAModule(d_model=c, kernel_size=3), _apply_map,
    ),
]

MECHANISMS: dict[str, Mechanism] = {m.name: m for m in _ENTRIES}
"""The ten mechanisms, in the book's order of chapters."""


def get(name: str) -> Mechanism:
    """The registry entry ``name``; ValueError listing the known names otherwise."""
    try:
        return MECHANISMS[name]
    except KeyError:
        raise ValueError(f"unknown mechanism {name!r}; known: {', '.join(MECHANISMS)}") from None
