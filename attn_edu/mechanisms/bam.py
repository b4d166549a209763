"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class BAMBlock(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("BAMBlock is being written")
