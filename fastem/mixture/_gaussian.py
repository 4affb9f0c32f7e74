"""GaussianMixture: scikit-learn's estimator, fitted by fastem's kernels."""

import numpy as np

from .._validation import check_data, check_float, check_init_array, check_option, check_weights_init
from .._data import ArraySource
from .._families.gaussian import COVARIANCE_TYPES, MISSING_OPTIONS, PARAMETER_GROUPS, GaussianFamily, GaussianParams
from .._families.gaussian_prior import PRIOR_PARAMETERS, check_prior_settings, prior_attributes, resolve_prior
from .._init import INIT_METHODS, data_moments, initial_params
from ._mixture import MixtureBase


class GaussianMixture(MixtureBase):
    """Gaussian mixture model fitted by Expectation-Maximization.

    A drop-in replacement for :class:`sklearn.mixture.GaussianMixture`: the same
    parameters, fitted attributes and methods, plus ``sample_weight`` in :meth:`fit`
    and ``n_threads``.  Each EM iteration is one parallel Numba pass over ``X`` that
    accumulates the sufficient statistics without forming an (n_samples, n_components)
    array; float32 data is processed in float32 with float64 accumulators.

    Parameters
    ----------
    n_components : int, default=1
        Number of mixture components.
    covariance_type : {"full", "tied", "diag", "spherical"}, default="full"
        "full": each component has its own covariance matrix; "tied": all components
        share one covariance matrix; "diag": each has its own diagonal covariance;
        "spherical": each has its own single variance.
    tol : float, default=1e-3
        EM stops when the mean log-likelihood per sample changes by less than ``tol``.
    reg_covar : float, default=1e-6
        Added to the diagonal of each covariance so that it stays positive definite.
    max_iter : int, default=100
        Most EM iterations per initialisation.
    algorithm : {"em", "hard", "monte_carlo", "generalized"}, default="em"
        The EM variant (see "Which EM variant when" in the README):

        - "em": standard EM.  Maximises the log-likelihood, which never decreases.
        - "hard": classification EM; each point goes wholly to its most probable
          component.  Maximises the classification log-likelihood
          ``sum_n max_k log(pi_k p_k(x_n))``, which never decreases; stops when no point
          changes component or the change is below ``tol``.  ``lower_bounds_`` holds
          that objective.
        - "monte_carlo": Monte-Carlo EM; the M-step uses the frequencies of
          ``mc_samples`` labels drawn per point from its posterior.  No monotone
          guarantee: the fit keeps the iterate with the highest (exactly computed)
          log-likelihood.  Draws are seeded from ``random_state`` and do not depend on
          ``n_threads``.
        - "generalized": a generalized EM step (``gem_step``); the log-likelihood never
          decreases and the fixed points are EM's.
    mc_samples : int >= 1 or "auto", default=None
        Draws per point for ``algorithm="monte_carlo"`` (None means "auto": start at 1,
        stochastic EM, and double each time the log-likelihood stalls, up to 1024).
        Must be None for the other algorithms.
    gem_step : {"overrelaxed", "ecm"}, default=None
        For ``algorithm="generalized"`` (None means "overrelaxed"): "overrelaxed" takes
        ``theta + eta (theta_EM - theta)`` with an adaptive ``eta`` and falls back to the
        EM step whenever the log-likelihood would drop; "ecm" alternates two
        conditional maximisations (weights and means, then covariances), each after its
        own E-step.  Must be None for the other algorithms.
    accelerate : {None, "squarem"}, default=None
        "squarem" accelerates the EM map (``algorithm="em"``, or "generalized" with
        ``gem_step="ecm"``) by squared extrapolation with a monotonicity safeguard; one
        iteration is then one extrapolation cycle (about three passes over the data,
        counted in ``n_passes_``).
    n_init : int, default=1
        Initialisations tried; the one with the best final lower bound is kept.
    init_params : {"kmeans", "k-means++", "random", "random_from_data", "split"}, default="kmeans"
        How the starting parameters are found (k-means is fastem's own Numba k-means
        seeded by k-means++).  "split" starts from one component (the weighted mean and
        covariance of the data) and splits one component at a time until there are
        ``n_components``: the one with the largest ``weight * lambda_max`` (the largest
        eigenvalue of its covariance; the first on ties) becomes two at
        ``mean +/- sqrt(lambda_max) * v`` along its principal axis ``v``, each with half
        its weight and its covariance, and 5 EM iterations on all the components follow
        each split.  It draws no random numbers: ``random_state`` does not change it.
    weights_init, means_init, precisions_init : array-like, default=None
        User-given starting weights (n_components,), means (n_components, n_features)
        and precisions ((n_components, n_features, n_features) for "full",
        (n_features, n_features) for "tied", (n_components, n_features) for "diag",
        (n_components,) for "spherical"); each one given replaces its part of the
        data-driven start.
    fixed_params : collection of {"weights", "means", "covariances"}, default=None
        Parameter groups held at their starting values, exactly, while EM updates the
        rest; each needs its ``*_init`` ("covariances": ``precisions_init``), and
        ``reg_covar`` is not added to a held covariance.  ``bic`` and ``aic`` count
        only the free parameters.  With spherical covariances ``eps * I`` and equal
        weights held, ``algorithm="hard"`` from ``means_init`` is k-means.
    prior : {None, "conjugate"}, default=None
        None: maximum likelihood.  "conjugate": MAP-EM under the conjugate prior of
        Fraley and Raftery (2007), the prior mclust uses: a Dirichlet prior on the
        weights, a normal prior on each mean given its covariance and an
        inverse-Wishart (full, tied) or inverse-gamma (diag, spherical) prior on the
        covariances.  The M-step takes the posterior mode, ``lower_bound_`` and
        ``lower_bounds_`` hold the log-likelihood plus the log prior per unit of
        sample weight (never decreasing), while ``score``, ``score_samples``, ``bic``
        and ``aic`` stay the plain likelihood.  It keeps components from collapsing.
        The defaults of the parts below need one extra pass over the data.
    weight_concentration_prior : float >= 1, default=None
        The Dirichlet's alpha (None: 1, which leaves the weights at maximum likelihood);
        the weights become ``(N_k + alpha - 1) / (N + K (alpha - 1))``.
    mean_precision_prior : float > 0, default=None
        kappa, the prior's weight on ``mean_prior`` in units of samples (None: 0.01).
    mean_prior : array-like of shape (n_features,), default=None
        The prior mean of the means (None: the data's weighted mean).
    degrees_of_freedom_prior : float, default=None
        nu (None: n_features + 2); more than n_features - 1 for "full" and "tied".
    covariance_prior : array-like or float, default=None
        Lambda, the prior's scale: (n_features, n_features) for "full" and "tied",
        (n_features,) for "diag", a float for "spherical".  None: with S the data's
        covariance, ``S / K**(2/D)``, its diagonal, or ``trace(S) / D / K**(2/D)``.
    missing : {"raise", "em"}, default="raise"
        "raise": NaN in X is an error.  "em": NaN entries are missing values, missing
        at random.  Each E-step takes a row's log-density and responsibilities from
        its observed features, and the M-step the expected statistics of the missing
        ones given the observed ones (their conditional mean and covariance under each
        component; Ghahramani and Jordan 1994), so ``lower_bounds_`` holds the
        log-likelihood of the observed entries, which never decreases.  Every
        ``algorithm`` runs on every kind of data; under "hard" and "monte_carlo" the
        missing entries still enter as conditional expectations, given the
        component a row was put in.  :meth:`score_samples`, :meth:`predict`,
        :meth:`predict_proba` and :meth:`estimate_weighted_log_prob` then take NaN
        alike, and :meth:`impute` fills them in.  Initialisation cannot use NaN: it
        runs on the rows of its sample without any (when at least ``n_components``
        of them have positive weight), otherwise on the rows with each NaN replaced
        by its column's weighted mean; with ``prior="conjugate"``, the data defaults
        take one E-step of missing values about the mean of those rows.  A row with
        every feature missing is an error.  X without NaN is fitted exactly as under
        "raise".
    random_state : int, RandomState instance or None, default=None
        Seeds the initialisation and :meth:`sample`.
    warm_start : bool, default=False
        If True, a fit after a fit starts from the fitted parameters (``n_init`` is
        ignored).
    verbose : int, default=0
        1 prints a line per initialisation, 2 also prints iteration progress.
    verbose_interval : int, default=10
        Iterations between progress lines.
    n_threads : int or None, default=None
        Threads for the kernels; None uses Numba's default (all cores).  Results do
        not depend on it.
    learning_decay : float in (0.5, 1], default=0.7
        For :meth:`partial_fit` (online EM): the step size of update ``t`` is
        ``(t + 2) ** -learning_decay``.  1 averages the chunks' statistics equally;
        smaller values forget early chunks faster.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    means_ : ndarray of shape (n_components, n_features)
    covariances_ : ndarray, (n_components, n_features, n_features) or (n_components, n_features)
    precisions_ : ndarray, same shape as ``covariances_``
    precisions_cholesky_ : ndarray, same shape as ``covariances_``
        Upper-triangular ``U`` with ``precision = U @ U.T`` (full); ``1/sqrt(variance)`` (diag).
    converged_ : bool
    n_iter_ : int
    n_passes_ : int
        Passes over the data (E-steps) of the best run: the cost of the fit, which is
        ``n_iter_`` for "em" and "hard" and more for the generalized and accelerated
        variants.
    lower_bound_ : float
        Mean log-likelihood per sample of the best run, at its last iteration (for
        "monte_carlo", at its best iterate); with ``prior="conjugate"``, the
        log-likelihood plus the log prior, per unit of sample weight.  Rows with
        ``known_labels`` count ``log pi_k + log p(x | k)`` of their component.
    lower_bounds_ : list of float
        That value at every iteration of the best run.
    n_steps_ : int
        After :meth:`partial_fit`: the online updates since the model was initialised
        (``lower_bounds_`` then holds each chunk's mean log-likelihood under the
        parameters it was given to).
    n_features_in_ : int
    feature_names_in_ : ndarray of str (dtype object), shape (n_features_in_,)
        The column names of a DataFrame ``X`` given to fit, when all are strings.
    weight_concentration_prior_, mean_precision_prior_, mean_prior_, degrees_of_freedom_prior_, covariance_prior_
        With ``prior="conjugate"``: the prior the fit used, defaults resolved.
    """

    def __init__(
        self,
        n_components=1,
        *,
        covariance_type="full",
        tol=1e-3,
        reg_covar=1e-6,
        max_iter=100,
        algorithm="em",
        mc_samples=None,
        gem_step=None,
        accelerate=None,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        means_init=None,
        precisions_init=None,
        fixed_params=None,
        prior=None,
        weight_concentration_prior=None,
        mean_precision_prior=None,
        mean_prior=None,
        degrees_of_freedom_prior=None,
        covariance_prior=None,
        missing="raise",
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.covariance_type = covariance_type
        self.tol = tol
        self.reg_covar = reg_covar
        self.max_iter = max_iter
        self.algorithm = algorithm
        self.mc_samples = mc_samples
        self.gem_step = gem_step
        self.accelerate = accelerate
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.means_init = means_init
        self.precisions_init = precisions_init
        self.fixed_params = fixed_params
        self.prior = prior
        self.weight_concentration_prior = weight_concentration_prior
        self.mean_precision_prior = mean_precision_prior
        self.mean_prior = mean_prior
        self.degrees_of_freedom_prior = degrees_of_freedom_prior
        self.covariance_prior = covariance_prior
        self.missing = missing
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.learning_decay = learning_decay

    _FITTED_ATTRIBUTE = "means_"  # present once fitted
    _DATA_CHECK = staticmethod(check_data)
    _SAVED_ATTRIBUTES = (
        "weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"
    ) + MixtureBase._SAVED_ATTRIBUTES
    # the prior the fit used, with prior="conjugate"
    _SAVED_IF_PRESENT = MixtureBase._SAVED_IF_PRESENT + tuple(name + "_" for name in PRIOR_PARAMETERS)

    # -- what MixtureBase needs -----------------------------------------------------
    def _checked_family_settings(self, owner):
        return dict(
            covariance_type=check_option(self.covariance_type, "covariance_type", owner, COVARIANCE_TYPES),
            reg_covar=check_float(self.reg_covar, "reg_covar", owner, 0.0),
            init_params=check_option(self.init_params, "init_params", owner, INIT_METHODS),
            fixed_params=self._checked_fixed_params(owner),
            prior=check_prior_settings(self.prior, {name: getattr(self, name) for name in PRIOR_PARAMETERS}, owner),
            missing=self._checked_missing(owner),
        )

    def _checked_missing(self, owner=None):
        return check_option(self.missing, "missing", owner or type(self).__name__, MISSING_OPTIONS)

    def _data_check_options(self):
        return {"allow_missing": self._checked_missing() == "em"}

    def _checked_fixed_params(self, owner):
        if self.fixed_params is None:
            return ()
        groups = [self.fixed_params] if isinstance(self.fixed_params, str) else list(self.fixed_params)
        for group in groups:
            if group not in PARAMETER_GROUPS:
                raise ValueError(
                    f"The 'fixed_params' parameter of {owner} holds {group!r}; it may hold "
                    f"{', '.join(repr(g) for g in PARAMETER_GROUPS)}."
                )
            source = {"weights": "weights_init", "means": "means_init", "covariances": "precisions_init"}[group]
            if getattr(self, source) is None:
                raise ValueError(
                    f"fixed_params holds {group!r} but {source} is None; give the values to hold in {source}."
                )
        return tuple(group for group in PARAMETER_GROUPS if group in groups)

    def _make_family(self, settings, source, continuing=False):
        kind = settings["covariance_type"]
        missing = settings["missing"]
        family = GaussianFamily(kind, settings["reg_covar"], missing=missing)
        n_components, n_features = settings["n_components"], source.n_features
        if settings["prior"] is not None:
            if continuing and hasattr(self, "mean_prior_"):  # online EM keeps the prior it started with
                settings = dict(settings, prior={name: getattr(self, name + "_") for name in PRIOR_PARAMETERS})
            family.prior = resolve_prior(
                settings["prior"], kind, n_components, n_features,
                lambda: data_moments(source, n_components, missing == "em"),
            )
        if settings["fixed_params"]:
            weights, means, prec_chol = self._checked_user_init(family, n_components, n_features)
            held = {"weights": weights, "means": means}
            if prec_chol is not None:
                held["covariances"] = (family.covariances_from_precisions_cholesky(prec_chol), prec_chol)
            family.fixed = {group: held[group] for group in settings["fixed_params"]}
        return family

    def _family_attributes(self, family):
        return {} if family.prior is None else prior_attributes(family.prior)

    def _start_function(self, family, settings, n_features):
        user_init = self._checked_user_init(family, settings["n_components"], n_features)
        return lambda source, rng: self._start(source, family, user_init, rng, settings)

    @staticmethod
    def _params_attributes(params):
        return dict(
            weights_=params.weights,
            means_=params.means,
            covariances_=params.covariances,
            precisions_=params.precisions,
            precisions_cholesky_=params.precisions_cholesky,
        )

    def _start(self, source, family, user_init, rng, settings):
        """Starting parameters: data-driven unless the user gave all three parts."""
        weights, means, prec_chol = user_init
        kind = family.covariance_type
        if weights is None or means is None or prec_chol is None:
            data = initial_params(source, family, settings["n_components"], settings["init_params"], rng)
            weights = data.weights if weights is None else weights
            means = data.means if means is None else means
            if prec_chol is None:
                return GaussianParams(weights, means, data.covariances, data.precisions_cholesky, kind)
        covariances = family.covariances_from_precisions_cholesky(prec_chol)
        return GaussianParams(weights, means, covariances, prec_chol, kind)

    def _checked_user_init(self, family, n_components, n_features):
        """(weights, means, precisions_cholesky) from the *_init parameters, None where absent."""
        weights = means = prec_chol = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, n_components)
        if self.means_init is not None:
            means = check_init_array(
                self.means_init, "means_init", (n_components, n_features), "(n_components, n_features)"
            )
        if self.precisions_init is not None:
            kind = family.covariance_type
            shape, text = {
                "full": ((n_components, n_features, n_features), "(n_components, n_features, n_features)"),
                "tied": ((n_features, n_features), "(n_features, n_features)"),
                "diag": ((n_components, n_features), "(n_components, n_features)"),
                "spherical": ((n_components,), "(n_components,)"),
            }[kind]
            precisions = check_init_array(self.precisions_init, "precisions_init", shape, text)
            if kind in ("full", "tied"):
                stack = precisions[None] if kind == "tied" else precisions
                asymmetric = ~np.isclose(stack, stack.transpose(0, 2, 1)).all(axis=(1, 2))
                if asymmetric.any():
                    where = "" if kind == "tied" else f"[{np.flatnonzero(asymmetric)[0]}]"
                    raise ValueError(f"precisions_init{where} is not symmetric.")
            elif (precisions <= 0).any():
                raise ValueError(
                    f"precisions_init must be positive; component "
                    f"{np.argwhere(precisions <= 0)[0][0]} has a value <= 0."
                )
            prec_chol = family.precisions_cholesky_from_precisions(precisions)
        return weights, means, prec_chol

    # -- using the fitted model -----------------------------------------------------
    def _fitted_params(self):
        kind = fitted_covariance_type(self)
        return GaussianParams(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_, kind)

    def _fitted_family(self):
        family = GaussianFamily(fitted_covariance_type(self), self.reg_covar, missing=self._checked_missing())
        # what bic and aic count: the groups the fit held are not free parameters
        family.fixed = dict.fromkeys(self._checked_fixed_params(type(self).__name__))
        return family

    def impute(self, X):
        """``X`` with each missing entry (NaN) replaced by its conditional expectation
        under the fitted mixture.

        For a row with observed features ``o`` and missing ones ``m``, the entries
        become ``sum_k r_k E[x_m | x_o, k]``: each component's conditional mean
        ``mu_m + Sigma_mo Sigma_oo^-1 (x_o - mu_o)`` (diagonal and spherical
        covariances: ``mu_m``), weighted by the responsibilities ``r_k`` of the observed
        features.  It takes NaN whatever ``missing`` is; inf is an error, and so is a
        row with every feature missing.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_features)
            A new array in X's float dtype (float32 stays float32); rows without NaN
            are copied unchanged, and ``X`` itself is not modified.
        """
        family, params = self._fitted_model()
        self._check_feature_names(X)
        X = check_data(X, n_features=self.n_features_in_, estimator_name=type(self).__name__, allow_missing=True)
        return ArraySource(X, None, self.n_threads).impute(family, params)


def fitted_covariance_type(estimator):
    """The type of a fitted Gaussian estimator's parameters, read from their shapes
    (``covariance_type`` may have been set since); where diag and tied shapes agree
    (n_components equal to n_features), ``covariance_type`` decides."""
    factors, means = estimator.precisions_cholesky_, estimator.means_
    if factors.ndim == 2 and factors.shape[0] == factors.shape[1] == means.shape[0]:
        return "tied" if estimator.covariance_type == "tied" else "diag"
    return GaussianParams(estimator.weights_, means, estimator.covariances_, factors).covariance_type
