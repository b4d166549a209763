"""What the benchmark returns, as typed records (see the book: ``book/cost.ipynb``).

Every record is a dataclass with :meth:`Record.to_dict` (JSON-ready: the layout of ``python -m
attn_edu.bench --json``, described in :mod:`attn_edu.bench`) and :meth:`Record.from_dict`, its
inverse. A field declared with :func:`optional` is left out of the dict while it is ``None``: such
keys appear in the JSON only where they apply (``paired_also`` for SK, ``reference`` for a module
with two paths, the ratios once :func:`attn_edu.bench.add_ratios` has computed them).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .settings import Settings

R = TypeVar("R", bound="Record")


def optional(default: None = None) -> Any:
    """A field that defaults to ``None`` and is left out of :meth:`Record.to_dict` while it is."""
    return field(default=default, metadata={"omit_none": True})


def to_jsonable(value: object) -> Any:
    """``value`` as JSON-ready data: dataclasses as dicts (without their unset optional fields),
    tuples as lists."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)
                if not (f.metadata.get("omit_none") and getattr(value, f.name) is None)}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def from_jsonable(tp: Any, data: Any) -> Any:
    """The value of type ``tp`` that :func:`to_jsonable` turned into ``data`` (dataclasses, lists,
    tuples, dicts and ``X | None`` are rebuilt; other values are taken as they are)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if data is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]  # the records use X | None only
        return from_jsonable(inner, data)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, Mapping):
            raise TypeError(f"from_dict: expected a dict for {tp.__name__}, got {type(data).__name__}")
        hints = _hints(tp)
        names = {f.name for f in dataclasses.fields(tp)}
        unknown = set(data) - names
        if unknown:
            raise ValueError(f"from_dict: {tp.__name__} has no fields {sorted(unknown)}; "
                             f"expected some of {sorted(names)}")
        return tp(**{k: from_jsonable(hints[k], v) for k, v in data.items()})
    if origin is list:
        return [from_jsonable(args[0], v) for v in data]
    if origin is tuple:
        return tuple(from_jsonable(args[0], v) for v in data)
    if origin is dict:
        return {k: from_jsonable(args[1], v) for k, v in data.items()}
    return data


class Record:
    """Base of the benchmark's records: :meth:`to_dict` and :meth:`from_dict`."""

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON-ready dict of ``python -m attn_edu.bench --json``."""
        out: dict[str, Any] = to_jsonable(self)
        return out

    @classmethod
    def from_dict(cls: type[R], data: Mapping[str, Any]) -> R:
        """The record that :meth:`to_dict` gave ``data`` (e.g. read back from the CLI's JSON)."""
        rec: R = from_jsonable(cls, data)
        return rec


# --- the machine ------------------------------------------------------------------------------


@dataclass
class MachineLimits(Record):
    """The machine's limits, measured once (:func:`attn_edu.bench.machine_limits`).

    ``gemm``: a square fp32 matmul; ``conv3x3``: a dense 3x3 convolution; ``grouped_conv3x3``: the
    same with groups (reported only); ``floor``: the broadcast multiply ``x * gate``.
    """

    gemm_gflops: float
    gemm_ms: float
    gemm_iqr_ms: float
    gemm_shape: list[int]
    gemm_flops: int
    conv3x3_gflops: float
    conv3x3_ms: float
    conv3x3_iqr_ms: float
    conv3x3_input: list[int]
    conv3x3_flops: int
    grouped_conv3x3_gflops: float
    grouped_conv3x3_ms: float
    grouped_conv3x3_groups: int
    floor_ms: float
    floor_iqr_ms: float
    floor_input: list[int]
    floor_gbps: float


@dataclass
class Machine(MachineLimits):
    """The run's best limits (:func:`attn_edu.bench.best_limits`) and where and how it ran."""

    limits_start: MachineLimits
    limits_end: MachineLimits | None  # None: not measured again at the end (Settings.limits_at_end)
    torch: str
    threads: int
    omp_wait_policy: str | None
    allocator_env: dict[str, str]
    cpu_pressure_start: float | None  # Linux PSI "some avg10" of the CPU, % (None: not available)
    cpu_pressure_end: float | None
    python: str | None = optional()  # where and when it ran (for a stored run, e.g. the book's reference run)
    platform: str | None = optional()
    cpu: str | None = optional()
    last_level_cache_mib: float | None = optional()  # the largest cache level of CPU 0 (Linux sysfs)
    date: str | None = optional()

    @property
    def where(self) -> str:
        """Where and when the run was made, for a chapter's sentence that quotes it, e.g.
        ``"AMD EPYC, 2 threads, torch 2.13.0+cpu, 2026-12-02"``."""
        parts = [self.cpu or "an unnamed CPU", f"{self.threads} threads", f"torch {self.torch}"]
        return ", ".join(parts + ([self.date] if self.date else []))


# --- one mechanism at its compatibility call --------------------------------------------------


@dataclass
class Ratios(Record):
    """Against the run's limits: ``gemm`` and ``conv3x3`` are fractions of their GFLOP/s (higher is
    better), ``floor`` is a multiple of the broadcast multiply's time (lower is better)."""

    gemm: float
    conv3x3: float
    floor: float

    def of(self, limit: str) -> float:
        """The ratio to ``limit`` (``"gemm"``, ``"conv3x3"`` or ``"floor"``)."""
        if limit not in ("gemm", "conv3x3", "floor"):
            raise ValueError(f"Ratios.of: expected 'gemm', 'conv3x3' or 'floor', got {limit!r}")
        value: float = getattr(self, limit)
        return value


@dataclass
class RoundTimes(Record):
    """The mechanism's and its limit's time in every round, in the order timed (ms)."""

    mechanism: list[float]
    limit: list[float]


@dataclass
class PairedLimit(Record):
    """The bounding kernel timed in the same rounds as the mechanism; ``ratio`` (the mechanism against
    it, as in :class:`Ratios`), ``gflops`` and the per-round quartiles come from ``add_ratios``."""

    limit: str
    ms: float
    iqr_ms: float
    flops: int
    faults_per_call: float | None
    rounds_ms: RoundTimes
    ratio: float | None = optional()
    gflops: float | None = optional()  # not for the floor
    round_ratio_q1: float | None = optional()
    round_ratio_q3: float | None = optional()


@dataclass
class PairedAlso(Record):
    """A kernel timed beside the mechanism for reference only (the registry's ``also_timed``);
    ``of_limit``: its rate as a fraction of the paired limit's."""

    kernel: str
    ms: float
    iqr_ms: float
    flops: int
    of_limit: float | None = optional()


@dataclass
class ReadablePath(Record):
    """The readable path (``impl="reference"``) of a module that has two, timed beside the default."""

    fwd_ms: float
    fwd_iqr_ms: float
    fwd_repeats: int
    fwd_faults_per_call: float | None
    peak_mib: float
    gflops: float | None = optional()
    ratio: Ratios | None = optional()


@dataclass(kw_only=True)
class Verdict(Record):
    """A target and whether it is met. For a mechanism (:func:`attn_edu.bench.judge`): against which
    ``limit``, on the ``"paired"`` or the run's ``"best"`` limit, the ``measured`` ratio, and the
    share of rounds that meet it (``rounds_met`` of ``rounds``, paired only)."""

    limit: str | None = optional()
    op: str
    value: float
    against: str | None = optional()
    measured: float | None = optional()
    met: bool
    rounds: int | None = optional()
    rounds_met: float | None = optional()


@dataclass
class CompatRecord(Record):
    """One mechanism at the call users of the collection write (:func:`attn_edu.bench.bench_compat`).

    ``gflops``, ``ratio``, ``fwdbwd_over_fwd`` and the paired ratios are ``None`` until
    :func:`attn_edu.bench.add_ratios`; ``target`` until the run judges it against the targets file.
    """

    call: str
    input: list[int]
    kind: str
    bound: str
    impl: str | None
    params: int
    params_formula: int
    flops: int
    flops_formula: int
    flops_match: bool
    fwd_ms: float
    fwd_iqr_ms: float
    fwd_repeats: int
    fwd_faults_per_call: float | None
    peak_mib: float
    fwdbwd_ms: float | None
    fwdbwd_iqr_ms: float | None
    fwdbwd_repeats: int
    paired_limit: PairedLimit | None = optional()
    paired_also: PairedAlso | None = optional()
    reference: ReadablePath | None = optional()
    cpu_pressure: float | None = None
    target: Verdict | None = None
    gflops: float | None = optional()
    ratio: Ratios | None = optional()
    fwdbwd_over_fwd: float | None = optional()


@dataclass
class ChildResult(Record):
    """What :func:`attn_edu.bench.compat_in_child` hands back: the child's allocator settings and its
    records (without ratios)."""

    allocator_env: dict[str, str]
    mechanisms: dict[str, CompatRecord]


@dataclass
class FloorWarmth(Record):
    """The broadcast multiply (the floor) timed beside SE two ways (:func:`attn_edu.bench.floor_warmth`):
    one call per turn (``cold``: its map comes back from main memory each time) and in warm blocks
    of calls (``warm``: as the benchmark times every short call)."""

    cold_ms: float
    cold_iqr_ms: float
    warm_ms: float
    warm_iqr_ms: float
    beside: str = "se"

    @property
    def cold_over_warm(self) -> float:
        return self.cold_ms / self.warm_ms


# --- peers --------------------------------------------------------------------------------------


@dataclass
class MhaPeer(Record):
    """``nn.MultiheadAttention`` against our self-attention (:func:`attn_edu.bench.peer_mha`);
    ``ratio``: our fast path's time over PyTorch's."""

    input: list[int]
    heads: int
    mha_ms: float
    mha_iqr_ms: float
    ours_ms: float
    ours_iqr_ms: float
    ours_reference_ms: float
    ours_reference_iqr_ms: float
    ratio: float
    ratio_reference: float
    repeats: int
    flops: int
    target: Verdict | None = None


@dataclass
class PathPeer(Record):
    """The readable against the fast path of one module (:func:`attn_edu.bench.peer_paths`)."""

    call: str
    input: list[int]
    fast_ms: float
    reference_ms: float
    speedup: float
    fast_peak_mib: float
    reference_peak_mib: float
    note: str | None = optional()


@dataclass
class CollectionRow(Record):
    """Ours against the External-Attention-pytorch collection's module at one compatibility call
    (:func:`attn_edu.bench.peer_collection`). Times are medians over rounds that call both, one
    after the other; ``fwd_ratio`` and ``fwdbwd_ratio`` are our time over theirs in the same round,
    median and quartiles over the rounds (``[estimate, q1, q3]``). ``comparable``: whether the two
    compute the same function there (the registry's ``collection.same_function``), so that the
    ratio compares implementations, not amounts of work."""

    call: str
    comparable: bool
    params: int
    collection_params: int
    fwd_ms: float
    collection_fwd_ms: float
    fwd_ratio: list[float]
    rounds: int
    peak_mib: float
    collection_peak_mib: float
    fwdbwd_ms: float | None = optional()
    collection_fwdbwd_ms: float | None = optional()
    fwdbwd_ratio: list[float] | None = optional()
    fwdbwd_rounds: int = 0
    collection_fwdbwd_error: str | None = optional()
    """What the collection's forward+backward raised instead (PSA: its in-place write into a view)."""


@dataclass
class Peers(Record):
    """The run's comparisons with PyTorch's attention, between each module's two paths, and with
    the collection's modules (absent from a run without the collection installed)."""

    mha: MhaPeer
    paths: dict[str, PathPeer]
    collection: dict[str, CollectionRow] | None = optional()


# --- sweeps -------------------------------------------------------------------------------------


@dataclass
class SweepCandidate(Record):
    """One candidate of a sweep: a value per point, and the log-log slopes on the largest points."""

    mechanism: str
    impl: str | None
    ms: list[float] = field(default_factory=list)
    iqr_ms: list[float] = field(default_factory=list)
    faults_per_call: list[float | None] = field(default_factory=list)
    peak_mib: list[float | None] = field(default_factory=list)
    flops: list[int] = field(default_factory=list)
    slope_ms: float | None = None
    slope_mem: float | None = None


@dataclass
class Sweep(Record):
    """A sweep over tokens or channels (:func:`attn_edu.bench.sweep`): ``values`` of ``x`` at each
    point, slopes fitted from ``fit_from`` on."""

    x: str
    values: list[int]
    sides: list[int]
    channels: list[int]
    batch: int
    fit_from: int
    candidates: dict[str, SweepCandidate]


@dataclass
class LargeTokens(Record):
    """Self-attention's fast path on one large image (:func:`attn_edu.bench.large_tokens`)."""

    tokens: int
    d_model: int
    heads: int
    batch: int
    fwd_ms: float
    fwd_iqr_ms: float
    peak_mib: float
    reference_weights_mib: float
    flops: int


@dataclass
class Sweeps(Record):
    """The run's sweeps; the large and linear ones only where the settings ask for them."""

    tokens: Sweep
    channels: Sweep
    large_tokens: LargeTokens | None = optional()
    linear_tokens: Sweep | None = optional()


# --- targets and the whole run ----------------------------------------------------------------


@dataclass
class Target(Record):
    """One goal of the targets file: ``op`` (``">="`` or ``"<="``) and ``value``."""

    op: str
    value: float

    def __post_init__(self) -> None:
        if self.op not in (">=", "<="):
            raise ValueError(f"Target: op must be '>=' or '<=', got {self.op!r}")
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)):
            raise TypeError(f"Target: value must be a number, got {type(self.value).__name__} {self.value!r}")

    def meets(self, measured: float) -> bool:
        """``measured >= value`` or ``measured <= value``, as ``op`` says."""
        return bool(measured >= self.value if self.op == ">=" else measured <= self.value)


@dataclass
class Targets(Record):
    """The goals ``benchmarks/targets.json`` sets for this project's reference machine (2 cores):
    each mechanism's ratio to its bounding kernel, our self-attention against
    ``nn.MultiheadAttention``, and the log-log slopes of sweep candidates (latency and peak memory
    against tokens, within ``slope_tolerance``). Read with :func:`attn_edu.bench.load_targets`."""

    mechanisms: dict[str, Target]
    mha: Target
    slopes: dict[str, float]
    memory_slopes: dict[str, float]
    slope_tolerance: float


@dataclass
class TargetCheck(Record):
    """One line of the run's target verdicts (:func:`attn_edu.bench.check_targets`)."""

    what: str
    measured: float
    target: str
    met: bool
    rounds_met: float | None = optional()
    rounds: int | None = optional()
    note: str | None = optional()


@dataclass
class RunResult(Record):
    """The whole benchmark (:func:`attn_edu.bench.run`); ``targets`` is empty where none were given."""

    machine: Machine
    settings: Settings
    mechanisms: dict[str, CompatRecord]
    peers: Peers
    sweeps: Sweeps
    targets: list[TargetCheck]
    elapsed_s: float
    floor_warmth: FloorWarmth | None = optional()  # Settings.floor_warmth
    allocator: dict[str, ChildResult] | None = optional()  # Settings.allocator: "defaults", "keep memory"
