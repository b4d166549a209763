"""The External-Attention-pytorch collection beside attn_edu: its modules at the same calls, aligned.

Most readers meet these mechanisms in the External-Attention-pytorch collection (PyPI
``fightingcv-attention``). Its constructor calls build attn_edu's modules too (the registry's
``compat_call``); this module builds the collection's module at that call, copies the weights of
one into the other where the two compute the same function, and measures how far apart they are.
The facts (which module, which keys, whether the functions agree) are the registry's
(:class:`attn_edu.registry.CollectionPeer`); this is the plumbing.

attn_edu never needs the collection: it is imported here, lazily, only when asked for
(``pip install attn_edu[peers]``, or ``fightingcv-attention==1.0.0`` from requirements.txt).

Book: chapter "Bugs in the wild" and the cost chapter's peer rows; tests: ``tests/test_collection.py``.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .measure import count_params
from .registry import get

PACKAGE = "fightingcv_attention"
REQUIREMENT = "fightingcv-attention==1.0.0"


def available() -> bool:
    """Whether the collection is installed (``import fightingcv_attention`` would work)."""
    return importlib.util.find_spec(PACKAGE) is not None


def peer_class(name: str, call: str | None = None) -> type:
    """The collection's class that ``call`` (default: mechanism ``name``'s ``compat_call``) builds."""
    m = get(name)
    call = m.compat_call if call is None else call
    cls = call.split("(", 1)[0]
    if not available():
        raise ModuleNotFoundError(f"attn_edu.collection: the collection is not installed: pip install {REQUIREMENT!r}")
    module = importlib.import_module(m.collection.module)
    if not hasattr(module, cls):
        raise ValueError(f"attn_edu.collection: {m.collection.module} has no {cls} (the call was {call!r})")
    return getattr(module, cls)


def construct(name: str, call: str | None = None, seed: int = 0) -> nn.Module:
    """The collection's module of mechanism ``name`` at ``call`` (default: its ``compat_call``),
    built after ``torch.manual_seed(seed)``."""
    call = get(name).compat_call if call is None else call
    cls = peer_class(name, call)
    torch.manual_seed(seed)
    return eval(call, {cls.__name__: cls})  # a literal call of the registry


def pair(name: str, seed: int = 0) -> tuple[nn.Module, nn.Module, Tensor]:
    """``(ours, theirs, x)`` at the compatibility call: our module and the collection's, each built
    after ``torch.manual_seed(seed)``, their weights aligned (:func:`align`) where the two compute
    the same function, and a seeded input of the documented shape."""
    m = get(name)
    ours, x = m.example(seed)
    theirs = construct(name, seed=seed)
    if m.collection.same_function:
        align(name, ours, theirs)
    return ours, theirs, x


def error_line(err: BaseException) -> str:
    """An exception as its type and the first line of its message, without PyTorch's hints, memory
    addresses or file paths: stable enough to store, print and compare."""
    line = (str(err).strip().splitlines() or [""])[0].split(" Hint:")[0].strip()
    line = re.sub(r"0x[0-9a-fA-F]+", "0x...", line)
    line = re.sub(r"(?:/[\w.-]+){2,}", "...", line)  # a file path
    return f"{type(err).__name__}: {line}"


def align(name: str, ours: nn.Module, theirs: nn.Module) -> None:
    """Copy ``theirs``' weights into ``ours`` (in place) so that the two compute the same function.

    Keys are matched by name, renamed by the registry's ``collection.keys`` (input channels reversed
    for ``collection.reversed_inputs``); a weight of ours that
    theirs lacks (``None`` there, e.g. a bias) is set to zero in ours, and a weight of theirs that
    ours lacks is set to zero in theirs. Raises ValueError for a mechanism whose functions differ
    (``collection.same_function`` is False) or a weight that does not fit.
    """
    m = get(name)
    if not m.collection.same_function:
        raise ValueError(f"attn_edu.collection: {name}: the collection's module computes another function "
                         f"({m.collection.differs}); its weights cannot be aligned with ours")
    mine, peer = ours.state_dict(), theirs.state_dict()
    rename = {k: m.collection.keys.get(k, k) for k in mine}
    unmatched = [k for k, t in rename.items() if t is not None and t not in peer]
    if unmatched:
        raise ValueError(f"attn_edu.collection: {name}: no weight of the collection's module for {unmatched}")
    with torch.no_grad():
        for key, theirs_key in rename.items():
            if theirs_key is None:
                mine[key].zero_()
                continue
            src = peer[theirs_key]
            if src.numel() != mine[key].numel():
                raise ValueError(f"attn_edu.collection: {name}: {key} has {mine[key].numel()} values, "
                                 f"the collection's {theirs_key} {src.numel()}")
            if key in m.collection.reversed_inputs:
                src = src.flip(1)
            mine[key].copy_(src.reshape(mine[key].shape))  # e.g. a 1x1 conv's weight into a Linear's
        for key in set(peer) - {t for t in rename.values() if t is not None}:
            if peer[key].is_floating_point():
                peer[key].zero_()


@dataclass(frozen=True)
class Comparison:
    """Ours and the collection's module at one call, on one seeded input (``compare``).

    ``max_abs``: the largest absolute difference of the outputs; ``rel``: the norm of the
    difference over the norm of our output; ``aligned``: whether the weights were aligned first;
    ``error``: what the collection's module raised instead of an output (then both are NaN).
    """

    name: str
    call: str
    dtype: str
    aligned: bool
    max_abs: float
    rel: float
    ours_params: int
    theirs_params: int
    error: str | None = None


def compare(name: str, seed: int = 0, dtype: torch.dtype = torch.float64) -> Comparison:
    """Build both modules at the compatibility call, align their weights where the functions agree
    (otherwise each keeps its own seeded init), and run both on the same seeded input, in ``eval()``
    mode and ``dtype``. The collection's extra residual (``adds_input``) is added to our output."""
    m = get(name)
    ours, theirs, x = pair(name, seed)
    ours, theirs, x = ours.to(dtype).eval(), theirs.to(dtype).eval(), x.to(dtype)
    counts = (count_params(ours), count_params(theirs))
    with torch.no_grad():
        a = m.call_example(ours, x.clone())  # clones: the collection's PSA writes into its input
        if m.collection.adds_input:
            a = a + x
        try:
            b = m.call_example(theirs, x.clone())
        except RuntimeError as e:  # e.g. PSA: .to() cannot reach its unregistered convolutions
            nan = float("nan")
            return Comparison(name, m.compat_call, str(dtype), False, nan, nan, *counts,
                              error=error_line(e))
    return Comparison(name, m.compat_call, str(dtype), m.collection.same_function, float((a - b).abs().max()),
                      float((a - b).norm() / a.norm()), *counts)
