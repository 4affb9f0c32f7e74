"""``compile_ahead``: a helper process compiles the next step's kernels while a block
compiles its own, and changes nothing but where they are compiled."""

import os
import subprocess
import sys
import warnings

import numpy as np
import pytest
from conftest import make_problem

from fastem import GaussianMixture
from fastem._families.gaussian import GaussianFamily
from fastem._init import compile_estep
from fastem._kernels import ahead
from fastem._warmup import kernel_dispatchers

HERE = os.path.dirname(os.path.abspath(__file__))

needs_two_cpus = pytest.mark.skipif(ahead.usable_cpus() < 2, reason="a helper needs a second CPU")

# A block that compiles a kernel (the cache is empty), with a job from _ahead_jobs;
# then the first argument after the job's name says what to check.
SCRIPT = """
import os
import sys
import time
import numpy as np
import _ahead_jobs
from fastem._kernels import ahead
from fastem._kernels.gaussian_nearest import unit_factors

job, *args = sys.argv[1:]
raised = None
first = (lambda: 1 / 0) if job == "fail" else (lambda: print("first"))  # runs when the helper starts
try:
    with ahead.compile_ahead(getattr(_ahead_jobs, job), *args, first=first) as helper:
        unit_factors(np.ones((1, 1)))
        print("started" if helper.started else "not started")
        if job == "record_pid_and_sleep":  # fail once the helper runs its job
            while not os.path.exists(args[0]):
                time.sleep(0.05)
            raise KeyError("the block fails")
except KeyError as error:
    raised = error
print("raised" if raised else "returned")
if job == "compile_unit_factors_float32":
    unit_factors(np.ones((1, 1), dtype=np.float32))
    for counts in (unit_factors.stats.cache_hits, unit_factors.stats.cache_misses):
        print(sorted((sig[0].dtype.name, n) for sig, n in counts.items()))
"""


def _run_block(tmp_path, job, *args, enabled=True):
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    environment["PYTHONPATH"] = HERE + os.pathsep + environment.get("PYTHONPATH", "")
    environment[ahead.ENVIRONMENT_VARIABLE] = "1" if enabled else "0"
    result = subprocess.run([sys.executable, "-c", SCRIPT, job, *args], capture_output=True, text=True,
                            env=environment, timeout=240)
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


@needs_two_cpus
def test_a_block_that_compiles_runs_the_job_in_a_helper_and_waits_for_it(tmp_path):
    marker = tmp_path / "ran"
    assert _run_block(tmp_path, "touch", str(marker)) == ["first", "started", "returned"]
    assert marker.exists()  # the block's end waited for the helper


def test_no_helper_where_it_is_switched_off(tmp_path):
    marker = tmp_path / "ran"
    assert _run_block(tmp_path, "touch", str(marker), enabled=False) == ["not started", "returned"]
    assert not marker.exists()


def test_no_helper_for_a_block_that_compiles_nothing(tmp_path):
    marker = tmp_path / "ran"
    with ahead.compile_ahead(os.mkdir, str(marker)) as helper:
        pass
    assert not helper.started and not marker.exists()
    assert ahead._armed is None


@needs_two_cpus
def test_the_helper_compiles_into_the_cache_this_process_loads_from(tmp_path):
    # The block compiled float64 factors; the helper float32 ones, which this process loads.
    assert _run_block(tmp_path, "compile_unit_factors_float32") == [
        "first", "started", "returned", "[('float32', 1)]", "[('float64', 1)]",
    ]


@needs_two_cpus
def test_a_failing_helper_or_first_changes_nothing(tmp_path):
    assert _run_block(tmp_path, "fail") == ["started", "returned"]


@needs_two_cpus
@pytest.mark.skipif(not hasattr(os, "kill") or sys.platform == "win32", reason="checks a POSIX process id")
def test_an_exception_in_the_block_stops_the_helper(tmp_path):
    pid_file = tmp_path / "pid"
    assert _run_block(tmp_path, "record_pid_and_sleep", str(pid_file), "600") == ["first", "started", "raised"]
    with pytest.raises(ProcessLookupError):  # stopped, and reaped: no such process now
        os.kill(int(pid_file.read_text()), 0)


@pytest.mark.parametrize("nested", [False, True])
def test_first_runs_only_for_a_compile_that_python_called(monkeypatch, nested):
    """``first`` compiles other kernels before the compile that started the helper goes
    on; inside another compile (a callee's) it does not run: the callee could be one
    of its own kernels, whose compile is under way."""
    from types import SimpleNamespace

    from fastem._kernels.gaussian_nearest import unit_factors

    def event_of(py_func):
        return SimpleNamespace(data={"dispatcher": SimpleNamespace(py_func=py_func)})

    def not_fastem():
        pass

    ran = []
    helper = ahead._Helper(b"", first=lambda: ran.append(True))
    monkeypatch.setattr(helper, "start", lambda: setattr(helper, "process", "a process"))
    monkeypatch.setattr(ahead, "_armed", helper)
    listener = ahead._StartOnFirstCompile()
    events = [event_of(not_fastem)] if nested else []
    events.append(event_of(unit_factors.py_func))
    for event in events:
        listener.on_start(event)
    for event in reversed(events):
        listener.on_end(event)
    assert helper.started and ahead._armed is None
    assert ran == ([] if nested else [True])


@pytest.mark.parametrize("started", [True, False])
def test_a_kmeans_start_takes_the_m_step_kernels_while_its_helper_runs(monkeypatch, started):
    """The helper reaches the M-step's kernels last; a process done with its k-means
    compiles them meanwhile (factors of unit covariances), inside the block, and only
    where a helper has started."""
    from contextlib import contextmanager
    from types import SimpleNamespace

    from fastem import _init

    inside = []

    @contextmanager
    def fake_compile_ahead(job, *args, first=None):
        inside.append(True)
        yield SimpleNamespace(started=started)
        inside.append(False)

    calls = []
    original = GaussianFamily.precisions_cholesky_from_covariances

    def spy(self, covariances):
        calls.append((inside[-1] if inside else False, np.array(covariances)))
        return original(self, covariances)

    monkeypatch.setattr(_init, "compile_ahead", fake_compile_ahead)
    monkeypatch.setattr(GaussianFamily, "precisions_cholesky_from_covariances", spy)
    X, _ = make_problem(0, 300, 3, 3, "full", np.float64)
    GaussianMixture(3, covariance_type="full", max_iter=200, random_state=0).fit(X)
    in_block = [covariances for during, covariances in calls if during]
    if started:
        assert len(in_block) == 1
        np.testing.assert_array_equal(in_block[0], np.broadcast_to(np.eye(3), (3, 3, 3)))
    else:
        assert in_block == []
    assert any(not during for during, _ in calls)  # the fit's own M-steps


def _signatures():
    return {id(d): (d, set(d.signatures)) for d in kernel_dispatchers()}


@pytest.mark.parametrize("covariance_type, dtype", [
    ("full", np.float64), ("full", np.float32), ("diag", np.float64), ("spherical", np.float64),
    ("tied", np.float64),
])
def test_compile_estep_reaches_every_kernel_of_a_fit_without_kmeans(covariance_type, dtype):
    """What the helper of a k-means start runs: afterwards a fit of the same family and
    dtype (started without k-means, whose kernels the helper leaves alone) needs no
    signature it has not compiled."""
    X, _ = make_problem(0, 600, 3, 3, "diag" if covariance_type == "spherical" else "full", dtype)
    compile_estep(GaussianFamily(covariance_type, reg_covar=1e-6), X.dtype, X.shape[1], 3)
    before = _signatures()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        GaussianMixture(3, covariance_type=covariance_type, init_params="random_from_data", max_iter=5,
                        random_state=0).fit(X)
    after = _signatures()
    new = sorted(f"{d.py_func.__module__}.{d.py_func.__qualname__}"
                 for key, (d, signatures) in after.items() if signatures - before.get(key, (d, set()))[1])
    assert new == []


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compile_kmeans_outputs_reaches_every_kernel_of_a_kmeans_fit_but_its_steps(dtype):
    """What the helper of a first KMeans fit runs, while the fit compiles its k-means
    step (its tolerance's pass, here): afterwards a KMeans fit with k-means++ seeds
    needs no signature that neither has compiled."""
    from fastem import KMeans
    from fastem._data import ArraySource
    from fastem._init import compile_kmeans_outputs, kmeans_tolerance

    X, _ = make_problem(1, 600, 3, 3, "full", dtype)
    kmeans_tolerance(ArraySource(X), 1e-4)
    compile_kmeans_outputs(X.dtype, X.shape[1], 3)
    before = _signatures()
    KMeans(3, random_state=0).fit(X)
    after = _signatures()
    new = sorted(f"{d.py_func.__module__}.{d.py_func.__qualname__}"
                 for key, (d, signatures) in after.items() if signatures - before.get(key, (d, set()))[1])
    assert new == []


def test_a_kmeans_fit_arms_a_helper_for_its_seeding_and_labels(monkeypatch):
    """KMeans.fit hands compile_kmeans_outputs its data's dtype and shape."""
    from contextlib import contextmanager

    from fastem import KMeans
    from fastem._init import compile_kmeans_outputs
    from fastem.mixture import _kmeans

    armed = []

    @contextmanager
    def fake_compile_ahead(job, *args, first=None):
        armed.append((job, args))
        yield ahead._NO_HELPER

    monkeypatch.setattr(_kmeans, "compile_ahead", fake_compile_ahead)
    X, _ = make_problem(2, 300, 4, 3, "full", np.float32)
    KMeans(3, random_state=0).fit(X)
    assert armed == [(compile_kmeans_outputs, (np.dtype(np.float32), 4, 3))]


# The late kernels compiled first, then the E-step whose range_stats calls them.
LATE_KERNELS = """
import sys
import numpy as np
from fastem._families.gaussian import GaussianFamily
from fastem._init import compile_estep, compile_late_kernels
from fastem._kernels import gaussian_tile

family = GaussianFamily(sys.argv[1], reg_covar=1e-6)
compile_late_kernels(family, np.float32)
listed = gaussian_tile.late_kernels(np.float32, diagonal=sys.argv[1] != "full")
late = {kernel: set(kernel.signatures) for kernel, _ in listed}
compile_estep(family, np.dtype(np.float32), 2, 3)
for kernel, signatures in late.items():
    print(kernel.py_func.__name__, len(signatures), len(set(kernel.signatures) - signatures))
"""


@pytest.mark.parametrize("covariance_type, expected", [
    ("full", ["deferred_moments 1 0", "dense_moments_t 1 0", "gathered_moments 1 0", "tile_weights 1 0"]),
    ("diag", ["listed_moments 1 0", "list_rows 1 0", "tile_weights 1 0"]),
    ("tied", ["listed_moments 1 0", "list_rows 1 0", "tile_weights 1 0"]),  # on whitened rows
])
def test_late_kernels_are_the_signatures_range_stats_compiles(tmp_path, covariance_type, expected):
    """What a first fit compiles in its own process while the helper compiles
    range_stats (float32 data: the types in X's dtype and the float64 ones differ).
    A wrong type would leave range_stats compiling its own signature.  ("spherical"
    runs the diagonal kernels with the same types.)"""
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    result = subprocess.run([sys.executable, "-c", LATE_KERNELS, covariance_type], capture_output=True, text=True,
                            env=environment, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == expected


# The same for the one tree of a Bernoulli fit: the helper's kernels, then a fit.
BERNOULLI_LATE_KERNELS = """
import numpy as np
from fastem import BernoulliMixture
from fastem._kernels import bernoulli

bernoulli.compile_late_kernels(np.int32)
late = {kernel: set(kernel.signatures) for kernel, _ in bernoulli.late_kernels(np.int32)}
X = np.random.RandomState(0).rand(300, 40) < 0.3  # indices int32
BernoulliMixture(3, max_iter=2, random_state=0).fit(X)
for kernel, signatures in late.items():
    new = set(kernel.signatures) - signatures
    print(kernel.py_func.__name__, len(signatures), *sorted(str(signature[2].dtype) for signature in new))
"""


def test_bernoulli_late_kernels_are_the_signatures_its_range_stats_compiles(tmp_path):
    """What the helper of a first Bernoulli E-step compiles.  The fit adds only
    add_pattern_product's signature for the rows' int32 indices (the log-densities',
    which range_stats reaches first), not one for the tiles' uint8 column rows."""
    environment = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    environment[ahead.ENVIRONMENT_VARIABLE] = "0"  # no helper: this process compiles the tree
    result = subprocess.run([sys.executable, "-c", BERNOULLI_LATE_KERNELS], capture_output=True, text=True,
                            env=environment, timeout=600)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "tile_weights 1", "hard_row 1", "add_pattern_product 1 int32", "_scatter_row 1",
    ]


def test_a_first_bernoulli_estep_shares_its_tree_with_a_helper(monkeypatch):
    """Only a process that has not run the Bernoulli tree arms a helper for it, with
    the rows' index dtype."""
    from types import SimpleNamespace

    from fastem._kernels import bernoulli

    armed = []
    monkeypatch.setattr(bernoulli, "compile_ahead", lambda job, *args: armed.append((job, args)))
    monkeypatch.setattr(bernoulli, "_range_stats", SimpleNamespace(overloads={}))
    bernoulli.sharing_first_compile(np.int64)
    assert armed == [(bernoulli.compile_late_kernels, (np.dtype(np.int64),))]
    monkeypatch.setattr(bernoulli, "_range_stats", SimpleNamespace(overloads={"a signature": None}))
    bernoulli.sharing_first_compile(np.int64)
    assert len(armed) == 1


def test_the_helper_gets_this_process_numba_settings(monkeypatch):
    """Numba reads its settings from the environment when imported; settings this
    process changed in code reach the helper too, so both use one disk cache."""
    from numba.core import config

    monkeypatch.setattr(config, "CACHE_DIR", "/a/cache")
    monkeypatch.setattr(config, "CPU_NAME", None)
    monkeypatch.setattr(config, "CPU_FEATURES", "+avx2")
    monkeypatch.setenv("NUMBA_CPU_NAME", "ignored-here")
    environment = ahead._helper_environment()
    assert environment["NUMBA_CACHE_DIR"] == "/a/cache"
    assert "NUMBA_CPU_NAME" not in environment
    assert environment["NUMBA_CPU_FEATURES"] == "+avx2"
    assert environment[ahead.ENVIRONMENT_VARIABLE] == "0"  # no helper of its own


def test_warmup_workers_start_no_helper(monkeypatch):
    """``warmup --jobs N`` runs a worker per CPU: a helper per worker would only
    crowd them."""
    from fastem import _warmup
    from fastem._kernels import notice

    monkeypatch.setattr(notice, "_told", notice._told)  # the worker set-up silences the notice
    monkeypatch.setenv(ahead.ENVIRONMENT_VARIABLE, "1")
    monkeypatch.setattr(ahead, "usable_cpus", lambda: 2)
    assert ahead.enabled()
    _warmup._worker_started()
    assert not ahead.enabled()
