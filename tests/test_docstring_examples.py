"""The Example in every mechanism's docstring runs and prints what it says."""

from __future__ import annotations

import doctest
import importlib

import pytest

from attn_edu.registry import MECHANISMS

MODULES = sorted({m.cls.__module__ for m in MECHANISMS.values()})


@pytest.mark.parametrize("module", MODULES)
def test_docstring_examples(module):
    mod = importlib.import_module(module)
    result = doctest.testmod(mod, extraglobs={"torch": importlib.import_module("torch")}, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, f"{module} has no Example"
    assert result.failed == 0
