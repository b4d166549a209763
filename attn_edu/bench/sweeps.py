"""Latency and memory against the size of the map (tokens) and the channels, with log-log slopes.

See the book: ``book/cost.ipynb``, "Latency against size".
"""

from __future__ import annotations

import torch

from ..measure import loglog_slope, time_interleaved
from ..mechanisms import ScaledDotProductAttention
from ..registry import MECHANISMS, get
from .compat import MIB, ModuleCall, forward, impl_of, peak_mib
from .records import LargeTokens, Sweep, SweepCandidate
from .settings import FULL, Log, Settings, quiet

Candidate = tuple[str, str, str | None]
"""(label, mechanism, impl): ``impl`` None is the module's default path."""


def default_candidates() -> list[Candidate]:
    """(label, mechanism, impl): all ten, each on its fast path where it has one (the default path,
    except DANet's, whose fused call is opt-in), and the readable path of those with a fast one
    (where the registry's ``sweep_readable`` asks for it), labelled ``"<name> (reference)"``."""
    out: list[Candidate] = []
    for name, mech in MECHANISMS.items():
        impl = impl_of(mech.build(64))
        out.append((name, name, None if impl is None else "fast"))
        if impl is not None and mech.sweep_readable:
            out.append((f"{name} (reference)", name, "reference"))
    return out


def sweep(sides: tuple[int, ...], channels: tuple[int, ...], batch: int = 1,
          candidates: list[Candidate] | None = None, settings: Settings = FULL,
          memory: bool = True, log: Log = quiet, x: str = "tokens") -> Sweep:
    """Forward latency (and peak memory) of ``candidates`` on (batch, C, s, s) maps, for every
    side ``s`` in ``sides`` and every C in ``channels`` (one of the two has a single value).

    Modules come from ``Mechanism.build(C)`` (the book's settings for C channels) and run through
    ``Mechanism.apply`` (tokens go B C H W -> B N C and back). The candidates are timed
    interleaved at each point. ``x`` names the swept variable ("tokens" or "channels"); the slope
    of log(ms) against log(x) is fitted on the ``settings.fit_points`` largest points.
    """
    if x not in ("tokens", "channels"):
        raise ValueError(f"sweep: x must be 'tokens' or 'channels', got {x!r}")
    candidates = default_candidates() if candidates is None else candidates
    points = [(s, c) for s in sides for c in channels]
    res = {label: SweepCandidate(mechanism=name, impl=impl) for label, name, impl in candidates}
    for s, c in points:
        xm = torch.randn(batch, c, s, s, generator=torch.Generator().manual_seed(s * 1000 + c))
        fns = {}
        for label, name, impl in candidates:
            mech = get(name)
            torch.manual_seed(0)
            module = mech.build(c).eval()
            use = impl if impl is not None else impl_of(module)
            fns[label] = forward(mech.apply, module, xm, use)
            res[label].flops.append(mech.flops(module, xm))
            res[label].peak_mib.append(peak_mib(mech.apply, module, xm, use) if memory else None)
        t = time_interleaved(fns, warmup=1, repeats=settings.sweep_repeats, min_time_s=settings.min_time_s,
                             block_s=settings.block_s)
        for label in fns:
            res[label].ms.append(t[label].median_ms)
            res[label].iqr_ms.append(t[label].iqr_ms)
            res[label].faults_per_call.append(t[label].faults_per_call)
        log(f"sweep {x}: {s}x{s}, C={c}, B={batch}: " + ", ".join(
            f"{lab} {t[lab].median_ms:.2f}" for lab in list(t)[:4]) + (" ... ms" if len(t) > 4 else " ms"))
    xs = [s * s for s, _ in points] if x == "tokens" else [c for _, c in points]
    k = min(settings.fit_points, len(xs))
    for r in res.values():
        r.slope_ms = loglog_slope(xs[-k:], r.ms[-k:]) if len(xs) > 1 else None
        mem = [m for m in r.peak_mib[-k:] if m is not None and m > 0]  # all k measured, or no slope
        r.slope_mem = loglog_slope(xs[-k:], mem) if len(xs) > 1 and len(mem) == k else None
    return Sweep(x=x, values=xs, sides=list(sides), channels=list(channels), batch=batch, fit_from=xs[-k],
                 candidates=res)


def large_tokens(n_tokens: int, d_model: int = 64, heads: int = 4, settings: Settings = FULL,
                 log: Log = quiet) -> LargeTokens:
    """Self-attention on one image of ``n_tokens`` tokens on the fast path: time and peak memory.

    The readable path would keep the h x N x N weights (``heads * N^2 * 4`` bytes); that size is
    reported, not allocated.
    """
    torch.manual_seed(0)
    sa = ScaledDotProductAttention(d_model=d_model, h=heads, impl="fast").eval()
    x = torch.randn(1, n_tokens, d_model, generator=torch.Generator().manual_seed(2))
    call: ModuleCall = lambda m, t: m(t, t, t)  # noqa: E731
    t = time_interleaved({"fast": forward(call, sa, x, "fast")}, warmup=1, repeats=2)["fast"]
    rec = LargeTokens(tokens=n_tokens, d_model=d_model, heads=heads, batch=1, fwd_ms=t.median_ms,
                      fwd_iqr_ms=t.iqr_ms, peak_mib=peak_mib(call, sa, x, "fast"),
                      reference_weights_mib=heads * n_tokens**2 * 4 / MIB,
                      flops=sa.flops_formula((1, n_tokens, d_model)))
    log(f"large: self-attention (fast) on {n_tokens} tokens: {rec.fwd_ms:.0f} ms, {rec.peak_mib:.1f} MiB "
        f"(the readable path's weights alone: {rec.reference_weights_mib:.0f} MiB)")
    return rec
