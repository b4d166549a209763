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
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import registry
from .scenes import CLASSES

NAMES = ("none", *registry.MECHANISMS)
"""The lab's models: ``"none"`` (the backbone without attention) and the ten mechanisms."""

CHANNELS = 64
FEATURE_HW = (16, 16)


def _conv(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class LabNet(nn.Module):
    """Backbone + attention slot + linear classifier.

    Args:
        mechanism: a name of :data:`attn_edu.registry.MECHANISMS`, or ``"none"``.
        num_classes: number of output classes.

    Shape:
        Input ``B 3 64 64`` RGB in [0, 1]; output ``B num_classes`` logits.
        :meth:`features` returns the ``B 64 16 16`` map that enters the slot.
    """

    def __init__(self, mechanism: str = "none", num_classes: int = len(CLASSES)) -> None:
        super().__init__()
        if mechanism not in NAMES:
            raise ValueError(f"LabNet: unknown mechanism {mechanism!r}; known: {', '.join(NAMES)}")
        self.mechanism = mechanism
        self.backbone = nn.Sequential(_conv(3, 32, 2), _conv(32, CHANNELS, 2), _conv(CHANNELS, CHANNELS, 1),
                                      _conv(CHANNELS, CHANNELS, 1))
        self.attention = nn.Identity() if mechanism == "none" else registry.get(mechanism).build(CHANNELS)
        self.classifier = nn.Linear(CHANNELS, num_classes)
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1), persistent=False)

    def features(self, x: Tensor) -> Tensor:
        return self.backbone((x - self.mean) / 0.25)  # B 3 64 64 -> B C 16 16

    def attend(self, f: Tensor) -> Tensor:
        if self.mechanism == "none":
            return f
        return registry.get(self.mechanism).apply(self.attention, f)  # B C H W -> B C H W

    def forward(self, x: Tensor) -> Tensor:
        z = self.attend(self.features(x)).mean(dim=(2, 3))  # B C H W -> B C
        return self.classifier(z)


def build(mechanism: str, seed: int = 0) -> LabNet:
    """A :class:`LabNet` initialised from ``seed`` (the same seed gives the same weights)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return LabNet(mechanism)
