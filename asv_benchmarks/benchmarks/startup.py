"""Cold start: a fresh interpreter importing fastem, and running its first small fit,
with the kernels already in Numba's disk cache (``python -m fastem warmup`` fills it)."""

import subprocess
import sys
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
