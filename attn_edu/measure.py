"""Measuring cost honestly on a shared CPU: time with warm-up and spread, peak memory, FLOPs.

Used by the chapters' "What it costs" sections and by :mod:`attn_edu.bench`. One timer:
:func:`time_interleaved` times several candidates round-robin; :func:`time_call` is its case of one.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from .stats import Interval

resource: ModuleType | None
try:
    import resource
except ImportError:  # Windows: page faults are not counted
    resource = None


@dataclass(frozen=True)
class Timing:
    """Wall-clock time of one call, in milliseconds."""

    median_ms: float
    q1_ms: float
    q3_ms: float
    repeats: int
    samples_ms: tuple[float, ...] = field(default=(), repr=False, compare=False)  # in the order timed
    faults_per_call: float | None = field(default=None, compare=False)  # minor page faults; None: not counted

    @property
    def iqr_ms(self) -> float:
        return self.q3_ms - self.q1_ms


def _timing(samples: list[float], faults_per_call: float | None = None) -> Timing:
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(float(med), float(q1), float(q3), len(samples), tuple(samples), faults_per_call)


def _minor_faults() -> int | None:
    """Minor page faults of this process so far (every thread): a fresh page the kernel had to map."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(fns: Mapping[str, Callable[[], object]], *, warmup: int = 1, repeats: int = 5,
                     min_time_s: float = 0.0, block_s: float = 0.0) -> dict[str, Timing]:
    """Time several candidates round-robin: one turn of each per round, the order rotating.

    After ``warmup`` rounds, runs at least ``repeats`` timed rounds, and more until ``min_time_s``
    of wall time have passed since the first timed round (the timer's own work between samples
    counts there, so the samples may sum to a little less). A slowdown of the machine hits every
    candidate alike, so their ratios are fairer than those of back-to-back loops.
    With one candidate this is :func:`time_call`.

    A turn is one timed call, unless the candidate is shorter than ``block_s``: then its turn is
    one untimed call (it brings the candidate's own data back into the caches, which the other
    candidates evicted) followed by enough timed calls to last ``block_s``, and the sample is their
    mean. Short and long candidates are then both timed in their steady state, as they run inside
    a network, instead of the short ones paying a cold cache on every call.

    Every candidate gets one sample per round, so ``samples_ms[r]`` of two candidates were timed in
    the same round r, a fraction of a second apart. ``faults_per_call`` counts the minor page faults
    of the timed calls: memory the allocator took fresh from the kernel, which costs time on first
    touch (the kernel maps and zeroes each 4 KiB page). See the book: chapter ``book/cost.ipynb``,
    "Measuring on a shared machine".
    """
    if not fns:
        raise ValueError("time_interleaved: expected at least one candidate in fns, got an empty dict")
    names = list(fns)
    for _ in range(warmup):
        for k in names:
            fns[k]()
    calls = dict.fromkeys(names, 1)
    lead = dict.fromkeys(names, 0)
    if block_s > 0:
        for k in names:
            t0 = time.perf_counter()
            fns[k]()
            once = time.perf_counter() - t0
            if once < block_s:
                lead[k], calls[k] = 1, max(1, math.ceil(block_s / max(once, 1e-7)))
    samples: dict[str, list[float]] = {k: [] for k in names}
    faults = dict.fromkeys(names, 0)
    start = time.perf_counter()
    r = 0
    while r < repeats or time.perf_counter() - start < min_time_s:
        for i in range(len(names)):
            k = names[(i + r) % len(names)]
            fn = fns[k]
            for _ in range(lead[k]):
                fn()
            f0 = _minor_faults()
            t0 = time.perf_counter_ns()
            for _ in range(calls[k]):
                fn()
            t1 = time.perf_counter_ns()
            f1 = _minor_faults()
            samples[k].append((t1 - t0) / 1e6 / calls[k])
            if f0 is not None and f1 is not None:
                faults[k] += f1 - f0
        r += 1
    counted = resource is not None
    return {k: _timing(s, faults[k] / (len(s) * calls[k]) if counted else None) for k, s in samples.items()}


def time_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7, min_time_s: float = 0.0) -> Timing:
    """Median and quartiles of ``fn()``'s wall time after ``warmup`` calls.

    Runs at least ``repeats`` timed calls, and more until ``min_time_s`` of wall time have passed: the
    one-candidate case of :func:`time_interleaved` (one call per sample, page faults counted).
    """
    return time_interleaved({"fn": fn}, warmup=warmup, repeats=repeats, min_time_s=min_time_s)["fn"]


def round_ratio(num: Timing, den: Timing) -> Interval:
    """The time ratio ``num / den`` of two candidates timed in the same rounds of
    :func:`time_interleaved`, one ratio per round: ``Interval(median, q1, q3)`` of those ratios
    (:class:`attn_edu.stats.Interval`; here the quartiles, not a 95 % interval). A chapter states
    the median with the quartiles and chooses its words with :func:`attn_edu.book.verdict`: when
    the quartiles straddle a threshold, the run does not decide. See the book: ``book/cost.ipynb``.
    """
    if not (isinstance(num, Timing) and isinstance(den, Timing)):
        raise TypeError(f"round_ratio: expected two Timings of time_interleaved, got {type(num).__name__} "
                        f"and {type(den).__name__}")
    if not num.samples_ms or len(num.samples_ms) != len(den.samples_ms):
        raise ValueError(f"round_ratio: expected two candidates of the same rounds, got {len(num.samples_ms)} "
                         f"and {len(den.samples_ms)} samples")
    q1, med, q3 = np.percentile(np.array(num.samples_ms) / np.array(den.samples_ms), [25, 50, 75])
    return Interval(float(med), float(q1), float(q3))


@contextlib.contextmanager
def threads(n: int):
    """Run the block with ``torch.set_num_threads(n)``; the previous count is restored after it, also on error.

    The chapters time short calls on one thread: on a shared 2-core machine a second thread waits
    for a free core at every parallel step, and that wait, not the mechanism, would be timed.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"threads: expected a whole number of threads >= 1, got {n!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextlib.contextmanager
def _silence_native_stderr():
    """Send file descriptor 2 to /dev/null: the profiler's C++ side prints "profiler_start/stop"
    lines there, which a notebook would show as stderr output."""
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(devnull)
        os.close(saved)


def peak_memory_bytes(fn: Callable[[], object]) -> int:
    """Peak of live CPU tensor memory allocated while ``fn()`` runs, above what was live before.

    Uses the PyTorch profiler's allocation records (``profile_memory=True``): the running sum of
    allocations and frees, in time order, and its maximum. Resolution is one operator: memory an
    operator allocates and frees internally is not seen.
    """
    from torch.profiler import ProfilerActivity, profile

    with _silence_native_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    # Allocations are attributed to the op that made them (its *self* memory, net of what it freed
    # itself); frees of tensors that outlive their op appear as separate "[memory]" events.
    changes = []
    for e in prof.events():
        delta = e.cpu_memory_usage if e.name == "[memory]" else e.self_cpu_memory_usage
        if delta:
            changes.append((e.time_range.start, delta))
    changes.sort()
    live = peak = 0
    for _, delta in changes:
        live += delta
        peak = max(peak, live)
    return int(peak)


def count_params(module: torch.nn.Module) -> int:
    """The number of values in ``module``'s registered parameters (what an optimizer updates)."""
    return sum(p.numel() for p in module.parameters())


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs that ``torch.utils.flop_counter.FlopCounterMode`` counts for ``fn()`` (matmuls, convs).

    Fused kernels such as ``F.scaled_dot_product_attention`` on CPU count as 0: count on the
    readable path.
    """
    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def loglog_slope(x: Sequence[float], y: Sequence[float]) -> float:
    """Least-squares slope of log(y) against log(x): the exponent p in y ~ x^p."""
    return float(np.polyfit(np.log(np.asarray(x, float)), np.log(np.asarray(y, float)), 1)[0])


@dataclass(frozen=True)
class Scaling:
    """Time and peak memory of several candidates over a range of sizes (:func:`scaling`).

    ``ms[k][i]``: median time of candidate ``k`` at ``sizes[i]``; ``mib[k][i]``: its peak memory.
    """

    sizes: tuple[int, ...]
    ms: dict[str, tuple[float, ...]]
    mib: dict[str, tuple[float, ...]]

    def slopes(self, fit_from: int = 0) -> dict[str, tuple[float, float]]:
        """Per candidate, the fitted exponents ``(time, memory)`` over ``sizes[fit_from:]``
        (:func:`loglog_slope`): at small sizes a call's fixed cost flattens every curve."""
        if not 0 <= fit_from <= len(self.sizes) - 2:
            raise ValueError(f"Scaling.slopes: fit_from must leave at least 2 of the {len(self.sizes)} sizes, "
                             f"got {fit_from}")
        n = self.sizes[fit_from:]
        return {k: (loglog_slope(n, self.ms[k][fit_from:]), loglog_slope(n, self.mib[k][fit_from:])) for k in self.ms}

    def lines(self) -> list[str]:
        """One printed line per candidate: ``N=n: t ms / m MiB`` at every size."""
        return [f"{k:9s}: " + ", ".join(f"N={n}: {t:.1f} ms / {m:.1f} MiB"
                                        for n, t, m in zip(self.sizes, ms, self.mib[k], strict=True))
                for k, ms in self.ms.items()]


def scaling(make: Callable[[str, int], Callable[[], object]], candidates: Sequence[str], sizes: Sequence[int], *,
            warmup: int = 1, repeats: int = 3) -> Scaling:
    """Time and peak memory of ``make(k, n)()`` for every candidate ``k`` at every size ``n``.

    At each size the candidates are timed in the same rounds (:func:`time_interleaved`: a slowdown
    of a shared machine hits them alike), then their peak memory is measured
    (:func:`peak_memory_bytes`), all under ``torch.inference_mode``. ``make(k, n)`` builds the
    module and the input and returns the call. The chapters' "what it costs" sweeps (self-attention,
    DANet) use it; :func:`attn_edu.viz.plot_scaling` draws the result.
    """
    if not candidates or not sizes:
        raise ValueError(f"scaling: expected candidates and sizes, got {list(candidates)} and {list(sizes)}")
    ms: dict[str, list[float]] = {k: [] for k in candidates}
    mib: dict[str, list[float]] = {k: [] for k in candidates}
    for n in sizes:
        calls = {k: make(k, n) for k in candidates}
        with torch.inference_mode():
            timed = time_interleaved(calls, warmup=warmup, repeats=repeats)
            for k, call in calls.items():
                ms[k].append(timed[k].median_ms)
                mib[k].append(peak_memory_bytes(call) / 2**20)
    return Scaling(tuple(sizes), {k: tuple(v) for k, v in ms.items()}, {k: tuple(v) for k, v in mib.items()})
