"""The ten mechanisms, one file each (see the header of each file for the paper and deviations)."""

from .bam import BAMBlock
from .cbam import CBAMBlock
from .danet import DAModule
from .eca import ECAAttention
from .emsa import EMSA
from .external_attention import ExternalAttention
from .psa import PSA
from .se import SEAttention
from .self_attention import ScaledDotProductAttention
from .sk import SKAttention

__all__ = [
    "BAMBlock",
    "CBAMBlock",
    "DAModule",
    "ECAAttention",
    "EMSA",
    "ExternalAttention",
    "PSA",
    "SEAttention",
    "ScaledDotProductAttention",
    "SKAttention",
]
