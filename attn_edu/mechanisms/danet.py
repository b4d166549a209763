"""PLACEHOLDER: being written. Replace this whole file."""
from ..introspect import AttentionModule


class DAModule(AttentionModule):
    def __init__(self, *args, **kwargs):
        raise NotImplementedError("DAModule is being written")
