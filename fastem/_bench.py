"""Speed and memory of fastem next to its peers: ``python -m fastem bench [--quick]``.

Every row of the table fits the same data from the same start with fastem and with a
peer (scikit-learn's ``GaussianMixture`` or ``KMeans``, or a vectorised NumPy EM for
the Bernoulli mixture), with ``tol=0`` so that both run exactly the iterations asked
for.  A row reports, per dtype:

- seconds per EM iteration: ``(best 4-iteration fit - best 1-iteration fit) / 3``, so
  that validation and set-up cancel out (a workload may time a longer fit:
  ``Workload.timed_iterations``);
- the ratio of the peer's seconds per iteration to fastem's (above 1: fastem is faster);
- the peak memory of one such longer fit: the process's peak resident memory during
  the fit minus its resident memory just before it.  Each (library, row, dtype) runs in
  a fresh Python process that holds only the data, so earlier measurements do not
  blur it.

The workloads, the data generators and the timing helper live here once; the asv
suite in ``asv_benchmarks/`` imports them.  scikit-learn is optional: without it the
scikit-learn columns are left out and said so.
"""

import gc
import importlib.metadata
import importlib.util
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial

import numpy as np

from ._kernels._jit import limit_threads

DTYPES = ("float64", "float32")

# --quick (and the asv suite's default "fast" profile) divides every row count by this.
QUICK_DIVISOR = 20

# Iterations of the longer timed fit, timed against a 1-iteration fit, and of the fit
# whose peak memory is measured, unless a workload sets its own (``timed_iterations``).
TIMED_ITERATIONS = 4

# Rows of the slice a measurement fits first, so that compilation, imports and
# first-call set-up stay out of the numbers.
WARM_UP_ROWS = 256

# The table's timing rounds go on until they took this many seconds (and at least
# ``repeats`` of them ran), at most MAX_ROUNDS: the machine this project measures on has
# slow spells of seconds, which a best of three rounds of a 0.1 s fit did not escape.
TIMING_SECONDS = 3.0
MAX_ROUNDS = 30

MIB = 2.0**20


# -- the workloads -------------------------------------------------------------------------
@dataclass(frozen=True)
class Workload:
    """One row of the table: a model on an N x D data set, and the peer it is compared with.

    Attributes
    ----------
    number : int
        The row's number (``--rows`` selects by it).
    kind : {"diag", "full", "bernoulli", "bernoulli-sparse", "kmeans"}
        GaussianMixture with that covariance type, BernoulliMixture on dense or CSR
        data, or KMeans.
    n_samples, n_features, n_components : int
        N, D and K at full size.
    in_table : bool
        Part of the default table (the others run when selected with ``--rows``).
    timed_iterations : int
        Iterations of the longer timed fit, against a 1-iteration fit
        (``seconds_per_iteration``), and of the fit whose peak memory is measured.
    """

    number: int
    kind: str
    n_samples: int
    n_features: int
    n_components: int
    in_table: bool = True
    timed_iterations: int = TIMED_ITERATIONS

    @property
    def peer(self):
        """Short name of the peer implementation."""
        return PEERS[self.kind]

    @property
    def needs_sklearn(self):
        return self.kind in ("diag", "full", "kmeans")

    def label(self, n_samples=None):
        """``"1,000,000 x 32, K=32, diag"`` (at ``n_samples`` rows if given)."""
        n_samples = self.n_samples if n_samples is None else n_samples
        return f"{n_samples:,} x {self.n_features}, K={self.n_components}, {self.kind}"

    def scaled_samples(self, scale):
        """The row count at ``scale`` times full size (never fewer than 4 K rows)."""
        return max(int(self.n_samples * scale), 4 * self.n_components)


PEERS = {
    "diag": "sklearn GaussianMixture",
    "full": "sklearn GaussianMixture",
    "bernoulli": "NumPy EM",
    "bernoulli-sparse": "NumPy EM (scipy)",
    "kmeans": "sklearn KMeans lloyd",
}

WORKLOADS = (
    Workload(1, "diag", 1_000_000, 32, 32),
    Workload(2, "full", 200_000, 32, 16),
    Workload(3, "full", 1_000_000, 4, 8),
    Workload(4, "full", 50_000, 128, 8),
    Workload(5, "bernoulli", 100_000, 256, 32),
    # scikit-learn's KMeans copies and centres X in every fit: about 0.6 s here, varying
    # by up to 0.4 s from fit to fit, against 0.15 s per iteration.  Over 3 iterations
    # that variation could swamp the difference; over 15 it cannot.
    Workload(6, "kmeans", 1_000_000, 32, 64, timed_iterations=16),
    # Sparse binary data (2% ones): cost per iteration follows the number of ones.
    Workload(7, "bernoulli-sparse", 1_000_000, 10_000, 32, in_table=False),
)

# Mean density of ones of the Bernoulli rows.
BERNOULLI_DENSITY = {"bernoulli": 0.5, "bernoulli-sparse": 0.02}


def workload(number):
    """The workload numbered ``number``."""
    for candidate in WORKLOADS:
        if candidate.number == number:
            return candidate
    raise ValueError(f"no workload number {number}; the rows are {[w.number for w in WORKLOADS]}.")


# -- data ---------------------------------------------------------------------------------
@dataclass
class Problem:
    """Data of one row and the start both libraries begin from.

    Attributes
    ----------
    X : ndarray or scipy.sparse matrix of shape (n_samples, n_features)
    start : dict
        The start as fastem keyword arguments (``weights_init``, ``means_init``,
        ``precisions_init``; ``probabilities_init``; or ``init`` for KMeans).
    """

    X: object
    start: dict

    def head(self, n_rows):
        """The same problem on the first ``n_rows`` rows."""
        return Problem(self.X[:n_rows], self.start)


def blobs(n_samples, n_features, n_components, dtype, seed=0):
    """Overlapping Gaussian blobs of unit spread around centres drawn with spread 3.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features) of ``dtype``
    centres : ndarray of shape (n_components, n_features), float64
    """
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=3.0, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = (centres[labels] + rng.normal(size=(n_samples, n_features))).astype(dtype)
    return X, centres


def gaussian_problem(n_samples, n_features, n_components, covariance_type, dtype, seed=0):
    """Blobs, and a start at their centres with equal weights and unit precisions."""
    X, centres = blobs(n_samples, n_features, n_components, dtype, seed)
    if covariance_type == "full":
        precisions = np.broadcast_to(np.eye(n_features), (n_components, n_features, n_features)).copy()
    else:
        precisions = np.ones((n_components, n_features))
    start = dict(
        weights_init=np.full(n_components, 1.0 / n_components), means_init=centres, precisions_init=precisions
    )
    return Problem(X, start)


def binary_problem(n_samples, n_features, n_components, density, layout, dtype, seed=0):
    """Rows drawn from a Bernoulli mixture whose mean density of ones is ``density``,
    as a dense 0/1 array of ``dtype`` (``layout="dense"``) or a CSR matrix of ``dtype``
    (``"sparse"``, needs scipy), and a start near the generating probabilities."""
    rng = np.random.RandomState(seed)
    prototypes = np.clip(rng.uniform(0, 2 * density, size=(n_components, n_features)), 0.001, 0.999)
    labels = rng.randint(n_components, size=n_samples)
    if layout == "dense":
        X = (rng.uniform(size=(n_samples, n_features)) < prototypes[labels]).astype(dtype)
    else:
        import scipy.sparse as sp

        counts = rng.binomial(n_features, density, size=n_samples)
        rows = np.repeat(np.arange(n_samples), counts)
        columns = rng.randint(n_features, size=counts.sum())
        X = sp.csr_matrix((np.ones(rows.size, dtype=dtype), (rows, columns)), shape=(n_samples, n_features))
        X.sum_duplicates()
        X.data[:] = 1
    start = dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        probabilities_init=np.clip(
            prototypes + rng.uniform(-0.1, 0.1, prototypes.shape) * density, 0.001, 0.999
        ),
    )
    return Problem(X, start)


def kmeans_problem(n_samples, n_features, n_clusters, dtype, seed=3):
    """Unstructured Gaussian data (Lloyd's algorithm needs many iterations there, so a
    timed run of 16 iterations really does 16) and its first ``n_clusters`` rows as the
    start."""
    rng = np.random.RandomState(seed)
    X = rng.standard_normal((n_samples, n_features)).astype(dtype)
    return Problem(X, dict(init=X[:n_clusters].astype(np.float64)))


def make_problem(row, dtype, n_samples=None):
    """The data and start of workload ``row`` (a ``Workload``) in ``dtype``, at
    ``n_samples`` rows (full size when None)."""
    n_samples = row.n_samples if n_samples is None else n_samples
    shape = (n_samples, row.n_features, row.n_components)
    if row.kind in ("diag", "full"):
        return gaussian_problem(*shape, row.kind, dtype)
    if row.kind == "kmeans":
        return kmeans_problem(*shape, dtype)
    layout = "sparse" if row.kind == "bernoulli-sparse" else "dense"
    return binary_problem(*shape, BERNOULLI_DENSITY[row.kind], layout, dtype)


def data_nbytes(X):
    """Bytes of the data itself (CSR: values, column indices and row pointers)."""
    if hasattr(X, "indptr"):
        return X.data.nbytes + X.indices.nbytes + X.indptr.nbytes
    return X.nbytes


# -- the reference NumPy EM for Bernoulli mixtures -------------------------------------
def numpy_em_iteration(X, weights, probabilities, alpha=1.01, beta=1.01):
    """One EM iteration of a Bernoulli mixture in vectorised NumPy.

    The same model and M-step as ``fastem.BernoulliMixture`` (MAP under a Beta(alpha,
    beta) prior), written the direct way: an (N, K) matrix of log-densities and of
    responsibilities.  Dense float ``X`` is used in its own dtype; scipy.sparse ``X``
    goes through sparse products.

    Returns
    -------
    weights : ndarray of shape (n_components,)
    probabilities : ndarray of shape (n_components, n_features)
    """
    log_p, log_not = np.log(probabilities), np.log1p(-probabilities)
    # The table in X's dtype, so that float32 data is not multiplied as float64.
    table = (log_p - log_not).T.astype(X.dtype, copy=False)
    log_dens = X @ table + (np.log(weights) + log_not.sum(axis=1))
    top = log_dens.max(axis=1, keepdims=True)
    resp = np.exp(log_dens - top)
    resp /= resp.sum(axis=1, keepdims=True)
    nk = resp.sum(axis=0)
    sx = np.asarray((X.T @ resp).T)
    return nk / nk.sum(), (sx + alpha - 1) / (nk[:, None] + alpha + beta - 2)


def numpy_em_fit(X, weights_init, probabilities_init, max_iter):
    """``max_iter`` iterations of ``numpy_em_iteration`` from the given start; integer
    or boolean dense data is converted to float64 once, as a user would."""
    if not hasattr(X, "indptr") and X.dtype.kind != "f":
        X = X.astype(np.float64)
    weights, probabilities = weights_init, probabilities_init
    for _ in range(max_iter):
        weights, probabilities = numpy_em_iteration(X, weights, probabilities)
    return weights, probabilities


# -- the fits -----------------------------------------------------------------------------
def fastem_estimator(row, start=None, max_iter=None):
    """fastem's unfitted estimator for ``row``.

    With ``start`` (a ``Problem.start``): from that start, ``tol=0`` and exactly
    ``max_iter`` iterations.  Without: the estimator's defaults and ``random_state=0``
    (a whole fit, as a user runs it).
    """
    import fastem

    if start is None:
        settings = dict(random_state=0)
    else:
        settings = dict(start, tol=0.0, max_iter=max_iter, n_init=1)
    if row.kind in ("diag", "full"):
        return fastem.GaussianMixture(row.n_components, covariance_type=row.kind, **settings)
    if row.kind == "kmeans":
        return fastem.KMeans(row.n_components, **settings)
    return fastem.BernoulliMixture(row.n_components, **settings)


def fastem_fit(row, problem, max_iter):
    """Fit fastem for ``max_iter`` iterations from the problem's start."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 stops at max_iter on purpose
        return fastem_estimator(row, problem.start, max_iter).fit(problem.X)


def peer_fit(row, problem, max_iter):
    """Fit the peer for ``max_iter`` iterations from the problem's start."""
    start = problem.start
    if row.kind in ("bernoulli", "bernoulli-sparse"):
        return numpy_em_fit(problem.X, start["weights_init"], start["probabilities_init"], max_iter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 stops at max_iter on purpose
        if row.kind == "kmeans":
            from sklearn.cluster import KMeans

            init = start["init"].astype(problem.X.dtype)
            return KMeans(
                row.n_components, init=init, n_init=1, max_iter=max_iter, tol=0.0, algorithm="lloyd"
            ).fit(problem.X)
        from sklearn.mixture import GaussianMixture

        return GaussianMixture(
            row.n_components, covariance_type=row.kind, tol=0.0, max_iter=max_iter, n_init=1, **start
        ).fit(problem.X)


FITS = {"fastem": fastem_fit, "peer": peer_fit}


def warm_up(fit, row, problem):
    """One iteration of ``fit`` on the first rows: compiles the kernels and does the
    imports and first calls that later timings must not include."""
    fit(row, problem.head(max(WARM_UP_ROWS, 4 * row.n_components)), 1)


# -- measurements ---------------------------------------------------------------------------
def seconds_per_iteration(fit, repeats=3, min_seconds=0.0, iterations=TIMED_ITERATIONS):
    """Seconds per iteration of ``fit(max_iter)``: (best ``iterations``-iteration run -
    best 1-iteration run) / (``iterations`` - 1), so that set-up and validation cancel
    out.

    At least ``repeats`` rounds of both runs, and more, up to MAX_ROUNDS, until the
    rounds took ``min_seconds`` in all: a fast fit then keeps its best of many rounds,
    so that a slow spell of the machine lasting a few of them does not set its time.
    While the difference is not positive (on a tiny problem or a busy machine the noise
    exceeds three iterations) up to three times ``repeats`` rounds run, and a result
    that is still not positive is returned as it is.
    """
    return interleaved_seconds_per_iteration({None: fit}, repeats, min_seconds, iterations)[None]


def interleaved_seconds_per_iteration(fits, repeats=3, min_seconds=0.0, iterations=TIMED_ITERATIONS):
    """``seconds_per_iteration`` of several fits at once, ``fits`` {name: fit}: each
    round runs a round of every fit in turn, until each fit has had the rounds it
    needs, so that a slow spell of the machine falls on all of them alike and the
    ratios of their times hold.  Returns {name: seconds per iteration}."""
    best = {name: {} for name in fits}
    spent = dict.fromkeys(fits, 0.0)
    rounds = 0

    def needs_more(name):
        if rounds < repeats:
            return True
        if rounds >= MAX_ROUNDS:
            return False
        times = best[name]
        return spent[name] < min_seconds or (times[iterations] <= times[1] and rounds < 3 * repeats)

    while any(needs_more(name) for name in fits):
        for name, fit in fits.items():
            for max_iter in (1, iterations):
                started = time.perf_counter()
                fit(max_iter)
                elapsed = time.perf_counter() - started
                best[name][max_iter] = min(best[name].get(max_iter, elapsed), elapsed)
                spent[name] += elapsed
        rounds += 1
    return {name: (times[iterations] - times[1]) / (iterations - 1) for name, times in best.items()}


# Peak memory is measured where the process's resident memory can be read (Linux's
# /proc/self) and its peak too (``resource``, a Unix-only module: imported when a
# measurement needs it, never when fastem or its command line starts).  Elsewhere the
# table's memory columns show "-" and its legend says why.
PEAK_MEMORY_UNAVAILABLE = (
    "peak memory is measured on Linux only (it reads /proc/self and the Unix-only resource module)"
)


def _reset_peak_rss():
    """Reset the process's peak resident memory to its current value (Linux:
    ``/proc/self/clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def _current_rss():
    """Resident memory of this process in bytes, or None where it cannot be read."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):  # AttributeError: no os.sysconf (Windows)
        return None


def _peak_rss():
    """Peak resident memory of this process in bytes (``ru_maxrss``: kB on Linux, bytes on
    macOS), or None where the Unix-only ``resource`` module is missing (Windows)."""
    try:
        import resource
    except ImportError:
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def peak_memory(run):
    """Bytes by which the peak resident memory during ``run()`` exceeds the resident
    memory just before it.

    Returns
    -------
    peak : int or None
        None where the resident memory or its peak cannot be read (anywhere but Linux:
        ``PEAK_MEMORY_UNAVAILABLE``).
    exact : bool
        False where the peak could not be reset first: then the peak is the process's
        lifetime peak, and ``peak`` may hide a fit smaller than an earlier allocation.
    """
    gc.collect()
    exact = _reset_peak_rss()
    before = _current_rss()
    run()
    peak = None if before is None else _peak_rss()
    if peak is None:
        return None, exact
    return max(peak - before, 0), exact


@contextmanager
def _threads(n_threads):
    """Limit Numba (and, with threadpoolctl, BLAS/OpenMP) to ``n_threads`` in this process."""
    if n_threads is None:
        yield
        return
    with limit_threads(n_threads):
        if importlib.util.find_spec("threadpoolctl") is None:
            yield
        else:
            from threadpoolctl import threadpool_limits

            with threadpool_limits(n_threads):
                yield


def measure(number, library, dtype, n_samples, n_threads=None, repeats=3, timing=True):
    """Seconds per iteration and peak fit memory of ``library`` ("fastem" or "peer")
    on workload ``number`` at ``n_samples`` rows, in this process.

    Returns
    -------
    dict with ``seconds_per_iteration`` (left out when ``timing`` is false),
    ``peak_bytes`` (None where unknown), ``peak_exact``, ``data_bytes`` and
    ``stopped_early`` (the fit of the row's ``timed_iterations`` converged sooner, so
    ``seconds_per_iteration`` understates the cost of an iteration).
    """
    row = workload(number)
    problem = make_problem(row, dtype, n_samples)
    fit = FITS[library]
    with _threads(n_threads):
        warm_up(fit, row, problem)
        fitted = []
        peak, exact = peak_memory(lambda: fitted.append(fit(row, problem, row.timed_iterations)))
        if timing:
            seconds = seconds_per_iteration(
                lambda max_iter: fit(row, problem, max_iter), repeats, TIMING_SECONDS, row.timed_iterations
            )
    # A fit that converges before max_iter (possible even with tol=0) makes s/it too small.
    iterations = getattr(fitted[0], "n_iter_", row.timed_iterations)
    result = dict(
        peak_bytes=peak, peak_exact=exact, data_bytes=data_nbytes(problem.X),
        stopped_early=bool(iterations < row.timed_iterations),
    )
    if timing:
        result["seconds_per_iteration"] = seconds
    return result


def time_dtypes(number, library, dtypes, n_samples, n_threads=None, repeats=3):
    """Seconds per iteration of ``library`` on workload ``number`` for each of
    ``dtypes``, in this process, their rounds alternating
    (``interleaved_seconds_per_iteration``): the dtypes' ratios are then measured over
    the same minutes of the machine.  Returns {dtype: seconds per iteration}."""
    row = workload(number)
    fit = FITS[library]
    problems = {dtype: make_problem(row, dtype, n_samples) for dtype in dtypes}
    fits = {dtype: partial(fit, row, problem) for dtype, problem in problems.items()}
    with _threads(n_threads):
        for problem in problems.values():
            warm_up(fit, row, problem)
        return interleaved_seconds_per_iteration(fits, repeats, TIMING_SECONDS, row.timed_iterations)


def _run_in_child(function, n_threads, **spec):
    """``function(n_threads=n_threads, **spec)`` (``measure`` or ``time_dtypes``) in a
    fresh Python process, whose peak memory is then the measurement's alone.

    ``n_threads`` is set in the child's environment before NumPy and Numba load:
    ``NUMBA_NUM_THREADS`` and the BLAS/OpenMP thread counts.
    """
    spec = dict(spec, function=function, n_threads=n_threads)
    env = dict(os.environ)
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    # The child imports this same fastem, installed or not.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
    if n_threads is not None:
        for name in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[name] = str(n_threads)
    child = subprocess.run(
        [sys.executable, "-c", "from fastem._bench import _child_main; _child_main()"],
        input=json.dumps(spec), capture_output=True, text=True, env=env,
    )
    if child.returncode != 0:
        last_line = (child.stderr.strip().splitlines() or ["no error output"])[-1]
        raise RuntimeError(f"the measurement process failed: {last_line}")
    return json.loads(child.stdout.strip().splitlines()[-1])


def measure_in_child(number, library, dtype, n_samples, n_threads=None, repeats=3, timing=True):
    """``measure`` in a fresh Python process (its peak memory is then the fit's alone)."""
    return _run_in_child(
        "measure", n_threads, number=number, library=library, dtype=dtype, n_samples=n_samples,
        repeats=repeats, timing=timing,
    )


def time_dtypes_in_child(number, library, dtypes, n_samples, n_threads=None, repeats=3):
    """``time_dtypes`` in a fresh Python process."""
    result = _run_in_child(
        "time_dtypes", n_threads, number=number, library=library, dtypes=list(dtypes), n_samples=n_samples,
        repeats=repeats,
    )
    return {dtype: result[dtype] for dtype in dtypes}


_CHILD_FUNCTIONS = {"measure": measure, "time_dtypes": time_dtypes}


def _child_main():
    """Entry point of ``measure_in_child``'s process: a JSON spec in, a JSON result out."""
    spec = json.loads(sys.stdin.read())
    function = _CHILD_FUNCTIONS[spec.pop("function")]
    print(json.dumps(function(**spec)))


# -- the table --------------------------------------------------------------------------------
def sklearn_version():
    """scikit-learn's version, or None when it is not installed.

    Read from the package metadata, not by importing it: importing scikit-learn sets
    OpenMP variables (``KMP_DUPLICATE_LIB_OK``, ``KMP_INIT_AT_FORK``) in ``os.environ``,
    which fastem's measurement processes would then inherit.
    """
    if importlib.util.find_spec("sklearn") is None:
        return None
    try:
        return importlib.metadata.version("scikit-learn")
    except importlib.metadata.PackageNotFoundError:  # importable, but not installed as a distribution
        return "unknown version"


def cpu_model():
    """The CPU's model name from /proc/cpuinfo, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_lines(n_threads=None):
    """Header lines: CPU, cores, Numba threads, the target the kernels are compiled for
    and the library versions."""
    import numba

    from ._kernels import target

    threads = numba.config.NUMBA_NUM_THREADS if n_threads is None else n_threads
    sklearn = sklearn_version()
    return [
        f"machine: {cpu_model()}, {os.cpu_count()} cores; numba threads: {threads}",
        f"compiled for: {target.describe()}",
        f"versions: python {platform.python_version()}, numpy {np.__version__}, numba {numba.__version__}, "
        f"scikit-learn {sklearn or 'not installed'}",
    ]


_COLUMNS = (
    ("row", 3), ("workload", 28), ("dtype", 7), ("peer", 23), ("fastem s/it", 11), ("peer s/it", 10),
    ("ratio", 6), ("fastem MiB", 10), ("peer MiB", 9), ("X MiB", 8),
)


def _format_line(values):
    cells = []
    for (name, width), value in zip(_COLUMNS, values):
        text = str(value)
        cells.append(text.ljust(width) if name in ("workload", "dtype", "peer") else text.rjust(width))
    return "  ".join(cells).rstrip()


def _seconds(result):
    if not result:
        return "-"
    return f"{result['seconds_per_iteration']:.4g}" + ("!" if result["stopped_early"] else "")


def _mebibytes(result):
    if not result or result["peak_bytes"] is None:
        return "-"
    return f"{result['peak_bytes'] / MIB:.1f}" + ("" if result["peak_exact"] else "*")


def _print_legend(say, records, repeats, isolate):
    """What the columns of the table hold (and the marks, when some were used)."""
    rows = {workload(record["row"]) for record in records}
    longer = sorted((row for row in rows if row.timed_iterations != TIMED_ITERATIONS), key=lambda row: row.number)
    others = "".join(f" (row {row.number}: {row.timed_iterations}-iteration fit, / {row.timed_iterations - 1})"
                     for row in longer)
    say(f"s/it: (best {TIMED_ITERATIONS}-iteration fit - best 1-iteration fit) / {TIMED_ITERATIONS - 1}{others}, "
        f"best of at least {repeats} rounds "
        f"(fast fits: as many as take {TIMING_SECONDS:g} s, at most {MAX_ROUNDS}), from the same start, tol=0;")
    say("  a row's dtypes are timed in one process, their rounds alternating.")
    say("ratio: peer s/it / fastem s/it (above 1: fastem is faster).")
    say("MiB: peak resident memory of one fit of the timed length minus the resident memory just before it")
    say("  (data and compiled code excluded; " + ("each in a fresh process" if isolate else "in this process")
        + "); small fits also show one-time costs such as thread and BLAS buffers.")
    say("X MiB: the size of the data itself.")
    results = [r[library] for r in records for library in ("fastem", "peer") if r[library]]
    if any(result["peak_bytes"] is None for result in results):
        say(f"-: not measured; {PEAK_MEMORY_UNAVAILABLE}.")
    if any(not result["peak_exact"] for result in results):
        say("*: the peak could not be reset before the fit, so it is the process's peak (a lower bound).")
    if any(result["stopped_early"] for result in results):
        say("!: the fit converged before its timed iterations, so its s/it is "
            "too small (use more rows).")


def run_table(rows=None, scale=1.0, n_threads=None, dtypes=DTYPES, isolate=True, repeats=3, stream=None):
    """Measure and print the table; return one record per (row, dtype).

    Parameters
    ----------
    rows : sequence of int or None
        Workload numbers; None runs the default table.
    scale : float
        Size factor: every row runs at ``scale`` times its full row count.
    n_threads : int or None
        Threads for fastem and the peer (None: the defaults).
    dtypes : sequence of str
    isolate : bool
        Run each measurement in a fresh process (True) or in this one (faster to start;
        the memory peaks are then less clean): per row and library, one process times
        every dtype, and each dtype's memory is measured in a process of its own.
    repeats : int
        Runs of each fit length whose best is kept.
    stream : file-like, default sys.stdout

    Returns
    -------
    list of dict
        ``row``, ``dtype``, ``n_samples``, ``fastem`` and ``peer`` (``measure``'s dicts,
        None when not measured), ``ratio`` (None when either is missing) and ``errors``.
    """
    stream = sys.stdout if stream is None else stream
    selected = [w for w in WORKLOADS if w.in_table] if rows is None else [workload(n) for n in rows]
    has_sklearn = sklearn_version() is not None
    measure_one = measure_in_child if isolate else measure
    time_one = time_dtypes_in_child if isolate else time_dtypes

    def say(line=""):
        print(line, file=stream, flush=True)

    say("fastem bench: seconds per EM iteration from the same start, fastem next to its peer"
        + ("" if scale == 1 else f" (row counts x {scale:g})"))
    for line in machine_lines(n_threads):
        say(line)
    if not has_sklearn:
        say("scikit-learn is not installed: the scikit-learn peers are left out, fastem's numbers "
            "are shown alone (pip install scikit-learn to compare).")
    say()
    say(_format_line(name for name, _ in _COLUMNS))
    records = []
    for row in selected:
        n_samples = row.scaled_samples(scale)
        libraries = ["fastem"] + (["peer"] if has_sklearn or not row.needs_sklearn else [])
        row_records = {
            dtype: dict(row=row.number, dtype=dtype, n_samples=n_samples, fastem=None, peer=None, ratio=None,
                        errors=[])
            for dtype in dtypes
        }
        for library in libraries:
            # Memory: each dtype's fit in a fresh process; time: the dtypes' rounds
            # alternating in one process, so that float32 / float64 is measured over
            # the same minutes.
            try:
                seconds = time_one(row.number, library, dtypes, n_samples, n_threads, repeats)
            except Exception as error:  # one failed measurement must not lose the others
                for record in row_records.values():
                    record["errors"].append(f"{library}: {error}")
                continue
            for dtype, record in row_records.items():
                try:
                    result = measure_one(row.number, library, dtype, n_samples, n_threads, repeats, timing=False)
                except Exception as error:
                    record["errors"].append(f"{library}: {error}")
                    continue
                result["seconds_per_iteration"] = seconds[dtype]
                record[library] = result
        for dtype, record in row_records.items():
            fastem_result, peer_result = record["fastem"], record["peer"]
            if fastem_result and peer_result and fastem_result["seconds_per_iteration"] > 0:
                ratio = peer_result["seconds_per_iteration"] / fastem_result["seconds_per_iteration"]
                record["ratio"] = ratio
            data_bytes = (fastem_result or peer_result or {}).get("data_bytes")
            say(_format_line([
                row.number, row.label(n_samples), dtype, row.peer,
                _seconds(fastem_result), _seconds(peer_result),
                "-" if record["ratio"] is None else f"{record['ratio']:.2f}",
                _mebibytes(fastem_result), _mebibytes(peer_result),
                "-" if data_bytes is None else f"{data_bytes / MIB:.1f}",
            ]))
            for error in record["errors"]:
                say(f"    failed: {error}")
            records.append(record)
    say()
    _print_legend(say, records, repeats, isolate)
    return records


# -- command line -------------------------------------------------------------------------------
def add_arguments(parser):
    """Add ``python -m fastem bench``'s options to ``parser``."""
    parser.add_argument("--quick", action="store_true", help=f"divide every row count by {QUICK_DIVISOR}")
    rows = "; ".join(f"{w.number}: {w.label()}" for w in WORKLOADS)
    parser.add_argument("--rows", type=int, nargs="+", metavar="N", help=f"run only these rows: {rows}")
    parser.add_argument("--threads", type=int, metavar="N", help="threads for fastem and the peers")
    parser.add_argument("--in-process", action="store_true",
                        help="measure in this process, not in a fresh one per measurement (starts faster)")


def command(args):
    """Run ``python -m fastem bench`` with parsed ``args``; returns the exit status."""
    if args.threads is not None and args.threads < 1:
        raise SystemExit("fastem bench: --threads must be at least 1.")
    if args.rows:
        try:
            [workload(number) for number in args.rows]
        except ValueError as error:
            raise SystemExit(f"fastem bench: {error}") from None
    records = run_table(
        rows=args.rows, scale=1 / QUICK_DIVISOR if args.quick else 1.0, n_threads=args.threads,
        isolate=not args.in_process,
    )
    return 1 if any(record["errors"] for record in records) else 0
