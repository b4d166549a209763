"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class PSA(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("PSA is being written")
