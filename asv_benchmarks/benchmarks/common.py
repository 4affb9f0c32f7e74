"""Shared pieces of the benchmark suite: the wall-clock timer, the size profile, and the
benchmarks every row of the performance table gets.

The rows, their data, the same-start fits and the seconds-per-iteration helper are
``fastem._bench``'s (the code behind ``python -m fastem bench``), so that the suite and
the command measure the same thing.
"""

import importlib.util
import os
import timeit
import warnings
from abc import ABC, abstractmethod
from functools import lru_cache

from fastem._bench import (
    QUICK_DIVISOR,
    WARM_UP_ROWS,
    fastem_estimator,
    fastem_fit,
    make_problem,
    peer_fit,
    seconds_per_iteration,
    warm_up,
    workload,
)

# "fast" divides every row count by QUICK_DIVISOR (as `python -m fastem bench --quick`);
# "regular" runs the full-size rows.
PROFILE = os.environ.get("FASTEM_BENCH_PROFILE", "fast")
SCALE = 1.0 if PROFILE == "regular" else 1.0 / QUICK_DIVISOR


class Benchmark:
    """Base class: wall-clock time (asv's default process time sums the threads and
    would hide the parallel speed-up), one process, a few repeats."""

    timer = timeit.default_timer
    processes = 1
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 600


def scaled(n_samples):
    """Row counts of the problems outside the table shrink in the fast profile too."""
    return n_samples if PROFILE == "regular" else max(n_samples // QUICK_DIVISOR, 2000)


def row_labels(*numbers):
    """asv parameter values of the table rows ``numbers``: their full-size labels."""
    return [workload(number).label() for number in numbers]


def row_of(label):
    """The workload whose label is ``label``."""
    number = next(n for n in range(1, 100) if workload(n).label() == label)
    return workload(number)


@lru_cache(maxsize=2)
def problem(label, dtype):
    """The row's data and start at the profile's size (cached: asv calls setup often)."""
    row = row_of(label)
    return make_problem(row, dtype, row.scaled_samples(SCALE))


def skip_without(module):
    """Skip the benchmark (asv's way: NotImplementedError) when ``module`` is missing."""
    if importlib.util.find_spec(module) is None:
        raise NotImplementedError(f"{module} is not installed")


class RowBenchmark(Benchmark, ABC):
    """Benchmarks of rows of the table; a subclass sets ``params`` to (its row labels,
    dtypes).  Abstract until then, so asv does not collect the bases themselves."""

    param_names = ["workload", "dtype"]

    @property
    @abstractmethod
    def params(self):
        """(row labels, dtypes)."""

    def _load(self, label, dtype):
        """Set ``self.row`` and ``self.problem`` (skips rows whose optional module is missing)."""
        self.row = row_of(label)
        if self.row.kind == "bernoulli-sparse":
            skip_without("scipy")
        self.problem = problem(label, dtype)


class RowIteration(RowBenchmark):
    """Time per iteration of a table row, from the same start (``tol=0``)."""

    def setup(self, label, dtype):
        self._load(label, dtype)
        warm_up(fastem_fit, self.row, self.problem)

    def time_three_iterations(self, label, dtype):
        fastem_fit(self.row, self.problem, 3)

    def track_seconds_per_iteration(self, label, dtype):
        """(best 4-iteration fit - best 1-iteration fit) / 3 (the row's own length where it
        sets one): set-up cancels out."""
        return seconds_per_iteration(
            lambda max_iter: fastem_fit(self.row, self.problem, max_iter), iterations=self.row.timed_iterations
        )

    track_seconds_per_iteration.unit = "seconds"


class RowVersusPeer(RowBenchmark):
    """The peer's seconds per iteration divided by fastem's, measured here, from the same
    start (above 1: fastem is faster)."""

    peer_module = "sklearn"

    def setup(self, label, dtype):
        skip_without(self.peer_module)
        self._load(label, dtype)
        warm_up(fastem_fit, self.row, self.problem)
        warm_up(peer_fit, self.row, self.problem)

    def _ratio(self):
        def peer(max_iter):
            return peer_fit(self.row, self.problem, max_iter)

        def ours(max_iter):
            return fastem_fit(self.row, self.problem, max_iter)

        iterations = self.row.timed_iterations
        return seconds_per_iteration(peer, iterations=iterations) / seconds_per_iteration(ours, iterations=iterations)


class RowFit(RowBenchmark):
    """A whole fit as a user runs it (default settings, ``random_state=0``)."""

    def setup(self, label, dtype):
        self._load(label, dtype)
        self._fit(self.problem.head(WARM_UP_ROWS * 4))  # compiles the initialisation too

    def _fit(self, problem):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a row that needs more than max_iter is still a result
            return fastem_estimator(self.row).fit(problem.X)

    def time_fit(self, label, dtype):
        self._fit(self.problem)

    def track_iterations(self, label, dtype):
        return self._fit(self.problem).n_iter_

    track_iterations.unit = "iterations"


class RowMemory(RowBenchmark):
    """Peak memory (asv: of the whole process, data included) of a fit from the same
    start and of ``predict`` with a fitted model."""

    def setup(self, label, dtype):
        self._load(label, dtype)
        self.model = fastem_fit(self.row, self.problem, 2)  # compiles too

    def peakmem_fit(self, label, dtype):
        fastem_fit(self.row, self.problem, self.row.timed_iterations)

    def peakmem_predict(self, label, dtype):
        self.model.predict(self.problem.X)
