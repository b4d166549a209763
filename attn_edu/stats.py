"""The uncertainty the chapters put on their numbers: bootstrap intervals and Wilson intervals.

Every "claim checked" section of the book compares models on the same fixed test scenes
(:func:`attn_edu.lab.test_scenes`). The two intervals it uses, in one place:

* :func:`boot_ci`, the *percentile bootstrap* of a mean (Efron and Tibshirani 1993, ch. 13):
  resample the scenes with replacement ``n_boot`` times, take the mean of each resample, and
  report the 2.5th and 97.5th percentiles of those means. Applied to a per-scene *difference*
  between two models (``a - b`` on the same scenes) it is the paired bootstrap: the scenes' own
  difficulty cancels.
* :func:`wilson`, the Wilson score interval of a proportion (Wilson 1927), for an accuracy
  ``k / n``: unlike the normal approximation it stays inside [0, 1] and is sensible at ``k = n``.

Both return an :class:`Interval` ``(estimate, lo, hi)``, which unpacks like a tuple. The
resamples are seeded (:func:`bootstrap_indices`), so a chapter's intervals are the same on every
run; two statistics of the same scenes share the same resamples.
"""

from __future__ import annotations

import functools
import math
import re
import statistics
from collections.abc import Iterable
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import check_int

__all__ = ["Interval", "boot_ci", "bootstrap_indices", "wilson"]


class Interval(NamedTuple):
    """An estimate and its 95 % interval."""

    estimate: float
    lo: float
    hi: float

    @classmethod
    def envelope(cls, intervals: Iterable[Interval]) -> Interval:
        """Several intervals at once (e.g. one per shape): the median of their estimates, from the
        lowest ``lo`` to the highest ``hi``. A verdict on it holds for every one of them."""
        ivs = list(intervals)
        if not ivs:
            raise ValueError("Interval.envelope: expected at least one interval, got none")
        mid = float(statistics.median(iv.estimate for iv in ivs))
        return cls(mid, min(iv.lo for iv in ivs), max(iv.hi for iv in ivs))

    def excludes(self, value: float = 0.0) -> bool:
        """Whether ``value`` lies outside ``[lo, hi]`` (for a difference: the run decides its sign)."""
        return not self.lo <= value <= self.hi

    def __format__(self, spec: str) -> str:
        """``f"{iv:.3f}"`` gives ``"0.914 [0.902, 0.925]"``: the estimate, then the interval, each in
        ``spec`` (a width and alignment such as ``<21.3f`` apply to the whole text); an empty spec
        gives ``str(iv)``."""
        if not spec:
            return str(self)
        m = re.fullmatch(r"(?:(.)?([<>^]))?(\d+)?(.*)", spec, flags=re.S)
        if m is None:  # cannot happen: the last group takes any rest
            raise ValueError(f"Interval: cannot read the format spec {spec!r}")
        fill, align, width, number = m.group(1) or " ", m.group(2), m.group(3), m.group(4)
        text = f"{self.estimate:{number}} [{self.lo:{number}}, {self.hi:{number}}]"
        return format(text, f"{fill}{align or '<'}{width}") if width else text


@functools.lru_cache(maxsize=16)
def bootstrap_indices(n: int, n_boot: int = 2000, seed: int = 0) -> Tensor:
    """``n_boot`` resamples of ``range(n)`` with replacement, ``(n_boot, n)`` int64, from ``seed``."""
    check_int("bootstrap_indices", "n", n)
    check_int("bootstrap_indices", "n_boot", n_boot)
    return torch.randint(0, n, (n_boot, n), generator=torch.Generator().manual_seed(seed))


def boot_ci(per_item: Tensor, n_boot: int = 2000, seed: int = 0) -> Interval:
    """The mean of ``per_item`` (one value per scene, 1-D) and its 95 % percentile-bootstrap interval.

    Computed in float64; see the module docstring (and the book's glossary) for the method.
    """
    if not isinstance(per_item, Tensor):
        raise TypeError(f"boot_ci: expected a 1-D tensor of per-scene values, got {type(per_item).__name__}")
    if per_item.dim() != 1 or len(per_item) == 0:
        raise ValueError(
            f"boot_ci: expected a non-empty 1-D tensor of per-scene values, got shape {tuple(per_item.shape)}"
        )
    v = per_item.double()
    means = v[bootstrap_indices(len(v), n_boot, seed)].mean(dim=1)  # R
    lo, hi = torch.quantile(means, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    return Interval(v.mean().item(), lo, hi)


def wilson(k: int, n: int, z: float = 1.96) -> Interval:
    """The proportion ``k / n`` and its Wilson score interval (95 % for ``z = 1.96``)."""
    check_int("wilson", "n (trials)", n)
    if check_int("wilson", "k (successes)", k, minimum=0) > n:
        raise ValueError(f"wilson: k (successes) must be <= n (trials), got k={k}, n={n}")
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return Interval(p, centre - half, centre + half)
