"""Cold start: a fresh interpreter importing fastem, and running its first small fit,
with the kernels already in Numba's disk cache (``python -m fastem warmup`` fills it),
and with an empty cache (what compiling costs a first run)."""

import os
import subprocess
import sys
import tempfile
import time

from .common import Benchmark

IMPORT = "import fastem"
FIRST_FIT = (
    "import numpy as np, fastem\n"
    "X = np.random.RandomState(0).standard_normal((2000, 4))\n"
    "fastem.GaussianMixture(3, random_state=0).fit(X).predict(X)\n"
)


def _best_wall_seconds(code, repeats=3):
    """Best wall time of ``python -c code`` in a fresh process (this interpreter)."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        best = min(best, time.perf_counter() - started)
    return best


class ColdStart(Benchmark):
    """Seconds from starting Python to the end of the command, best of three."""

    def setup(self):
        subprocess.run([sys.executable, "-c", FIRST_FIT], check=True)  # fills the cache if it is cold

    def track_import_seconds(self):
        return _best_wall_seconds(IMPORT)

    def track_first_fit_seconds(self):
        return _best_wall_seconds(FIRST_FIT)

    track_import_seconds.unit = "seconds"
    track_first_fit_seconds.unit = "seconds"


# The README's first example (and with diagonal covariances, whose EM tree differs),
# and the first fits of the other estimators.
FIRST_FITS = {
    "gaussian_full": (
        "import numpy as np, fastem\n"
        "rng = np.random.default_rng(0)\n"
        "X = np.vstack([rng.normal(loc, 1.0, size=(5000, 2)) for loc in (0, 6, 12)])\n"
        "fastem.GaussianMixture(n_components=3, covariance_type='full', random_state=0).fit(X)\n"
    ),
    "gaussian_diag": (
        "import numpy as np, fastem\n"
        "rng = np.random.default_rng(0)\n"
        "X = np.vstack([rng.normal(loc, 1.0, size=(5000, 2)) for loc in (0, 6, 12)])\n"
        "fastem.GaussianMixture(n_components=3, covariance_type='diag', random_state=0).fit(X)\n"
    ),
    "kmeans": (
        "import numpy as np, fastem\n"
        "X = np.random.default_rng(0).normal(size=(15000, 2))\n"
        "fastem.KMeans(n_clusters=3, random_state=0).fit(X)\n"
    ),
    "bernoulli": (
        "import numpy as np, fastem\n"
        "X = (np.random.default_rng(0).random((2000, 40)) < 0.3).astype(float)\n"
        "fastem.BernoulliMixture(n_components=3, random_state=0).fit(X)\n"
    ),
}


# What each empty-cache case runs after the interpreter's name, and the environment it
# adds: the first fits above, the README's once more without the helper process that
# compiles its EM step during its k-means start (``fastem._kernels.ahead``), and the
# warm-up command (its steps in one process per CPU).
EMPTY_CACHE_RUNS = {name: (["-c", code], {}) for name, code in FIRST_FITS.items()}
EMPTY_CACHE_RUNS["gaussian_full_one_process"] = (["-c", FIRST_FITS["gaussian_full"]], {"FASTEM_COMPILE_AHEAD": "0"})
EMPTY_CACHE_RUNS["warmup"] = (["-m", "fastem", "warmup"], {})


class EmptyCacheStart(Benchmark):
    """Seconds from starting Python to the end of a first fit, or of ``python -m fastem
    warmup``, with an empty Numba cache (a fresh ``NUMBA_CACHE_DIR``): what compiling
    the kernels costs a new user.  One run per case (each is tens of seconds)."""

    params = list(EMPTY_CACHE_RUNS)
    param_names = ["first_run"]
    timeout = 900
    number = 1
    repeat = 1

    def track_empty_cache_seconds(self, first_run):
        arguments, environment = EMPTY_CACHE_RUNS[first_run]
        with tempfile.TemporaryDirectory() as cache_dir:
            env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, **environment)
            started = time.perf_counter()
            subprocess.run([sys.executable, *arguments], check=True, env=env, stdout=subprocess.DEVNULL)
            return time.perf_counter() - started

    track_empty_cache_seconds.unit = "seconds"
