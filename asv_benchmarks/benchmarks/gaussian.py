"""Per-iteration and whole-fit time of GaussianMixture, and the ratio to scikit-learn."""

import warnings

import numpy as np

from .common import Benchmark, blobs, scaled, seconds_per_iteration

# (n_samples, n_features, n_components, covariance_type): the performance table's rows.
WORKLOADS = [
    (1_000_000, 32, 32, "diag"),
    (200_000, 32, 16, "full"),
    (1_000_000, 4, 8, "full"),
    (50_000, 128, 8, "full"),
]


def _same_start(n_samples, n_features, n_components, covariance_type, dtype):
    X, centres = blobs(scaled(n_samples), n_features, n_components, dtype)
    weights = np.full(n_components, 1.0 / n_components)
    if covariance_type == "full":
        precisions = np.broadcast_to(np.eye(n_features), (n_components, n_features, n_features)).copy()
    else:
        precisions = np.ones((n_components, n_features))
    init = dict(weights_init=weights, means_init=centres, precisions_init=precisions)
    return X, init


def _fit(cls, X, covariance_type, n_components, init, max_iter):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0: every fit stops at max_iter on purpose
        return cls(
            n_components, covariance_type=covariance_type, tol=0.0, max_iter=max_iter, **init
        ).fit(X)


def gaussian_seconds_per_iteration(cls, X, covariance_type, n_components, init):
    """Seconds per EM iteration of ``cls`` (fastem's or scikit-learn's GaussianMixture)."""
    return seconds_per_iteration(lambda max_iter: _fit(cls, X, covariance_type, n_components, init, max_iter))


class GaussianIteration(Benchmark):
    """Seconds per EM iteration (two fits of 3 and 1 iterations, differenced)."""

    param_names = ["workload", "dtype"]
    params = ([str(w) for w in WORKLOADS], ["float64", "float32"])

    def setup(self, workload, dtype):
        import fastem

        self.workload = eval(workload)
        n_samples, n_features, n_components, covariance_type = self.workload
        self.X, self.init = _same_start(n_samples, n_features, n_components, covariance_type, dtype)
        self.fastem = fastem.GaussianMixture
        _fit(self.fastem, self.X[:256], covariance_type, n_components, self.init, 1)  # compile

    def time_three_iterations(self, workload, dtype):
        _fit(self.fastem, self.X, self.workload[3], self.workload[2], self.init, 3)

    def track_speedup_vs_sklearn(self, workload, dtype):
        """scikit-learn's seconds per iteration divided by fastem's, measured here."""
        from sklearn.mixture import GaussianMixture

        args = (self.X, self.workload[3], self.workload[2], self.init)
        return gaussian_seconds_per_iteration(GaussianMixture, *args) / gaussian_seconds_per_iteration(self.fastem, *args)

    track_speedup_vs_sklearn.unit = "ratio"


class GaussianFit(Benchmark):
    """A whole default fit (k-means init, tol=1e-3) and its peak memory."""

    param_names = ["covariance_type"]
    params = (["full", "diag"],)

    def setup(self, covariance_type):
        import fastem

        self.X, _ = blobs(scaled(200_000), 16, 8, "float64")
        self.cls = fastem.GaussianMixture
        self.cls(8, covariance_type=covariance_type, max_iter=2).fit(self.X[:512])

    def time_fit(self, covariance_type):
        self.cls(8, covariance_type=covariance_type, random_state=0).fit(self.X)

    def peakmem_fit(self, covariance_type):
        self.cls(8, covariance_type=covariance_type, random_state=0).fit(self.X)

    def track_iterations(self, covariance_type):
        return self.cls(8, covariance_type=covariance_type, random_state=0).fit(self.X).n_iter_
