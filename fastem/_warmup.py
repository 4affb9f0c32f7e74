"""Fill Numba's on-disk cache with the common kernel signatures: ``python -m fastem warmup``.

fastem compiles each kernel the first time a process calls it with new argument types
(seconds per signature) and caches the machine code on disk.  This command runs tiny
fits that reach every common signature -- GaussianMixture (full and diag), KMeans and
BernoulliMixture, float32 and float64, with and without sample weights, in the soft,
hard and Monte-Carlo modes, and the prediction methods -- so that later processes
load the code instead of compiling it.  With a warm cache it only loads, which takes
a few seconds.
"""

import importlib.util
import os
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass
from functools import partial

import numpy as np

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


STEPS = (
    Step("GaussianMixture full float64", partial(warm_gaussian, "full", np.float64)),
    Step("GaussianMixture full float32", partial(warm_gaussian, "full", np.float32)),
    Step("GaussianMixture diag float64", partial(warm_gaussian, "diag", np.float64)),
    Step("GaussianMixture diag float32", partial(warm_gaussian, "diag", np.float32)),
    # spherical runs on the diagonal kernels; tied adds the whitening kernel
    Step("GaussianMixture tied float64", partial(warm_gaussian, "tied", np.float64)),
    Step("GaussianMixture tied float32", partial(warm_gaussian, "tied", np.float32)),
    Step("GaussianMixture memory-mapped float64", partial(warm_gaussian_memmap, np.float64)),
    Step("GaussianMixture memory-mapped float32", partial(warm_gaussian_memmap, np.float32)),
    Step("KMeans float64", partial(warm_kmeans, np.float64)),
    Step("KMeans float32", partial(warm_kmeans, np.float32)),
    Step("BernoulliMixture dense", partial(warm_bernoulli, "dense")),
    Step("BernoulliMixture sparse", partial(warm_bernoulli, "sparse"), requires="scipy"),
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
def run(budget=None, stream=None, profile=0):
    """Run the warm-up steps and print what each compiled and how long it took.

    Parameters
    ----------
    budget : float or None
        Seconds after which no further step starts (the running one completes); None
        runs every step.
    stream : file-like, default sys.stdout
    profile : int
        When positive, also print the functions that took longest to compile (own time,
        callees excluded; Numba's compile events), this many of them.

    Returns
    -------
    int
        0 when every step that ran succeeded, 1 otherwise.
    """
    stream = sys.stdout if stream is None else stream

    def say(line):
        print(line, file=stream, flush=True)

    started = time.perf_counter()
    say("fastem warmup: compiling the common kernel signatures into Numba's disk cache")
    compile_profile = CompileProfile().__enter__() if profile > 0 else None
    status = 0
    total_compiled = total_loaded = 0
    width = max(len(step.name) for step in STEPS)
    for index, step in enumerate(STEPS):
        if budget is not None and time.perf_counter() - started >= budget:
            skipped = ", ".join(s.name for s in STEPS[index:])
            say(f"budget of {budget:g} s spent; not warmed: {skipped}")
            break
        if step.requires and importlib.util.find_spec(step.requires) is None:
            say(f"  {step.name:<{width}}  skipped: {step.requires} is not installed")
            continue
        before = cache_counts()
        step_started = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # 3-iteration fits do not converge, on purpose
                step.run()
        except Exception as error:  # report it and warm the rest
            say(f"  {step.name:<{width}}  failed: {type(error).__name__}: {error}")
            status = 1
            continue
        seconds = time.perf_counter() - step_started
        names, compiled, loaded = _difference(cache_counts(), before)
        total_compiled += compiled
        total_loaded += loaded
        what = f"compiled {compiled}" + (f" ({', '.join(names)})" if names else "")
        say(f"  {step.name:<{width}}  {seconds:6.2f} s  {what}; loaded {loaded} from the cache")
    if compile_profile is not None:
        compile_profile.__exit__(None, None, None)
        say(f"compile time by function (own seconds, LLVM part, with callees), the {profile} largest:")
        for name, count, own, llvm, total in compile_profile.rows()[:profile]:
            say(f"  {own:7.2f} {llvm:7.2f} {total:7.2f}  {name} ({count} signature{'s' if count > 1 else ''})")
    location = _cache_location()
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


def command(args):
    """Run ``python -m fastem warmup`` with parsed ``args``; returns the exit status."""
    if args.budget is not None and args.budget < 0:
        raise SystemExit("fastem warmup: --budget must be at least 0.")
    if args.profile < 0:
        raise SystemExit("fastem warmup: --profile must be at least 0.")
    return run(budget=args.budget, profile=args.profile)
