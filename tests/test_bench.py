"""The benchmark CLI's quick mode, as CI runs it: its JSON is complete and consistent.

No timing thresholds: the machine is shared, so only the presence, finiteness and internal
consistency of the numbers are checked (FLOPs counted == the docstrings' formulas, ratios computed
from the run's own limits). The targets file is checked for its schema, not for being met.
"""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attn_edu import bench, measure
from attn_edu.measure import Timing
from attn_edu.registry import MECHANISMS

ROOT = Path(__file__).resolve().parent.parent
TARGETS_FILE = ROOT / "benchmarks" / "targets.json"


@pytest.fixture(scope="module")
def raw(tmp_path_factory) -> dict:
    """One run of the CLI as CI calls it (a fresh process: it sets its own OpenMP wait policy), as JSON."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, "-m", "attn_edu.bench", "--quick", "--json", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[bench" in proc.stderr and "done in" in proc.stderr, "progress lines on stderr"
    assert f"targets: {Path('benchmarks') / 'targets.json'}" in proc.stderr, "the default targets file is read"
    assert proc.stdout == "", "with --out the JSON goes to the file only"
    return json.loads(out.read_text())


@pytest.fixture(scope="module")
def result(raw) -> bench.RunResult:
    return bench.RunResult.from_dict(raw)


@pytest.fixture(scope="module")
def targets() -> bench.Targets:
    return bench.load_targets(TARGETS_FILE)


def positive(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def limits(gemm_gflops: float = 100.0, conv3x3_gflops: float = 200.0, floor_ms: float = 0.1) -> bench.MachineLimits:
    """Machine limits with the three values ratios are computed from (the others zero)."""
    zero = {f.name: 0 for f in dataclasses.fields(bench.MachineLimits)}
    return bench.MachineLimits(**{**zero, "gemm_gflops": gemm_gflops, "conv3x3_gflops": conv3x3_gflops,
                                  "floor_ms": floor_ms})


def record(bound: str, flops: int, fwd_ms: float, limit_ms: float, limit_flops: int,
           rounds: tuple[list[float], list[float]]) -> bench.CompatRecord:
    """A record of bench_compat with only the numbers the ratios and targets read."""
    paired = bench.PairedLimit(limit=bound, ms=limit_ms, iqr_ms=0.0, flops=limit_flops, faults_per_call=None,
                               rounds_ms=bench.RoundTimes(mechanism=rounds[0], limit=rounds[1]))
    return bench.CompatRecord(call="X()", input=[1], kind="channel", bound=bound, impl=None, params=0,
                              params_formula=0, flops=flops, flops_formula=flops, flops_match=True, fwd_ms=fwd_ms,
                              fwd_iqr_ms=0.0, fwd_repeats=len(rounds[0]), fwd_faults_per_call=None, peak_mib=0.0,
                              fwdbwd_ms=None, fwdbwd_iqr_ms=None, fwdbwd_repeats=0, paired_limit=paired)


# --- the run's records --------------------------------------------------------------------------


def test_records_round_trip_through_their_dicts(raw, result):
    assert result.to_dict() == raw  # the typed records hold exactly the CLI's JSON
    assert bench.RunResult.from_dict(result.to_dict()) == result
    assert isinstance(result.settings, bench.Settings) and result.settings == bench.QUICK
    sk = result.mechanisms["sk"]
    assert isinstance(sk.paired_limit, bench.PairedLimit) and isinstance(sk.ratio, bench.Ratios)
    assert bench.CompatRecord.from_dict(sk.to_dict()) == sk
    assert bench.MachineLimits.from_dict(result.machine.limits_start.to_dict()) == result.machine.limits_start
    with pytest.raises(ValueError, match="no fields"):
        bench.Ratios.from_dict({"gemm": 1.0, "conv3x3": 1.0, "floor": 1.0, "extra": 0})


def test_optional_keys_appear_only_where_they_apply(raw):
    for name, rec in raw["mechanisms"].items():
        assert ("paired_also" in rec) == (MECHANISMS[name].also_timed is not None), name
        assert ("reference" in rec) == (rec["impl"] == "fast"), name  # a readable default is timed once
        assert "target" in rec and "cpu_pressure" in rec, name  # always there, null where none
    assert "large_tokens" not in raw["sweeps"] and "linear_tokens" not in raw["sweeps"]  # the quick mode skips them


def test_machine_limits_measured(result):
    m = result.machine
    for value in (m.gemm_gflops, m.conv3x3_gflops, m.grouped_conv3x3_gflops, m.floor_ms, m.floor_gbps):
        assert positive(value)
    assert m.threads == bench.THREADS
    assert m.torch
    assert m.omp_wait_policy is None or m.omp_wait_policy  # recorded: it changes small operators' times
    assert m.allocator_env == bench.allocator_env()  # likewise: glibc's settings change large calls' times
    assert m.limits_start.gemm_flops == 2 * bench.GEMM_N**3


def test_every_mechanism_present(result):
    assert list(result.mechanisms) == list(MECHANISMS)
    for name, rec in result.mechanisms.items():
        assert rec.call == MECHANISMS[name].compat_call
        assert tuple(rec.input) == MECHANISMS[name].compat_input


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_flops_and_params_equal_the_formulas(result, name):
    rec = result.mechanisms[name]
    assert rec.flops == rec.flops_formula > 0
    assert rec.flops_match is True
    assert rec.params == rec.params_formula


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_times_memory_and_ratios_computed(result, targets, name):
    rec, m = result.mechanisms[name], result.machine
    for value in (rec.fwd_ms, rec.fwdbwd_ms, rec.peak_mib, rec.gflops):
        assert positive(value)
    assert rec.fwd_iqr_ms >= 0
    assert rec.ratio is not None and all(positive(v) for v in dataclasses.astuple(rec.ratio))
    # the ratios are the run's own: recompute them from the record and the machine's limits
    assert rec.gflops == pytest.approx(rec.flops / rec.fwd_ms / 1e6)
    assert rec.ratio.gemm == pytest.approx(rec.gflops / m.gemm_gflops)
    assert rec.ratio.conv3x3 == pytest.approx(rec.gflops / m.conv3x3_gflops)
    assert rec.ratio.floor == pytest.approx(rec.fwd_ms / m.floor_ms)
    assert rec.ratio.of(rec.bound) == getattr(rec.ratio, rec.bound)
    faults = rec.fwd_faults_per_call  # counted wherever the resource module exists (Linux CI: yes)
    assert faults is None if measure.resource is None else (isinstance(faults, float) and faults >= 0)
    if name in targets.mechanisms:
        assert rec.target is not None and rec.target.limit == rec.bound == MECHANISMS[name].bound
        assert isinstance(rec.target.met, bool)
    else:
        assert rec.target is None


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_bounding_kernel_timed_beside_each_mechanism(result, name):
    rec = result.mechanisms[name]
    paired = rec.paired_limit
    assert paired is not None and paired.ratio is not None
    assert paired.limit == rec.bound == bench.BOUND[name]
    assert positive(paired.ms) and paired.iqr_ms >= 0
    if paired.limit == "floor":
        assert paired.ratio == pytest.approx(rec.fwd_ms / paired.ms)
    else:
        assert paired.flops == getattr(result.machine, f"{paired.limit}_flops")
        assert paired.ratio == pytest.approx(rec.flops / rec.fwd_ms / (paired.flops / paired.ms))
    if name in bench.ALSO_PAIRED:  # a reference kernel beside it, reported as a fraction of the limit
        also = rec.paired_also
        assert also is not None and also.kernel == bench.ALSO_PAIRED[name] and positive(also.ms)
        assert also.of_limit == pytest.approx(also.flops / also.ms / (paired.flops / paired.ms))
    else:
        assert rec.paired_also is None
    # both times of every round are kept: the median ratio is framed by the quartiles of the per-round one
    rounds = paired.rounds_ms
    assert len(rounds.mechanism) == len(rounds.limit) == rec.fwd_repeats
    assert all(positive(v) for v in rounds.mechanism + rounds.limit)
    assert paired.round_ratio_q1 is not None and paired.round_ratio_q3 is not None
    assert paired.round_ratio_q1 <= paired.round_ratio_q3
    tgt = rec.target
    if tgt is not None:  # judged on the paired ratio
        assert tgt.against == "paired" and tgt.measured == paired.ratio
        assert tgt.met == (tgt.measured >= tgt.value if tgt.op == ">=" else tgt.measured <= tgt.value)
        assert tgt.rounds == rec.fwd_repeats and tgt.rounds_met is not None and 0.0 <= tgt.rounds_met <= 1.0


def test_fast_and_readable_paths_both_timed(result):
    with_impl = [n for n, r in result.mechanisms.items() if r.impl is not None]
    assert set(with_impl) == {"self_attention", "emsa", "danet", "eca", "cbam", "sk"}
    paths = result.peers.paths
    assert set(with_impl) | {"emsa (apply_transform=False)"} == set(paths)
    for rec in paths.values():
        assert positive(rec.fast_ms) and positive(rec.reference_ms)
        assert rec.speedup == pytest.approx(rec.reference_ms / rec.fast_ms)


def test_multihead_attention_peer(result, targets):
    mha = result.peers.mha
    assert mha.input == [50, 49, 512] and mha.heads == 8
    assert positive(mha.mha_ms) and positive(mha.ours_ms)
    assert mha.ratio == pytest.approx(mha.ours_ms / mha.mha_ms)
    assert mha.target is not None and (mha.target.op, mha.target.value) == (targets.mha.op, targets.mha.value)
    assert mha.target.met == targets.mha.meets(mha.ratio)


def test_sweeps_cover_all_ten_with_slopes(result):
    for sw in (result.sweeps.tokens, result.sweeps.channels):
        mechs = {c.mechanism for c in sw.candidates.values()}
        assert mechs == set(MECHANISMS), sw.x
        for label, c in sw.candidates.items():
            assert len(c.ms) == len(sw.values) and all(positive(v) for v in c.ms), label
            assert len(c.faults_per_call) == len(sw.values), label
            assert c.slope_ms is not None and math.isfinite(c.slope_ms), label
    tokens = result.sweeps.tokens
    assert tokens.values == [s * s for s in bench.QUICK.sizes]
    assert "self_attention (reference)" in tokens.candidates


# --- the targets --------------------------------------------------------------------------------


def test_targets_file_schema():
    """benchmarks/targets.json: what it names exists, its ops are >= / <=, and load_targets reads it."""
    data = json.loads(TARGETS_FILE.read_text())
    assert data["_comment"], "the file says what its targets mean"
    assert set(data) - {"_comment"} == {f.name for f in dataclasses.fields(bench.Targets)}
    for name, tgt in data["mechanisms"].items():
        assert name in MECHANISMS, f"{name}: not a mechanism of attn_edu.registry.MECHANISMS"
        assert set(tgt) == {"op", "value"} and tgt["op"] in (">=", "<=") and positive(tgt["value"]), name
        # a fraction of a kernel's rate for a GEMM or convolution bound, a multiple of the floor's time for a gate
        assert tgt["op"] == ("<=" if MECHANISMS[name].bound == "floor" else ">="), name
    assert data["mha"]["op"] in (">=", "<=") and positive(data["mha"]["value"])
    labels = {label for label, _, _ in bench.default_candidates()}
    for label, want in {**data["slopes"], **data["memory_slopes"]}.items():
        assert label in labels, f"{label}: not a candidate of the tokens sweep"
        assert positive(want)
    assert positive(data["slope_tolerance"])
    loaded = bench.load_targets(TARGETS_FILE)
    assert loaded.mechanisms["se"] == bench.Target(**data["mechanisms"]["se"])


def test_load_targets_rejects_what_the_registry_does_not_know(tmp_path):
    data = json.loads(TARGETS_FILE.read_text())
    bad = tmp_path / "targets.json"
    bad.write_text(json.dumps({**data, "mechanisms": {"resnet": {"op": ">=", "value": 0.5}}}))
    with pytest.raises(ValueError, match="resnet"):
        bench.load_targets(bad)
    bad.write_text(json.dumps({**data, "mha": {"op": "<", "value": 1.0}}))
    with pytest.raises(ValueError, match="op must be"):
        bench.load_targets(bad)
    bad.write_text(json.dumps({k: v for k, v in data.items() if k != "slopes"}))
    with pytest.raises(ValueError, match="slopes"):
        bench.load_targets(bad)


def test_targets_listed(result, targets):
    whats = " ".join(t.what for t in result.targets)
    for name in targets.mechanisms:
        assert name in whats
    assert "nn.MultiheadAttention" in whats
    assert all(isinstance(t.met, bool) for t in result.targets)
    assert result.targets == bench.check_targets(result, targets)  # the same verdicts, judged again


def test_targets_are_also_judged_round_by_round():
    """Per-round ratios pair each round's mechanism time with the limit's time from the same round."""
    gate = bench.add_ratios(record("floor", 10, 0.4, 0.1, 0, ([0.3, 0.4, 0.5, 0.6], [0.1, 0.1, 0.2, 0.1])), limits())
    verdict = bench.judge(gate, bench.Target(op="<=", value=4.0))
    # per round: 3.0, 4.0, 2.5, 6.0 times the floor; three of the four meet <= 4
    assert verdict.rounds_met == 0.75 and verdict.rounds == 4 and verdict.against == "paired"
    assert gate.paired_limit is not None
    assert gate.paired_limit.round_ratio_q1 == pytest.approx(2.875)
    assert gate.paired_limit.round_ratio_q3 == pytest.approx(4.5)
    gemm = bench.add_ratios(record("gemm", 2_000_000, 2.0, 1.0, 1_000_000, ([2.0, 4.0], [1.0, 1.0])), limits())
    verdict = bench.judge(gemm, bench.Target(op=">=", value=0.75))
    # per round: (2e6 / 2.0) / (1e6 / 1.0) = 1.0 and 0.5 of the GEMM's rate
    assert gemm.paired_limit is not None and gemm.paired_limit.ratio == 1.0 and verdict.met
    assert verdict.rounds_met == 0.5


def test_add_ratios_returns_a_new_record():
    rec = record("floor", 10, 0.4, 0.1, 0, ([0.4], [0.1]))
    rated = bench.add_ratios(rec, limits())
    assert rec.ratio is None and rec.gflops is None and rec.paired_limit is not None and rec.paired_limit.ratio is None
    assert rated.ratio == bench.Ratios(gemm=10 / 0.4 / 1e6 / 100.0, conv3x3=10 / 0.4 / 1e6 / 200.0, floor=4.0)
    with pytest.raises(ValueError, match="add_ratios"):
        bench.judge(dataclasses.replace(rec, paired_limit=None), bench.Target(op="<=", value=4.0))


def test_external_attention_slope_comes_from_its_larger_sweep_when_run(result, targets):
    quick = bench.check_targets(result, targets)
    assert result.sweeps.linear_tokens is None  # the quick mode skips it
    ea = [t for t in quick if "external_attention latency" in t.what]
    assert ea and f"N >= {result.sweeps.tokens.fit_from}" in ea[0].what
    linear = bench.sweep((8, 10, 12), (16,), 1, candidates=[("external_attention", "external_attention", None)],
                         settings=bench.QUICK, memory=False)
    with_linear = dataclasses.replace(result, sweeps=dataclasses.replace(result.sweeps, linear_tokens=linear))
    ea = [t for t in bench.check_targets(with_linear, targets) if "external_attention latency" in t.what]
    assert len(ea) == 1 and "N >= 64)" in ea[0].what
    assert ea[0].measured == linear.candidates["external_attention"].slope_ms


# --- the timer ----------------------------------------------------------------------------------


def test_time_call_is_time_interleaved_with_one_callable():
    calls: list[str] = []
    t = measure.time_call(lambda: calls.append("call"), warmup=2, repeats=4)
    assert len(calls) == 2 + 4
    calls.clear()
    u = measure.time_interleaved({"only": lambda: calls.append("interleaved")}, warmup=2, repeats=4)["only"]
    assert len(calls) == 2 + 4
    assert type(t) is type(u) is Timing
    assert [f.name for f in dataclasses.fields(t)] == [f.name for f in dataclasses.fields(u)]
    assert t.repeats == u.repeats == len(t.samples_ms) == len(u.samples_ms) == 4
    assert (t.faults_per_call is None) == (u.faults_per_call is None) == (measure.resource is None)
    t0 = time.perf_counter()
    nap = measure.time_call(lambda: time.sleep(0.002), warmup=0, repeats=1, min_time_s=0.02)
    elapsed_ms = (time.perf_counter() - t0) * 1e3
    # min_time_s: more rounds than repeats, until 20 ms of wall time have passed since the first
    # timed round. The timer's own work between samples counts there, so the samples may sum to a
    # little less than 20 ms (a CI run: 8 samples, 19.2 ms), and a busy machine oversleeps: fewer
    # than 10 calls may fill the time. The last round started before the 20 ms were up.
    assert nap.repeats >= 2 or nap.samples_ms[0] >= 20.0  # one call would fill 20 ms only if it overslept 10x
    assert elapsed_ms >= 20.0
    assert sum(nap.samples_ms[:-1]) < 20.0 <= elapsed_ms
    assert nap.q1_ms <= nap.median_ms <= nap.q3_ms and nap.median_ms >= 2.0
    assert bench.time_interleaved is measure.time_interleaved  # the benchmark's timer is the same function


def test_time_interleaved_runs_every_candidate_alike():
    calls = []
    t = bench.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeats=4)
    assert calls.count("a") == calls.count("b") == 5
    assert all(isinstance(v, Timing) and v.repeats == 4 for v in t.values())
    with pytest.raises(ValueError, match="time_interleaved"):
        bench.time_interleaved({})


def test_short_candidates_are_timed_in_blocks_after_a_lead_call():
    calls = []
    slow = lambda: (calls.append("slow"), time.sleep(0.004))  # noqa: E731
    t = bench.time_interleaved({"fast": lambda: calls.append("fast"), "slow": slow}, warmup=0, repeats=3, block_s=0.003)
    # calibration: one call each; the fast one then runs 1 untimed + many timed calls per turn, the slow one 1 call
    assert calls.count("slow") == 1 + 3
    assert calls.count("fast") > 1 + 3 * 10
    assert t["slow"].median_ms >= 4.0 > 100 * t["fast"].median_ms
    assert t["fast"].repeats == t["slow"].repeats == 3


def test_timings_keep_their_samples_in_round_order():
    naps = iter([0.002, 0.030, 0.090])  # round r sleeps longer than round r - 1, by more than a busy machine's jitter
    t = bench.time_interleaved({"a": lambda: time.sleep(next(naps)), "b": lambda: None}, warmup=0, repeats=3)
    a = t["a"].samples_ms
    assert len(a) == len(t["b"].samples_ms) == 3
    assert a[0] < a[1] < a[2] and a[0] >= 2.0


@pytest.mark.skipif(measure.resource is None, reason="page faults are counted where the resource module exists")
def test_page_faults_per_call_are_counted():
    import mmap

    def fresh_pages():  # 4 MiB of anonymous memory, written once: 1024 pages the kernel must map
        with mmap.mmap(-1, 4 * 2**20) as m:
            for i in range(0, len(m), mmap.PAGESIZE):
                m[i] = 1

    t = bench.time_interleaved({"fresh": fresh_pages, "idle": lambda: None}, warmup=1, repeats=3)
    assert t["fresh"].faults_per_call is not None and t["idle"].faults_per_call is not None
    assert t["fresh"].faults_per_call >= 4 * 2**20 // mmap.PAGESIZE
    assert t["idle"].faults_per_call < 1


# --- the rest -----------------------------------------------------------------------------------


def test_a_child_process_runs_with_the_allocator_settings_given():
    child = bench.compat_in_child(["se"], bench.KEEP_MEMORY_ENV, bench.QUICK)
    assert isinstance(child, bench.ChildResult)
    assert child.allocator_env["GLIBC_TUNABLES"] == bench.KEEP_MEMORY_ENV["GLIBC_TUNABLES"]
    rec = child.mechanisms["se"]
    assert rec.call == MECHANISMS["se"].compat_call and positive(rec.fwd_ms)
    assert rec.fwdbwd_ms is None and rec.reference is None  # forward, default path only
    rated = bench.add_ratios(rec, limits(1.0, 1.0, 1.0))
    assert rated.paired_limit is not None and rec.paired_limit is not None
    assert rated.paired_limit.ratio == pytest.approx(rec.fwd_ms / rec.paired_limit.ms)


def test_best_limits_are_conservative():
    a, b = limits(100.0, 300.0, 0.1), limits(150.0, 200.0, 0.2)
    best = bench.best_limits(a, None, b)
    assert (best.gemm_gflops, best.conv3x3_gflops, best.floor_ms) == (150.0, 300.0, 0.1)
    with pytest.raises(ValueError, match="best_limits"):
        bench.best_limits(None)


def test_help_names_the_modes(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    out = capsys.readouterr().out
    assert "--quick" in out and "--json" in out and "--out" in out and "--targets" in out


def test_a_missing_targets_file_is_an_error(tmp_path, capsys):
    with pytest.raises(SystemExit):
        bench.main(["--quick", "--targets", str(tmp_path / "none.json")])
    assert "--targets" in capsys.readouterr().err


# --- the collection beside ours -----------------------------------------------------------------


def test_the_reference_run_has_a_collection_row_for_every_compatibility_call():
    ref = bench.load_reference()
    assert ref.peers.collection is not None and list(ref.peers.collection) == list(MECHANISMS)
    for name, row in ref.peers.collection.items():
        assert row.call == MECHANISMS[name].compat_call and row.comparable == MECHANISMS[name].collection.same_function
        est, q1, q3 = row.fwd_ratio
        assert q1 <= est <= q3 and positive(row.fwd_ms) and positive(row.collection_fwd_ms)
        assert (row.fwdbwd_ratio is None) == (row.collection_fwdbwd_error is not None)
    assert ref.peers.collection["psa"].collection_params == 0  # its convolutions are unregistered
    assert "inplace operation" in ref.peers.collection["psa"].collection_fwdbwd_error


def test_peer_collection_times_both_and_records_what_raises():
    pytest.importorskip("fightingcv_attention")
    settings = dataclasses.replace(bench.QUICK, collection_peer=True)
    rows = bench.peer_collection(["se", "psa"], settings)
    se, psa = rows["se"], rows["psa"]
    assert se.comparable and not psa.comparable
    assert se.params == se.collection_params + 512 + 64  # ours has the official code's biases (zeroed to align)
    assert se.fwdbwd_ratio is not None and se.collection_fwdbwd_error is None
    assert psa.fwdbwd_ratio is None and "inplace operation" in psa.collection_fwdbwd_error
    again = bench.CollectionRow.from_dict(json.loads(json.dumps(psa.to_dict())))
    assert again == psa
    assert bench.peer_collection(["se"], bench.QUICK) is None  # off in QUICK: CI's CLI run stays short
