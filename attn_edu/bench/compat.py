"""Each mechanism at the call users of the collection write, timed beside its bounding kernel; peers.

:func:`bench_compat` measures one mechanism, :func:`add_ratios` sets it against the machine's
limits, :func:`peer_mha` and :func:`peer_paths` compare it with PyTorch's attention and its own
two paths, :func:`peer_collection` with the External-Attention-pytorch collection's module,
:func:`compat_in_child` repeats it in a fresh process with other allocator settings.
See the book: ``book/cost.ipynb``, "Ten mechanisms at the calls users write".
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace

import numpy as np
import torch
from torch import Tensor, nn

from ..measure import count_flops, count_params, peak_memory_bytes, round_ratio, time_interleaved
from ..mechanisms import ScaledDotProductAttention
from ..registry import MECHANISMS, get
from .limits import allocator_env, cpu_pressure, limit_kernels
from .records import (
    ChildResult,
    CollectionRow,
    CompatRecord,
    FloorWarmth,
    MachineLimits,
    MhaPeer,
    PairedAlso,
    PairedLimit,
    PathPeer,
    Ratios,
    ReadablePath,
    RoundTimes,
    from_jsonable,
    to_jsonable,
)
from .settings import BOOK, FULL, THREADS, Log, Settings, quiet

MIB = 2**20
# Read from the registry (each entry's ``bound`` and ``also_timed``), by name for the book and tests:
# which of the machine's limits bounds each mechanism at its compatibility call,
BOUND = {name: m.bound for name, m in MECHANISMS.items()}
# and the kernels timed beside a mechanism for reference only (not its limit): SK's own kind of convolution.
ALSO_PAIRED = {name: m.also_timed for name, m in MECHANISMS.items() if m.also_timed is not None}
# glibc's malloc, told to serve large blocks from its heap (not fresh mappings) and never to give
# freed memory back to the kernel; read at process start-up (see compat_in_child)
KEEP_MEMORY_ENV = {"GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1073741824:glibc.malloc.trim_threshold=4294967296"}

ModuleCall = Callable[[nn.Module, Tensor], Tensor]


# --- the paths of a module ----------------------------------------------------------------------


def _set_impl(module: nn.Module, impl: str) -> None:
    for m in module.modules():
        if hasattr(m, "impl"):
            # setattr: nn.Module's typed __setattr__ takes only tensors and modules; impl is a str
            setattr(m, "impl", impl)  # noqa: B010


def impl_of(module: nn.Module) -> str | None:
    """The module's path (``"fast"`` or ``"reference"``); ``None`` for a module with one path."""
    return getattr(module, "impl", None)


@contextlib.contextmanager
def _impl(module: nn.Module, impl: str | None) -> Iterator[None]:
    before = impl_of(module)
    if impl is not None and before is not None:
        _set_impl(module, impl)
    try:
        yield
    finally:
        if before is not None:
            _set_impl(module, before)


def forward(call: ModuleCall, module: nn.Module, x: Tensor, impl: str | None) -> Callable[[], None]:
    """One inference-mode forward of ``module`` on ``x`` on path ``impl``, as a candidate to time."""

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


def _forward_backward(call: ModuleCall, module: nn.Module, x: Tensor) -> Callable[[], None]:
    def step() -> None:
        module.zero_grad(set_to_none=True)
        call(module, x).sum().backward()

    return step


def peak_mib(call: ModuleCall, module: nn.Module, x: Tensor, impl: str | None) -> float:
    """Peak memory (MiB) of one inference-mode forward on path ``impl``."""
    with _impl(module, impl), torch.inference_mode():
        return peak_memory_bytes(lambda: call(module, x)) / MIB


# --- one mechanism at its compatibility call ---------------------------------------------------


def bench_compat(name: str, settings: Settings = FULL, log: Log = quiet) -> CompatRecord:
    """Parameters, FLOPs, time and memory of mechanism ``name`` at its compatibility call.

    FLOPs are counted on the readable path (``FlopCounterMode`` counts 0 for fused kernels) and
    compared with ``flops_formula``; times are of the default path users get (``impl="fast"``
    where the module has one), and of the readable path under ``reference``. Ratios to the
    machine's limits are added by :func:`add_ratios`.
    """
    mech = get(name)
    module, x = mech.example()
    module.eval()
    call = mech.call_example
    impl = impl_of(module)
    params = count_params(module)
    with _impl(module, "reference"), torch.no_grad():
        flops = count_flops(lambda: call(module, x))
    flops_formula = module.flops_formula(tuple(x.shape))

    # peak memory first: these calls also warm both paths up (allocator, kernels' first-call setup)
    peak = peak_mib(call, module, x, impl)
    readable = impl == "fast" and settings.readable_path  # a default readable path: peer_paths times the fast one
    peak_ref = peak_mib(call, module, x, "reference") if readable else None
    fns = {"default": forward(call, module, x, impl)}
    if readable:
        fns["reference"] = forward(call, module, x, "reference")
    kernels = limit_kernels() if settings.paired_limit else {}
    if settings.paired_limit:
        fns["limit"] = _no_grad(kernels[mech.bound][0])
        if mech.also_timed is not None:
            fns["also"] = _no_grad(kernels[mech.also_timed][0])
    t = time_interleaved(fns, warmup=settings.warmup, repeats=settings.repeats, min_time_s=settings.min_time_s,
                         block_s=settings.block_s)
    if impl is not None:
        _set_impl(module, impl)  # the last timed call may have left the readable path on
    fwdbwd_ms = fwdbwd_iqr_ms = None
    fwdbwd_repeats = 0
    if settings.fwdbwd:
        module.train()
        tb = time_interleaved({"fb": _forward_backward(call, module, x)}, warmup=settings.fwdbwd_warmup,
                              repeats=settings.fwdbwd_repeats, min_time_s=settings.min_time_s)["fb"]
        module.eval()
        fwdbwd_ms, fwdbwd_iqr_ms, fwdbwd_repeats = tb.median_ms, tb.iqr_ms, tb.repeats
    paired = also = None
    if settings.paired_limit:
        tl = t["limit"]
        paired = PairedLimit(limit=mech.bound, ms=tl.median_ms, iqr_ms=tl.iqr_ms, flops=kernels[mech.bound][1],
                             faults_per_call=tl.faults_per_call,
                             rounds_ms=RoundTimes(mechanism=list(t["default"].samples_ms), limit=list(tl.samples_ms)))
        if mech.also_timed is not None:
            also = PairedAlso(kernel=mech.also_timed, ms=t["also"].median_ms, iqr_ms=t["also"].iqr_ms,
                              flops=kernels[mech.also_timed][1])
    reference = None
    if readable and peak_ref is not None:
        tr = t["reference"]
        reference = ReadablePath(fwd_ms=tr.median_ms, fwd_iqr_ms=tr.iqr_ms, fwd_repeats=tr.repeats,
                                 fwd_faults_per_call=tr.faults_per_call, peak_mib=peak_ref)
    td = t["default"]
    rec = CompatRecord(
        call=mech.compat_call, input=list(x.shape), kind=mech.kind, bound=mech.bound, impl=impl, params=params,
        params_formula=module.num_params_formula(), flops=flops, flops_formula=flops_formula,
        flops_match=flops == flops_formula, fwd_ms=td.median_ms, fwd_iqr_ms=td.iqr_ms, fwd_repeats=td.repeats,
        fwd_faults_per_call=td.faults_per_call, peak_mib=peak, fwdbwd_ms=fwdbwd_ms, fwdbwd_iqr_ms=fwdbwd_iqr_ms,
        fwdbwd_repeats=fwdbwd_repeats, paired_limit=paired, paired_also=also, reference=reference,
        cpu_pressure=cpu_pressure(),
    )
    fb = f", fwd+bwd {rec.fwdbwd_ms:.2f} ms" if rec.fwdbwd_ms is not None else ""
    log(f"compat {name}: {params:,} params, {flops / 1e6:.1f} MFLOP, fwd {rec.fwd_ms:.3f} ms{fb}")
    return rec


def paired_ratio(paired: PairedLimit, flops: int, mech_ms: float, limit_ms: float) -> float:
    """The mechanism against its paired limit, from their times: a multiple of the floor's time, or a
    fraction of the limit's GFLOP/s."""
    if paired.limit == "floor":
        return mech_ms / limit_ms
    return (flops / mech_ms) / (paired.flops / limit_ms)


def round_ratios(paired: PairedLimit, flops: int) -> list[float]:
    """:func:`paired_ratio` in each round, from the two times of that round."""
    times = zip(paired.rounds_ms.mechanism, paired.rounds_ms.limit, strict=True)
    return [paired_ratio(paired, flops, m, lim) for m, lim in times]


def add_ratios(rec: CompatRecord, limits: MachineLimits) -> CompatRecord:
    """A record of :func:`bench_compat` with its achieved GFLOP/s and ratios (a new record; ``rec``
    is left as it is).

    ``ratio`` is against ``limits`` (the run's best, :func:`best_limits`); ``paired_limit.ratio``
    (when the record has a ``paired_limit``) is against the bounding kernel timed in the same rounds as
    the mechanism, which a slow spell of the machine slows alike; its per-round quartiles say how much
    it moves within the run. Targets are judged on the paired ratio where there is one (:func:`judge`).
    """

    def ratios(ms: float) -> tuple[float, Ratios]:
        gflops = rec.flops / ms / 1e6
        return gflops, Ratios(gemm=gflops / limits.gemm_gflops, conv3x3=gflops / limits.conv3x3_gflops,
                              floor=ms / limits.floor_ms)

    gflops, ratio = ratios(rec.fwd_ms)
    reference = rec.reference
    if reference is not None:
        ref_gflops, ref_ratio = ratios(reference.fwd_ms)
        reference = replace(reference, gflops=ref_gflops, ratio=ref_ratio)
    paired, also = rec.paired_limit, rec.paired_also
    if paired is not None:
        limit_gflops = None
        if paired.limit != "floor":
            limit_gflops = paired.flops / paired.ms / 1e6
            if also is not None:  # the reference kernel's rate as a fraction of the limit's, both timed beside it
                also = replace(also, of_limit=also.flops / also.ms / 1e6 / limit_gflops)
        q1, q3 = (float(q) for q in np.percentile(round_ratios(paired, rec.flops), [25, 75]))
        paired = replace(paired, ratio=paired_ratio(paired, rec.flops, rec.fwd_ms, paired.ms), gflops=limit_gflops,
                         round_ratio_q1=q1, round_ratio_q3=q3)
    return replace(rec, reference=reference, paired_limit=paired, paired_also=also, gflops=gflops, ratio=ratio,
                   fwdbwd_over_fwd=rec.fwdbwd_ms / rec.fwd_ms if rec.fwdbwd_ms else None)


# --- peers ------------------------------------------------------------------------------------


def peer_mha(settings: Settings = FULL, log: Log = quiet, d_model: int = 512, heads: int = 8,
             shape: tuple[int, int] = (50, 49)) -> MhaPeer:
    """``torch.nn.MultiheadAttention`` (batch_first, need_weights=False) against our
    self-attention with its weights copied (:meth:`ScaledDotProductAttention.from_torch`), both paths."""
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(d_model, heads, batch_first=True).eval()
    ours = ScaledDotProductAttention.from_torch(mha).eval()
    x = torch.randn(*shape, d_model, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        torch.testing.assert_close(ours(x, x, x), mha(x, x, x, need_weights=False)[0], rtol=1e-4, atol=1e-5)
    call: ModuleCall = lambda m, t: m(t, t, t)  # noqa: E731
    t = time_interleaved({
        "mha": lambda: _mha_forward(mha, x),
        "fast": forward(call, ours, x, "fast"),
        "reference": forward(call, ours, x, "reference"),
    }, warmup=settings.warmup, repeats=settings.peer_repeats, min_time_s=settings.min_time_s, block_s=settings.block_s)
    rec = MhaPeer(
        input=[*shape, d_model], heads=heads,
        mha_ms=t["mha"].median_ms, mha_iqr_ms=t["mha"].iqr_ms,
        ours_ms=t["fast"].median_ms, ours_iqr_ms=t["fast"].iqr_ms,
        ours_reference_ms=t["reference"].median_ms, ours_reference_iqr_ms=t["reference"].iqr_ms,
        ratio=t["fast"].median_ms / t["mha"].median_ms,
        ratio_reference=t["reference"].median_ms / t["mha"].median_ms,
        repeats=t["mha"].repeats,
        flops=ours.flops_formula((shape[0], shape[1], d_model)),
    )
    log(f"peer nn.MultiheadAttention {rec.mha_ms:.2f} ms, ours {rec.ours_ms:.2f} ms "
        f"(x{rec.ratio:.3f}), ours readable {rec.ours_reference_ms:.2f} ms")
    return rec


def peer_collection(names: list[str], settings: Settings = FULL, log: Log = quiet) -> dict[str, CollectionRow] | None:
    """Each mechanism's compatibility call beside the collection's module at the same call (None
    where the collection is not installed): parameters, peak memory, and forward and
    forward+backward times in the same interleaved rounds. Where the two compute the same function
    (the registry's ``collection.same_function``) their weights are aligned first
    (:func:`attn_edu.collection.align`); elsewhere each keeps its own seeded init, and the ratio
    compares different amounts of work. Each module gets its own copy of the input: the
    collection's PSA writes into its input at every call."""
    from .. import collection  # the collection is optional: imported only here

    if not settings.collection_peer or not collection.available():
        log("collection peer: skipped (settings, or fightingcv-attention not installed)")
        return None
    rows = {}
    for name in names:
        mech = get(name)
        ours, theirs, x = collection.pair(name)
        ours.eval()
        theirs.eval()
        call = mech.call_example
        x_theirs = x.clone()
        impl = impl_of(ours)
        peak, peak_theirs = peak_mib(call, ours, x, impl), peak_mib(call, theirs, x_theirs, None)
        t = time_interleaved({"ours": forward(call, ours, x, impl), "theirs": forward(call, theirs, x_theirs, None)},
                             warmup=settings.warmup, repeats=settings.peer_repeats, min_time_s=settings.min_time_s,
                             block_s=settings.block_s)
        row = CollectionRow(
            call=mech.compat_call, comparable=mech.collection.same_function,
            params=count_params(ours), collection_params=count_params(theirs),
            fwd_ms=t["ours"].median_ms, collection_fwd_ms=t["theirs"].median_ms,
            fwd_ratio=list(round_ratio(t["ours"], t["theirs"])), rounds=t["ours"].repeats,
            peak_mib=peak, collection_peak_mib=peak_theirs)
        if settings.fwdbwd:
            ours.train()
            theirs.train()
            try:
                _forward_backward(call, theirs, x_theirs.clone())()  # one step first: it may raise
            except RuntimeError as e:  # PSA: its in-place write breaks the graph
                row.collection_fwdbwd_error = collection.error_line(e)
            fb = {"ours": _forward_backward(call, ours, x)}
            if row.collection_fwdbwd_error is None:
                fb["theirs"] = _forward_backward(call, theirs, x_theirs)
            tb = time_interleaved(fb, warmup=settings.fwdbwd_warmup, repeats=settings.fwdbwd_repeats,
                                  min_time_s=settings.min_time_s)
            row.fwdbwd_ms, row.fwdbwd_rounds = tb["ours"].median_ms, tb["ours"].repeats
            if "theirs" in tb:
                row.collection_fwdbwd_ms = tb["theirs"].median_ms
                row.fwdbwd_ratio = list(round_ratio(tb["ours"], tb["theirs"]))
            ours.eval()
            theirs.eval()
        rows[name] = row
        log(f"collection {name}: ours / theirs forward x{row.fwd_ratio[0]:.2f} "
            f"[{row.fwd_ratio[1]:.2f}, {row.fwd_ratio[2]:.2f}] ({'same function' if row.comparable else 'other work'})")
    return rows


def _mha_forward(mha: nn.MultiheadAttention, x: Tensor) -> None:
    with torch.inference_mode():
        mha(x, x, x, need_weights=False)


def peer_paths(mechanisms: dict[str, CompatRecord], settings: Settings = FULL, log: Log = quiet,
               fused_calls: bool = True) -> dict[str, PathPeer]:
    """The readable against the fast path of every module that has both, at its compatibility call.

    Read from the records of :func:`bench_compat` (timed interleaved there), where the default is
    the fast path; where it is the readable one (the fast path is opt-in: DANet), both are timed
    here, interleaved, at the compatibility call. Where the
    compatibility call's fast path is not the fused kernel (EMSA's ``apply_transform=True``: its
    fast path is plain PyTorch in a cheaper order; the registry's ``path_note`` says so), the
    registry's ``fused_call`` on the same input (EMSA with ``apply_transform=False``) is timed too,
    as ``"<name> (<the arguments it changes>)"``, unless ``fused_calls`` is false.
    """
    out: dict[str, PathPeer] = {}
    for name, rec in mechanisms.items():
        if rec.reference is not None:
            out[name] = PathPeer(call=rec.call, input=rec.input, fast_ms=rec.fwd_ms, reference_ms=rec.reference.fwd_ms,
                                 speedup=rec.reference.fwd_ms / rec.fwd_ms, fast_peak_mib=rec.peak_mib,
                                 reference_peak_mib=rec.reference.peak_mib, note=get(name).path_note)
    for name, rec in mechanisms.items():
        mech = get(name)
        calls: list[tuple[str, str, str | None]] = []  # (label, constructor call, note)
        if rec.impl == "reference":  # the module's fast path is opt-in: time it beside the default
            calls.append((name, mech.compat_call, "the readable path is the default; impl='fast' is opt-in"))
        if fused_calls and mech.fused_call is not None and mech.fused_label is not None:
            calls.append((mech.fused_label, mech.fused_call, None))
        for label, call, note in calls:
            torch.manual_seed(0)
            module = mech.construct(call).eval()
            _, x = mech.example()
            c = mech.call_example
            peaks = peak_mib(c, module, x, "fast"), peak_mib(c, module, x, "reference")  # also warm-ups
            t = time_interleaved({"fast": forward(c, module, x, "fast"),
                                  "reference": forward(c, module, x, "reference")},
                                 warmup=settings.warmup, repeats=settings.repeats, min_time_s=settings.min_time_s,
                                 block_s=settings.block_s)
            fast_ms, ref_ms = t["fast"].median_ms, t["reference"].median_ms
            out[label] = PathPeer(call=call, input=list(x.shape), fast_ms=fast_ms, reference_ms=ref_ms,
                                  speedup=ref_ms / fast_ms, fast_peak_mib=peaks[0], reference_peak_mib=peaks[1],
                                  note=note)
    for k, v in out.items():
        log(f"paths {k}: readable {v.reference_ms:.2f} ms, fast {v.fast_ms:.2f} ms (x{v.speedup:.2f})")
    return out


# --- in a fresh process -------------------------------------------------------------------------


def floor_warmth(settings: Settings = FULL, log: Log = quiet) -> FloorWarmth:
    """The broadcast multiply timed beside SE at its compatibility call, one call per turn and in warm
    blocks of calls (:class:`FloorWarmth`). See the book: ``book/cost.ipynb``, "Measuring on a shared
    machine"."""
    module, x = MECHANISMS["se"].example()
    module.eval()
    pair = {"floor": limit_kernels()["floor"][0], "se": lambda: module(x)}
    repeats = max(21, settings.repeats)
    with torch.inference_mode():
        cold = time_interleaved(pair, warmup=2, repeats=repeats)["floor"]
        warm = time_interleaved(pair, warmup=2, repeats=repeats, block_s=settings.block_s)["floor"]
    log(f"floor beside SE: {cold.median_ms:.3f} ms one call per turn, {warm.median_ms:.3f} ms in warm blocks")
    return FloorWarmth(cold_ms=cold.median_ms, cold_iqr_ms=cold.iqr_ms, warm_ms=warm.median_ms, warm_iqr_ms=warm.iqr_ms)


def compat_in_child(names: list[str], env: dict[str, str], settings: Settings = BOOK,
                    timeout_s: float = 600) -> ChildResult:
    """:func:`bench_compat` of ``names`` (forward, default path only) in a fresh Python process with
    ``env`` added to its environment, for settings a process reads only when it starts, such as
    :data:`KEEP_MEMORY_ENV`. The records have no ratios yet (:func:`add_ratios`). See the book:
    ``book/cost.ipynb``, "Fresh memory is not free"."""
    code = "import sys; from attn_edu.bench import compat; compat.child_entry(sys.argv[1:])"
    forward_only = replace(settings, fwdbwd=False, readable_path=False)
    args = [sys.executable, "-c", code, json.dumps(names), json.dumps(to_jsonable(forward_only))]
    proc = subprocess.run(args, env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout_s)
    if proc.returncode != 0:
        raise RuntimeError(f"compat_in_child: the child process failed:\n{proc.stderr[-2000:]}")
    return ChildResult.from_dict(json.loads(proc.stdout))


def child_entry(argv: list[str]) -> None:
    """The child process of :func:`compat_in_child`: ``argv`` is the names and the settings, as JSON;
    prints a :class:`ChildResult` as JSON on stdout."""
    if len(argv) != 2:
        raise ValueError(f"child_entry: expected 2 arguments (names, settings as JSON), got {len(argv)}")
    names, settings = json.loads(argv[0]), from_jsonable(Settings, json.loads(argv[1]))
    torch.set_num_threads(THREADS)
    result = ChildResult(allocator_env=allocator_env(), mechanisms={n: bench_compat(n, settings) for n in names})
    print(json.dumps(result.to_dict()))
