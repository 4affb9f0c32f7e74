"""``python -m fastem bench`` and ``python -m fastem warmup`` run and print what they
promise.  No timing is asserted: only that the numbers exist and have the right sign."""

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fastem import _bench as bench

REPO_ROOT = Path(__file__).resolve().parents[1]
COLUMNS = ("fastem s/it", "peer s/it", "ratio", "fastem MiB", "peer MiB", "X MiB")

# Row 3 (1,000,000 x 4, K=8, full) at 2000 rows: the cheapest scikit-learn row.
ROW = 3
SCALE = 2000 / 1_000_000


def _table_lines(text, row):
    return [line for line in text.splitlines() if re.match(rf"\s*{row}\s", line)]


def test_workloads_are_the_table():
    table = [(w.n_samples, w.n_features, w.n_components, w.kind) for w in bench.WORKLOADS if w.in_table]
    assert table == [
        (1_000_000, 32, 32, "diag"),
        (200_000, 32, 16, "full"),
        (1_000_000, 4, 8, "full"),
        (50_000, 128, 8, "full"),
        (100_000, 256, 32, "bernoulli"),
        (1_000_000, 32, 64, "kmeans"),
    ]
    assert bench.workload(ROW).scaled_samples(SCALE) == 2000


def test_tiny_table_in_process():
    pytest.importorskip("sklearn")
    out = io.StringIO()
    records = bench.run_table(rows=[ROW], scale=SCALE, n_threads=1, isolate=False, stream=out)
    text = out.getvalue()
    assert "machine:" in text and "numba threads: 1" in text and "scikit-learn" in text
    from fastem._kernels import target

    assert f"compiled for: {target.CPU_NAME}: {8 * target.VECTOR_BYTES}-bit vectors" in text
    for column in COLUMNS:
        assert column in text
    lines = _table_lines(text, ROW)
    assert [line.split()[6] for line in lines] == ["float64", "float32"]  # after "2,000 x 4, K=8, full"
    assert [r["dtype"] for r in records] == ["float64", "float32"]
    for record in records:
        assert record["errors"] == []
        assert record["n_samples"] == 2000
        assert record["ratio"] > 0
        for library in ("fastem", "peer"):
            assert record[library]["seconds_per_iteration"] > 0
            assert record[library]["peak_bytes"] is None or record[library]["peak_bytes"] >= 0
        itemsize = np.dtype(record["dtype"]).itemsize
        assert record["fastem"]["data_bytes"] == 2000 * 4 * itemsize


def test_timing_rounds_go_on_until_they_took_min_seconds(monkeypatch):
    calls = []
    clock = [0.0]

    def fit(max_iter):  # a fit that takes 1 + max_iter "seconds" on a fake clock
        calls.append(max_iter)
        clock[0] += 1.0 + max_iter

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    # Rounds take 2 + 5 = 7 s: 20 s needs three of them, more than repeats=2.
    assert bench.seconds_per_iteration(fit, repeats=2, min_seconds=20.0) == 1.0
    assert calls == [1, 4] * 3
    calls.clear()
    assert bench.seconds_per_iteration(fit, repeats=2) == 1.0
    assert calls == [1, 4] * 2
    calls.clear()
    monkeypatch.setattr(bench, "MAX_ROUNDS", 5)
    bench.seconds_per_iteration(fit, repeats=2, min_seconds=1e9)
    assert calls == [1, 4] * 5


def test_a_longer_timed_fit_dilutes_a_varying_set_up(monkeypatch):
    clock = [0.0]
    set_ups = iter([0.5, 0.9, 0.5, 0.9, 0.5, 0.9])  # the 1-iteration fits always the fast set-up
    calls = []

    def fit(max_iter):  # a varying set-up, then 0.15 "seconds" per iteration
        calls.append(max_iter)
        clock[0] += next(set_ups) + 0.15 * max_iter

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    # (0.9 + 16 * 0.15) - (0.5 + 0.15) over 15 iterations: within 0.03 of 0.15, where
    # four iterations would give (0.9 + 0.6 - 0.65) / 3 = 0.283.
    assert bench.seconds_per_iteration(fit, repeats=3, iterations=16) == pytest.approx(0.15 + 0.4 / 15)
    assert calls == [1, 16] * 3
    assert bench.workload(6).timed_iterations == 16
    assert {row.timed_iterations for row in bench.WORKLOADS if row.kind != "kmeans"} == {4}


@pytest.mark.parametrize("number, stopped", [(6, True), (1, False)])
def test_a_fit_shorter_than_the_row_s_timed_length_is_marked(monkeypatch, number, stopped):
    # A fit that stops after 10 iterations: short of row 6's 16, not of the others' 4.
    class Stopped:
        def __init__(self, max_iter):
            self.n_iter_ = min(max_iter, 10)

    asked = []
    monkeypatch.setitem(bench.FITS, "fastem", lambda row, problem, max_iter: asked.append(max_iter) or Stopped(max_iter))
    result = bench.measure(number, "fastem", "float64", 300, timing=False)
    assert result["stopped_early"] is stopped
    assert asked[-1] == bench.workload(number).timed_iterations  # the memory fit


def test_interleaved_rounds_alternate_until_every_fit_is_done(monkeypatch):
    calls = []
    clock = [0.0]

    def timed(name, scale):
        def fit(max_iter):
            calls.append((name, max_iter))
            clock[0] += scale * (1.0 + max_iter)
        return fit

    monkeypatch.setattr(bench.time, "perf_counter", lambda: clock[0])
    # "slow" rounds take 7 s and need 3 rounds for 20 s; "fast" ones take 0.7 s and
    # would need 29, so both run until MAX_ROUNDS, in turn.
    monkeypatch.setattr(bench, "MAX_ROUNDS", 6)
    seconds = bench.interleaved_seconds_per_iteration(
        {"slow": timed("slow", 1.0), "fast": timed("fast", 0.1)}, repeats=2, min_seconds=20.0
    )
    assert seconds == pytest.approx({"slow": 1.0, "fast": 0.1})
    assert calls == [("slow", 1), ("slow", 4), ("fast", 1), ("fast", 4)] * 6


def test_measurement_in_a_fresh_process():
    result = bench.measure_in_child(ROW, "fastem", "float32", 2000, n_threads=1, repeats=1)
    assert set(result) == {"seconds_per_iteration", "peak_bytes", "peak_exact", "data_bytes", "stopped_early"}
    assert result["data_bytes"] == 2000 * 4 * 4
    if sys.platform.startswith("linux"):
        assert result["peak_bytes"] >= 0 and result["peak_exact"]


def test_dtypes_timed_together_in_a_fresh_process():
    seconds = bench.time_dtypes_in_child(ROW, "fastem", ("float64", "float32"), 2000, n_threads=1, repeats=1)
    assert list(seconds) == ["float64", "float32"]
    assert all(value > 0 for value in seconds.values())


def test_without_sklearn_fastem_is_shown_alone(monkeypatch):
    monkeypatch.setattr(bench, "sklearn_version", lambda: None)
    out = io.StringIO()
    records = bench.run_table(rows=[ROW], scale=SCALE, n_threads=1, dtypes=("float64",), isolate=False,
                              repeats=1, stream=out)
    assert "scikit-learn is not installed" in out.getvalue()
    assert records[0]["fastem"] is not None and records[0]["peer"] is None and records[0]["ratio"] is None
    assert _table_lines(out.getvalue(), ROW)[0].split()[10:12] == ["-", "-"]  # peer s/it and ratio


def test_without_the_resource_module_memory_is_left_out_and_said_so(monkeypatch):
    # Windows has no resource module (Unix only): the table still runs, without memory.
    monkeypatch.setitem(sys.modules, "resource", None)
    monkeypatch.setattr(bench, "sklearn_version", lambda: None)
    out = io.StringIO()
    records = bench.run_table(rows=[ROW], scale=SCALE, n_threads=1, dtypes=("float64",), isolate=False,
                              repeats=1, stream=out)
    assert records[0]["fastem"]["peak_bytes"] is None
    assert records[0]["fastem"]["seconds_per_iteration"] > 0
    assert _table_lines(out.getvalue(), ROW)[0].split()[12] == "-"  # fastem MiB
    assert bench.PEAK_MEMORY_UNAVAILABLE in out.getvalue()


def test_numpy_em_iteration_matches_fastem():
    """The NumPy peer runs the same EM: one iteration from the same start agrees."""
    row = bench.workload(5)
    problem = bench.make_problem(row, "float64", 500)
    weights, probabilities = bench.numpy_em_fit(problem.X, **_bernoulli_start(problem), max_iter=1)
    ours = bench.fastem_fit(row, problem, 1)
    assert ours.n_iter_ == 1
    np.testing.assert_allclose(ours.weights_, weights, rtol=1e-10)
    np.testing.assert_allclose(ours.probabilities_, probabilities, rtol=1e-10)


def _bernoulli_start(problem):
    return {name: problem.start[name] for name in ("weights_init", "probabilities_init")}


def test_warmup_command_runs():
    # One process and a budget of 0.5 s run the first step only (a whole warm-up compiles
    # for a minute or more on a cold cache).
    done = subprocess.run(
        [sys.executable, "-m", "fastem", "warmup", "--budget", "0.5", "--jobs", "1"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "GaussianMixture full float64" in done.stdout
    assert re.search(r"done in [\d.]+ s: \d+ signatures compiled, \d+ loaded from the cache", done.stdout)


def test_warmup_profile_names_the_functions_it_compiled(tmp_path):
    # An empty cache of its own, so that the first step compiles (and the profile has rows);
    # one process and the budget of 0.5 s stop after that step.
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "fastem", "warmup", "--budget", "0.5", "--profile", "5", "--jobs", "1"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=600, env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "compile time by function (own seconds, LLVM part, with callees), the 5 largest:" in done.stdout
    rows = re.findall(r"^\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)  (fastem\.\S+|numba\.\S+) \(\d+ signatures?\)$",
                      done.stdout, flags=re.M)
    assert len(rows) == 5
    own = [float(row[0]) for row in rows]
    assert own == sorted(own, reverse=True)
    assert all(float(o) <= float(total) + 1e-9 for o, _, total, _ in rows)  # own time within the total
    assert any(name.startswith("fastem._kernels.") for *_, name in rows)


def test_warmup_runs_steps_in_several_processes_and_reports_each():
    # Two KMeans steps (the cheapest to compile) in two worker processes: each is
    # reported once, with what it compiled or loaded, and the total adds them up.
    from fastem import _warmup

    out = io.StringIO()
    status = _warmup.run(stream=out, jobs=2, steps=["KMeans float64", "KMeans float32"])
    text = out.getvalue()
    assert status == 0, text
    assert "(2 processes)" in text.splitlines()[0]
    reported = re.findall(r"^  (KMeans float(?:32|64))\s+[\d.]+ s  compiled (\d+).*; loaded (\d+) from the cache$",
                          text, flags=re.M)
    assert sorted(name for name, *_ in reported) == ["KMeans float32", "KMeans float64"]
    total = re.search(r"done in [\d.]+ s: (\d+) signatures compiled, (\d+) loaded from the cache", text)
    assert int(total[1]) == sum(int(c) for _, c, _ in reported)
    assert int(total[2]) == sum(int(n) for *_, n in reported)
    assert int(total[1]) + int(total[2]) > 0  # each step reached kernels, compiled or cached


def test_warmup_merges_the_compile_profiles_of_its_processes():
    # Rows are (name, signatures, own s, LLVM s, with callees s); a function compiled in
    # two processes adds up, and the merged rows are ordered by own time.
    from fastem._warmup import StepResult, _merge_profiles

    first = StepResult(1.0, [], 2, 0, profile_rows=[("f", 1, 0.5, 0.2, 0.9), ("g", 1, 0.3, 0.1, 0.3)])
    second = StepResult(1.0, [], 1, 0, profile_rows=[("g", 2, 0.4, 0.3, 0.6)])
    merged = _merge_profiles([first, second, StepResult(0.1, [], 0, 3)])
    assert [row[0] for row in merged] == ["g", "f"]
    assert merged[0][1:] == pytest.approx((3, 0.7, 0.4, 0.9))
    assert merged[1][1:] == pytest.approx((1, 0.5, 0.2, 0.9))


def test_warmup_rejects_an_unknown_step_and_a_bad_jobs_count():
    from fastem import _warmup

    with pytest.raises(ValueError, match=r"steps: no warm-up step named 'KMeans float16'"):
        _warmup.run(stream=io.StringIO(), steps=["KMeans float16"])
    done = subprocess.run(
        [sys.executable, "-m", "fastem", "warmup", "--jobs", "0"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode != 0 and "fastem warmup: --jobs must be at least 1." in done.stderr


def test_bench_command_rejects_an_unknown_row():
    done = subprocess.run(
        [sys.executable, "-m", "fastem", "bench", "--rows", "99"],
        capture_output=True, text=True, cwd=REPO_ROOT, timeout=120,
    )
    assert done.returncode != 0 and "no workload number 99" in done.stderr
