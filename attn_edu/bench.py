"""What the ten mechanisms cost on this machine, measured against the machine's own limits.

Run ``python -m attn_edu.bench`` (a table), ``--json`` (the results as JSON on stdout), ``--out
PATH`` (the JSON into a file) and ``--quick`` (few repeats and tiny sweeps, for CI: under 30 s).

Every run measures, in the same process and with 2 threads:

* the machine's limits (:func:`machine_limits`): a square fp32 GEMM's GFLOP/s, a 3x3
  convolution's GFLOP/s (and, for reference, the same convolution with 32 groups), and the time
  of the bare broadcast multiply ``x * gate``, the floor of any gate;
* each mechanism at the call users of the External-Attention-pytorch collection write
  (:func:`bench_compat`): parameters, FLOPs counted with ``FlopCounterMode`` on the readable
  path and checked against the docstring's formula, forward latency (``torch.inference_mode``,
  eval), forward+backward latency (train mode), peak memory, and ratios to the limits. The
  kernel that bounds the mechanism (GEMM, 3x3 convolution or the floor) is timed again in the
  same interleaved rounds (``paired_limit``): the targets are judged on that paired ratio, which
  a slow spell of this shared machine moves much less than a ratio to limits measured minutes
  apart;
* peers (:func:`peers`): ``torch.nn.MultiheadAttention`` against our self-attention, the
  readable against the fast path of every module that has both;
* sweeps over the size of the map / number of tokens and over channels (:func:`sweep`), with
  fitted log-log slopes.

The OpenMP thread policy is left as the caller sets it and recorded (``machine.omp_wait_policy``):
the default (spinning threads) is fastest on a quiet machine; on a busy one, run with
``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported), which lets idle threads sleep.

The memory allocator is also left as the caller sets it, and its settings are recorded
(``machine.allocator_env``). With glibc's defaults, a large tensor freed at the end of a call goes
back to the kernel and the next call takes it again, paying a page fault for every 4 KiB page it
touches; the timings count them (``fwd_faults_per_call``). :data:`KEEP_MEMORY_ENV` tells glibc to
keep freed memory instead, and :func:`compat_in_child` times mechanisms in a fresh process with
such settings (they are read when a process starts).

Timings interleave the candidates round-robin (a noisy neighbour slows all of them alike) and
report the median and the interquartile range. The machine is shared: compare ratios measured in
the same run, not milliseconds across runs.

JSON layout (``main(...)`` returns the same dict)::

    {"machine": {"gemm_gflops", "conv3x3_gflops", "floor_ms", ... , "torch", "threads",
                 "limits_start", "limits_end", "cpu_pressure_start", "cpu_pressure_end"},
     "settings": {...}, "elapsed_s",
     "mechanisms": {name: {"call", "input", "kind", "bound", "params", "params_formula", "flops",
                           "flops_formula", "fwd_ms", "fwd_iqr_ms", "fwd_faults_per_call", "fwdbwd_ms",
                           "fwdbwd_iqr_ms", "peak_mib", "gflops", "ratio": {"gemm", "conv3x3", "floor"},
                           "paired_limit": {"limit", "ms", "iqr_ms", "flops", "gflops", "ratio",
                                            "rounds_ms": {"mechanism", "limit"}, "round_ratio_q1",
                                            "round_ratio_q3"},
                           "paired_also": {"kernel", "ms", "iqr_ms", "flops", "of_limit"} (SK),
                           "target": {..., "measured", "against", "met", "rounds", "rounds_met"},
                           "reference": {...} (modules with a fast path)}},
     "peers": {"mha": {...}, "paths": {name: {...}}},
     "sweeps": {"tokens": {...}, "channels": {...}, "large_tokens": {...}, "linear_tokens": {...}},
     "targets": [{"what", "measured", "target", "met", "rounds_met" (paired ones)}, ...]}

``ratio.gemm`` and ``ratio.conv3x3`` are the achieved GFLOP/s over the limit's (a fraction,
higher is better); ``ratio.floor`` is the forward time over the broadcast multiply's (a
multiple, lower is better). ``paired_limit.ratio`` is the same quantity for the bounding kernel
timed beside the mechanism: the ratio of the two medians. ``rounds_ms`` keeps both times of every
round; the quartiles of the per-round ratio and the share of rounds that meet the target
(``target.rounds_met``) say how firmly one run decides a target that lies near the measured value.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .measure import Timing, count_flops, loglog_slope, peak_memory_bytes
from .mechanisms import ScaledDotProductAttention
from .registry import MECHANISMS, Mechanism, get

resource: ModuleType | None
try:
    import resource
except ImportError:  # Windows: page faults are not counted
    resource = None

THREADS = int(os.environ.get("OMP_NUM_THREADS") or 2)
"""Threads the benchmark runs on: 2, this project's machines' cores, unless OMP_NUM_THREADS says
otherwise (`make test`'s workers set 1, so that two of them do not oversubscribe 2 cores)."""
MIB = 2**20

GEMM_N = 1536  # square fp32 matmul: 7.2 GFLOP, tens of ms on 2 cores
GROUPS = 32  # the grouped 3x3 convolution measured beside the dense one (SKNet's G)
CONV_SHAPE = (50, 512, 7, 7)  # a 3x3 conv 512 -> 512, padding 1: the map the channel modules are called on
FLOOR_SHAPE = (50, 512, 7, 7)  # x * gate, gate (50, 512, 1, 1)

# Read from the registry (each entry's ``bound``, ``target``, ``also_timed``), by name for the book and tests:
# which of the machine's limits bounds each mechanism at its compatibility call,
BOUND = {name: m.bound for name, m in MECHANISMS.items()}
# issue #8's targets there, (limit, comparison, value),
TARGETS = {name: (m.bound, *m.target) for name, m in MECHANISMS.items() if m.target is not None}
# and the kernels timed beside a mechanism for reference only (not its limit): SK's own kind of convolution.
ALSO_PAIRED = {name: m.also_timed for name, m in MECHANISMS.items() if m.also_timed is not None}
MHA_TARGET = 1.05  # our self-attention's latency over nn.MultiheadAttention's
SLOPE_TARGETS = {"self_attention (reference)": 2.0, "external_attention": 1.0}
SLOPE_TOLERANCE = 0.3
# glibc's malloc, told to serve large blocks from its heap (not fresh mappings) and never to give
# freed memory back to the kernel; read at process start-up (see compat_in_child)
KEEP_MEMORY_ENV = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"}


@dataclass(frozen=True)
class Settings:
    """How much to measure. :data:`FULL` for the CLI, :data:`QUICK` for CI, :data:`BOOK` for the chapter."""

    warmup: int = 2  # untimed calls before timing (per candidate)
    repeats: int = 11  # timed forward calls per candidate, at least
    fwdbwd_repeats: int = 5  # timed forward+backward calls, at least
    fwdbwd_warmup: int = 1
    min_time_s: float = 1.0  # time a group of candidates at least this long (fast calls get many repeats)
    limit_repeats: int = 11  # timed calls of the GEMM and the convolution
    fwdbwd: bool = True  # measure forward+backward at the compatibility calls
    sizes: tuple[int, ...] = (7, 14, 28, 40, 48, 56, 64)  # map sides of the tokens sweep: N = 49 .. 4096
    sweep_channels: int = 64
    sweep_repeats: int = 5
    sweep_memory: bool = True  # peak memory at every point of the tokens sweep
    fit_points: int = 3  # fit the log-log slope on this many largest sizes: here N >= 2304, where the
    # readable self-attention's N x N weights (85 MB and more) no longer fit in the caches
    channels: tuple[int, ...] = (64, 128, 256, 512)  # the channels sweep
    channel_side: int = 14
    channel_batch: int = 8
    peer_repeats: int = 21
    large_tokens: int = 16384  # self-attention (fast path) on this many tokens; 0 skips it
    linear_sides: tuple[int, ...] = (64, 96, 128, 181)  # External Attention alone on N = 4096 .. 32761
    # tokens: its slope is fitted where its work, not the fixed cost of a call, dominates; () skips it
    limits_at_end: bool = True  # measure the limits again at the end (drift on a shared machine)
    block_s: float = 0.005  # a candidate shorter than this is timed in blocks of calls (see time_interleaved)
    paired_limit: bool = True  # time each mechanism's bounding kernel in the same rounds as the mechanism
    readable_path: bool = True  # at the compatibility calls, time the readable path beside the fast one


FULL = Settings()
QUICK = Settings(warmup=0, repeats=2, fwdbwd_repeats=1, fwdbwd_warmup=0, min_time_s=0.05, limit_repeats=3,
                 sizes=(7, 14, 28), sweep_repeats=1, sweep_memory=False, channels=(64, 128), peer_repeats=3,
                 large_tokens=0, linear_sides=(), limits_at_end=False)
BOOK = Settings(warmup=1, repeats=3, fwdbwd_repeats=1, fwdbwd_warmup=0, min_time_s=0.25, limit_repeats=5,
                sweep_repeats=3, channels=(64, 128, 256, 512),
                peer_repeats=5, large_tokens=0, linear_sides=(), limits_at_end=False)

Log = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


def stderr_progress() -> Log:
    """A logger that prints one line per step to stderr, with the seconds since it was made."""
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[bench {time.perf_counter() - start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    return log


# --- timing ------------------------------------------------------------------------------------


def _timing(samples: list[float], faults_per_call: float | None = None) -> Timing:
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(float(med), float(q1), float(q3), len(samples), tuple(samples), faults_per_call)


def _minor_faults() -> int | None:
    """Minor page faults of this process so far (every thread): a fresh page the kernel had to map."""
    return None if resource is None else resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_interleaved(fns: dict[str, Callable[[], object]], *, warmup: int = 1, repeats: int = 5,
                     min_time_s: float = 0.0, block_s: float = 0.0) -> dict[str, Timing]:
    """Time several candidates round-robin: one turn of each per round, the order rotating.

    After ``warmup`` rounds, runs at least ``repeats`` timed rounds and more while the total is
    under ``min_time_s``. A slowdown of the machine hits every candidate alike, so their ratios
    are fairer than those of back-to-back loops (:func:`attn_edu.measure.time_call`).

    A turn is one timed call, unless the candidate is shorter than ``block_s``: then its turn is
    one untimed call (it brings the candidate's own data back into the caches, which the other
    candidates evicted) followed by enough timed calls to last ``block_s``, and the sample is their
    mean. Short and long candidates are then both timed in their steady state, as they run inside
    a network, instead of the short ones paying a cold cache on every call.

    Every candidate gets one sample per round, so ``samples_ms[r]`` of two candidates were timed in
    the same round r, a fraction of a second apart. ``faults_per_call`` counts the minor page faults
    of the timed calls: memory the allocator took fresh from the kernel, which costs time on first
    touch (the kernel maps and zeroes each 4 KiB page).
    """
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


def _cpu_pressure() -> float | None:
    """Linux PSI 'some avg10' for the CPU: % of the last 10 s some task waited for a core."""
    try:
        line = Path("/proc/pressure/cpu").read_text().splitlines()[0]
        return float(dict(kv.split("=") for kv in line.split()[1:])["avg10"])
    except (OSError, KeyError, ValueError, IndexError):
        return None


# --- the machine's limits ----------------------------------------------------------------------


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


def machine_limits(settings: Settings = FULL, log: Log = _quiet) -> dict:
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
    return {
        "gemm_gflops": gemm_flops / tg.median_ms / 1e6, "gemm_ms": tg.median_ms, "gemm_iqr_ms": tg.iqr_ms,
        "gemm_shape": [GEMM_N, GEMM_N, GEMM_N], "gemm_flops": gemm_flops,
        "conv3x3_gflops": conv_flops / tc.median_ms / 1e6, "conv3x3_ms": tc.median_ms, "conv3x3_iqr_ms": tc.iqr_ms,
        "conv3x3_input": list(CONV_SHAPE), "conv3x3_flops": conv_flops,
        "grouped_conv3x3_gflops": grouped_flops / t_conv["grouped"].median_ms / 1e6,
        "grouped_conv3x3_ms": t_conv["grouped"].median_ms, "grouped_conv3x3_groups": GROUPS,
        "floor_ms": tf.median_ms, "floor_iqr_ms": tf.iqr_ms, "floor_input": list(FLOOR_SHAPE),
        "floor_gbps": floor_bytes / tf.median_ms / 1e6,
    }


def best_limits(*limits: dict | None) -> dict:
    """The best the machine showed across several measurements: the highest GFLOP/s, the lowest floor.

    Ratios against these are conservative (they never flatter a mechanism because the limit was
    measured during a slow moment).
    """
    found = [lim for lim in limits if lim]
    best = dict(max(found, key=lambda lim: lim["gemm_gflops"]))
    conv = max(found, key=lambda lim: lim["conv3x3_gflops"])
    floor = min(found, key=lambda lim: lim["floor_ms"])
    best.update({k: conv[k] for k in conv if k.startswith(("conv3x3", "grouped_conv3x3"))})
    best.update({k: floor[k] for k in floor if k.startswith("floor")})
    return best


# --- one mechanism at its compatibility call ---------------------------------------------------


def _set_impl(module: nn.Module, impl: str) -> None:
    for m in module.modules():
        if hasattr(m, "impl"):
            # setattr: nn.Module's typed __setattr__ takes only tensors and modules; impl is a str
            setattr(m, "impl", impl)  # noqa: B010


def _impl_of(module: nn.Module) -> str | None:
    return getattr(module, "impl", None)


@contextlib.contextmanager
def _impl(module: nn.Module, impl: str | None) -> Iterator[None]:
    before = _impl_of(module)
    if impl is not None and before is not None:
        _set_impl(module, impl)
    try:
        yield
    finally:
        if before is not None:
            _set_impl(module, before)


def _forward(call: Callable[[nn.Module, Tensor], Tensor], module: nn.Module, x: Tensor, impl: str | None):
    def fwd() -> None:
        if impl is not None:
            _set_impl(module, impl)
        with torch.inference_mode():
            call(module, x)

    return fwd


def _no_grad(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        with torch.inference_mode():
            fn()

    return run


def _forward_backward(call: Callable[[nn.Module, Tensor], Tensor], module: nn.Module, x: Tensor):
    def step() -> None:
        module.zero_grad(set_to_none=True)
        call(module, x).sum().backward()

    return step


def _peak_mib(call, module: nn.Module, x: Tensor, impl: str | None) -> float:
    with _impl(module, impl), torch.inference_mode():
        return peak_memory_bytes(lambda: call(module, x)) / MIB


def _target(mech: Mechanism) -> dict | None:
    if mech.target is None:
        return None
    op, value = mech.target
    return {"limit": mech.bound, "op": op, "value": value}


def bench_compat(name: str, settings: Settings = FULL, log: Log = _quiet) -> dict:
    """Parameters, FLOPs, time and memory of mechanism ``name`` at its compatibility call.

    FLOPs are counted on the readable path (``FlopCounterMode`` counts 0 for fused kernels) and
    compared with ``flops_formula``; times are of the default path users get (``impl="fast"``
    where the module has one), and of the readable path under ``"reference"``. Ratios to the
    machine's limits are added by :func:`add_ratios`.
    """
    mech = get(name)
    module, x = mech.example()
    module.eval()
    call = mech.call_example
    impl = _impl_of(module)
    params = sum(p.numel() for p in module.parameters())
    with _impl(module, "reference"), torch.no_grad():
        flops = count_flops(lambda: call(module, x))
    flops_formula = module.flops_formula(tuple(x.shape))

    # peak memory first: these calls also warm both paths up (allocator, kernels' first-call setup)
    peak = _peak_mib(call, module, x, impl)
    readable = impl is not None and settings.readable_path
    peak_ref = _peak_mib(call, module, x, "reference") if readable else None
    fns = {"default": _forward(call, module, x, impl)}
    if readable:
        fns["reference"] = _forward(call, module, x, "reference")
    if settings.paired_limit:
        kernels = limit_kernels()
        limit_fn, limit_flops = kernels[mech.bound]
        fns["limit"] = _no_grad(limit_fn)
        if mech.also_timed is not None:
            fns["also"] = _no_grad(kernels[mech.also_timed][0])
    t = time_interleaved(fns, warmup=settings.warmup, repeats=settings.repeats, min_time_s=settings.min_time_s,
                         block_s=settings.block_s)
    if impl is not None:
        _set_impl(module, impl)  # the last timed call may have left the readable path on
    rec: dict[str, Any] = {
        "call": mech.compat_call, "input": list(x.shape), "kind": mech.kind, "bound": mech.bound,
        "impl": impl, "params": params, "params_formula": module.num_params_formula(),
        "flops": flops, "flops_formula": flops_formula, "flops_match": flops == flops_formula,
        "fwd_ms": t["default"].median_ms, "fwd_iqr_ms": t["default"].iqr_ms, "fwd_repeats": t["default"].repeats,
        "fwd_faults_per_call": t["default"].faults_per_call, "peak_mib": peak,
    }
    if settings.fwdbwd:
        module.train()
        tb = time_interleaved({"fb": _forward_backward(call, module, x)}, warmup=settings.fwdbwd_warmup,
                              repeats=settings.fwdbwd_repeats, min_time_s=settings.min_time_s)["fb"]
        module.eval()
        rec.update(fwdbwd_ms=tb.median_ms, fwdbwd_iqr_ms=tb.iqr_ms, fwdbwd_repeats=tb.repeats)
    else:
        rec.update(fwdbwd_ms=None, fwdbwd_iqr_ms=None, fwdbwd_repeats=0)
    if settings.paired_limit:
        tl = t["limit"]
        rec["paired_limit"] = {
            "limit": mech.bound, "ms": tl.median_ms, "iqr_ms": tl.iqr_ms, "flops": limit_flops,
            "faults_per_call": tl.faults_per_call,
            "rounds_ms": {"mechanism": list(t["default"].samples_ms), "limit": list(tl.samples_ms)},
        }
        if mech.also_timed is not None:
            kernel = mech.also_timed
            rec["paired_also"] = {"kernel": kernel, "ms": t["also"].median_ms, "iqr_ms": t["also"].iqr_ms,
                                  "flops": kernels[kernel][1]}
    if readable:
        tr = t["reference"]
        rec["reference"] = {"fwd_ms": tr.median_ms, "fwd_iqr_ms": tr.iqr_ms, "fwd_repeats": tr.repeats,
                            "fwd_faults_per_call": tr.faults_per_call, "peak_mib": peak_ref}
    rec["cpu_pressure"] = _cpu_pressure()
    rec["target"] = _target(mech)
    fb = f", fwd+bwd {rec['fwdbwd_ms']:.2f} ms" if rec["fwdbwd_ms"] is not None else ""
    log(f"compat {name}: {params:,} params, {flops / 1e6:.1f} MFLOP, fwd {rec['fwd_ms']:.3f} ms{fb}")
    return rec


def add_ratios(rec: dict, limits: dict) -> dict:
    """Add achieved GFLOP/s and the ratios to a record of :func:`bench_compat` (in place).

    ``ratio`` is against ``limits`` (the run's best, :func:`best_limits`); ``paired_limit.ratio``
    (when the record has a ``paired_limit``) is against the bounding kernel timed in the same rounds as
    the mechanism, which a slow spell of the machine slows alike. Targets are judged on the
    paired ratio where there is one.
    """

    def ratios(flops: float, ms: float) -> tuple[float, dict[str, float]]:
        gflops = flops / ms / 1e6
        return gflops, {"gemm": gflops / limits["gemm_gflops"], "conv3x3": gflops / limits["conv3x3_gflops"],
                        "floor": ms / limits["floor_ms"]}

    rec["gflops"], rec["ratio"] = ratios(rec["flops"], rec["fwd_ms"])
    if rec.get("reference"):
        rec["reference"]["gflops"], rec["reference"]["ratio"] = ratios(rec["flops"], rec["reference"]["fwd_ms"])
    if rec.get("fwdbwd_ms"):
        rec["fwdbwd_over_fwd"] = rec["fwdbwd_ms"] / rec["fwd_ms"]
    paired = rec.get("paired_limit")
    rounds = None
    if paired:
        paired["ratio"] = _paired_ratio(paired, rec["flops"], rec["fwd_ms"], paired["ms"])
        if paired["limit"] != "floor":
            paired["gflops"] = paired["flops"] / paired["ms"] / 1e6
            also = rec.get("paired_also")
            if also:  # the reference kernel's rate as a fraction of the limit's, both timed beside the mechanism
                also["of_limit"] = also["flops"] / also["ms"] / 1e6 / paired["gflops"]
        if paired.get("rounds_ms"):  # the same ratio in each round: how much it moves within the run
            ms = paired["rounds_ms"]
            rounds = _paired_ratio(paired, rec["flops"], np.asarray(ms["mechanism"]), np.asarray(ms["limit"]))
            paired["round_ratio_q1"], paired["round_ratio_q3"] = (float(q) for q in np.percentile(rounds, [25, 75]))
    if rec.get("target"):
        tgt = rec["target"]
        if paired and paired["limit"] == tgt["limit"]:
            measured, tgt["against"] = paired["ratio"], "paired"
        else:
            measured, tgt["against"] = rec["ratio"][tgt["limit"]], "best"
        tgt["measured"] = measured
        tgt["met"] = bool(_meets(measured, tgt["op"], tgt["value"]))
        if rounds is not None and tgt["against"] == "paired":
            tgt["rounds"] = len(rounds)
            tgt["rounds_met"] = float(np.mean(_meets(rounds, tgt["op"], tgt["value"])))
    return rec


def _paired_ratio(paired: dict, flops: int, mech_ms, limit_ms):
    """The mechanism against its paired limit, from their times (floats, or arrays of one per round)."""
    if paired["limit"] == "floor":
        return mech_ms / limit_ms  # a multiple of the floor's time
    return (flops / mech_ms) / (paired["flops"] / limit_ms)  # a fraction of the limit's GFLOP/s


def _meets(measured, op: str, value: float):
    return measured >= value if op == ">=" else measured <= value


# --- peers ------------------------------------------------------------------------------------


def peer_mha(settings: Settings = FULL, log: Log = _quiet, d_model: int = 512, heads: int = 8,
             shape: tuple[int, int] = (50, 49)) -> dict:
    """``torch.nn.MultiheadAttention`` (batch_first, need_weights=False) against our
    self-attention with its weights copied (:meth:`ScaledDotProductAttention.from_torch`), both paths."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    ours = ScaledDotProductAttention.from_torch(mha).eval()
    x = torch.randn(*shape, d_model, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(ours(x, x, x), mha(x, x, x, need_weights=False)[0], rtol=1e-4, atol=1e-5)
    call = lambda m, t: m(t, t, t)  # noqa: E731
    t = time_interleaved({
        "mha": lambda: _mha_forward(mha, x),
        "fast": _forward(call, ours, x, "fast"),
        "reference": _forward(call, ours, x, "reference"),
    }, warmup=settings.warmup, repeats=settings.peer_repeats, min_time_s=settings.min_time_s, block_s=settings.block_s)
    rec: dict[str, Any] = {
        "input": [*shape, d_model], "heads": heads,
        "mha_ms": t["mha"].median_ms, "mha_iqr_ms": t["mha"].iqr_ms,
        "ours_ms": t["fast"].median_ms, "ours_iqr_ms": t["fast"].iqr_ms,
        "ours_reference_ms": t["reference"].median_ms, "ours_reference_iqr_ms": t["reference"].iqr_ms,
        "ratio": t["fast"].median_ms / t["mha"].median_ms,
        "ratio_reference": t["reference"].median_ms / t["mha"].median_ms,
        "repeats": t["mha"].repeats,
        "flops": ours.flops_formula((shape[0], shape[1], d_model)),
        "target": {"op": "<=", "value": MHA_TARGET},
    }
    rec["target"]["met"] = bool(rec["ratio"] <= MHA_TARGET)
    log(f"peer nn.MultiheadAttention {rec['mha_ms']:.2f} ms, ours {rec['ours_ms']:.2f} ms "
        f"(x{rec['ratio']:.3f}), ours readable {rec['ours_reference_ms']:.2f} ms")
    return rec


def _mha_forward(mha: nn.MultiheadAttention, x: Tensor) -> None:
    with torch.inference_mode():
        mha(x, x, x, need_weights=False)


def peer_paths(mechanisms: dict[str, dict], settings: Settings = FULL, log: Log = _quiet,
               fused_calls: bool = True) -> dict:
    """The readable against the fast path of every module that has both, at its compatibility call.

    Read from the records of :func:`bench_compat` (timed interleaved there). Where the
    compatibility call's fast path is not the fused kernel (EMSA's ``apply_transform=True``: its
    fast path is plain PyTorch in a cheaper order; the registry's ``path_note`` says so), the
    registry's ``fused_call`` on the same input (EMSA with ``apply_transform=False``) is timed too,
    as ``"<name> (<the arguments it changes>)"``, unless ``fused_calls`` is false.
    """
    out = {}
    for name, rec in mechanisms.items():
        if rec.get("reference"):
            out[name] = _path_record(rec["fwd_ms"], rec["reference"]["fwd_ms"], rec["peak_mib"],
                                     rec["reference"]["peak_mib"], rec["call"], rec["input"])
            if get(name).path_note is not None:
                out[name]["note"] = get(name).path_note
    for name in mechanisms:
        mech = get(name)
        if not fused_calls or mech.fused_call is None or mech.fused_label is None:
            continue
        torch.manual_seed(0)
        module = mech.construct(mech.fused_call).eval()
        _, x = mech.example()
        c = mech.call_example
        peaks = _peak_mib(c, module, x, "fast"), _peak_mib(c, module, x, "reference")  # also warm-ups
        t = time_interleaved({"fast": _forward(c, module, x, "fast"), "reference": _forward(c, module, x, "reference")},
                             warmup=settings.warmup, repeats=settings.repeats, min_time_s=settings.min_time_s,
                             block_s=settings.block_s)
        out[mech.fused_label] = _path_record(
            t["fast"].median_ms, t["reference"].median_ms, *peaks, mech.fused_call, list(x.shape))
    for k, v in out.items():
        log(f"paths {k}: readable {v['reference_ms']:.2f} ms, fast {v['fast_ms']:.2f} ms (x{v['speedup']:.2f})")
    return out


def _path_record(fast_ms: float, ref_ms: float, fast_mib: float, ref_mib: float, call: str, shape: list) -> dict:
    return {"call": call, "input": shape, "fast_ms": fast_ms, "reference_ms": ref_ms, "speedup": ref_ms / fast_ms,
            "fast_peak_mib": fast_mib, "reference_peak_mib": ref_mib}


# --- sweeps -----------------------------------------------------------------------------------


def default_candidates() -> list[tuple[str, str, str | None]]:
    """(label, mechanism, impl): all ten at their default path, and the readable path of those with a
    fast one (where the registry's ``sweep_readable`` asks for it)."""
    out: list[tuple[str, str, str | None]] = []
    for name, mech in MECHANISMS.items():
        impl = _impl_of(mech.build(64))
        out.append((name, name, None))
        if impl is not None and mech.sweep_readable:
            out.append((f"{name} (reference)", name, "reference"))
    return out


def sweep(sides: tuple[int, ...], channels: tuple[int, ...], batch: int = 1,
          candidates: list[tuple[str, str, str | None]] | None = None, settings: Settings = FULL,
          memory: bool = True, log: Log = _quiet, x: str = "tokens") -> dict:
    """Forward latency (and peak memory) of ``candidates`` on (batch, C, s, s) maps, for every
    side ``s`` in ``sides`` and every C in ``channels`` (one of the two has a single value).

    Modules come from ``Mechanism.build(C)`` (the book's settings for C channels) and run through
    ``Mechanism.apply`` (tokens go B C H W -> B N C and back). The candidates are timed
    interleaved at each point. ``x`` names the swept variable ("tokens" or "channels"); the slope
    of log(ms) against log(x) is fitted on the ``settings.fit_points`` largest points.
    """
    candidates = default_candidates() if candidates is None else candidates
    points = [(s, c) for s in sides for c in channels]
    res: dict[str, dict[str, Any]] = {
        label: {"mechanism": name, "impl": impl, "ms": [], "iqr_ms": [], "faults_per_call": [], "peak_mib": [],
                "flops": []}
        for label, name, impl in candidates
    }
    for s, c in points:
        xm = torch.randn(batch, c, s, s, generator=torch.Generator().manual_seed(s * 1000 + c))
        fns, built = {}, {}
        for label, name, impl in candidates:
            mech = get(name)
            torch.manual_seed(0)
            module = mech.build(c).eval()
            use = impl if impl is not None else _impl_of(module)
            built[label] = (mech, module, use)
            fns[label] = _forward(mech.apply, module, xm, use)
            res[label]["flops"].append(mech.flops(module, xm))
            res[label]["peak_mib"].append(_peak_mib(mech.apply, module, xm, use) if memory else None)
        t = time_interleaved(fns, warmup=1, repeats=settings.sweep_repeats, min_time_s=settings.min_time_s,
                             block_s=settings.block_s)
        for label in built:
            res[label]["ms"].append(t[label].median_ms)
            res[label]["iqr_ms"].append(t[label].iqr_ms)
            res[label]["faults_per_call"].append(t[label].faults_per_call)
        log(f"sweep {x}: {s}x{s}, C={c}, B={batch}: " + ", ".join(
            f"{lab} {t[lab].median_ms:.2f}" for lab in list(t)[:4]) + (" ... ms" if len(t) > 4 else " ms"))
    xs = [s * s for s, _ in points] if x == "tokens" else [c for _, c in points]
    k = min(settings.fit_points, len(xs))
    for r in res.values():
        r["slope_ms"] = loglog_slope(xs[-k:], r["ms"][-k:]) if len(xs) > 1 else None
        mem = r["peak_mib"][-k:]
        r["slope_mem"] = loglog_slope(xs[-k:], mem) if len(xs) > 1 and all(m and m > 0 for m in mem) else None
    return {"x": x, "values": xs, "sides": list(sides), "channels": list(channels), "batch": batch,
            "fit_from": xs[-k], "candidates": res}


def large_tokens(n_tokens: int, d_model: int = 64, heads: int = 4, settings: Settings = FULL,
                 log: Log = _quiet) -> dict:
    """Self-attention on one image of ``n_tokens`` tokens on the fast path: time and peak memory.

    The readable path would keep the h x N x N weights (``heads * N^2 * 4`` bytes); that size is
    reported, not allocated.
    """
    torch.manual_seed(0)
    sa = ScaledDotProductAttention(d_model=d_model, h=heads, impl="fast").eval()
    x = torch.randn(1, n_tokens, d_model, generator=torch.Generator().manual_seed(2))
    call = lambda m, t: m(t, t, t)  # noqa: E731
    t = time_interleaved({"fast": _forward(call, sa, x, "fast")}, warmup=1, repeats=2)["fast"]
    rec = {"tokens": n_tokens, "d_model": d_model, "heads": heads, "batch": 1, "fwd_ms": t.median_ms,
           "fwd_iqr_ms": t.iqr_ms, "peak_mib": _peak_mib(call, sa, x, "fast"),
           "reference_weights_mib": heads * n_tokens**2 * 4 / MIB,
           "flops": sa.flops_formula((1, n_tokens, d_model))}
    log(f"large: self-attention (fast) on {n_tokens} tokens: {rec['fwd_ms']:.0f} ms, {rec['peak_mib']:.1f} MiB "
        f"(the readable path's weights alone: {rec['reference_weights_mib']:.0f} MiB)")
    return rec


# --- the allocator ----------------------------------------------------------------------------


def allocator_env() -> dict[str, str]:
    """This process's settings of glibc's allocator (``GLIBC_TUNABLES``, ``MALLOC_*``)."""
    return {k: v for k, v in os.environ.items() if k == "GLIBC_TUNABLES" or k.startswith("MALLOC_")}


def compat_in_child(names: list[str], env: dict[str, str], settings: Settings = BOOK,
                    timeout_s: float = 600) -> dict:
    """:func:`bench_compat` of ``names`` (forward, default path only) in a fresh Python process with
    ``env`` added to its environment, for settings a process reads only when it starts, such as
    :data:`KEEP_MEMORY_ENV`. Returns ``{"allocator_env", "mechanisms"}``; the records have no
    ratios yet (:func:`add_ratios`)."""
    code = ("import json, sys; from attn_edu import bench; "
            "print(json.dumps(bench._compat_here(json.loads(sys.argv[1]), json.loads(sys.argv[2]))))")
    forward_only = replace(settings, fwdbwd=False, readable_path=False)
    args = [sys.executable, "-c", code, json.dumps(names), json.dumps(asdict(forward_only))]
    proc = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"compat_in_child: the child process failed:\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


def _compat_here(names: list[str], settings: dict) -> dict:
    torch.set_num_threads(THREADS)
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}  # JSON lists
    s = Settings(**fields)
    return {"allocator_env": allocator_env(), "mechanisms": {name: bench_compat(name, s) for name in names}}


# --- targets and the whole run ----------------------------------------------------------------


def check_targets(result: dict) -> list[dict]:
    """Issue #8's targets, each with the measured value and whether it is met."""
    out = []
    for name, rec in result["mechanisms"].items():
        tgt = rec.get("target")
        if tgt:
            unit = "of GEMM" if tgt["limit"] == "gemm" else "of 3x3 conv" if tgt["limit"] == "conv3x3" else "x floor"
            against = " (timed in the same rounds)" if tgt.get("against") == "paired" else ""
            out.append({"what": f"{name} at its compatibility call, {unit}{against}", "measured": tgt["measured"],
                        "target": f"{tgt['op']} {tgt['value']}", "met": tgt["met"]})
            if "rounds_met" in tgt:
                out[-1]["rounds_met"], out[-1]["rounds"] = tgt["rounds_met"], tgt["rounds"]
            also = rec.get("paired_also")
            if also:
                out[-1]["note"] = (f"{also['kernel']} alone, timed beside it: {also['of_limit']:.0%} of the "
                                   f"{tgt['limit']} rate")
    mha = result["peers"].get("mha")
    if mha:
        out.append({"what": "self-attention / nn.MultiheadAttention latency (512, 8 heads, 49 tokens)",
                    "measured": mha["ratio"], "target": f"<= {MHA_TARGET}", "met": mha["target"]["met"]})
    sweep_ = result["sweeps"].get("tokens", {})
    tokens, fit_from = sweep_.get("candidates", {}), sweep_.get("fit_from")
    # External Attention's slope comes from its own larger-N sweep when there is one
    linear = result["sweeps"].get("linear_tokens", {})

    def slope(what: str, measured: float, want: float, from_: int | None = fit_from) -> dict:
        return {"what": f"{what} (N >= {from_})", "measured": measured,
                "target": f"~ {want} (+-{SLOPE_TOLERANCE})", "met": abs(measured - want) <= SLOPE_TOLERANCE}

    for label, want in SLOPE_TARGETS.items():
        rec, from_ = tokens.get(label), fit_from
        if label in linear.get("candidates", {}):
            rec, from_ = linear["candidates"][label], linear["fit_from"]
        if rec and rec["slope_ms"] is not None:
            out.append(slope(f"log-log slope of {label} latency vs tokens", rec["slope_ms"], want, from_))
    fast = tokens.get("self_attention")
    if fast and fast["slope_mem"] is not None:
        out.append(slope("log-log slope of self-attention (fast) peak memory vs tokens", fast["slope_mem"], 1.0))
    large = result["sweeps"].get("large_tokens")
    if large:
        out.append({"what": f"self-attention (fast) runs on {large['tokens']} tokens: peak MiB",
                    "measured": large["peak_mib"], "target": "runs", "met": True})
    return out


def run(settings: Settings = FULL, log: Log = _quiet, names: list[str] | None = None) -> dict:
    """The whole benchmark; returns the JSON-able dict described in the module docstring."""
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    pressure_start = _cpu_pressure()
    limits_start = machine_limits(settings, log)
    names = list(MECHANISMS) if names is None else names
    mechanisms = {name: bench_compat(name, settings, log) for name in names}
    peers = {"mha": peer_mha(settings, log), "paths": peer_paths(mechanisms, settings, log)}
    sweeps = {
        "tokens": sweep(settings.sizes, (settings.sweep_channels,), 1, settings=settings,
                        memory=settings.sweep_memory, log=log, x="tokens"),
        "channels": sweep((settings.channel_side,), settings.channels, settings.channel_batch, settings=settings,
                          memory=False, log=log, x="channels"),
    }
    if settings.large_tokens:
        sweeps["large_tokens"] = large_tokens(settings.large_tokens, settings=settings, log=log)
    if settings.linear_sides:
        sweeps["linear_tokens"] = sweep(settings.linear_sides, (settings.sweep_channels,), 1,
                                        candidates=[("external_attention", "external_attention", None)],
                                        settings=settings, memory=settings.sweep_memory, log=log, x="tokens")
    limits_end = machine_limits(settings, log) if settings.limits_at_end else None
    limits = best_limits(limits_start, limits_end)
    for rec in mechanisms.values():
        add_ratios(rec, limits)
    machine = {**limits, "limits_start": limits_start, "limits_end": limits_end,
               "torch": torch.__version__, "threads": torch.get_num_threads(),
               "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "allocator_env": allocator_env(),
               "cpu_pressure_start": pressure_start, "cpu_pressure_end": _cpu_pressure()}
    result: dict[str, Any] = {"machine": machine, "settings": asdict(settings), "mechanisms": mechanisms,
                              "peers": peers, "sweeps": sweeps}
    result["targets"] = check_targets(result)
    result["elapsed_s"] = time.perf_counter() - start
    log(f"done in {result['elapsed_s']:.1f} s")
    return result


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(result: dict) -> str:
    """The results as plain text: the limits, one row per mechanism, the peers and the targets."""
    m = result["machine"]
    lines = [
        f"machine: torch {m['torch']}, {m['threads']} threads; GEMM {m['gemm_gflops']:.0f} GFLOP/s "
        f"({GEMM_N}^3), 3x3 conv {m['conv3x3_gflops']:.0f} GFLOP/s (on {tuple(m['conv3x3_input'])}; with "
        f"{m['grouped_conv3x3_groups']} groups {m['grouped_conv3x3_gflops']:.0f}), "
        f"x * gate {m['floor_ms']:.3f} ms (on {tuple(m['floor_input'])})",
        "",
        "paired: the ratio to the bounding kernel timed in the same rounds as the mechanism (judges the target)",
        "faults: minor page faults per forward call (memory taken fresh from the kernel, paid for on first touch)",
        f"{'mechanism':20s} {'params':>10s} {'MFLOP':>9s} {'fwd ms':>9s} {'IQR':>7s} {'fwd+bwd':>9s} {'MiB':>7s} "
        f"{'faults':>7s} {'GFLOP/s':>8s} {'of GEMM':>8s} {'of conv':>8s} {'x floor':>8s} {'paired':>8s}  target",
    ]
    for name, r in result["mechanisms"].items():
        tgt = r.get("target")
        t = "" if not tgt else f"{tgt['limit']} {tgt['op']} {tgt['value']}: {'met' if tgt['met'] else 'NOT met'}"
        paired = r.get("paired_limit", {}).get("ratio")
        paired = "-" if paired is None else f"{paired:.1f}" if r["bound"] == "floor" else f"{paired:.1%}"
        lines.append(
            f"{name:20s} {r['params']:>10,d} {r['flops'] / 1e6:>9.1f} {r['fwd_ms']:>9.3f} {r['fwd_iqr_ms']:>7.3f} "
            f"{_fmt(r['fwdbwd_ms'], '9.2f'):>9s} {r['peak_mib']:>7.1f} {_fmt(r['fwd_faults_per_call'], '7.0f'):>7s} "
            f"{r['gflops']:>8.1f} {r['ratio']['gemm']:>8.1%} "
            f"{r['ratio']['conv3x3']:>8.1%} {r['ratio']['floor']:>8.1f} {paired:>8s}  {t}")
    mha = result["peers"]["mha"]
    lines += ["", f"nn.MultiheadAttention {mha['mha_ms']:.2f} ms, ours (fast) {mha['ours_ms']:.2f} ms "
                  f"(x{mha['ratio']:.3f}), ours (readable) {mha['ours_reference_ms']:.2f} ms"]
    for k, v in result["peers"]["paths"].items():
        lines.append(f"{k}: readable {v['reference_ms']:.2f} ms / {v['reference_peak_mib']:.1f} MiB, "
                     f"fast {v['fast_ms']:.2f} ms / {v['fast_peak_mib']:.1f} MiB")
    tok = result["sweeps"]["tokens"]
    lines += ["", f"tokens sweep (C={tok['channels'][0]}, B=1), N = {tok['values']}, "
                  f"slope fitted on N >= {tok['fit_from']}:"]
    for label, r in tok["candidates"].items():
        lines.append(f"  {label:30s} ms {', '.join(f'{v:.2f}' for v in r['ms'])}  slope {_fmt(r['slope_ms'], '.2f')}"
                     f"  memory slope {_fmt(r['slope_mem'], '.2f')}")
    lines += ["", "targets:"]
    for t in result["targets"]:
        note = f"; {t['note']}" if t.get("note") else ""
        if "rounds_met" in t:
            note += f"; met in {t['rounds_met']:.0%} of {t['rounds']} rounds"
        met = "met" if t["met"] else "NOT met"
        lines.append(f"  [{met}] {t['what']}: {t['measured']:.3g} (target {t['target']}{note})")
    lines.append(f"\n{result['elapsed_s']:.1f} s")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m attn_edu.bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, tiny sweeps (CI: under 30 s)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON (to --out if given)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON results to this file")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    log = _quiet if args.no_progress else stderr_progress()
    result = run(QUICK if args.quick else FULL, log)
    text = json.dumps(result, indent=1)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    if args.json and args.out is None:
        print(text)
    elif not args.json:
        print(table(result))
    return result


if __name__ == "__main__":
    main()
