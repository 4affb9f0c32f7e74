"""EM variants to convergence on an overlapping mixture, and KMeans on row 6 of the
performance table (``python -m fastem bench``)."""

import warnings

import numpy as np

from fastem._bench import DTYPES

from .common import Benchmark, RowFit, RowIteration, RowMemory, RowVersusPeer, row_labels, scaled

# name -> GaussianMixture settings; all start from the same parameters.
VARIANTS = {
    "em": {},
    "squarem": {"accelerate": "squarem"},
    "generalized": {"algorithm": "generalized"},
    "ecm": {"algorithm": "generalized", "gem_step": "ecm"},
    "ecm+squarem": {"algorithm": "generalized", "gem_step": "ecm", "accelerate": "squarem"},
}

# The k-means row of the performance table.
ROWS = row_labels(6)


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


class KMeansIteration(RowIteration):
    """Seconds per Lloyd iteration on the k-means row (6), from the same centres."""

    params = (ROWS, DTYPES)


class KMeansVersusSklearn(RowVersusPeer):
    """scikit-learn's KMeans (algorithm="lloyd") from the same centres, in this process."""

    params = (ROWS, DTYPES)

    def track_speedup_vs_sklearn(self, label, dtype):
        """scikit-learn's KMeans seconds per iteration divided by fastem's."""
        return self._ratio()

    track_speedup_vs_sklearn.unit = "ratio"


class KMeansFit(RowFit):
    """A whole default fit (k-means++ seeding, tol=1e-4) and its iterations."""

    params = (ROWS, DTYPES)


class KMeansMemory(RowMemory):
    """Peak memory of a fit and of predict."""

    params = (ROWS, DTYPES)
