"""KMeans: scikit-learn's estimator, run as hard EM on fastem's Gaussian kernels."""

import warnings

import numpy as np

from .._kernels._jit import MODE_HARD, limit_threads
from .._kernels.ahead import compile_ahead
from .._kernels.seeding import squared_distances
from .._validation import (
    check_data,
    check_float,
    check_int,
    check_is_fitted,
    check_random_state,
    check_sample_weight,
)
from .._data import ArraySource
from ..exceptions import convergence_warning_category
from .._families.gaussian import GaussianFamily
from .._init import compile_kmeans_outputs, kmeans_plusplus, kmeans_tolerance, lloyd
from ._base import EstimatorBase

_INIT_METHODS = ("k-means++", "random")
_AUTO_N_INIT_RANDOM = 10  # scikit-learn's n_init="auto" for init="random" or a callable


class KMeans(EstimatorBase):
    """K-means clustering, fitted as hard EM with a shared identity covariance.

    A drop-in replacement for :class:`sklearn.cluster.KMeans` (Lloyd's algorithm).
    Each iteration is one pass of fastem's single-pass Gaussian kernel in hard mode:
    with equal weights and unit covariances the most probable component of a point is
    its closest centre, and the M-step moves only the means.  The objective is the
    inertia (weighted sum of squared distances to the closest centre), which never
    increases.  A cluster left empty is re-seeded at the point farthest from its
    closest centre.

    The assignment step compares ``|c|^2 / 2 - x . c`` rather than ``|x - c|^2`` (as
    scikit-learn does), one multiply-add per feature and centre, with points and
    centres first moved by the mean of the centres so that data far from the origin
    keeps its precision.  Points within rounding of a tie between two centres may
    therefore be assigned differently from a direct computation; ``inertia_`` and the
    new centres are always summed from direct differences ``x - c``.

    Parameters
    ----------
    n_clusters : int, default=8
    init : {"k-means++", "random"}, callable or array-like of shape (n_clusters, n_features), default="k-means++"
        "k-means++": greedy k-means++ seeding; "random": ``n_clusters`` distinct rows
        drawn with probability proportional to their sample weight; a callable is called
        as ``init(X, n_clusters, random_state)`` and returns the centres.
    n_init : "auto" or int, default="auto"
        Runs from different seeds; the one with the lowest inertia is kept.  "auto" is 1
        for "k-means++" or given centres and 10 otherwise (as in scikit-learn).
    max_iter : int, default=300
        Most iterations per run.
    tol : float, default=1e-4
        A run stops when no point changes cluster, or when the centres move by at most
        ``tol`` times the mean variance of the features (summed squared shift).
    verbose : int, default=0
        1 or more prints a line per iteration.
    random_state : int, RandomState instance or None, default=None
    n_threads : int or None, default=None
        Threads for the kernels; results do not depend on it.

    Attributes
    ----------
    cluster_centers_ : ndarray of shape (n_clusters, n_features), float64
    labels_ : ndarray of shape (n_samples,), int64
    inertia_ : float
        Weighted sum of squared distances of the training points to their closest centre.
    n_iter_ : int
        Iterations of the best run.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (dtype object), shape (n_features_in_,)
        The column names of a DataFrame ``X`` given to fit, when all are strings.
    """

    _SAVED_ATTRIBUTES = ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_")

    def __init__(
        self,
        n_clusters=8,
        *,
        init="k-means++",
        n_init="auto",
        max_iter=300,
        tol=1e-4,
        verbose=0,
        random_state=None,
        n_threads=None,
    ):
        self.n_clusters = n_clusters
        self.init = init
        self.n_init = n_init
        self.max_iter = max_iter
        self.tol = tol
        self.verbose = verbose
        self.random_state = random_state
        self.n_threads = n_threads

    # -- fitting --------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None):
        """Cluster ``X``; ``sample_weight`` (n_samples,) weighs each point's pull on its centre.

        Returns
        -------
        self
        """
        return self._fit_or_forget(X, sample_weight, data=X)

    def fit_predict(self, X, y=None, sample_weight=None):
        """Fit, then return ``labels_``."""
        return self.fit(X, sample_weight=sample_weight).labels_

    def fit_transform(self, X, y=None, sample_weight=None):
        """Fit, then return the distances of ``X`` to the centres."""
        return self.fit(X, sample_weight=sample_weight).transform(X)

    def _checked_settings(self):
        owner = type(self).__name__
        init = self.init
        if isinstance(init, str):
            if init not in _INIT_METHODS:
                raise ValueError(
                    f"The 'init' parameter of {owner} must be 'k-means++', 'random', a callable "
                    f"or an array of shape (n_clusters, n_features). Got {init!r} instead."
                )
        elif not callable(init):
            init = np.asarray(init)
        if isinstance(self.n_init, str) and self.n_init == "auto":
            drawn = callable(init) or (isinstance(init, str) and init == "random")
            n_init = _AUTO_N_INIT_RANDOM if drawn else 1
        else:
            n_init = check_int(self.n_init, "n_init", owner, 1)
        if isinstance(init, np.ndarray) and n_init != 1:
            warnings.warn(
                f"Explicit initial center position passed: performing only one init in {owner} "
                f"instead of n_init={n_init}.",
                RuntimeWarning,
                stacklevel=5,  # the caller of fit
            )
            n_init = 1
        return dict(
            n_clusters=check_int(self.n_clusters, "n_clusters", owner, 1),
            init=init,
            n_init=n_init,
            max_iter=check_int(self.max_iter, "max_iter", owner, 1),
            tol=check_float(self.tol, "tol", owner, 0.0),
            verbose=check_int(self.verbose, "verbose", owner, 0),
            n_threads=None if self.n_threads is None else check_int(self.n_threads, "n_threads", owner, 1),
        )

    def _fit(self, X, sample_weight):
        settings = self._checked_settings()
        n_clusters = settings["n_clusters"]
        X = check_data(X, estimator_name=type(self).__name__)
        n_samples, n_features = X.shape
        if n_samples < n_clusters:
            raise ValueError(f"n_samples={n_samples} should be >= n_clusters={n_clusters}.")
        weights = check_sample_weight(sample_weight, n_samples)
        source = ArraySource(X, weights, settings["n_threads"])
        rng = check_random_state(self.random_state)
        family = GaussianFamily("diag", reg_covar=0.0)

        # A first fit compiles the k-means steps' kernels first (the tolerance takes a
        # k-means step); a helper compiles the seeding's and the labels' meanwhile.
        with compile_ahead(compile_kmeans_outputs, X.dtype, n_features, n_clusters):
            shift_tol = kmeans_tolerance(source, settings["tol"]) if settings["tol"] > 0 else 0.0
            best = None
            for _ in range(settings["n_init"]):
                seeds = self._seeds(X, weights, n_clusters, settings, rng)
                if settings["verbose"]:
                    print("Initialization complete")
                run = lloyd(source, seeds, settings["max_iter"], shift_tol, verbose=2 * settings["verbose"])
                centres = run.params.means
                inertia = float(source.estep(family, family.identity_params(centres), MODE_HARD).sxx.sum())
                if best is None or inertia < best[1]:
                    best = (centres, inertia, run.n_iter)
        centres, inertia, n_iter = best
        labels = source.posterior(family, family.identity_params(centres), label=True)[2]
        n_distinct = np.count_nonzero(np.bincount(labels, minlength=n_clusters))  # no sorted copy of labels
        if n_distinct < n_clusters:
            warnings.warn(
                f"Number of distinct clusters ({n_distinct}) found smaller than n_clusters "
                f"({n_clusters}). Possibly due to duplicate points in X.",
                convergence_warning_category(),
                stacklevel=4,  # the caller of fit
            )
        return dict(
            cluster_centers_=centres,
            labels_=labels,
            inertia_=inertia,
            n_iter_=n_iter,
            n_features_in_=n_features,
        )

    def _seeds(self, X, weights, n_clusters, settings, rng):
        """Starting centres (n_clusters, n_features) float64 for one run."""
        init = settings["init"]
        if isinstance(init, str) and init == "k-means++":
            return X[kmeans_plusplus(X, n_clusters, rng, weights, settings["n_threads"])].astype(np.float64)
        if isinstance(init, str):  # "random"
            p = np.ones(X.shape[0]) if weights is None else weights  # as scikit-learn draws
            p = p / p.sum()
            if np.count_nonzero(p) < n_clusters:
                raise ValueError(
                    f"init='random' needs at least n_clusters={n_clusters} samples with a positive "
                    f"sample_weight; {np.count_nonzero(p)} have one."
                )
            return X[rng.choice(X.shape[0], size=n_clusters, replace=False, p=p)].astype(np.float64)
        centres = init(X, n_clusters, random_state=rng) if callable(init) else init
        return _checked_centres(centres, n_clusters, X.shape[1])

    # -- using the fitted model -----------------------------------------------------
    def _fitted(self, X):
        check_is_fitted(self, "cluster_centers_")
        self._check_feature_names(X)
        X = check_data(X, n_features=self.n_features_in_, estimator_name=type(self).__name__)
        family = GaussianFamily("diag", reg_covar=0.0)
        return X, family, family.identity_params(self.cluster_centers_)

    def predict(self, X):
        """Index of the closest centre for each row of ``X``, shape (n_samples,)."""
        X, family, params = self._fitted(X)
        return ArraySource(X, None, self.n_threads).posterior(family, params, label=True)[2]

    def transform(self, X):
        """Euclidean distance of each row of ``X`` to each centre, shape (n_samples, n_clusters)."""
        X, _, params = self._fitted(X)
        squared = np.empty((params.means.shape[0], X.shape[0]))
        with limit_threads(self.n_threads):
            squared_distances(X, params.means, squared)
        return np.ascontiguousarray(np.sqrt(squared).T)

    def score(self, X, y=None, sample_weight=None):
        """Minus the inertia of ``X`` (weighted by ``sample_weight``) under the centres."""
        X, family, params = self._fitted(X)
        weights = check_sample_weight(sample_weight, X.shape[0])
        return -float(ArraySource(X, weights, self.n_threads).estep(family, params, MODE_HARD).sxx.sum())

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, Tags, TargetTags, TransformerTags

        return Tags(
            estimator_type="clusterer",
            target_tags=TargetTags(required=False),
            transformer_tags=TransformerTags(),
            input_tags=InputTags(),
        )


def _checked_centres(centres, n_clusters, n_features):
    centres = np.asarray(centres)
    if centres.dtype.kind not in "fiu":
        raise TypeError(f"init has dtype {centres.dtype}; the initial centres must be numeric.")
    centres = np.array(centres, dtype=np.float64)  # a private copy
    if centres.ndim != 2 or centres.shape[0] != n_clusters:
        raise ValueError(
            f"The shape of the initial centers {centres.shape} does not match the number of "
            f"clusters {n_clusters}."
        )
    if centres.shape[1] != n_features:
        raise ValueError(
            f"The shape of the initial centers {centres.shape} does not match the number of "
            f"features of the data {n_features}."
        )
    if not np.isfinite(centres).all():
        raise ValueError("init contains NaN or inf.")
    return centres
