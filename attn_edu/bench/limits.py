"""The machine's own limits: a GEMM's and a 3x3 convolution's GFLOP/s, the broadcast multiply's time.

Every mechanism is measured against one of them (its registry entry's ``bound``). See the book:
``book/cost.ipynb``, "Measuring on a shared machine".
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

from ..measure import time_interleaved
from .records import MachineLimits
from .settings import FULL, Log, Settings, quiet

GEMM_N = 1536  # square fp32 matmul: 7.2 GFLOP, tens of ms on 2 cores
GROUPS = 32  # the grouped 3x3 convolution measured beside the dense one (SKNet's G)
CONV_SHAPE = (50, 512, 7, 7)  # a 3x3 conv 512 -> 512, padding 1: the map the channel modules are called on
FLOOR_SHAPE = (50, 512, 7, 7)  # x * gate, gate (50, 512, 1, 1)


@functools.cache
def limit_kernels() -> dict[str, tuple[Callable[[], object], int]]:
    """The kernels that define the machine's limits, as (call, FLOPs) on fixed inputs.

    Built once per process: every mechanism is timed beside one of them (:func:`bench_compat`).

    ``"gemm"``: ``torch.mm`` of two fp32 ``GEMM_N x GEMM_N`` matrices into a preallocated output
    (2 N^3 FLOPs); ``"conv3x3"``: ``F.conv2d`` 512 -> 512 channels, 3x3, padding 1, on
    ``CONV_SHAPE`` (50, 512, 7, 7), the map the channel mechanisms are called on;
    ``"grouped_conv3x3"``: the same with 32 groups (SKNet's setting; reported, not a target's
    limit: it shows what the library reaches on SK's own kind of convolution); ``"floor"``:
    ``x * gate`` with x ``FLOOR_SHAPE`` and gate (50, 512, 1, 1), the least any gate that rescales
    its input must spend (read x, write the output; FLOPs not used).
    """
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(GEMM_N, GEMM_N, generator=g), torch.randn(GEMM_N, GEMM_N, generator=g)
    c = torch.empty(GEMM_N, GEMM_N)
    x = torch.randn(CONV_SHAPE, generator=g)
    w = torch.randn(CONV_SHAPE[1], CONV_SHAPE[1], 3, 3, generator=g)
    wg = torch.randn(CONV_SHAPE[1], CONV_SHAPE[1] // GROUPS, 3, 3, generator=g)
    xf = torch.randn(FLOOR_SHAPE, generator=g)
    gate = torch.rand(FLOOR_SHAPE[0], FLOOR_SHAPE[1], 1, 1, generator=g)
    b_, c_in, h, w_ = CONV_SHAPE
    return {
        "gemm": (lambda: torch.mm(a, b, out=c), 2 * GEMM_N**3),
        "conv3x3": (lambda: F.conv2d(x, w, padding=1), 2 * b_ * h * w_ * c_in * c_in * 9),
        "grouped_conv3x3": (
            lambda: F.conv2d(x, wg, padding=1, groups=GROUPS),
            2 * b_ * h * w_ * c_in * c_in * 9 // GROUPS,
        ),
        "floor": (lambda: xf * gate, 0),
    }


def machine_limits(settings: Settings = FULL, log: Log = quiet) -> MachineLimits:
    """The machine's own limits (:func:`limit_kernels`), measured now in this process."""
    kernels = limit_kernels()
    (gemm, gemm_flops), (conv, conv_flops), (floor, _) = kernels["gemm"], kernels["conv3x3"], kernels["floor"]
    with torch.inference_mode():
        t_gemm = time_interleaved({"gemm": gemm}, warmup=2, repeats=settings.limit_repeats)
        log(f"limits: GEMM {gemm_flops / t_gemm['gemm'].median_ms / 1e6:.0f} GFLOP/s")
        t_conv = time_interleaved({"conv": conv, "grouped": kernels["grouped_conv3x3"][0]}, warmup=2,
                                  repeats=settings.limit_repeats)
        grouped_flops = kernels["grouped_conv3x3"][1]
        log(f"limits: 3x3 conv {conv_flops / t_conv['conv'].median_ms / 1e6:.0f} GFLOP/s "
            f"(with {GROUPS} groups: {grouped_flops / t_conv['grouped'].median_ms / 1e6:.0f} GFLOP/s)")
        t_floor = time_interleaved({"floor": floor}, warmup=20, repeats=settings.limit_repeats,
                                   min_time_s=max(0.05, settings.min_time_s), block_s=settings.block_s)
        log(f"limits: x * gate {t_floor['floor'].median_ms:.3f} ms")
    floor_bytes = (2 * math.prod(FLOOR_SHAPE) + FLOOR_SHAPE[0] * FLOOR_SHAPE[1]) * 4
    tg, tc, tf = t_gemm["gemm"], t_conv["conv"], t_floor["floor"]
    return MachineLimits(
        gemm_gflops=gemm_flops / tg.median_ms / 1e6, gemm_ms=tg.median_ms, gemm_iqr_ms=tg.iqr_ms,
        gemm_shape=[GEMM_N, GEMM_N, GEMM_N], gemm_flops=gemm_flops,
        conv3x3_gflops=conv_flops / tc.median_ms / 1e6, conv3x3_ms=tc.median_ms, conv3x3_iqr_ms=tc.iqr_ms,
        conv3x3_input=list(CONV_SHAPE), conv3x3_flops=conv_flops,
        grouped_conv3x3_gflops=grouped_flops / t_conv["grouped"].median_ms / 1e6,
        grouped_conv3x3_ms=t_conv["grouped"].median_ms, grouped_conv3x3_groups=GROUPS,
        floor_ms=tf.median_ms, floor_iqr_ms=tf.iqr_ms, floor_input=list(FLOOR_SHAPE),
        floor_gbps=floor_bytes / tf.median_ms / 1e6,
    )


def best_limits(*limits: MachineLimits | None) -> MachineLimits:
    """The best the machine showed across several measurements: the highest GFLOP/s, the lowest floor.

    Ratios against these are conservative (they never flatter a mechanism because the limit was
    measured during a slow moment). ``None`` entries (a measurement not taken) are skipped.
    """
    found = [lim for lim in limits if lim is not None]
    if not found:
        raise ValueError("best_limits: expected at least one MachineLimits, got only None")
    gemm = max(found, key=lambda lim: lim.gemm_gflops)
    conv = max(found, key=lambda lim: lim.conv3x3_gflops)
    floor = min(found, key=lambda lim: lim.floor_ms)

    def source(name: str) -> MachineLimits:
        return conv if name.startswith(("conv3x3", "grouped_conv3x3")) else floor if name.startswith("floor") else gemm

    return MachineLimits(**{f.name: getattr(source(f.name), f.name) for f in dataclasses.fields(MachineLimits)})


def cpu_pressure() -> float | None:
    """Linux PSI 'some avg10' for the CPU: % of the last 10 s some task waited for a core."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(dict(kv.split("=") for kv in line.split()[1:])["avg10"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def allocator_env() -> dict[str, str]:
    """This process's settings of glibc's allocator (``GLIBC_TUNABLES``, ``MALLOC_*``)."""
    return {k: v for k, v in os.environ.items() if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")}
