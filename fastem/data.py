"""Data sources: where the rows come from.  The EM driver only asks a source for the
summed statistics under some parameters; it never touches the data itself."""

from ._kernels._jit import MODE_SOFT, limit_threads


class ArraySource:
    """An in-memory (or memory-mapped) 2-D array with optional sample weights.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64, C-contiguous
    sample_weight : ndarray of shape (n_samples,) float64, or None
    n_threads : int or None
        Threads for the kernels; None uses Numba's default.
    """

    def __init__(self, X, sample_weight=None, n_threads=None):
        self.X = X
        self.sample_weight = sample_weight
        self.n_threads = n_threads

    def estep(self, family, params, mode=MODE_SOFT):
        """Sum of the E-step statistics of every row under ``params``."""
        with limit_threads(self.n_threads):
            return family.estep(self.X, self.sample_weight, params, mode)

    def posterior(self, family, params, **wanted):
        """Per-point outputs (see ``family.posterior``)."""
        with limit_threads(self.n_threads):
            return family.posterior(self.X, params, **wanted)
