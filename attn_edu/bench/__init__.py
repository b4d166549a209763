"""What the ten mechanisms cost on this machine, measured against the machine's own limits.

Run ``python -m attn_edu.bench`` (a table), ``--json`` (the results as JSON on stdout), ``--json
PATH`` or ``--out PATH`` (the JSON into a file, the table on stdout), ``--quick`` (few repeats and
tiny sweeps, for CI: 24 s on the 2-core reference machine, measured alone) and ``--targets PATH``
(the goals to judge the run against; by default ``benchmarks/targets.json`` in the current
directory where it exists, else none are judged and the output says so). See the book:
``book/cost.ipynb``.

Every run measures, in the same process and with 2 threads (:data:`THREADS`):

* the machine's limits (:func:`machine_limits`): a square fp32 GEMM's GFLOP/s, a 3x3
  convolution's GFLOP/s (and, for reference, the same convolution with 32 groups), and the time
  of the bare broadcast multiply ``x * gate``, the floor of any gate;
* each mechanism at the call users of the External-Attention-pytorch collection write
  (:func:`bench_compat`): parameters, FLOPs counted with ``FlopCounterMode`` on the readable
  path and checked against the docstring's formula, forward latency (``torch.inference_mode``,
  eval), forward+backward latency (train mode), peak memory, and ratios to the limits
  (:func:`add_ratios`). The kernel that bounds the mechanism (its registry entry's ``bound``:
  GEMM, 3x3 convolution or the floor) is timed again in the same interleaved rounds
  (``paired_limit``): the targets are judged on that paired ratio (:func:`judge`), which a slow
  spell of this shared machine moves much less than a ratio to limits measured minutes apart;
* peers (:func:`peer_mha`, :func:`peer_paths`, :func:`peer_collection`): ``torch.nn.MultiheadAttention``
  against our self-attention, the readable against the fast path of every module that has both,
  and each compatibility call beside the External-Attention-pytorch collection's module (where
  that is installed: :mod:`attn_edu.collection`);
* sweeps over the size of the map / number of tokens and over channels (:func:`sweep`), with
  fitted log-log slopes.

The targets are goals for this project's 2-core reference machine, not properties of the
mechanisms: they live outside the package, in ``benchmarks/targets.json`` at the repository root
(:func:`load_targets`, :func:`check_targets`).

The OpenMP thread policy is left as the caller sets it and recorded (``machine.omp_wait_policy``):
the default (spinning threads) is fastest on a quiet machine; on a busy one, run with
``OMP_WAIT_POLICY=PASSIVE`` (set before torch is imported), which lets idle threads sleep.

The memory allocator is also left as the caller sets it, and its settings are recorded
(``machine.allocator_env``). With glibc's defaults, a large tensor freed at the end of a call goes
back to the kernel and the next call takes it again, paying a page fault for every 4 KiB page it
touches; the timings count them (``fwd_faults_per_call``). :data:`KEEP_MEMORY_ENV` tells glibc to
keep freed memory instead, and :func:`compat_in_child` times mechanisms in a fresh process with
such settings (they are read when a process starts).

Timings interleave the candidates round-robin (:func:`attn_edu.measure.time_interleaved`: a noisy
neighbour slows all of them alike) and report the median and the interquartile range. The machine
is shared: compare ratios measured in the same run, not milliseconds across runs.

The modules: :mod:`.settings` (:class:`Settings`, :data:`FULL`, :data:`QUICK`, :data:`BOOK`),
:mod:`.records` (what the benchmark returns, as typed records with ``to_dict``/``from_dict``),
:mod:`.limits`, :mod:`.compat` (one mechanism, the peers, the child process), :mod:`.sweeps`,
:mod:`.report` (the targets and the table), :mod:`.cli` (:func:`run`, :func:`main`), :mod:`.reference`
(the stored run the book quotes, :func:`load_reference`).

JSON layout (``run(...).to_dict()``, a :class:`RunResult`; ``RunResult.from_dict`` reads it back)::

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
                           "target": {..., "measured", "against", "met", "rounds", "rounds_met"} or null,
                           "reference": {...} (modules with a fast path)}},
     "peers": {"mha": {..., "target": {"op", "value", "met"} or null}, "paths": {name: {...}}},
     "sweeps": {"tokens": {...}, "channels": {...}, "large_tokens": {...}, "linear_tokens": {...}},
     "targets": [{"what", "measured", "target", "met", "rounds_met" (paired ones)}, ...]}

``ratio.gemm`` and ``ratio.conv3x3`` are the achieved GFLOP/s over the limit's (a fraction,
higher is better); ``ratio.floor`` is the forward time over the broadcast multiply's (a
multiple, lower is better). ``paired_limit.ratio`` is the same quantity for the bounding kernel
timed beside the mechanism: the ratio of the two medians. ``rounds_ms`` keeps both times of every
round; the quartiles of the per-round ratio and the share of rounds that meet the target
(``target.rounds_met``) say how firmly one run decides a target that lies near the measured value.
Without targets, every ``target`` is null and ``targets`` is empty.
"""

from ..measure import time_interleaved
from .cli import main, run
from .compat import (
    ALSO_PAIRED,
    BOUND,
    KEEP_MEMORY_ENV,
    MIB,
    add_ratios,
    bench_compat,
    compat_in_child,
    floor_warmth,
    peer_collection,
    peer_mha,
    peer_paths,
)
from .limits import CONV_SHAPE, FLOOR_SHAPE, GEMM_N, GROUPS, allocator_env, best_limits, limit_kernels, machine_limits
from .records import (
    ChildResult,
    CollectionRow,
    CompatRecord,
    FloorWarmth,
    LargeTokens,
    Machine,
    MachineLimits,
    MhaPeer,
    PairedAlso,
    PairedLimit,
    PathPeer,
    Peers,
    Ratios,
    ReadablePath,
    Record,
    RoundTimes,
    RunResult,
    Sweep,
    SweepCandidate,
    Sweeps,
    Target,
    TargetCheck,
    Targets,
    Verdict,
)
from .reference import REFERENCE, load_reference
from .report import DEFAULT_TARGETS, check_targets, judge, load_targets, table
from .settings import BOOK, FULL, QUICK, THREADS, Log, Settings, stderr_progress
from .sweeps import default_candidates, large_tokens, sweep

__all__ = [
    "ALSO_PAIRED", "BOOK", "BOUND", "CONV_SHAPE", "DEFAULT_TARGETS", "FLOOR_SHAPE", "FULL", "GEMM_N", "GROUPS",
    "KEEP_MEMORY_ENV", "MIB", "QUICK", "REFERENCE", "THREADS", "ChildResult", "CollectionRow", "CompatRecord",
    "FloorWarmth",
    "LargeTokens", "Log", "Machine", "MachineLimits", "MhaPeer", "PairedAlso", "PairedLimit", "PathPeer",
    "Peers", "Ratios", "ReadablePath", "Record", "RoundTimes", "RunResult", "Settings", "Sweep",
    "SweepCandidate", "Sweeps", "Target", "TargetCheck", "Targets", "Verdict", "add_ratios", "allocator_env",
    "bench_compat", "best_limits", "check_targets", "compat_in_child", "default_candidates", "floor_warmth",
    "judge", "large_tokens", "limit_kernels", "load_reference", "load_targets", "machine_limits", "main",
    "peer_collection", "peer_mha", "peer_paths", "run", "stderr_progress", "sweep", "table", "time_interleaved",
]
