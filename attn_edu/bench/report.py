"""The targets (read from a file, judged on a run) and the run as a plain-text table.

The targets are this project's goals for its 2-core reference machine, not properties of the
mechanisms: they live in ``benchmarks/targets.json`` at the repository root, outside the package,
and are read with :func:`load_targets`. See the book: ``book/cost.ipynb``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np

from ..registry import MECHANISMS
from .compat import round_ratios
from .limits import GEMM_N
from .records import CompatRecord, MhaPeer, RunResult, Target, TargetCheck, Targets, Verdict

DEFAULT_TARGETS = Path("benchmarks") / "targets.json"
"""Where the CLI looks for the targets, relative to the current directory (the repository root)."""
UNIT = {"gemm": "of GEMM", "conv3x3": "of 3x3 conv", "floor": "x floor"}


def load_targets(path: str | Path) -> Targets:
    """The targets in the JSON file ``path`` (layout: ``benchmarks/targets.json``; keys starting with
    ``_`` are comments). Raises ValueError for a missing or unknown key, an unknown mechanism or an
    op other than ``>=``/``<=``."""
    path = Path(path)
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise TypeError(f"load_targets: {path} must hold a JSON object, got {type(data).__name__}")
    data = {k: v for k, v in data.items() if not k.startswith("_")}
    missing = {f.name for f in dataclasses.fields(Targets)} - set(data)
    if missing:
        raise ValueError(f"load_targets: {path} lacks the keys {sorted(missing)}")
    targets = Targets.from_dict(data)
    unknown = set(targets.mechanisms) - set(MECHANISMS)
    if unknown:
        raise ValueError(f"load_targets: {path} names mechanisms not in the registry: {sorted(unknown)}; "
                         f"known: {', '.join(MECHANISMS)}")
    return targets


def judge(rec: CompatRecord, target: Target) -> Verdict:
    """Whether ``rec`` (with its ratios: :func:`add_ratios`) meets ``target`` against its bounding
    kernel: on the paired ratio where there is one, with the share of rounds that meet it, else on
    the ratio to the run's best limit."""
    paired = rec.paired_limit
    if paired is not None and paired.ratio is not None and paired.limit == rec.bound:
        measured, against = paired.ratio, "paired"
    elif rec.ratio is not None:
        measured, against = rec.ratio.of(rec.bound), "best"
    else:
        raise ValueError(f"judge: the record of {rec.call} has no ratios; expected one from add_ratios")
    verdict = Verdict(limit=rec.bound, op=target.op, value=target.value, against=against, measured=measured,
                      met=target.meets(measured))
    if paired is not None and against == "paired":
        rounds = round_ratios(paired, rec.flops)
        verdict.rounds = len(rounds)
        verdict.rounds_met = float(np.mean([target.meets(r) for r in rounds]))
    return verdict


def judge_mha(mha: MhaPeer, target: Target) -> Verdict:
    """Whether our self-attention's time over ``nn.MultiheadAttention``'s meets ``target``."""
    return Verdict(op=target.op, value=target.value, met=target.meets(mha.ratio))


def check_targets(result: RunResult, targets: Targets) -> list[TargetCheck]:
    """Every target of ``targets`` that ``result`` measured, with the measured value and whether it is met."""
    out = []
    for name, rec in result.mechanisms.items():
        tgt = targets.mechanisms.get(name)
        if tgt is None:
            continue
        v = judge(rec, tgt)
        against = " (timed in the same rounds)" if v.against == "paired" else ""
        measured = v.measured if v.measured is not None else math.nan
        check = TargetCheck(what=f"{name} at its compatibility call, {UNIT[rec.bound]}{against}", measured=measured,
                            target=f"{tgt.op} {tgt.value}", met=v.met, rounds_met=v.rounds_met, rounds=v.rounds)
        also = rec.paired_also
        if also is not None and also.of_limit is not None:
            check.note = f"{also.kernel} alone, timed beside it: {also.of_limit:.0%} of the {rec.bound} rate"
        out.append(check)
    mha = result.peers.mha
    out.append(TargetCheck(what="self-attention / nn.MultiheadAttention latency (512, 8 heads, 49 tokens)",
                           measured=mha.ratio, target=f"{targets.mha.op} {targets.mha.value}",
                           met=targets.mha.meets(mha.ratio)))
    tokens, linear = result.sweeps.tokens, result.sweeps.linear_tokens
    tol = targets.slope_tolerance

    def slope(what: str, measured: float, want: float, from_: int) -> TargetCheck:
        return TargetCheck(what=f"{what} (N >= {from_})", measured=measured, target=f"~ {want} (+-{tol})",
                           met=abs(measured - want) <= tol)

    for label, want in targets.slopes.items():
        # External Attention's slope comes from its own larger-N sweep when there is one
        cand, from_ = tokens.candidates.get(label), tokens.fit_from
        if linear is not None and label in linear.candidates:
            cand, from_ = linear.candidates[label], linear.fit_from
        if cand is not None and cand.slope_ms is not None:
            out.append(slope(f"log-log slope of {label} latency vs tokens", cand.slope_ms, want, from_))
    for label, want in targets.memory_slopes.items():
        cand = tokens.candidates.get(label)
        if cand is not None and cand.slope_mem is not None:
            out.append(slope(f"log-log slope of {label} peak memory vs tokens", cand.slope_mem, want, tokens.fit_from))
    large = result.sweeps.large_tokens
    if large is not None:
        out.append(TargetCheck(what=f"self-attention (fast) runs on {large.tokens} tokens: peak MiB",
                               measured=large.peak_mib, target="runs", met=True))
    return out


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def table(result: RunResult, targets_from: str | None = None) -> str:
    """The results as plain text: the limits, one row per mechanism, the peers and the targets
    (``targets_from``: the file they were read from; None: none were checked)."""
    m = result.machine
    lines = [
        f"machine: torch {m.torch}, {m.threads} threads; GEMM {m.gemm_gflops:.0f} GFLOP/s "
        f"({GEMM_N}^3), 3x3 conv {m.conv3x3_gflops:.0f} GFLOP/s (on {tuple(m.conv3x3_input)}; with "
        f"{m.grouped_conv3x3_groups} groups {m.grouped_conv3x3_gflops:.0f}), "
        f"x * gate {m.floor_ms:.3f} ms (on {tuple(m.floor_input)})",
        "",
        "paired: the ratio to the bounding kernel timed in the same rounds as the mechanism (judges the target)",
        "faults: minor page faults per forward call (memory taken fresh from the kernel, paid for on first touch)",
        f"{'mechanism':20s} {'params':>10s} {'MFLOP':>9s} {'fwd ms':>9s} {'IQR':>7s} {'fwd+bwd':>9s} {'MiB':>7s} "
        f"{'faults':>7s} {'GFLOP/s':>8s} {'of GEMM':>8s} {'of conv':>8s} {'x floor':>8s} {'paired':>8s}  target",
    ]
    for name, r in result.mechanisms.items():
        tgt = r.target
        t = "" if tgt is None else f"{tgt.limit} {tgt.op} {tgt.value}: {'met' if tgt.met else 'NOT met'}"
        ratio = r.paired_limit.ratio if r.paired_limit is not None else None
        paired = _fmt(ratio, ".1f" if r.bound == "floor" else ".1%")
        gemm, conv, floor = (None, None, None) if r.ratio is None else (r.ratio.gemm, r.ratio.conv3x3, r.ratio.floor)
        lines.append(
            f"{name:20s} {r.params:>10,d} {r.flops / 1e6:>9.1f} {r.fwd_ms:>9.3f} {r.fwd_iqr_ms:>7.3f} "
            f"{_fmt(r.fwdbwd_ms, '9.2f'):>9s} {r.peak_mib:>7.1f} {_fmt(r.fwd_faults_per_call, '7.0f'):>7s} "
            f"{_fmt(r.gflops, '8.1f'):>8s} {_fmt(gemm, '8.1%'):>8s} "
            f"{_fmt(conv, '8.1%'):>8s} {_fmt(floor, '8.1f'):>8s} {paired:>8s}  {t}")
    mha = result.peers.mha
    lines += ["", f"nn.MultiheadAttention {mha.mha_ms:.2f} ms, ours (fast) {mha.ours_ms:.2f} ms "
                  f"(x{mha.ratio:.3f}), ours (readable) {mha.ours_reference_ms:.2f} ms"]
    for k, v in result.peers.paths.items():
        lines.append(f"{k}: readable {v.reference_ms:.2f} ms / {v.reference_peak_mib:.1f} MiB, "
                     f"fast {v.fast_ms:.2f} ms / {v.fast_peak_mib:.1f} MiB")
    tok = result.sweeps.tokens
    lines += ["", f"tokens sweep (C={tok.channels[0]}, B=1), N = {tok.values}, "
                  f"slope fitted on N >= {tok.fit_from}:"]
    for label, c in tok.candidates.items():
        lines.append(f"  {label:30s} ms {', '.join(f'{v:.2f}' for v in c.ms)}  slope {_fmt(c.slope_ms, '.2f')}"
                     f"  memory slope {_fmt(c.slope_mem, '.2f')}")
    if targets_from is None:
        lines += ["", "targets: none checked (no targets file; the CLI reads --targets PATH, "
                      f"by default {DEFAULT_TARGETS.as_posix()} in the current directory)"]
    else:
        lines += ["", f"targets (from {targets_from}):"]
    for check in result.targets:
        note = f"; {check.note}" if check.note else ""
        if check.rounds_met is not None:
            note += f"; met in {check.rounds_met:.0%} of {check.rounds} rounds"
        met = "met" if check.met else "NOT met"
        lines.append(f"  [{met}] {check.what}: {check.measured:.3g} (target {check.target}{note})")
    lines.append(f"\n{result.elapsed_s:.1f} s")
    return "\n".join(lines)
