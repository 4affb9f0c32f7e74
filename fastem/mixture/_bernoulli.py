"""BernoulliMixture: a mixture of independent binary features, dense or sparse."""

from .._validation import check_binary_data, check_float, check_init_array, check_option, check_weights_init
from .._families.bernoulli import BernoulliFamily, BernoulliParams
from .._init import BERNOULLI_INIT_METHODS, initial_bernoulli_params
from ._mixture import MixtureBase


class BernoulliMixture(MixtureBase):
    """Mixture of multivariate Bernoulli distributions fitted by EM (MAP under a Beta prior).

    Each component ``k`` has a weight ``pi_k`` and a probability ``p_kd`` that feature
    ``d`` is 1; features are independent given the component.  X is a dense array of
    0/1 (bool, integer or float) or a scipy.sparse matrix of 0/1; other values raise
    a ValueError naming the first one.  A pass over the data costs the number of ones
    times ``n_components`` plus ``n_samples * n_components``, so sparse data is cheap.
    The fit holds the ones' column indices (4 or 8 bytes each); where at least 1/16
    of the entries are 1 it also holds them by columns within tiles of 128 rows
    (about one byte per one and per row), for the moments.

    Parameters
    ----------
    n_components : int, default=1
    alpha, beta : float >= 1, default=1.01
        The Beta(alpha, beta) prior on every probability.  The M-step takes its mode,
        ``p_kd = (sum_n w_n r_nk x_nd + alpha - 1) / (N_k + alpha + beta - 2)``, so with
        the default mild smoothing no probability is exactly 0 or 1; alpha = beta = 1
        is plain maximum likelihood (probabilities are then evaluated at least 1e-12
        away from 0 and 1, so that log(0) never occurs).  Weights are ``N_k / N``.
    tol : float, default=1e-3
        EM stops when the objective per sample changes by less than ``tol``.
    max_iter : int, default=100
    algorithm, mc_samples, gem_step, accelerate
        The EM variant, as in :class:`fastem.GaussianMixture` ("generalized" with
        ``gem_step="ecm"`` updates the weights, then the probabilities).
    n_init : int, default=1
    init_params : {"kmeans", "random", "random_from_data", "split"}, default="kmeans"
        "kmeans": k-means on the binary rows (seeded at distinct random rows);
        "random_from_data": components centred on distinct random rows;
        "random": random responsibilities; "split": one component (the mean of the
        rows), then one split at a time of the component with the largest
        ``weight * sum_d p_d (1 - p_d)`` into ``p +/- sqrt(p (1 - p)) * v`` (``v`` the
        principal axis of its rows' scatter, clipped 1e-3 inside (0, 1)), each split
        followed by 5 EM iterations; it draws no random numbers.
    weights_init : array-like of shape (n_components,), default=None
    probabilities_init : array-like of shape (n_components, n_features), default=None
        User-given starting values in [0, 1]; each replaces its part of the data-driven
        start.
    random_state, warm_start, verbose, verbose_interval, n_threads, learning_decay
        As in :class:`fastem.GaussianMixture`.

    Attributes
    ----------
    weights_ : ndarray of shape (n_components,)
    probabilities_ : ndarray of shape (n_components, n_features)
    converged_, n_iter_, n_passes_, n_features_in_, feature_names_in_
        As in :class:`fastem.GaussianMixture`.
    lower_bound_ : float
        The objective of the best run at its last iteration: (log-likelihood + log of
        the Beta prior density) per sample; the mean log-likelihood alone is
        ``score(X)``.
    lower_bounds_ : list of float
    n_steps_ : int
        After :meth:`partial_fit`: the online updates since the model was initialised.
    """

    _FITTED_ATTRIBUTE = "probabilities_"  # present once fitted
    _DATA_CHECK = staticmethod(check_binary_data)
    _SAVED_ATTRIBUTES = ("weights_", "probabilities_") + MixtureBase._SAVED_ATTRIBUTES

    def __init__(
        self,
        n_components=1,
        *,
        alpha=1.01,
        beta=1.01,
        tol=1e-3,
        max_iter=100,
        algorithm="em",
        mc_samples=None,
        gem_step=None,
        accelerate=None,
        n_init=1,
        init_params="kmeans",
        weights_init=None,
        probabilities_init=None,
        random_state=None,
        warm_start=False,
        verbose=0,
        verbose_interval=10,
        n_threads=None,
        learning_decay=0.7,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.beta = beta
        self.tol = tol
        self.max_iter = max_iter
        self.algorithm = algorithm
        self.mc_samples = mc_samples
        self.gem_step = gem_step
        self.accelerate = accelerate
        self.n_init = n_init
        self.init_params = init_params
        self.weights_init = weights_init
        self.probabilities_init = probabilities_init
        self.random_state = random_state
        self.warm_start = warm_start
        self.verbose = verbose
        self.verbose_interval = verbose_interval
        self.n_threads = n_threads
        self.learning_decay = learning_decay

    # -- what MixtureBase needs -----------------------------------------------------
    def _checked_family_settings(self, owner):
        return dict(
            alpha=check_float(self.alpha, "alpha", owner, 1.0),
            beta=check_float(self.beta, "beta", owner, 1.0),
            init_params=check_option(self.init_params, "init_params", owner, BERNOULLI_INIT_METHODS),
        )

    def _make_family(self, settings, source, continuing=False):
        return BernoulliFamily(settings["alpha"], settings["beta"])

    def _start_function(self, family, settings, n_features):
        n_components = settings["n_components"]
        weights = probabilities = None
        if self.weights_init is not None:
            weights = check_weights_init(self.weights_init, n_components)
        if self.probabilities_init is not None:
            probabilities = check_init_array(
                self.probabilities_init, "probabilities_init", (n_components, n_features),
                "(n_components, n_features)", unit_interval=True,
            )

        def start(source, rng):
            if weights is not None and probabilities is not None:
                return BernoulliParams(weights, probabilities)
            data = initial_bernoulli_params(source, family, n_components, settings["init_params"], rng)
            return BernoulliParams(
                data.weights if weights is None else weights,
                data.probabilities if probabilities is None else probabilities,
            )

        return start

    @staticmethod
    def _params_attributes(params):
        return dict(weights_=params.weights, probabilities_=params.probabilities)

    def _fitted_params(self):
        return BernoulliParams(self.weights_, self.probabilities_)

    def _fitted_family(self):
        return BernoulliFamily(self.alpha, self.beta)

