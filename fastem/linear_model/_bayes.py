"""``BayesianLinearRegression``: Bayesian ridge regression whose hyper-parameters EM fits.

The estimator only validates, opens a data source, and runs the one EM driver
(``fastem._em.fit_em``) on the family of ``fastem._families.linear``: one pass over the
data for the statistics, then EM on their summary (``fastem._data.SummarySource``).
"""

import warnings
from functools import lru_cache

import numpy as np

from .._validation import (
    check_data,
    check_float,
    check_int,
    check_is_fitted,
    check_sample_weight,
    check_shape,
    check_target,
)
from .._data import SummarySource, chunk_source, make_regression_source
from .._em import ConvergenceMonitor, fit_em
from ..exceptions import convergence_warning_category
from .._families.linear import BayesianLinearFamily
from ..mixture._base import EstimatorBase
from .._variants import SQUAREM, StandardEM, StepTolerance


class BayesianLinearRegression(EstimatorBase):
    """Bayesian linear regression, its two precisions fitted by EM (evidence maximisation).

    The weights are the hidden variables: ``w ~ N(0, lambda_^-1 I)`` and
    ``y | x, w ~ N(w^T x, alpha_^-1)``, with scikit-learn's names (``alpha_`` the
    precision of the noise, ``lambda_`` that of the weights).  Each EM iteration

    - E-step: takes the posterior of the weights, N(m, S) with
      ``S = (lambda I + alpha X^T W X)^-1`` and ``m = alpha S X^T W y`` (``W`` the
      sample weights);
    - M-step: sets ``lambda = D / (m^T m + tr S)`` and
      ``alpha = N / (||y - X m||_W^2 + tr(X^T W X S))`` (``N`` the sum of the weights);

    and the log evidence ``log p(y | X, alpha, lambda)`` (``scores_``) never decreases.

    scikit-learn's ``BayesianRidge`` maximises the same evidence with MacKay's (1992)
    fixed point, ``lambda = gamma / m^T m`` and ``alpha = (N - gamma) / ||y - X m||_W^2``
    with ``gamma = sum_i alpha e_i / (lambda + alpha e_i)`` (``e_i`` the eigenvalues of
    ``X^T W X``; gamma counts the well-determined weights).  Since
    ``D - gamma = lambda tr S`` and ``N - gamma = alpha tr(X^T W X S)``, both updates
    have the stationary points of the evidence as their fixed points, and from the same
    start they reach the same optimum.  MacKay's usually takes fewer iterations but
    can lower the evidence on the way (Wipf & Nagarajan 2008); EM's never does, and
    crawls where the evidence is flat (thousands of steps on some data):
    ``accelerate="squarem"`` extrapolates along its steps in ``(log lambda, log alpha)``
    and keeps an extrapolation only when the evidence does not drop.

    ``BayesianRidge`` puts gamma hyper-priors on both precisions (``alpha_1``,
    ``alpha_2``, ``lambda_1``, ``lambda_2``, 1e-6 by default); this model has none: it is
    ``BayesianRidge`` with all four set to 0.  Sample weights count rows (a weight of 2
    is the row twice), as in ``BayesianRidge``.

    Cost: the data are read once.  ``X^T W X``, ``X^T W y``, ``y^T W y`` and the weighted
    means do not depend on ``alpha`` or ``lambda``; one pass sums them (NumPy's BLAS,
    blocks of rows converted to float64 and centred), ``X^T W X`` is diagonalised once,
    and every EM iteration is then D x D work at most (O(D) for the step, O(D^2) for
    the mean) that never touches the data.

    Parameters
    ----------
    max_iter : int, default=1000
        EM iterations at most (``BayesianRidge``: 300; EM's steps are shorter than
        MacKay's, and cost microseconds).  0 gives the posterior under the starting
        precisions.
    tol : float, default=1e-3
        Stop when an iteration changes ``coef_`` by less than this, summed over the
        features (``BayesianRidge``'s criterion).
    alpha_init : float > 0, default=None
        Starting noise precision; None: ``1 / Var(y)`` (weighted).
    lambda_init : float > 0, default=None
        Starting weight precision; None: 1.
    fit_intercept : bool, default=True
        Centre X and y on their weighted means, as ``BayesianRidge`` does; the
        intercept has no prior and is ``y_mean - X_offset_ @ coef_``.
    accelerate : {None, "squarem"}, default=None
        "squarem": SQUAREM (Varadhan & Roland 2008) on the EM map; an iteration is one
        of its cycles (about three EM steps).
    verbose : bool or int, default=False
        Print the log evidence every 10 iterations and at convergence.

    Attributes
    ----------
    coef_ : ndarray of shape (n_features,)
        Posterior mean of the weights, ``m``.
    intercept_ : float
        0.0 without ``fit_intercept``.
    alpha_ : float
        Noise precision.
    lambda_ : float
        Weight precision.
    sigma_ : ndarray of shape (n_features, n_features)
        Posterior covariance of the weights, ``S``.
    scores_ : ndarray of shape (n_iter_ + 1,)
        The log evidence at the start of each iteration, then at the fitted precisions
        (as ``BayesianRidge``'s with ``compute_score=True``, which fastem always
        computes: it costs O(D)).  Never decreasing.
    X_offset_ : ndarray of shape (n_features,)
        The weighted means of the features with ``fit_intercept``, zeros otherwise.
    n_iter_ : int
    converged_ : bool
    n_features_in_ : int
    feature_names_in_ : ndarray of str (dtype object), shape (n_features_in_,)
        The column names of a DataFrame ``X`` given to fit, when all are strings.

    Examples
    --------
    >>> import numpy as np
    >>> from fastem import BayesianLinearRegression
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 3))
    >>> y = X @ [1.0, -2.0, 0.0] + 0.5 + 0.1 * rng.normal(size=200)
    >>> model = BayesianLinearRegression().fit(X, y)
    >>> np.round(model.coef_, 1), round(model.intercept_, 1)
    (array([ 1., -2.,  0.]), 0.5)
    """

    _SAVED_ATTRIBUTES = (
        "coef_", "intercept_", "alpha_", "lambda_", "sigma_", "scores_", "X_offset_", "n_iter_", "converged_",
        "n_features_in_",
    )

    def __init__(
        self,
        *,
        max_iter=1000,
        tol=1e-3,
        alpha_init=None,
        lambda_init=None,
        fit_intercept=True,
        accelerate=None,
        verbose=False,
    ):
        self.max_iter = max_iter
        self.tol = tol
        self.alpha_init = alpha_init
        self.lambda_init = lambda_init
        self.fit_intercept = fit_intercept
        self.accelerate = accelerate
        self.verbose = verbose

    # -- fitting --------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None):
        """Fit the posterior of the weights and the two precisions.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            float32 data stay float32 (converted to float64 a block of rows at a
            time).  Also a ``np.memmap`` (``np.load(path, mmap_mode="r")``), read chunk
            by chunk, or a row-chunked ``dask.array.Array``, whose blocks are reduced
            where they live.
        y : array-like of shape (n_samples,)
            A NumPy array; with a Dask ``X`` also a Dask array (rechunked to X's rows).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative; a weight of 2 counts a row twice.

        Returns
        -------
        self
        """
        name = type(self).__name__
        if y is None:  # scikit-learn's words, which its estimator checks look for
            raise ValueError(f"This {name} estimator requires y to be passed, but the target y is None.")
        return self._fit_or_forget(lambda: make_regression_source(X, y, sample_weight, name), data=X)

    def fit_chunks(self, chunks):
        """Fit on data that arrive in chunks.

        Parameters
        ----------
        chunks : iterable, or callable that returns one
            Each chunk is ``(X, y)`` or ``(X, y, sample_weight)``.  The data are read
            once (the statistics do not depend on the precisions), so a generator will
            do.  A bad chunk raises an error that names its index and leaves the
            estimator unfitted.

        Returns
        -------
        self
        """
        name = type(self).__name__
        return self._fit_or_forget(lambda: chunk_source(chunks, name))

    def _checked_settings(self):
        owner = type(self).__name__
        if self.accelerate not in (None, "squarem"):
            raise ValueError(
                f"The 'accelerate' parameter of {owner} must be None or 'squarem'; got {self.accelerate!r}."
            )
        if not isinstance(self.fit_intercept, (bool, np.bool_)):
            raise ValueError(
                f"The 'fit_intercept' parameter of {owner} must be a bool. Got {self.fit_intercept!r} instead."
            )
        return dict(
            max_iter=check_int(self.max_iter, "max_iter", owner, 0),
            tol=check_float(self.tol, "tol", owner, 0.0),
            alpha_init=None if self.alpha_init is None else check_float(
                self.alpha_init, "alpha_init", owner, 0.0, low_open=True),
            lambda_init=None if self.lambda_init is None else check_float(
                self.lambda_init, "lambda_init", owner, 0.0, low_open=True),
            verbose=check_int(int(self.verbose) if isinstance(self.verbose, bool) else self.verbose,
                              "verbose", owner, 0),
        )

    def _fit(self, open_source):
        settings = self._checked_settings()
        source = open_source()
        family = BayesianLinearFamily(bool(self.fit_intercept))
        stats = source.estep(family, None)  # the one pass over the data
        check_shape((source.n_samples, stats.n_features), min_samples=2)
        design = family.summarise(stats)
        summary = SummarySource(design)

        @lru_cache(maxsize=4)  # each iterate's mean serves two distances
        def coefficients(params):
            return summary.estep(family, params).mean

        def change(params, following):
            return float(np.abs(coefficients(following) - coefficients(params)).sum())

        variant = SQUAREM(StandardEM()) if self.accelerate == "squarem" else StandardEM()
        monitor = ConvergenceMonitor(  # tol=0: the coefficients stop the run, not the evidence
            0.0, settings["max_iter"], 2 if settings["verbose"] else 0, objective_name="log evidence"
        )
        start = family.initial_params(design, settings["alpha_init"], settings["lambda_init"])
        result = fit_em(summary, family, start, monitor, StepTolerance(variant, change, settings["tol"]))
        if not result.converged and settings["max_iter"] > 0:
            warnings.warn(
                f"{type(self).__name__} did not converge in max_iter={settings['max_iter']} iterations "
                f"(tol={settings['tol']:g} on the summed change of coef_). Increase max_iter or tol, or "
                "use accelerate='squarem'.",
                convergence_warning_category(),
                stacklevel=4,  # the caller of fit
            )
        params = result.params
        posterior = summary.estep(family, params)
        offset = design.x_mean if self.fit_intercept else np.zeros(design.n_features)
        intercept = design.y_mean - float(offset @ posterior.mean) if self.fit_intercept else 0.0
        return dict(
            coef_=posterior.mean,
            intercept_=intercept,
            alpha_=params.alpha,
            lambda_=params.lambda_,
            sigma_=family.covariance(design, params),
            scores_=np.array(result.lower_bounds + [family.objective(posterior, params)]),
            X_offset_=offset,
            n_iter_=result.n_iter,
            converged_=result.converged,
            n_features_in_=design.n_features,
        )

    # -- using the fitted model -----------------------------------------------------
    def _checked_X(self, X):
        check_is_fitted(self, "coef_")
        self._check_feature_names(X)
        return check_data(X, "X", self.n_features_in_, type(self).__name__)

    def predict(self, X, return_std=False):
        """Mean of the predictive distribution, and with ``return_std`` its standard
        deviation ``sqrt((x - X_offset_)^T sigma_ (x - X_offset_) + 1 / alpha_)``
        (``BayesianRidge``'s; the intercept's own uncertainty is not included).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        return_std : bool, default=False

        Returns
        -------
        y_mean : ndarray of shape (n_samples,), float64
        y_std : ndarray of shape (n_samples,), float64, with ``return_std``
        """
        X = self._checked_X(X)
        y_mean = X @ self.coef_ + self.intercept_
        if not return_std:
            return y_mean
        centred = X - self.X_offset_
        spread = np.einsum("ij,ij->i", centred @ self.sigma_, centred)
        return y_mean, np.sqrt(spread + 1.0 / self.alpha_)

    def score(self, X, y, sample_weight=None):
        """Coefficient of determination R^2 of the predictions (scikit-learn's
        ``r2_score``: 1.0 for a constant ``y`` predicted exactly, else 0.0 for one)."""
        prediction = self.predict(X)
        y = check_target(y, prediction.shape[0])
        weights = check_sample_weight(sample_weight, y.shape[0])
        weights = np.ones_like(y) if weights is None else weights
        residual = float(weights @ (y - prediction) ** 2)
        total = float(weights @ (y - np.average(y, weights=weights)) ** 2)
        if total == 0:
            return 1.0 if residual == 0 else 0.0
        return 1.0 - residual / total

    def __sklearn_tags__(self):
        from sklearn.utils import InputTags, RegressorTags, Tags, TargetTags

        return Tags(
            estimator_type="regressor",
            target_tags=TargetTags(required=True),
            regressor_tags=RegressorTags(),
            input_tags=InputTags(),
        )
