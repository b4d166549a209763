"""Argument and input checks shared by every mechanism.

Every error names the class that raised it, what it expected and what it got, so that a student
sees ``SEAttention(channel=64) got x of shape (2, 32, 7, 7): expected (B, C, H, W) with C=64``
instead of a matmul error ten frames deep. Never a bare ``assert`` (it vanishes under ``python -O``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
from torch import Tensor


def check_int(where: str, name: str, value: object, *, minimum: int = 1) -> int:
    """Return ``value`` if it is an int >= ``minimum``; else raise TypeError/ValueError."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{where}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value}")
    return value


def check_float(where: str, name: str, value: object, *, low: float, high: float) -> float:
    """Return ``value`` as float if it is a real number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where}: {name} must be a float, got {type(value).__name__} {value!r}")
    if not low <= value <= high:
        raise ValueError(f"{where}: {name} must be in [{low}, {high}], got {value}")
    return float(value)


def check_odd(where: str, name: str, value: object) -> int:
    """An odd positive int (kernels that must keep the size with 'same' padding)."""
    value = check_int(where, name, value)
    if value % 2 == 0:
        raise ValueError(f"{where}: {name} must be odd so that padding keeps the size, got {value}")
    return value


def check_divides(where: str, name: str, divisor: int, total_name: str, total: int) -> None:
    """Raise unless ``divisor`` divides ``total``."""
    if total % divisor != 0:
        raise ValueError(f"{where}: {name}={divisor} must divide {total_name}={total}")


IMPLS = ("fast", "reference")
"""The paths of a module that has two: ``"fast"`` (default) and ``"reference"`` (the readable one,
on which FLOPs are counted); tests check they agree."""


def check_choice(where: str, name: str, value: object, choices: Sequence[str]) -> str:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{where}: {name} must be one of {list(choices)}, got {value!r}")
    return value  # type: ignore[return-value]


def expect_tensor(where: str, name: str, x: object) -> Tensor:
    """A floating-point tensor (the mechanisms are differentiable layers)."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{where}: {name} must be a torch.Tensor, got {type(x).__name__}")
    if not torch.is_floating_point(x):
        raise TypeError(f"{where}: {name} must be a floating-point tensor, got dtype {x.dtype}")
    return x


@functools.cache
def _positions(dims: str) -> tuple[tuple[str, ...], dict[str, tuple[int, ...]]]:
    """The letters of ``dims`` and where each stands (a letter may repeat: ``"B C H H"``)."""
    letters = tuple(dims.split())
    return letters, {lt: tuple(i for i, x in enumerate(letters) if x == lt) for lt in letters}


def _want(letters: tuple[str, ...], sizes: dict[str, int | None]) -> str:
    pins = ", ".join(f"{k}={v}" for k, v in sizes.items() if v is not None)
    return "(" + ", ".join(letters) + ")" + (" with " + pins if pins else "")


def expect_shape(where: str, name: str, x: object, dims: str, **sizes: int | None) -> tuple[int, ...]:
    """Check ``x`` against a shape written in the book's letters and return its shape.

    ``dims`` is e.g. ``"B C H W"``; ``sizes`` pins some letters (``C=64``). A size of ``None``
    is not checked. Example message::

        CBAMBlock: x must have shape (B, C, H, W) with C=64, got shape (2, 32, 7, 7)

    It runs on every forward, between the last kernel of the module before and the first of this
    one, where Python's work costs several times what it costs in a warm loop (about 10 us at
    External Attention's call, against about 1 us in a loop): the letters are parsed once per
    ``dims`` and the messages are built only on failure.
    """
    x = expect_tensor(where, name, x)
    letters, at = _positions(dims)
    shape = x.shape
    if len(shape) != len(letters):
        raise ValueError(f"{where}: {name} must have {len(letters)} dims {_want(letters, sizes)}, "
                         f"got shape {tuple(shape)}")
    for letter, want in sizes.items():
        if want is not None:
            for i in at.get(letter, ()):
                if shape[i] != want:
                    raise ValueError(f"{where}: {name} must have shape {_want(letters, sizes)}, "
                                     f"got shape {tuple(shape)}")
    if 0 in shape:
        raise ValueError(f"{where}: {name} must not be empty, got shape {tuple(shape)}")
    return tuple(shape)


def check_reduction(where: str, channel: int, reduction: object, channel_name: str = "channel") -> int:
    """Check a bottleneck's reduction ratio r and return the hidden width ``channel // r`` (>= 1)."""
    reduction = check_int(where, "reduction", reduction)
    if reduction > channel:
        raise ValueError(f"{where}: reduction={reduction} must be <= {channel_name}={channel} (hidden width C//r >= 1)")
    return channel // reduction


def head_widths(where: str, d_model: int, h: int, d_k: object, d_v: object) -> tuple[int, int]:
    """Per-head widths (d_k, d_v); ``None`` gives the paper's ``d_model // h``."""
    if (d_k is None or d_v is None) and d_model % h != 0:
        raise ValueError(f"{where}: h={h} must divide d_model={d_model} when d_k or d_v is None "
                         "(they default to d_model // h); otherwise pass d_k and d_v")
    return (d_model // h if d_k is None else check_int(where, "d_k", d_k),
            d_model // h if d_v is None else check_int(where, "d_v", d_v))
