"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class SKAttention(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("SKAttention is being written")
