"""Shared pieces of the benchmark suite: the wall-clock timer and cached data."""

import os
import time
import timeit
from functools import lru_cache

import numpy as np

# "fast" keeps every benchmark to a second or two; "regular" runs the full-size rows.
PROFILE = os.environ.get("FASTEM_BENCH_PROFILE", "fast")


class Benchmark:
    """Base class: wall-clock time (asv's default process time sums the threads and
    would hide the parallel speed-up), one process, a few repeats."""

    timer = timeit.default_timer
    processes = 1
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 600


@lru_cache(maxsize=8)
def blobs(n_samples, n_features, n_components, dtype, seed=0):
    """Overlapping Gaussian blobs and a same-start set of parameters for them."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=3.0, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = (centres[labels] + rng.normal(size=(n_samples, n_features))).astype(dtype)
    return X, centres


def scaled(n_samples):
    """Row counts shrink 20x in the fast profile."""
    return n_samples if PROFILE == "regular" else max(n_samples // 20, 2000)


def seconds_per_iteration(fit, repeats=3):
    """(best 4-iteration run - best 1-iteration run) / 3 of ``fit(max_iter)``: set-up and
    validation cancel out."""
    best = {}
    for _ in range(repeats):
        for max_iter in (1, 4):
            start = time.perf_counter()
            fit(max_iter)
            elapsed = time.perf_counter() - start
            best[max_iter] = min(best.get(max_iter, elapsed), elapsed)
    return (best[4] - best[1]) / 3
