"""GaussianMixture: scikit-learn's estimator, fitted by fastem's kernels."""

import numpy as np

from .._validation import check_data, check_float, check_init_array, check_option, check_weights_init
from ..families.gaussian import COVARIANCE_TYPES, GaussianFamily, GaussianParams
from ..init import INIT_METHODS, initial_params
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
    covariance_type : {"full", "diag"}, default="full"
        "full": each component has its own covariance matrix; "diag": its own diagonal
        covariance.  ("spherical" and "tied" are not available yet.)
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
    init_params : {"kmeans", "k-means++", "random", "random_from_data"}, default="kmeans"
        How the starting parameters are found (k-means is fastem's own Numba k-means
        seeded by k-means++).
    weights_init, means_init, precisions_init : array-like, default=None
        User-given starting weights (n_components,), means (n_components, n_features)
        and precisions ((n_components, n_features, n_features) for "full",
        (n_components, n_features) for "diag"); each one given replaces its part of the
        data-driven start.
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
        "monte_carlo", at its best iterate); rows with ``known_labels`` count
        ``log pi_k + log p(x | k)`` of their component.
    lower_bounds_ : list of float
        That value at every iteration of the best run.
    n_steps_ : int
        After :meth:`partial_fit`: the online updates since the model was initialised
        (``lower_bounds_`` then holds each chunk's mean log-likelihood under the
        parameters it was given to).
    n_features_in_ : int
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
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.learning_decay = learning_decay

    _FITTED_ATTRIBUTE = "means_"  # present once fitted
    _DATA_CHECK = staticmethod(check_data)

    # -- what MixtureBase needs -----------------------------------------------------
    def _checked_family_settings(self, owner):
        return dict(
            covariance_type=_check_covariance_type(self.covariance_type, owner),
            reg_covar=check_float(self.reg_covar, "reg_covar", owner, 0.0),
            init_params=check_option(self.init_params, "init_params", owner, INIT_METHODS),
        )

    def _make_family(self, settings):
        return GaussianFamily(settings["covariance_type"], settings["reg_covar"])

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
        if weights is None or means is None or prec_chol is None:
            data = initial_params(source, family, settings["n_components"], settings["init_params"], rng)
            weights = data.weights if weights is None else weights
            means = data.means if means is None else means
            if prec_chol is None:
                return GaussianParams(weights, means, data.covariances, data.precisions_cholesky)
        covariances = family.covariances_from_precisions_cholesky(prec_chol)
        return GaussianParams(weights, means, covariances, prec_chol)

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
            if family.covariance_type == "full":
                shape, text = (n_components, n_features, n_features), "(n_components, n_features, n_features)"
            else:
                shape, text = (n_components, n_features), "(n_components, n_features)"
            precisions = check_init_array(self.precisions_init, "precisions_init", shape, text)
            if family.covariance_type == "full":
                asymmetric = ~np.isclose(precisions, precisions.transpose(0, 2, 1)).all(axis=(1, 2))
                if asymmetric.any():
                    raise ValueError(f"precisions_init[{np.flatnonzero(asymmetric)[0]}] is not symmetric.")
            elif (precisions <= 0).any():
                raise ValueError(
                    f"precisions_init must be positive; component "
                    f"{np.argwhere(precisions <= 0)[0][0]} has a value <= 0."
                )
            prec_chol = family.precisions_cholesky_from_precisions(precisions)
        return weights, means, prec_chol

    # -- using the fitted model -----------------------------------------------------
    def _fitted_params(self):
        return GaussianParams(self.weights_, self.means_, self.covariances_, self.precisions_cholesky_)

    def _fitted_family(self):
        # the family follows the fitted parameters, not covariance_type, which may have been set since
        return GaussianFamily("full" if self.precisions_cholesky_.ndim == 3 else "diag", self.reg_covar)

    def save(self, path):
        """Write the fitted model to ``path`` (.npz, readable with ``fastem.load``)."""
        from ..persistence import save_model

        save_model(self, path)


def _check_covariance_type(value, owner):
    if value in ("spherical", "tied"):
        raise ValueError(
            f"covariance_type={value!r} is not supported yet; {owner} supports "
            f"{' and '.join(repr(t) for t in COVARIANCE_TYPES)}."
        )
    return check_option(value, "covariance_type", owner, COVARIANCE_TYPES)

