"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class EMSA(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("EMSA is being written")
