"""The whole benchmark (:func:`run`) and its command line, ``python -m attn_edu.bench`` (:func:`main`).

See the book: ``book/cost.ipynb``, "Run it yourself".
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from ..registry import MECHANISMS
from .compat import (
    KEEP_MEMORY_ENV,
    add_ratios,
    bench_compat,
    compat_in_child,
    floor_warmth,
    peer_collection,
    peer_mha,
    peer_paths,
)
from .limits import allocator_env, best_limits, cpu_pressure, machine_limits
from .records import Machine, Peers, RunResult, Sweeps, Targets
from .report import DEFAULT_TARGETS, check_targets, judge, judge_mha, load_targets, table
from .settings import FULL, QUICK, THREADS, Log, Settings, quiet, stderr_progress
from .sweeps import large_tokens, sweep


def cpu_model() -> str | None:
    """The processor's model name (Linux: /proc/cpuinfo), else what the platform reports, else None."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def last_level_cache_mib() -> float | None:
    """The size of CPU 0's largest cache level in MiB (Linux: /sys/devices/system/cpu), else None."""
    sizes: dict[int, float] = {}
    for index in Path("/sys/devices/system/cpu/cpu0/cache").glob("index*"):
        try:
            level, size = int((index / "level").read_text()), (index / "size").read_text().strip()
            sizes[level] = float(size[:-1]) * {"K": 1 / 1024, "M": 1.0, "G": 1024.0}[size[-1]]
        except (OSError, ValueError, KeyError, IndexError):
            continue
    return sizes[max(sizes)] if sizes else None


def run(settings: Settings = FULL, log: Log = quiet, names: list[str] | None = None,
        targets: Targets | None = None) -> RunResult:
    """The whole benchmark (the layout of its JSON: :mod:`attn_edu.bench`). With ``targets``
    (:func:`load_targets`), each mechanism's and the peer's verdict is in its record and the run's
    ``targets`` lists them all; without, no target is judged."""
    torch.set_num_threads(THREADS)
    start = time.perf_counter()
    pressure_start = cpu_pressure()
    limits_start = machine_limits(settings, log)
    names = list(MECHANISMS) if names is None else names
    measured = {name: bench_compat(name, settings, log) for name in names}
    peers = Peers(mha=peer_mha(settings, log), paths=peer_paths(measured, settings, log),
                  collection=peer_collection(names, settings, log))
    sweeps = Sweeps(
        tokens=sweep(settings.sizes, (settings.sweep_channels,), 1, settings=settings,
                     memory=settings.sweep_memory, log=log, x="tokens"),
        channels=sweep((settings.channel_side,), settings.channels, settings.channel_batch, settings=settings,
                       memory=False, log=log, x="channels"),
    )
    if settings.large_tokens:
        sweeps.large_tokens = large_tokens(settings.large_tokens, settings=settings, log=log)
    if settings.linear_sides:
        sweeps.linear_tokens = sweep(settings.linear_sides, (settings.sweep_channels,), 1,
                                     candidates=[("external_attention", "external_attention", None)],
                                     settings=settings, memory=settings.sweep_memory, log=log, x="tokens")
    warmth = floor_warmth(settings, log) if settings.floor_warmth else None
    allocator = None
    if settings.allocator:
        allocator = {label: compat_in_child(list(settings.allocator), env, settings)
                     for label, env in (("defaults", {}), ("keep memory", KEEP_MEMORY_ENV))}
        log(f"allocator: {', '.join(settings.allocator)} timed in two fresh processes")
    limits_end = machine_limits(settings, log) if settings.limits_at_end else None
    limits = best_limits(limits_start, limits_end)
    mechanisms = {name: add_ratios(rec, limits) for name, rec in measured.items()}
    if targets is not None:
        mechanisms = {name: rec if name not in targets.mechanisms else replace(
            rec, target=judge(rec, targets.mechanisms[name])) for name, rec in mechanisms.items()}
        peers.mha.target = judge_mha(peers.mha, targets.mha)
    machine = Machine(**vars(limits), limits_start=limits_start, limits_end=limits_end,
                      torch=torch.__version__, threads=torch.get_num_threads(),
                      omp_wait_policy=os.environ.get("OMP_WAIT_POLICY"), allocator_env=allocator_env(),
                      cpu_pressure_start=pressure_start, cpu_pressure_end=cpu_pressure(),
                      python=platform.python_version(), platform=platform.platform(terse=True), cpu=cpu_model(),
                      last_level_cache_mib=last_level_cache_mib(),
                      date=time.strftime("%Y-%m-%d"))
    result = RunResult(machine=machine, settings=settings, mechanisms=mechanisms, peers=peers, sweeps=sweeps,
                       targets=[], elapsed_s=0.0, floor_warmth=warmth, allocator=allocator)
    if targets is not None:
        result.targets = check_targets(result, targets)
    result.elapsed_s = time.perf_counter() - start
    log(f"done in {result.elapsed_s:.1f} s")
    return result


def main(argv: list[str] | None = None) -> RunResult:
    """``python -m attn_edu.bench``: run, print the table (or the JSON), write the JSON where asked."""
    doc = importlib.import_module(__name__.rpartition(".")[0]).__doc__ or ""  # the package's docstring
    parser = argparse.ArgumentParser(prog="python -m attn_edu.bench", description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="few repeats, tiny sweeps (for CI)")
    parser.add_argument("--json", nargs="?", const="-", default=None, metavar="PATH",
                        help="the results as JSON: on stdout (to --out if given), or into PATH (the table "
                             "still on stdout)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON results to this file")
    parser.add_argument("--targets", type=Path, default=None, metavar="PATH",
                        help=f"the targets to judge (default: {DEFAULT_TARGETS.as_posix()} in the current "
                             "directory, if it exists; else none are checked)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)
    if args.out is not None and args.json not in (None, "-"):
        parser.error("give the JSON's file once: --json PATH or --json --out PATH")
    if args.targets is not None and not args.targets.is_file():
        parser.error(f"--targets: no file {args.targets}")
    targets_path = args.targets if args.targets is not None else DEFAULT_TARGETS if DEFAULT_TARGETS.is_file() else None
    log = quiet if args.no_progress else stderr_progress()
    targets = None if targets_path is None else load_targets(targets_path)
    log("targets: none checked (no --targets, and no " + DEFAULT_TARGETS.as_posix() + " here)"
        if targets is None else f"targets: {targets_path}")
    result = run(QUICK if args.quick else FULL, log, targets=targets)
    text = json.dumps(result.to_dict(), indent=1)
    json_path = args.out if args.out is not None else None if args.json in (None, "-") else Path(args.json)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(text + "\n")
    if args.json == "-" and args.out is None:
        print(text)
    elif args.json != "-":
        print(table(result, None if targets_path is None else targets_path.as_posix()))
    return result
