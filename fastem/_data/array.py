"""Rows held in memory: ``ArraySource`` (a 2-D array, or binary rows: ``BinaryRows``, from _rows.py)."""

import numpy as np

from .._kernels._jit import MODE_SOFT, limit_threads
from .._kernels.seeding import squared_distances

# Rows whose distances are held at once when searching for far points.
_DISTANCE_BLOCK_ROWS = 16384


class ArraySource:
    """An in-memory (or memory-mapped) 2-D array with optional sample weights and
    known labels.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) float64, or None
    n_threads : int or None
        Threads for the kernels; None uses Numba's default.
    known_labels : ndarray of shape (n_samples,) int64, or None
        Each row's known component, or -1 (see ``check_known_labels``); every E-step
        puts a labelled row wholly on its component.
    """

    def __init__(self, X, sample_weight=None, n_threads=None, known_labels=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_threads = n_threads
        self.known_labels = known_labels

    @property
    def n_samples(self):
        return self.X.shape[0]

    @property
    def n_features(self):
        return self.X.shape[1]

    def init_sample(self, n_components):
        """The rows initialisation may use: all of them, in memory already (without
        their labels: initialisation is the same with or without them)."""
        if self.known_labels is None:
            return self
        return ArraySource(self.X, self.sample_weight, self.n_threads)

    def note(self):
        """Progress text for the iteration lines (none: one array, one pass)."""
        return ""

    def estep(self, family, params, mode=MODE_SOFT, seed=0, n_draws=0):
        """Sum of the E-step statistics of every row under ``params`` (``mode``, ``seed``
        and ``n_draws`` as in ``family.estep``)."""
        with limit_threads(self.n_threads):
            return family.estep(self.X, self.sample_weight, params, mode, seed, n_draws, known_labels=self.known_labels)

    def farthest_points(self, points, count):
        """The ``count`` rows (of positive weight) farthest from their closest point in
        ``points`` (K, D), farthest first, as float64 (count, D); they re-seed empty
        k-means clusters."""
        X = self.X
        closest = np.empty(X.shape[0])
        with limit_threads(self.n_threads):
            for start in range(0, X.shape[0], _DISTANCE_BLOCK_ROWS):
                stop = min(start + _DISTANCE_BLOCK_ROWS, X.shape[0])
                distances = np.empty((points.shape[0], stop - start))
                squared_distances(X[start:stop], points, distances)
                closest[start:stop] = distances.min(axis=0)
        if self.sample_weight is not None:
            closest[self.sample_weight == 0] = -1.0
        order = np.argsort(-closest, kind="stable")
        return X[order[:count]].astype(np.float64)

    def posterior(self, family, params, **wanted):
        """Per-point outputs (see ``family.posterior``)."""
        with limit_threads(self.n_threads):
            return family.posterior(self.X, params, **wanted)

    def impute(self, family, params):
        """A copy of the rows with their NaN entries imputed (see ``family.impute``)."""
        with limit_threads(self.n_threads):
            return family.impute(self.X, params)
