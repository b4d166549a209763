"""Measuring cost honestly on a shared CPU: time with warm-up and spread, peak memory, FLOPs.

Used by the chapters' "What it costs" sections and by :mod:`attn_edu.bench`.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from torch.utils.flop_counter import FlopCounterMode


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


def time_call(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7, min_time_s: float = 0.0) -> Timing:
    """Median and quartiles of ``fn()``'s wall time after ``warmup`` calls.

    Runs at least ``repeats`` timed calls, and more while the total is under ``min_time_s``.
    """
    for _ in range(warmup):
        fn()
    samples: list[float] = []
    start = time.perf_counter()
    while len(samples) < repeats or time.perf_counter() - start < min_time_s:
        t0 = time.perf_counter_ns()
        fn()
        samples.append((time.perf_counter_ns() - t0) / 1e6)
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(float(med), float(q1), float(q3), len(samples), tuple(samples))


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
