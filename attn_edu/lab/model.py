"""A small CNN with one attention slot that hosts any of the ten mechanisms.

Architecture (:class:`LabNet`)::

    scene 3 x 64 x 64
    -> conv3x3/2 (32) BN ReLU -> conv3x3/2 (64) BN ReLU -> conv3x3 (64) BN ReLU -> conv3x3 (64) BN ReLU
    -> feature map 64 x 16 x 16
    -> attention slot: registry.get(name).build(64), called through registry's ``apply``
       (token mechanisms see the 256 positions as tokens; "none": identity)
    -> global average pooling -> linear classifier (5 classes)

The slot sits at the last stage with nothing after it but pooling and the classifier, and without
a residual added around it, so what the mechanism does decides the prediction:

* a spatial gate (CBAM, BAM) multiplies the features before the average pool, so its map is the
  weight each position gets in the pooled descriptor;
* for self-attention and EMSA, ``mean_n sum_m a_nm v_m = sum_m (mean_n a_nm) v_m``: the attention
  each key position *receives*, averaged over queries (and heads), is exactly the pooling weight
  of that position -- the map the lab evaluates;
* channel gates (SE, ECA, SK, PSA) reweight channels that the classifier reads directly.

Mechanisms that carry their own residual (BAM's ``F + F*M``, DANet's ``alpha*PAM + A``) keep it:
it is part of the mechanism.

**Variants** (:data:`VARIANTS`) are the ablations the chapters need: the same backbone and recipe
with one setting of the mechanism changed (SE's reduction, CBAM's order, BAM's combination, External
Attention's normalization, EMSA's reduction ratio), or with the mechanism after *every* conv block
(``se_stages``, ``sk_stages``: the papers' analyses by depth). A variant is trained and shipped like the ten;
``model.name`` is the variant, ``model.mechanism`` the registry mechanism it instantiates.

**Controls** (:data:`CONTROLS`), for the claims of the second task (:mod:`attn_edu.lab.largest`):
``none_max``, the backbone with global *max* pooling in place of the average, and ``none_wide``,
the backbone widened to :data:`WIDE_CHANNELS` so that it has as many parameters as the largest of the
ten in the slot (DANet): an "attention helps" statement has to beat both, not only ``none``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import torch
from torch import Tensor, nn

from .. import registry
from ..introspect import AttentionMap, capture
from ..mechanisms import BAMBlock, CBAMBlock, EMSA, ExternalAttention, PSA, SEAttention, SKAttention
from .scenes import CLASSES

CHANNELS = 64
FEATURE_HW = (16, 16)
STAGE_CHANNELS = (32, CHANNELS, CHANNELS, CHANNELS)
"""Output channels of the four conv blocks; the attention slot follows block 4."""
SLOT = "attention"
"""The module path of the slot in :class:`LabNet` (the ``module`` of the maps it emits)."""


@dataclass(frozen=True)
class Variant:
    """An ablation of one mechanism in the lab network.

    Attributes:
        mechanism: the registry mechanism it instantiates (its ``apply`` and map extraction are used).
        make: ``channels -> module``, the changed construction.
        what: one line for tables and the manifest.
        stages: the conv blocks (1..4) followed by the mechanism; 4 is the usual slot.
    """

    mechanism: str
    make: Callable[[int], nn.Module]
    what: str
    stages: tuple[int, ...] = (4,)


def _emsa(channels: int, ratio: int) -> EMSA:
    """EMSA with four heads of width C/4 and the transform, at reduction ratio ``ratio``."""
    return EMSA(d_model=channels, d_k=channels // 4, d_v=channels // 4, h=4, ratio=ratio, apply_transform=True)


VARIANTS: dict[str, Variant] = {
    **{f"se_r{r}": Variant("se", partial(SEAttention, reduction=r), f"SE, reduction r={r}")
       for r in (2, 4, 16, 32)},
    "se_stages": Variant("se", registry.get("se").build,
                         "SE (r=8) after each of the four conv blocks", stages=(1, 2, 3, 4)),
    "sk_stages": Variant("sk", registry.get("sk").build,
                         "SK after each of the four conv blocks", stages=(1, 2, 3, 4)),
    "cbam_spatial_channel": Variant("cbam", lambda c: CBAMBlock(channel=c, reduction=8, kernel_size=7,
                                                                order="spatial-channel"), "CBAM, spatial then channel"),
    "cbam_parallel": Variant("cbam", lambda c: CBAMBlock(channel=c, reduction=8, kernel_size=7, order="parallel"),
                             "CBAM, channel and spatial in parallel"),
    "bam_product": Variant("bam", lambda c: BAMBlock(channel=c, reduction=8, dia_val=2, combine="product"),
                           "BAM, sigma(Mc * Ms) as in the authors' code"),
    **{f"bam_d{d}": Variant("bam", partial(BAMBlock, reduction=8, dia_val=d),
                            f"BAM, dilation d={d} in the spatial branch") for d in (1, 4)},
    "external_attention_softmax": Variant("external_attention",
                                          lambda c: ExternalAttention(d_model=c, S=64, normalization="softmax"),
                                          "External Attention with a single softmax"),
    **{f"emsa_s{s}": Variant("emsa", partial(_emsa, ratio=s), f"EMSA, reduction ratio s={s}") for s in (1, 4, 8)},
}
"""The lab's ablation models, trained and shipped like the ten (see the module docstring)."""

LARGEST_VARIANTS: dict[str, Variant] = {
    "sk_k33": Variant("sk", lambda c: SKAttention(channel=c, kernels=(3, 3), reduction=8, group=min(32, c // 2)),
                      "SK with two 3x3 branches (one scale)"),
    "psa_k3": Variant("psa", lambda c: PSA(channel=c, reduction=4, conv_kernels=(3, 3, 3, 3),
                                           conv_groups=(2, 4, 8, 16)),
                      "PSA with four 3x3 branches (one scale, the default groups)"),
}
"""Variants trained for the second task only (its multi-scale claims)."""


WIDE_CHANNELS = 90
"""Width of ``none_wide``'s blocks 2-4: the width whose parameter count is nearest the largest
LabNet of the ten (DANet's 172,983; ``none_wide`` has 173,643); a test recomputes it."""

CONTROLS: dict[str, str] = {
    "none_max": "no attention, global max pooling",
    "none_wide": f"no attention, blocks 2-4 {WIDE_CHANNELS} channels wide (as many parameters as DANet's)",
}
"""The controls of the second task (see the module docstring): name -> one line for tables."""

NAMES = ("none", *registry.MECHANISMS, *VARIANTS)
"""The first task's models: ``"none"`` (the backbone without attention), the ten mechanisms, the variants."""

MODELS = (*NAMES, *CONTROLS, *LARGEST_VARIANTS)
"""Every model :class:`LabNet` builds: :data:`NAMES`, the controls and the second task's own variants."""


def mechanism_of(name: str) -> str:
    """The registry mechanism a lab model of :data:`NAMES` instantiates (``"none"`` for the bare backbone)."""
    return _resolve(name)[0]


def _resolve(name: str) -> tuple[str, Callable[[int], nn.Module] | None, tuple[int, ...]]:
    if name == "none" or name in CONTROLS:
        return "none", None, ()
    if name in VARIANTS or name in LARGEST_VARIANTS:
        v = VARIANTS.get(name) or LARGEST_VARIANTS[name]
        return v.mechanism, v.make, v.stages
    return name, registry.get(name).build, (4,)


@dataclass(frozen=True)
class LabOutput:
    """Everything one forward of a :class:`LabNet` computes (:meth:`LabNet.run`).

    Attributes:
        logits: ``B K`` class scores.
        features: ``B C H W``, the map entering the attention slot (after any early modules).
        attended: ``B C H W``, what the slot hands to the pooling (``features`` for ``"none"``).
        maps: every :class:`~attn_edu.introspect.AttentionMap` the model's mechanisms emitted,
            keyed by its ``key`` (``"attention/heads"`` for the slot, ``"early.1/channel"`` for
            the module after block 1), in call order and as emitted (``B h N M``, ``B K C``, ...);
            empty for ``"none"``.
    """

    logits: Tensor
    features: Tensor
    attended: Tensor
    maps: dict[str, AttentionMap]

    def slot(self, name: str) -> AttentionMap:
        """The map ``name`` (e.g. ``"channel"``, ``"heads"``) emitted by the slot's module."""
        try:
            return self.maps[f"{SLOT}/{name}"]
        except KeyError:
            emitted = ", ".join(self.maps) or "none"
            raise KeyError(f"LabOutput: the slot emitted no map {name!r}; maps: {emitted}") from None


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LabNet(nn.Module):
    """Backbone + attention slot + linear classifier.

    Args:
        mechanism: a name of :data:`MODELS`: ``"none"``, a control, a registry mechanism or a variant.
        num_classes: number of output classes.

    Attributes:
        name: the model's name (as given); ``mechanism``: the registry mechanism it uses (or "none").
        attention: the module in the slot after block 4; ``early``: modules after blocks 1-3
            (empty except for ``se_stages`` and ``sk_stages``), keyed by the block number as a string.

    Shape:
        Input ``B 3 64 64`` RGB in [0, 1]; output ``B num_classes`` logits.
        :meth:`features` returns the ``B 64 16 16`` map that enters the slot; :meth:`run` returns
        everything one forward computes (:class:`LabOutput`).
    """

    mean: Tensor  # a buffer, registered in __init__

    def __init__(self, mechanism: str = "none", num_classes: int = len(CLASSES)) -> None:
        super().__init__()
        if mechanism not in MODELS:
            raise ValueError(f"LabNet: unknown mechanism {mechanism!r}; known: {', '.join(MODELS)}")
        self.name = mechanism
        self.mechanism, make, stages = _resolve(mechanism)
        width = WIDE_CHANNELS if mechanism == "none_wide" else CHANNELS
        self.pool = "max" if mechanism == "none_max" else "mean"
        self.backbone = nn.Sequential(_conv(3, 32, 2), _conv(32, width, 2), _conv(width, width, 1),
                                      _conv(width, width, 1))
        self.attention = nn.Identity() if make is None else make(CHANNELS)
        early = {} if make is None else {str(i): make(STAGE_CHANNELS[i - 1]) for i in stages if i != 4}
        self.early = nn.ModuleDict(early)
        self.classifier = nn.Linear(width, num_classes)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def features(self, x: Tensor) -> Tensor:
        """The map entering the slot (after any early attention modules)."""
        x = (x - self.mean) / 0.25
        if not self.early:
            return self.backbone(x)  # B 3 64 64 -> B C 16 16
        for i, block in enumerate(self.backbone, start=1):
            x = block(x)
            if str(i) in self.early:
                x = self.attend(x, self.early[str(i)])
        return x

    def attend(self, f: Tensor, module: nn.Module | None = None) -> Tensor:
        """Run the slot's module (or ``module``) on ``f`` through the registry's adaptor."""
        if self.mechanism == "none":
            return f
        return registry.get(self.mechanism).apply(self.attention if module is None else module, f)  # B C H W

    def pooled(self, attended: Tensor) -> Tensor:
        """Global pooling of the slot's output: the mean over the grid (the max for ``none_max``)."""
        return attended.amax(dim=(2, 3)) if self.pool == "max" else attended.mean(dim=(2, 3))  # B C H W -> B C

    def forward(self, x: Tensor) -> Tensor:
        return self.classifier(self.pooled(self.attend(self.features(x))))  # B C H W -> B C -> B K

    def run(self, images: Tensor, *, detach: bool = True) -> LabOutput:
        """One forward with everything: logits, the slot's input and output, and every emitted map.

        The model of :meth:`forward`, with the mechanisms captured (:func:`attn_edu.capture`):
        while capturing, a module with a fused path runs its readable one, so the logits of
        self-attention and EMSA match ``self(x)`` to rounding, not bit for bit. It runs in the
        caller's mode and grad mode: wrap it in ``torch.no_grad()`` to read maps; ``detach=False``
        keeps them in the graph. :func:`attn_edu.lab.evaluate.read_map` turns the slot's maps into
        the lab's map.
        """
        hooks: contextlib.AbstractContextManager[list[AttentionMap]] = (
            contextlib.nullcontext([]) if self.mechanism == "none" else capture(self, detach=detach))
        with hooks as maps:
            features = self.features(images)  # B 3 64 64 -> B C H W
            attended = self.attend(features)  # B C H W
            logits = self.classifier(self.pooled(attended))  # B C H W -> B C -> B K
        return LabOutput(logits, features, attended, {m.key: m for m in maps})


def build(mechanism: str, seed: int = 0) -> LabNet:
    """A :class:`LabNet` initialised from ``seed`` (the same seed gives the same weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LabNet(mechanism)


def receptive_field(model: LabNet, blocks: int | None = None) -> tuple[int, int]:
    """``(size, jump)`` of one position of the map entering the slot, in scene pixels: the side of the
    square of pixels it depends on (its receptive field) and the distance between two neighbouring
    positions, from the backbone's convolutions (``23, 4`` for :class:`LabNet`). ``blocks``: after
    the first ``blocks`` backbone blocks only (``1``: ``3, 2``). Book: the lab page and the SK chapter."""
    n = len(model.backbone)
    if blocks is not None and (isinstance(blocks, bool) or not isinstance(blocks, int) or not 0 <= blocks <= n):
        raise ValueError(f"receptive_field: blocks must be a whole number from 0 to {n} (the backbone's blocks), "
                         f"got {blocks!r}")
    size, jump = 1, 1
    for block in list(model.backbone)[:blocks]:
        conv = block.get_submodule("0")  # each conv widens the field by (k - 1) * dilation input steps
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"receptive_field: expected each backbone block to start with a Conv2d, "
                            f"got {type(conv).__name__}")
        size, jump = size + (conv.kernel_size[0] - 1) * conv.dilation[0] * jump, jump * conv.stride[0]
    return size, jump
