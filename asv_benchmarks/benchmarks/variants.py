"""EM variants to convergence on an overlapping mixture, and KMeans against scikit-learn."""

import warnings

import numpy as np

from .common import Benchmark, scaled, seconds_per_iteration

# name -> GaussianMixture settings; all start from the same parameters.
VARIANTS = {
    "em": {},
    "squarem": {"accelerate": "squarem"},
    "generalized": {"algorithm": "generalized"},
    "ecm": {"algorithm": "generalized", "gem_step": "ecm"},
    "ecm+squarem": {"algorithm": "generalized", "gem_step": "ecm", "accelerate": "squarem"},
}

# k-means row of the performance table: N x D, K.
KMEANS_WORKLOAD = (1_000_000, 32, 64)


def overlapping_problem():
    """Blobs of unit spread whose centres sit about one standard deviation apart (EM
    is slow there), with a start at perturbed centres."""
    n_components, n_features = 6, 4
    rng = np.random.RandomState(1)
    centres = rng.normal(scale=1.0, size=(n_components, n_features))
    labels = rng.randint(n_components, size=scaled(200_000))
    X = centres[labels] + rng.normal(size=(labels.size, n_features))
    init = dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=centres + rng.normal(scale=0.5, size=centres.shape),
        precisions_init=np.ones((n_components, n_features)),
    )
    return X, n_components, init


class VariantConvergence(Benchmark):
    """Wall time, iterations and passes over the data to convergence (tol=1e-6)."""

    param_names = ["variant"]
    params = (list(VARIANTS),)

    def setup(self, variant):
        import fastem

        self.X, self.n_components, self.init = overlapping_problem()
        self.cls = fastem.GaussianMixture
        self._fit(variant, self.X[:512], max_iter=2)  # compile

    def _fit(self, variant, X, max_iter=10_000):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return self.cls(
                self.n_components, covariance_type="diag", tol=1e-6, max_iter=max_iter,
                **self.init, **VARIANTS[variant],
            ).fit(X)

    def time_fit(self, variant):
        self._fit(variant, self.X)

    def track_iterations(self, variant):
        return self._fit(variant, self.X).n_iter_

    def track_passes(self, variant):
        return self._fit(variant, self.X).n_passes_

    def track_final_log_likelihood(self, variant):
        return self._fit(variant, self.X).lower_bound_

    track_iterations.unit = "iterations"
    track_passes.unit = "passes"
    track_final_log_likelihood.unit = "log-likelihood per sample"


def kmeans_problem(dtype):
    """Unstructured Gaussian data (Lloyd's algorithm needs many iterations, so a 4-iteration
    run really does 4) and the first K rows as the start."""
    n_samples, n_features, n_clusters = KMEANS_WORKLOAD
    rng = np.random.RandomState(3)
    X = rng.standard_normal((scaled(n_samples), n_features)).astype(dtype)
    return X, X[:n_clusters].astype(np.float64)


def _kmeans(cls, X, init, max_iter):
    return cls(init.shape[0], init=init, n_init=1, max_iter=max_iter, tol=0.0).fit(X)


class KMeansIteration(Benchmark):
    """Seconds per Lloyd iteration on the k-means row, and the ratio to scikit-learn."""

    param_names = ["dtype"]
    params = (["float64", "float32"],)

    def setup(self, dtype):
        import fastem

        self.X, self.init = kmeans_problem(dtype)
        self.cls = fastem.KMeans
        _kmeans(self.cls, self.X[:4096], self.init, 1)  # compile

    def time_three_iterations(self, dtype):
        _kmeans(self.cls, self.X, self.init, 3)

    def track_speedup_vs_sklearn(self, dtype):
        """scikit-learn's KMeans seconds per iteration divided by fastem's, measured here."""
        from sklearn.cluster import KMeans

        def theirs(max_iter):
            return _kmeans(KMeans, self.X, self.init.astype(self.X.dtype), max_iter)

        def ours(max_iter):
            return _kmeans(self.cls, self.X, self.init, max_iter)

        return seconds_per_iteration(theirs) / seconds_per_iteration(ours)

    track_speedup_vs_sklearn.unit = "ratio"
