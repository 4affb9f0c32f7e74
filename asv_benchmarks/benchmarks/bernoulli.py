"""BernoulliMixture per EM iteration, dense and sparse, against a vectorised NumPy EM."""

import time
import warnings
from functools import lru_cache

import numpy as np

from .common import Benchmark, scaled, seconds_per_iteration

# (n_samples, n_features, n_components, density, layout)
WORKLOADS = [
    (100_000, 256, 32, 0.5, "dense"),
    (1_000_000, 10_000, 32, 0.02, "sparse"),
]


@lru_cache(maxsize=2)
def binary_problem(n_samples, n_features, n_components, density, layout, seed=0):
    """Rows drawn from a Bernoulli mixture whose mean density is ``density``, and a start."""
    rng = np.random.RandomState(seed)
    n_samples = scaled(n_samples)
    prototypes = np.clip(rng.uniform(0, 2 * density, size=(n_components, n_features)), 0.001, 0.999)
    labels = rng.randint(n_components, size=n_samples)
    if layout == "dense":
        X = (rng.uniform(size=(n_samples, n_features)) < prototypes[labels]).astype(np.uint8)
    else:
        import scipy.sparse as sp

        counts = rng.binomial(n_features, density, size=n_samples)
        rows = np.repeat(np.arange(n_samples), counts)
        columns = rng.randint(n_features, size=counts.sum())
        X = sp.csr_matrix((np.ones(rows.size), (rows, columns)), shape=(n_samples, n_features))
        X.sum_duplicates()
        X.data[:] = 1.0
    start = dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        probabilities_init=np.clip(prototypes + rng.uniform(-0.1, 0.1, prototypes.shape) * density, 0.001, 0.999),
    )
    return X, start


def numpy_em_iteration(X, weights, probabilities, alpha=1.01, beta=1.01):
    """One EM iteration in vectorised NumPy (scipy.sparse products for sparse X)."""
    log_p, log_not = np.log(probabilities), np.log1p(-probabilities)
    log_dens = X @ (log_p - log_not).T + (np.log(weights) + log_not.sum(axis=1))
    top = log_dens.max(axis=1, keepdims=True)
    resp = np.exp(log_dens - top)
    resp /= resp.sum(axis=1, keepdims=True)
    nk = resp.sum(axis=0)
    sx = np.asarray((X.T @ resp).T)
    return nk / nk.sum(), (sx + alpha - 1) / (nk[:, None] + alpha + beta - 2)


def _fit(cls, X, start, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 stops at max_iter on purpose
        return cls(len(start["weights_init"]), tol=0.0, max_iter=max_iter, **start).fit(X)


class BernoulliIteration(Benchmark):
    """Seconds per EM iteration and the ratio to a vectorised NumPy EM iteration."""

    param_names = ["workload"]
    params = ([str(w) for w in WORKLOADS],)

    def setup(self, workload):
        import fastem

        self.X, self.start = binary_problem(*eval(workload))
        self.cls = fastem.BernoulliMixture
        _fit(self.cls, self.X[:256], self.start, 1)  # compile

    def time_three_iterations(self, workload):
        _fit(self.cls, self.X, self.start, 3)

    def track_speedup_vs_numpy(self, workload):
        """NumPy EM's seconds per iteration divided by fastem's, measured here."""
        X = self.X if hasattr(self.X, "tocsr") else self.X.astype(np.float64)
        best = np.inf
        for _ in range(3):
            started = time.perf_counter()
            numpy_em_iteration(X, self.start["weights_init"], self.start["probabilities_init"])
            best = min(best, time.perf_counter() - started)
        return best / seconds_per_iteration(lambda max_iter: _fit(self.cls, self.X, self.start, max_iter))

    track_speedup_vs_numpy.unit = "ratio"
