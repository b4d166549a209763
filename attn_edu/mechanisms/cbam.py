"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class CBAMBlock(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("CBAMBlock is being written")
