"""How much the benchmark measures (:class:`Settings`), on how many threads, and its progress lines.

See the book: ``book/cost.ipynb``, which runs with :data:`BOOK`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

THREADS = int(os.environ.get("OMP_NUM_THREADS") or 2)
"""Threads the benchmark runs on: 2, this project's machines' cores, unless OMP_NUM_THREADS says
otherwise (`make test`'s workers set 1, so that two of them do not oversubscribe 2 cores)."""


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
    floor_warmth: bool = True  # time the floor beside SE one call per turn and in warm blocks (FloorWarmth)
    allocator: tuple[str, ...] = ("self_attention", "danet")  # timed in two fresh processes, glibc's default
    # allocator and KEEP_MEMORY_ENV (RunResult.allocator); () skips it
    collection_peer: bool = True  # each call beside the External-Attention-pytorch collection's module
    # (Peers.collection), where that is installed


FULL = Settings()
QUICK = Settings(warmup=0, repeats=2, fwdbwd_repeats=1, fwdbwd_warmup=0, min_time_s=0.05, limit_repeats=3,
                 sizes=(7, 14, 28), sweep_repeats=1, sweep_memory=False, channels=(64, 128), peer_repeats=3,
                 large_tokens=0, linear_sides=(), limits_at_end=False, floor_warmth=False, allocator=(),
                 collection_peer=False)
BOOK = Settings(warmup=1, repeats=3, fwdbwd_repeats=1, fwdbwd_warmup=0, min_time_s=0.25, limit_repeats=5,
                sweep_repeats=3, channels=(64, 128, 256, 512),
                peer_repeats=5, large_tokens=0, linear_sides=(), limits_at_end=False, floor_warmth=False, allocator=(),
                collection_peer=False)

Log = Callable[[str], None]


def quiet(_: str) -> None:
    """The logger that prints nothing (the default of every step)."""


def stderr_progress() -> Log:
    """A logger that prints one line per step to stderr, with the seconds since it was made."""
    start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[bench {time.perf_counter() - start:6.1f} s] {msg}", file=sys.stderr, flush=True)

    return log
