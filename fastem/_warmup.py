"""Fill Numba's on-disk cache with the common kernel signatures: ``python -m fastem warmup``.

fastem compiles each kernel the first time a process calls it with new argument types
(seconds per signature) and caches the machine code on disk.  This command runs tiny
fits that reach every common signature -- GaussianMixture (full and diag), KMeans and
BernoulliMixture, float32 and float64, with and without sample weights, in the soft,
hard and Monte-Carlo modes, and the prediction methods -- so that later processes
load the code instead of compiling it.  With a warm cache it only loads, which takes
a few seconds.  Numba compiles one function at a time in a process, so the steps run
in one worker process per CPU (``--jobs``), all writing to the one disk cache.
"""

import importlib.util
import os
import sys
import tempfile
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass
from functools import partial

import numpy as np

from ._kernels import ahead

# Tiny data: big enough for every code path (several chunks' worth of tiles is not
# needed; the signatures do not depend on the size).
N_SAMPLES = 300
N_FEATURES = 3
N_COMPONENTS = 3

ALGORITHMS = ("em", "hard", "monte_carlo")


# -- tiny data ------------------------------------------------------------------------------
def _gaussian_data(dtype):
    """Three well separated blobs, and positive sample weights."""
    rng = np.random.RandomState(0)
    centres = 6.0 * np.eye(N_COMPONENTS, N_FEATURES)
    X = centres[rng.randint(N_COMPONENTS, size=N_SAMPLES)] + rng.standard_normal((N_SAMPLES, N_FEATURES))
    return X.astype(dtype), rng.uniform(0.5, 2.0, N_SAMPLES)


def _binary_data():
    """0/1 rows (uint8) from three prototypes, and positive sample weights."""
    rng = np.random.RandomState(0)
    prototypes = rng.uniform(0.1, 0.9, size=(N_COMPONENTS, 8))
    labels = rng.randint(N_COMPONENTS, size=N_SAMPLES)
    X = (rng.uniform(size=(N_SAMPLES, 8)) < prototypes[labels]).astype(np.uint8)
    return X, rng.uniform(0.5, 2.0, N_SAMPLES)


# -- the steps ------------------------------------------------------------------------------
def _fit_variants(make_estimator, X, sample_weight):
    """Fit every algorithm with and without sample weights; use the last model's methods."""
    for algorithm in ALGORITHMS:
        for weights in (None, sample_weight):
            model = make_estimator(algorithm=algorithm).fit(X, sample_weight=weights)
    model.predict(X)
    model.predict_proba(X)
    model.score_samples(X)


def warm_gaussian(covariance_type, dtype):
    """GaussianMixture: each algorithm, weighted and not, then predict/predict_proba/score_samples."""
    from .mixture import GaussianMixture

    X, sample_weight = _gaussian_data(dtype)

    def make_estimator(algorithm):
        return GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, algorithm=algorithm,
                               max_iter=3, random_state=0)

    _fit_variants(make_estimator, X, sample_weight)


def warm_gaussian_memmap(dtype):
    """GaussianMixture (full and diag) on a memory-mapped .npy file, as ``fastem fit`` reads one."""
    from .mixture import GaussianMixture

    X, _ = _gaussian_data(dtype)
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "X.npy")
        np.save(path, X)
        mapped = np.load(path, mmap_mode="r")
        for covariance_type in ("full", "diag"):
            model = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=3, random_state=0)
            model.fit(mapped).predict(mapped)
        del mapped  # the file must be closed before its folder goes


def warm_kmeans(dtype):
    """KMeans: fit weighted and not, then predict, transform and score."""
    from .mixture import KMeans

    X, sample_weight = _gaussian_data(dtype)
    for weights in (None, sample_weight):
        model = KMeans(N_COMPONENTS, max_iter=5, random_state=0).fit(X, sample_weight=weights)
    model.predict(X)
    model.transform(X)
    model.score(X)


def warm_bernoulli(layout):
    """BernoulliMixture on dense 0/1 rows or a CSR matrix: each algorithm, weighted and not."""
    from .mixture import BernoulliMixture

    X, sample_weight = _binary_data()
    if layout == "sparse":
        import scipy.sparse

        X = scipy.sparse.csr_matrix(X)

    def make_estimator(algorithm):
        return BernoulliMixture(N_COMPONENTS, algorithm=algorithm, max_iter=3, random_state=0)

    _fit_variants(make_estimator, X, sample_weight)


@dataclass(frozen=True)
class Step:
    """One warm-up: a name for the output and the function that runs it."""

    name: str
    run: object
    requires: str = None  # an optional module the step needs


# Longest first, and in this order steps that run at the same time (``--jobs``) rarely
# compile the same kernels: float32's full covariances beside float64's, Bernoulli's
# beside the diagonal ones, and each step that shares kernels with an earlier one
# (sparse rows, memory-mapped files, KMeans) well after it.
STEPS = (
    Step("GaussianMixture full float64", partial(warm_gaussian, "full", np.float64)),
    Step("GaussianMixture full float32", partial(warm_gaussian, "full", np.float32)),
    Step("BernoulliMixture dense", partial(warm_bernoulli, "dense")),
    Step("GaussianMixture diag float64", partial(warm_gaussian, "diag", np.float64)),
    # spherical runs on the diagonal kernels; tied adds the whitening kernel
    Step("GaussianMixture tied float64", partial(warm_gaussian, "tied", np.float64)),
    Step("GaussianMixture diag float32", partial(warm_gaussian, "diag", np.float32)),
    Step("GaussianMixture tied float32", partial(warm_gaussian, "tied", np.float32)),
    Step("BernoulliMixture sparse", partial(warm_bernoulli, "sparse"), requires="scipy"),
    Step("GaussianMixture memory-mapped float64", partial(warm_gaussian_memmap, np.float64)),
    Step("GaussianMixture memory-mapped float32", partial(warm_gaussian_memmap, np.float32)),
    Step("KMeans float64", partial(warm_kmeans, np.float64)),
    Step("KMeans float32", partial(warm_kmeans, np.float32)),
)


# -- what was compiled --------------------------------------------------------------------------
def kernel_dispatchers():
    """Every Numba dispatcher defined in a loaded fastem module, once each."""
    from numba.core.dispatcher import Dispatcher

    found = {}
    for name, module in list(sys.modules.items()):
        if module is not None and (name == "fastem" or name.startswith("fastem.")):
            for value in list(vars(module).values()):
                if isinstance(value, Dispatcher):
                    found[id(value)] = value
    return list(found.values())


def cache_counts():
    """``{function name: (signatures compiled, signatures loaded from the disk cache)}``
    of this process so far."""
    counts = {}
    for dispatcher in kernel_dispatchers():
        stats = dispatcher.stats
        compiled, loaded = sum(stats.cache_misses.values()), sum(stats.cache_hits.values())
        counts[dispatcher.py_func.__qualname__] = (compiled, loaded)
    return counts


def _difference(after, before):
    """(names compiled, number compiled, number loaded) between two ``cache_counts``."""
    compiled_names, compiled, loaded = [], 0, 0
    for name, (misses, hits) in sorted(after.items()):
        old_misses, old_hits = before.get(name, (0, 0))
        if misses > old_misses:
            compiled_names.append(name)
        compiled += misses - old_misses
        loaded += hits - old_hits
    return compiled_names, compiled, loaded


def _cache_location():
    """The folder Numba caches fastem's kernels in (None before any was used)."""
    for dispatcher in kernel_dispatchers():
        if dispatcher.stats.cache_path:
            return dispatcher.stats.cache_path
    return None


# -- where compile time goes ------------------------------------------------------------------
class CompileProfile:
    """Seconds Numba spent compiling each function, from its compile events: a
    function's own time excludes the compiles of the functions it calls (which nest
    inside it), and the LLVM part is the time its own code held the LLVM lock.  A
    context manager; ``rows()`` gives (name, signatures, own seconds, LLVM seconds,
    seconds with callees), largest own time first."""

    def __init__(self):
        self._stack = []  # [name, start, callee seconds, LLVM seconds]
        self._totals = {}
        self._llvm_started = None

    def __enter__(self):
        from numba.core import event

        profile = self

        class Compiles(event.Listener):
            def on_start(self, ev):
                function = ev.data["dispatcher"].py_func
                profile._stack.append([f"{function.__module__}.{function.__qualname__}", time.perf_counter(), 0.0, 0.0])

            def on_end(self, ev):
                name, started, callees, llvm = profile._stack.pop()
                seconds = time.perf_counter() - started
                count, own, own_llvm, total = profile._totals.get(name, (0, 0.0, 0.0, 0.0))
                profile._totals[name] = (count + 1, own + seconds - callees, own_llvm + llvm, total + seconds)
                if profile._stack:
                    profile._stack[-1][2] += seconds

        class Llvm(event.Listener):
            def on_start(self, ev):
                profile._llvm_started = time.perf_counter()

            def on_end(self, ev):
                if profile._stack and profile._llvm_started is not None:
                    profile._stack[-1][3] += time.perf_counter() - profile._llvm_started

        self._listeners = [("numba:compile", Compiles()), ("numba:llvm_lock", Llvm())]
        for kind, listener in self._listeners:
            event.register(kind, listener)
        return self

    def __exit__(self, *exc):
        from numba.core import event

        for kind, listener in self._listeners:
            event.unregister(kind, listener)
        return False

    def rows(self):
        return sorted(((name,) + values for name, values in self._totals.items()), key=lambda row: -row[2])


# -- running ----------------------------------------------------------------------------------
@dataclass
class StepResult:
    """What one step did: its seconds, the functions it compiled, the signatures it
    compiled and loaded, the error it raised (or None), and its compile profile rows."""

    seconds: float
    compiled_names: list
    compiled: int
    loaded: int
    error: str = None
    profile_rows: list = None
    cache_location: str = None


def run_step(index, profile=False):
    """Run ``STEPS[index]`` in this process; return its StepResult.  Exceptions are
    reported, not raised, so one failing step does not stop the others."""
    step = STEPS[index]
    before = cache_counts()
    compile_profile = CompileProfile().__enter__() if profile else None
    started = time.perf_counter()
    error = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3-iteration fits do not converge, on purpose
            step.run()
    except Exception as exc:  # report it and warm the rest
        error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    if compile_profile is not None:
        compile_profile.__exit__(None, None, None)
    names, compiled, loaded = _difference(cache_counts(), before)
    return StepResult(seconds, names, compiled, loaded, error,
                      compile_profile.rows() if compile_profile is not None else None, _cache_location())


def _worker_started():
    """A warm-up worker process: its own header said what is compiling, so the
    first-run notice stays quiet; and it starts no compile helper (``ahead``), as
    the workers keep every CPU busy already."""
    from ._kernels import notice

    notice.silence()
    os.environ[ahead.ENVIRONMENT_VARIABLE] = "0"


class _InProcess:
    """``concurrent.futures``' submit for one job: run each step here, at once."""

    def submit(self, function, *args):
        future = Future()
        future.set_result(function(*args))
        return future

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def _merge_profiles(results):
    """The compile profile rows of several steps (possibly from several processes) as
    one: counts and seconds added by function, largest own time first."""
    totals = {}
    for result in results:
        for name, count, own, llvm, total in result.profile_rows or ():
            old = totals.get(name, (0, 0.0, 0.0, 0.0))
            totals[name] = (old[0] + count, old[1] + own, old[2] + llvm, old[3] + total)
    return sorted(((name,) + values for name, values in totals.items()), key=lambda row: -row[2])


def run(budget=None, stream=None, profile=0, jobs=1, steps=None):
    """Run the warm-up steps and print what each compiled and how long it took.

    Parameters
    ----------
    budget : float or None
        Seconds after which no further step starts (the running ones complete); None
        runs every step.
    stream : file-like, default sys.stdout
    profile : int
        When positive, also print the functions that took longest to compile (own time,
        callees excluded; Numba's compile events), this many of them.
    jobs : int
        Steps compiled at once, each in a process of its own (Numba compiles one
        function at a time per process, so processes are what use more cores); 1 runs
        every step in this process.  Each process writes what it compiles to the
        shared disk cache, which Numba updates file by file.
    steps : sequence of str, optional
        The names of the steps to run (default: all of ``STEPS``, in their order).

    Returns
    -------
    int
        0 when every step that ran succeeded, 1 otherwise.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    names = [step.name for step in STEPS]
    unknown = sorted(set(steps or ()) - set(names))
    if unknown:
        raise ValueError(f"steps: no warm-up step named {unknown[0]!r}; the steps are {names}")
    stream = sys.stdout if stream is None else stream

    def say(line):
        print(line, file=stream, flush=True)

    started = time.perf_counter()
    say("fastem warmup: compiling the common kernel signatures into Numba's disk cache"
        + (f" ({jobs} processes)" if jobs > 1 else ""))
    runnable = []
    width = max(len(step.name) for step in STEPS)
    for index, step in enumerate(STEPS):
        if steps is not None and step.name not in steps:
            continue
        if step.requires and importlib.util.find_spec(step.requires) is None:
            say(f"  {step.name:<{width}}  skipped: {step.requires} is not installed")
        else:
            runnable.append(index)
    if jobs > 1:
        import multiprocessing

        # "spawn": a fresh interpreter per worker (no fork of a process with threads).
        pool = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_worker_started)
    else:
        pool = _InProcess()
    status = 0
    results = []
    with pool:
        running = {}
        queue = list(runnable)
        while queue or running:
            while queue and len(running) < jobs:
                if budget is not None and time.perf_counter() - started >= budget:
                    skipped = ", ".join(STEPS[i].name for i in queue)
                    say(f"budget of {budget:g} s spent; not warmed: {skipped}")
                    queue = []
                    break
                index = queue.pop(0)
                try:
                    running[pool.submit(run_step, index, profile > 0)] = index
                except Exception as error:  # a pool whose worker died takes no more steps
                    say(f"  {STEPS[index].name:<{width}}  failed: {type(error).__name__}: {error}")
                    status = 1
            if not running:
                break
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=running.get):
                name = STEPS[running.pop(future)].name
                try:
                    result = future.result()
                except Exception as error:  # the worker process itself died
                    result = StepResult(0.0, [], 0, 0, error=f"{type(error).__name__}: {error}")
                results.append(result)
                if result.error is not None:
                    say(f"  {name:<{width}}  failed: {result.error}")
                    status = 1
                    continue
                what = f"compiled {result.compiled}" + (
                    f" ({', '.join(result.compiled_names)})" if result.compiled_names else "")
                say(f"  {name:<{width}}  {result.seconds:6.2f} s  {what}; loaded {result.loaded} from the cache")
    if profile > 0:
        say(f"compile time by function (own seconds, LLVM part, with callees), the {profile} largest:")
        for name, count, own, llvm, total in _merge_profiles(results)[:profile]:
            say(f"  {own:7.2f} {llvm:7.2f} {total:7.2f}  {name} ({count} signature{'s' if count > 1 else ''})")
    location = next((result.cache_location for result in results if result.cache_location), None)
    total_compiled = sum(result.compiled for result in results)
    total_loaded = sum(result.loaded for result in results)
    say(
        f"done in {time.perf_counter() - started:.2f} s: {total_compiled} signatures compiled, "
        f"{total_loaded} loaded from the cache" + (f" (cache: {location})" if location else "")
    )
    return status


def add_arguments(parser):
    """Add ``python -m fastem warmup``'s options to ``parser``."""
    parser.add_argument("--budget", type=float, metavar="SECONDS",
                        help="start no further step after this many seconds (default: run every step)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the N functions that took longest to compile (Numba's compile events)")
    parser.add_argument("--jobs", type=int, default=None, metavar="N",
                        help="compile N steps at once, each in a process of its own "
                             "(default: the CPUs this process may use, at most the number of steps)")


def command(args):
    """Run ``python -m fastem warmup`` with parsed ``args``; returns the exit status."""
    if args.budget is not None and args.budget < 0:
        raise SystemExit("fastem warmup: --budget must be at least 0.")
    if args.profile < 0:
        raise SystemExit("fastem warmup: --profile must be at least 0.")
    if args.jobs is not None and args.jobs < 1:
        raise SystemExit("fastem warmup: --jobs must be at least 1.")
    jobs = min(ahead.usable_cpus(), len(STEPS)) if args.jobs is None else args.jobs
    return run(budget=args.budget, profile=args.profile, jobs=jobs)
