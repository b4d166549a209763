"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class ECAAttention(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("ECAAttention is being written")
