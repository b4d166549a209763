"""The benchmark CLI's quick mode, as CI runs it: its JSON is complete and consistent.

No timing thresholds: the machine is shared, so only the presence, finiteness and internal
consistency of the numbers are checked (FLOPs counted == the docstrings' formulas, ratios computed
from the run's own limits).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attn_edu import bench
from attn_edu.registry import MECHANISMS
from attn_edu.measure import Timing


ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    """One run of the CLI as CI calls it (a fresh process: it sets its own OpenMP wait policy)."""
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    proc = subprocess.run([sys.executable, "-m", "attn_edu.bench", "--quick", "--json", "--out", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "[bench" in proc.stderr and "done in" in proc.stderr, "progress lines on stderr"
    assert proc.stdout == "", "with --out the JSON goes to the file only"
    return json.loads(out.read_text())


def positive(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v > 0


def test_machine_limits_measured(result):
    m = result["machine"]
    for key in ("gemm_gflops", "conv3x3_gflops", "grouped_conv3x3_gflops", "floor_ms", "floor_gbps"):
        assert positive(m[key]), key
    assert m["threads"] == bench.THREADS
    assert m["torch"]
    assert "omp_wait_policy" in m  # recorded: it changes small operators' times (see bench's docstring)
    assert m["allocator_env"] == bench.allocator_env()  # likewise: glibc's settings change large calls' times
    assert m["limits_start"]["gemm_flops"] == 2 * bench.GEMM_N**3


def test_every_mechanism_present(result):
    assert list(result["mechanisms"]) == list(MECHANISMS)
    for name, rec in result["mechanisms"].items():
        assert rec["call"] == MECHANISMS[name].compat_call
        assert tuple(rec["input"]) == MECHANISMS[name].compat_input


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_flops_and_params_equal_the_formulas(result, name):
    rec = result["mechanisms"][name]
    assert rec["flops"] == rec["flops_formula"] > 0
    assert rec["flops_match"] is True
    assert rec["params"] == rec["params_formula"]


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_times_memory_and_ratios_computed(result, name):
    rec, m = result["mechanisms"][name], result["machine"]
    for key in ("fwd_ms", "fwdbwd_ms", "peak_mib", "gflops"):
        assert positive(rec[key]), key
    assert rec["fwd_iqr_ms"] >= 0
    assert set(rec["ratio"]) == {"gemm", "conv3x3", "floor"}
    assert all(positive(v) for v in rec["ratio"].values())
    # the ratios are the run's own: recompute them from the record and the machine's limits
    assert rec["gflops"] == pytest.approx(rec["flops"] / rec["fwd_ms"] / 1e6)
    assert rec["ratio"]["gemm"] == pytest.approx(rec["gflops"] / m["gemm_gflops"])
    assert rec["ratio"]["conv3x3"] == pytest.approx(rec["gflops"] / m["conv3x3_gflops"])
    assert rec["ratio"]["floor"] == pytest.approx(rec["fwd_ms"] / m["floor_ms"])
    assert rec["bound"] in rec["ratio"]
    faults = rec["fwd_faults_per_call"]  # counted wherever the resource module exists (Linux CI: yes)
    assert faults is None if bench.resource is None else (isinstance(faults, float) and faults >= 0)
    if name in bench.TARGETS:
        assert rec["target"]["limit"] == bench.TARGETS[name][0]
        assert isinstance(rec["target"]["met"], bool)


@pytest.mark.parametrize("name", list(MECHANISMS))
def test_bounding_kernel_timed_beside_each_mechanism(result, name):
    rec = result["mechanisms"][name]
    paired = rec["paired_limit"]
    assert paired["limit"] == rec["bound"] == bench.BOUND[name]
    assert positive(paired["ms"]) and paired["iqr_ms"] >= 0
    if paired["limit"] == "floor":
        assert paired["ratio"] == pytest.approx(rec["fwd_ms"] / paired["ms"])
    else:
        assert paired["flops"] == result["machine"][f"{paired['limit']}_flops"]
        assert paired["ratio"] == pytest.approx(rec["flops"] / rec["fwd_ms"] / (paired["flops"] / paired["ms"]))
    if name in bench.ALSO_PAIRED:  # a reference kernel beside it, reported as a fraction of the limit
        also = rec["paired_also"]
        assert also["kernel"] == bench.ALSO_PAIRED[name] and positive(also["ms"])
        assert also["of_limit"] == pytest.approx(also["flops"] / also["ms"] / (paired["flops"] / paired["ms"]))
    else:
        assert "paired_also" not in rec
    # both times of every round are kept: the median ratio is framed by the quartiles of the per-round one
    rounds = paired["rounds_ms"]
    assert len(rounds["mechanism"]) == len(rounds["limit"]) == rec["fwd_repeats"]
    assert all(positive(v) for v in rounds["mechanism"] + rounds["limit"])
    assert paired["round_ratio_q1"] <= paired["round_ratio_q3"]
    if rec.get("target"):  # judged on the paired ratio
        tgt = rec["target"]
        assert tgt["against"] == "paired" and tgt["measured"] == paired["ratio"]
        assert tgt["met"] == (tgt["measured"] >= tgt["value"] if tgt["op"] == ">=" else tgt["measured"] <= tgt["value"])
        assert tgt["rounds"] == rec["fwd_repeats"] and 0.0 <= tgt["rounds_met"] <= 1.0


def test_fast_and_readable_paths_both_timed(result):
    with_impl = [n for n, r in result["mechanisms"].items() if r["impl"] is not None]
    assert set(with_impl) == {"self_attention", "emsa", "danet", "eca", "cbam", "sk"}
    paths = result["peers"]["paths"]
    assert set(with_impl) | {"emsa (apply_transform=False)"} == set(paths)
    for rec in paths.values():
        assert positive(rec["fast_ms"]) and positive(rec["reference_ms"])
        assert rec["speedup"] == pytest.approx(rec["reference_ms"] / rec["fast_ms"])


def test_multihead_attention_peer(result):
    mha = result["peers"]["mha"]
    assert mha["input"] == [50, 49, 512] and mha["heads"] == 8
    assert positive(mha["mha_ms"]) and positive(mha["ours_ms"])
    assert mha["ratio"] == pytest.approx(mha["ours_ms"] / mha["mha_ms"])


def test_sweeps_cover_all_ten_with_slopes(result):
    for key in ("tokens", "channels"):
        sw = result["sweeps"][key]
        mechs = {c["mechanism"] for c in sw["candidates"].values()}
        assert mechs == set(MECHANISMS), key
        for label, c in sw["candidates"].items():
            assert len(c["ms"]) == len(sw["values"]) and all(positive(v) for v in c["ms"]), label
            assert len(c["faults_per_call"]) == len(sw["values"]), label
            assert math.isfinite(c["slope_ms"]), label
    tokens = result["sweeps"]["tokens"]
    assert tokens["values"] == [s * s for s in bench.QUICK.sizes]
    assert "self_attention (reference)" in tokens["candidates"]


def test_targets_listed(result):
    whats = " ".join(t["what"] for t in result["targets"])
    for name in bench.TARGETS:
        assert name in whats
    assert "nn.MultiheadAttention" in whats
    assert all(isinstance(t["met"], bool) for t in result["targets"])


def test_time_interleaved_runs_every_candidate_alike():
    calls = []
    t = bench.time_interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, warmup=1, repeats=4)
    assert calls.count("a") == calls.count("b") == 5
    assert all(isinstance(v, Timing) and v.repeats == 4 for v in t.values())


def test_short_candidates_are_timed_in_blocks_after_a_lead_call():
    calls = []
    slow = lambda: (calls.append("slow"), time.sleep(0.004))  # noqa: E731
    t = bench.time_interleaved({"fast": lambda: calls.append("fast"), "slow": slow}, warmup=0, repeats=3, block_s=0.003)
    # calibration: one call each; the fast one then runs 1 untimed + many timed calls per turn, the slow one 1 call
    assert calls.count("slow") == 1 + 3
    assert calls.count("fast") > 1 + 3 * 10
    assert t["slow"].median_ms >= 4.0 > 100 * t["fast"].median_ms
    assert t["fast"].repeats == t["slow"].repeats == 3


def test_targets_are_also_judged_round_by_round():
    """Per-round ratios pair each round's mechanism time with the limit's time from the same round."""
    limits = {"gemm_gflops": 100.0, "conv3x3_gflops": 200.0, "floor_ms": 0.1}
    gate = {"flops": 10, "fwd_ms": 0.4, "target": {"limit": "floor", "op": "<=", "value": 4.0},
            "paired_limit": {"limit": "floor", "ms": 0.1, "flops": 0,
                             "rounds_ms": {"mechanism": [0.3, 0.4, 0.5, 0.6], "limit": [0.1, 0.1, 0.2, 0.1]}}}
    bench.add_ratios(gate, limits)
    # per round: 3.0, 4.0, 2.5, 6.0 times the floor; three of the four meet <= 4
    assert gate["target"]["rounds_met"] == 0.75 and gate["target"]["rounds"] == 4
    assert gate["paired_limit"]["round_ratio_q1"] == pytest.approx(2.875)
    assert gate["paired_limit"]["round_ratio_q3"] == pytest.approx(4.5)
    gemm = {"flops": 2e6, "fwd_ms": 2.0, "target": {"limit": "gemm", "op": ">=", "value": 0.75},
            "paired_limit": {"limit": "gemm", "ms": 1.0, "flops": 1e6,
                             "rounds_ms": {"mechanism": [2.0, 4.0], "limit": [1.0, 1.0]}}}
    bench.add_ratios(gemm, limits)
    # per round: (2e6 / 2.0) / (1e6 / 1.0) = 1.0 and 0.5 of the GEMM's rate
    assert gemm["paired_limit"]["ratio"] == 1.0 and gemm["target"]["met"]
    assert gemm["target"]["rounds_met"] == 0.5
    listed = bench.check_targets({"mechanisms": {"se": gate}, "peers": {}, "sweeps": {}})
    assert listed[0]["rounds_met"] == 0.75 and listed[0]["rounds"] == 4


def test_timings_keep_their_samples_in_round_order():
    naps = iter([0.002, 0.006, 0.010])  # round r sleeps longer than round r - 1
    t = bench.time_interleaved({"a": lambda: time.sleep(next(naps)), "b": lambda: None}, warmup=0, repeats=3)
    a = t["a"].samples_ms
    assert len(a) == len(t["b"].samples_ms) == 3
    assert a[0] < a[1] < a[2] and a[0] >= 2.0


@pytest.mark.skipif(bench.resource is None, reason="page faults are counted where the resource module exists")
def test_page_faults_per_call_are_counted():
    import mmap

    def fresh_pages():  # 4 MiB of anonymous memory, written once: 1024 pages the kernel must map
        with mmap.mmap(-1, 4 * 2**20) as m:
            for i in range(0, len(m), mmap.PAGESIZE):
                m[i] = 1

    t = bench.time_interleaved({"fresh": fresh_pages, "idle": lambda: None}, warmup=1, repeats=3)
    assert t["fresh"].faults_per_call >= 4 * 2**20 // mmap.PAGESIZE
    assert t["idle"].faults_per_call < 1


def test_a_child_process_runs_with_the_allocator_settings_given():
    child = bench.compat_in_child(["se"], bench.KEEP_MEMORY_ENV, bench.QUICK)
    assert child["allocator_env"]["GLIBC_TUNABLES"] == bench.KEEP_MEMORY_ENV["GLIBC_TUNABLES"]
    rec = child["mechanisms"]["se"]
    assert rec["call"] == MECHANISMS["se"].compat_call and positive(rec["fwd_ms"])
    assert rec["fwdbwd_ms"] is None and "reference" not in rec  # forward, default path only
    bench.add_ratios(rec, {"gemm_gflops": 1.0, "conv3x3_gflops": 1.0, "floor_ms": 1.0})
    assert rec["paired_limit"]["ratio"] == pytest.approx(rec["fwd_ms"] / rec["paired_limit"]["ms"])


def test_best_limits_are_conservative():
    a = {"gemm_gflops": 100.0, "conv3x3_gflops": 300.0, "floor_ms": 0.1}
    b = {"gemm_gflops": 150.0, "conv3x3_gflops": 200.0, "floor_ms": 0.2}
    best = bench.best_limits(a, None, b)
    assert (best["gemm_gflops"], best["conv3x3_gflops"], best["floor_ms"]) == (150.0, 300.0, 0.1)


def test_help_names_the_modes(capsys):
    with pytest.raises(SystemExit):
        bench.main(["--help"])
    out = capsys.readouterr().out
    assert "--quick" in out and "--json" in out and "--out" in out


def test_external_attention_slope_comes_from_its_larger_sweep_when_run(result):
    quick = bench.check_targets(result)
    assert "linear_tokens" not in result["sweeps"]  # the quick mode skips it
    ea = [t for t in quick if "external_attention latency" in t["what"]]
    assert ea and f"N >= {result['sweeps']['tokens']['fit_from']}" in ea[0]["what"]
    linear = bench.sweep((8, 10, 12), (16,), 1, candidates=[("external_attention", "external_attention", None)],
                         settings=bench.QUICK, memory=False)
    with_linear = {**result, "sweeps": {**result["sweeps"], "linear_tokens": linear}}
    ea = [t for t in bench.check_targets(with_linear) if "external_attention latency" in t["what"]]
    assert len(ea) == 1 and "N >= 64)" in ea[0]["what"]
    assert ea[0]["measured"] == linear["candidates"]["external_attention"]["slope_ms"]
