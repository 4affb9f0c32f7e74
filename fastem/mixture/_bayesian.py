"""BayesianGaussianMixture: scikit-learn's variational Gaussian mixture on fastem's kernels."""

import numpy as np

from .._validation import check_data, check_float, check_option
from .._families.gaussian import COVARIANCE_TYPES, GaussianFamily
from .._families.variational import (
    VariationalGaussianFamily,
    VariationalParams,
    VariationalPrior,
    check_variational_prior_settings,
    resolve_variational_prior,
)
from .._families.gaussian_prior import PRIOR_PARAMETERS, prior_attributes
from .._init import data_moments, initial_stats
from ._gaussian import fitted_covariance_type
from ._mixture import MixtureBase

# scikit-learn's initialisations (fastem's "split" is for maximum-likelihood fits)
BAYESIAN_INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data")


class _Unavailable:
    """A method of MixtureBase that this estimator does not have: reading it raises
    AttributeError, so ``hasattr`` is False, as for scikit-learn's estimator."""

    def __init__(self, reason):
        self.reason = reason

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        raise AttributeError(f"{owner.__name__} has no {self.name}: {self.reason}")


class BayesianGaussianMixture(MixtureBase):
    """Variational Bayesian estimation of a Gaussian mixture.

    A drop-in replacement for :class:`sklearn.mixture.BayesianGaussianMixture`: the same
    parameters, fitted attributes, methods and numbers (from the same start, to
    rounding), plus ``sample_weight`` in :meth:`fit`, ``n_threads``, and data that is
    memory-mapped, read in chunks (:meth:`fit_chunks`) or a Dask array.  Each iteration
    is one pass of the Gaussian kernels over ``X``: the variational E-step is a
    Gaussian log-density with the expected parameters, so no (n_samples, n_components)
    array is formed.

    The weights have a Dirichlet prior ("dirichlet_distribution") or a Dirichlet
    process prior truncated at ``n_components`` ("dirichlet_process", stick-breaking),
    each mean a normal prior about ``mean_prior`` with precision ``mean_precision_prior``
    times its component's, and each precision a Wishart prior with
    ``degrees_of_freedom_prior`` degrees of freedom and scale ``covariance_prior^-1``.
    Components the data do not need end with weights near 0.

    Parameters
    ----------
    n_components : int, default=1
        The most components the fit may use (the truncation level).
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
    tol : float, default=1e-3
        The fit stops when ``lower_bound_`` changes by less than ``tol``; as in
        scikit-learn the bound is a total over the rows, not a mean per row.
    reg_covar : float, default=1e-6
        Added to the diagonal of each component's sample covariance in every M-step
        (scikit-learn's place for it).
    max_iter : int, default=100
    n_init : int, default=1
        Initialisations tried; the one with the highest final lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        Starting responsibilities, followed, as in scikit-learn, by one variational
        M-step.  "random" (uniform responsibilities, normalised per row),
        "random_from_data" and "k-means++" (one row per component) draw the same
        numbers as scikit-learn for the same integer ``random_state``, so the two start
        alike; "kmeans" is fastem's own k-means (seeded by k-means++), whose clusters
        may differ from scikit-learn's ``KMeans``.
    weight_concentration_prior_type : {"dirichlet_process", "dirichlet_distribution"}, \
default="dirichlet_process"
    weight_concentration_prior : float > 0, default=None
        The concentration: of the Dirichlet process, or of the Dirichlet on every
        component (None: ``1 / n_components``).  Smaller values leave more components
        empty.
    mean_precision_prior : float > 0, default=None
        How strongly the means are pulled to ``mean_prior`` (None: 1).
    mean_prior : array-like of shape (n_features,), default=None
        None: the data's (weighted) mean.
    degrees_of_freedom_prior : float > n_features - 1, default=None
        None: ``n_features``.
    covariance_prior : array-like or float, default=None
        The Wishart prior's inverse scale: (n_features, n_features) for "full" and
        "tied", (n_features,) for "diag", a float for "spherical".  None: the data's
        (weighted) covariance, its diagonal, or its mean variance.  The defaults of
        ``mean_prior`` and ``covariance_prior`` cost one extra pass over the data.
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        A fit after a fit starts from the fitted parameters (``n_init`` is ignored);
        the prior's defaults are taken from the new data.
    verbose : int, default=0
    verbose_interval : int, default=10
    n_threads : int or None, default=None
        Threads for the kernels; None uses Numba's default.  Results do not depend on it.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
        The expected weights.
    weight_concentration_ : tuple of two ndarrays or ndarray
        The Beta parameters ``(a_k, b_k)`` of the sticks ("dirichlet_process"), or the
        Dirichlet's (n_components,).
    mean_precision_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    degrees_of_freedom_ : ndarray of shape (n_components,), or float for "tied"
    covariances_ : ndarray
        The inverse of each component's expected precision, in scikit-learn's shapes.
    precisions_, precisions_cholesky_ : ndarray, same shape as ``covariances_``
    converged_ : bool
    n_iter_ : int
    n_passes_ : int
    lower_bound_ : float
        scikit-learn's evidence lower bound (constant terms omitted) of the best run,
        after its last iteration: at the responsibilities of that iteration's E-step and
        the parameters its M-step made, which are the fitted ones.  A total over the
        (weighted) rows.
    lower_bounds_ : list of float
        That bound after every iteration of the best run; it never decreases.
    n_features_in_ : int
    feature_names_in_ : ndarray of str (dtype object), shape (n_features_in_,)
        The column names of a DataFrame ``X`` given to fit, when all are strings.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, degrees_of_freedom_prior_, covariance_prior_
        The prior the fit used, defaults resolved.
    """

    _FITTED_ATTRIBUTE = "means_"  # present once fitted
    _DATA_CHECK = staticmethod(check_data)
    _OBJECTIVE_NAME = "lower bound"
    _SAVED_ATTRIBUTES = (
        "weights_", "weight_concentration_", "mean_precision_", "means_", "degrees_of_freedom_",
        "covariances_", "precisions_", "precisions_cholesky_",
    ) + tuple(name + "_" for name in PRIOR_PARAMETERS) + MixtureBase._SAVED_ATTRIBUTES

    partial_fit = _Unavailable("online variational inference is not implemented; use fit or fit_chunks.")
    bic = _Unavailable("the information criteria are for maximum-likelihood fits; compare lower_bound_.")
    aic = _Unavailable("the information criteria are for maximum-likelihood fits; compare lower_bound_.")

    def __init__(
        self,
        *,
        n_components=1,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        n_init=1,
        init_params="kmeans",
        weight_concentration_prior_type="dirichlet_process",
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.n_init = n_init
        self.init_params = init_params
        self.weight_concentration_prior_type = weight_concentration_prior_type
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads

    # -- what MixtureBase needs -----------------------------------------------------
    def _checked_variant_settings(self, owner):
        return dict(variant=("em", None, None, None))  # variational EM: the standard EM loop

    def _checked_family_settings(self, owner):
        values = {name: getattr(self, name) for name in PRIOR_PARAMETERS}
        values["weight_concentration_prior_type"] = self.weight_concentration_prior_type
        return dict(
            covariance_type=check_option(self.covariance_type, "covariance_type", owner, COVARIANCE_TYPES),
            reg_covar=check_float(self.reg_covar, "reg_covar", owner, 0.0),
            init_params=check_option(self.init_params, "init_params", owner, BAYESIAN_INIT_METHODS),
            prior=check_variational_prior_settings(values, owner),
        )

    def _make_family(self, settings, source, continuing=False):
        kind, n_components = settings["covariance_type"], settings["n_components"]
        prior = resolve_variational_prior(
            settings["prior"], kind, n_components, source.n_features,
            lambda: data_moments(source, n_components), type(self).__name__,
        )
        return VariationalGaussianFamily(kind, settings["reg_covar"], prior)

    def _family_attributes(self, family):
        return prior_attributes(family.prior)

    def _start_function(self, family, settings, n_features):
        """scikit-learn's start: responsibilities by ``init_params``, then one variational
        M-step of their statistics."""
        assign = GaussianFamily(family.covariance_type, family.reg_covar)  # the starting assignment's moments

        def start(source, rng):
            stats = initial_stats(source, assign, settings["n_components"], settings["init_params"], rng)
            return family.m_step(stats)

        return start

    @staticmethod
    def _params_attributes(params):
        concentration = params.weight_concentration
        nu = params.degrees_of_freedom
        return dict(
            weights_=params.weights,
            weight_concentration_=(concentration[0], concentration[1]) if concentration.ndim == 2 else concentration,
            mean_precision_=params.mean_precision,
            means_=params.means,
            degrees_of_freedom_=float(nu[0]) if params.covariance_type == "tied" else nu,
            covariances_=params.covariances,
            precisions_=params.precisions,
            precisions_cholesky_=params.precisions_cholesky,
        )

    # -- using the fitted model -----------------------------------------------------
    def _fitted_params(self):
        n_components = self.means_.shape[0]
        return VariationalParams(
            weight_concentration=np.array(self.weight_concentration_, dtype=np.float64),
            mean_precision=self.mean_precision_,
            means=self.means_,
            degrees_of_freedom=np.broadcast_to(np.asarray(self.degrees_of_freedom_, dtype=np.float64), (n_components,)),
            covariances=self.covariances_,
            precisions_cholesky=self.precisions_cholesky_,
            covariance_type=fitted_covariance_type(self),
        )

    def _fitted_family(self):
        covariance = np.asarray(self.covariance_prior_, dtype=np.float64)
        prior = VariationalPrior(
            "dirichlet_process" if isinstance(self.weight_concentration_, tuple) else "dirichlet_distribution",
            self.weight_concentration_prior_, self.mean_precision_prior_, self.mean_prior_,
            self.degrees_of_freedom_prior_, covariance,
        )
        return VariationalGaussianFamily(fitted_covariance_type(self), self.reg_covar, prior)
