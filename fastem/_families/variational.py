"""Variational Bayes for Gaussian mixtures: scikit-learn's BayesianGaussianMixture model
(Bishop 2006, ch. 10.2; Blei and Jordan 2006 for the Dirichlet process) on the Gaussian
kernels.

The posterior is approximated by ``q(Z) q(pi) prod_k q(mu_k, Lambda_k)``:

- ``q(pi)``: Dirichlet(``weight_concentration``) ("dirichlet_distribution"), or for a
  Dirichlet process truncated at K components, independent Beta(a_k, b_k) stick
  fractions ("dirichlet_process", ``weight_concentration`` of shape (2, K));
- ``q(mu_k, Lambda_k)``: normal-Wishart, mean ``m_k`` with precision ``beta_k Lambda_k``
  (``mean_precision``), ``Lambda_k`` Wishart with ``nu_k`` degrees of freedom
  (``degrees_of_freedom``) and scale ``W_k``.  As in scikit-learn, ``covariances`` is
  ``(nu_k W_k)^-1``, the inverse of the expected precision, and
  ``precisions_cholesky`` its upper factor ``sqrt(nu_k) U_k``.

The E-step's log-weights are ``E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)]``:

    E[log pi_k] + 0.5 E[log |Lambda_k|] - D / (2 beta_k) - nu_k / 2 (x - m_k)^T W_k (x - m_k)
    - D / 2 log(2 pi)

a Gaussian log-density with precision factor ``sqrt(nu_k) U_k`` and a per-component
constant carrying the digamma and log-determinant terms, so it runs on the Gaussian
kernels as they are: only the constant (``log_norm``) differs from maximum likelihood.
For "diag" and "spherical" the expected log-determinant is scikit-learn's, that of a
full Wishart with ``nu_k`` degrees of freedom.

The M-step is scikit-learn's, from the summed statistics (second moments about the
E-step's means), ``reg_covar`` included where scikit-learn adds it: to each
component's sample covariance before the Wishart update.

The objective is scikit-learn's evidence lower bound, constants omitted (see
``VariationalGaussianFamily.objective``).
"""

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_init_array, check_option
from .gaussian import GaussianFamily, _outer, precisions_of
from .gaussian_prior import _check_finite_float, _covariance_prior
from .mixing import EMPTY_COUNT

WEIGHT_CONCENTRATION_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")

# scikit-learn's default mean_precision_prior
DEFAULT_MEAN_PRECISION = 1.0

# Below this the digamma function is raised by its recurrence; from here on its
# asymptotic series to the x**-14 term is exact to rounding (the next term is < 1e-16).
_DIGAMMA_ASYMPTOTIC = 10.0


# -- special functions (NumPy only: scipy is not a runtime dependency) ---------------------
def digamma(x):
    """The digamma function of positive ``x`` (array-like), float64.

    ``psi(x) = psi(x + 1) - 1 / x`` raises every value to at least 10, where
    ``psi(x) = log x - 1 / (2x) - sum_n B_2n / (2n x^2n)`` is taken to n = 7.  Within a
    few units of rounding of scipy.special.digamma, relative to ``max(1, |psi(x)|)``.
    """
    x = np.array(x, dtype=np.float64)  # a copy: raised in place below
    result = np.zeros_like(x)
    low = x < _DIGAMMA_ASYMPTOTIC
    while low.any():
        result[low] -= 1.0 / x[low]
        x[low] += 1.0
        low = x < _DIGAMMA_ASYMPTOTIC
    t = 1.0 / (x * x)
    series = t * (1 / 12 - t * (1 / 120 - t * (1 / 252 - t * (1 / 240 - t * (1 / 132 - t * (691 / 32760 - t / 12))))))
    return result + np.log(x) - 0.5 / x - series


def gammaln(x):
    """``log Gamma(x)`` elementwise (math.lgamma), float64 of x's shape."""
    x = np.asarray(x, dtype=np.float64)
    return np.array([math.lgamma(value) for value in x.ravel()]).reshape(x.shape)


def _wishart_digamma_sum(degrees_of_freedom, n_features):
    """``sum_{i<D} psi((nu - i) / 2)`` per component: E[log |Lambda|] less D log 2 and
    log |W|."""
    halves = 0.5 * (degrees_of_freedom[:, None] - np.arange(n_features))
    return digamma(halves).sum(axis=1)


def _wishart_gammaln_sum(degrees_of_freedom, n_features):
    """``sum_{i<D} log Gamma((nu - i) / 2)`` per component (the Wishart normaliser)."""
    halves = 0.5 * (degrees_of_freedom[:, None] - np.arange(n_features))
    return gammaln(halves).sum(axis=1)


# -- parameters and prior ---------------------------------------------------------------------
@dataclass(frozen=True)
class VariationalParams:
    """The variational posterior of a Gaussian mixture (float64), in scikit-learn's names.

    It has the attributes of ``GaussianParams`` (``weights``, ``means``, ``covariances``,
    ``precisions_cholesky``, ``covariance_type``, ``precisions``), which are those of
    the expected parameters, so ``GaussianFamily``'s E-step, posterior and sampling take
    it as they are.

    Attributes
    ----------
    weight_concentration : ndarray
        (n_components,) the Dirichlet's parameters, or (2, n_components) the Beta
        parameters (a_k, b_k) of the stick fractions of a Dirichlet process.
    mean_precision : ndarray of shape (n_components,)
        beta_k.
    means : ndarray of shape (n_components, n_features)
        m_k.
    degrees_of_freedom : ndarray of shape (n_components,)
        nu_k ("tied": n_components equal values).
    covariances : ndarray
        ``(nu_k W_k)^-1`` in scikit-learn's shape for ``covariance_type``.
    precisions_cholesky : ndarray, same shape as ``covariances``
        Its inverse's upper factor, ``sqrt(nu_k) U_k`` (diag, spherical: ``1/sqrt``).
    covariance_type : str
    """

    weight_concentration: np.ndarray
    mean_precision: np.ndarray
    means: np.ndarray
    degrees_of_freedom: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str

    @property
    def weights(self):
        """E[pi] (renormalised over the K sticks of a Dirichlet process, as scikit-learn)."""
        concentration = self.weight_concentration
        if concentration.ndim == 2:
            a, b = concentration
            weights = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
        else:
            weights = concentration
        return weights / weights.sum()

    @property
    def precisions(self):
        return precisions_of(self.precisions_cholesky, self.covariance_type)


@dataclass(frozen=True)
class VariationalPrior:
    """The prior of the variational mixture, every part resolved (float64).

    Attributes
    ----------
    weight_concentration_type : {"dirichlet_process", "dirichlet_distribution"}
    weight_concentration : float > 0
        The Dirichlet's parameter of every component, or the Dirichlet process's
        concentration (each stick fraction Beta(1, it)).
    mean_precision : float > 0, beta_0
    mean : ndarray of shape (n_features,), m_0
    degrees_of_freedom : float > n_features - 1, nu_0
    covariance : ndarray, W_0^-1: (D, D) for "full" and "tied", (D,) for "diag", () for "spherical"
    """

    weight_concentration_type: str
    weight_concentration: float
    mean_precision: float
    mean: np.ndarray
    degrees_of_freedom: float
    covariance: np.ndarray

    def weight_concentration_posterior(self, nk):
        """q(pi)'s parameters from the (weighted) counts ``nk``: (2, K) or (K,)."""
        if self.weight_concentration_type == "dirichlet_process":
            later = np.concatenate([np.cumsum(nk[::-1])[-2::-1], [0.0]])  # sum_{j > k} n_j
            return np.stack([1.0 + nk, self.weight_concentration + later])
        return self.weight_concentration + nk


def check_variational_prior_settings(values, owner):
    """The prior settings (a dict of ``PRIOR_PARAMETERS``, None where unset, and
    "weight_concentration_prior_type") checked for what does not depend on the data."""
    checked = dict(values)
    checked["weight_concentration_prior_type"] = check_option(
        values["weight_concentration_prior_type"], "weight_concentration_prior_type", owner,
        WEIGHT_CONCENTRATION_PRIOR_TYPES,
    )
    for name in ("weight_concentration_prior", "mean_precision_prior", "degrees_of_freedom_prior"):
        if values[name] is not None:
            checked[name] = _check_finite_float(values[name], name, owner, 0.0, low_open=True)
    return checked


def resolve_variational_prior(settings, covariance_type, n_components, n_features, data_moments, owner):
    """The ``VariationalPrior`` of checked ``settings`` with scikit-learn's defaults:
    concentration 1 / n_components, mean precision 1, the data's mean, n_features
    degrees of freedom, and the data's covariance (its diagonal for "diag", its mean
    variance for "spherical").  ``data_moments()`` returns the data's weighted mean
    (D,) and covariance (D, D); it is called only when a default needs it, after every
    given part is checked."""
    nu = settings["degrees_of_freedom_prior"]
    if nu is None:
        nu = float(n_features)
    elif not nu > n_features - 1:
        raise ValueError(  # scikit-learn's words, so that code matching them keeps working
            f"The parameter 'degrees_of_freedom_prior' should be greater than {n_features - 1}, but got {nu:.3f}."
        )
    mean = covariance = None
    if settings["mean_prior"] is not None:
        mean = check_init_array(settings["mean_prior"], "mean_prior", (n_features,), "(n_features,)")
    if settings["covariance_prior"] is not None:
        covariance = _covariance_prior(settings["covariance_prior"], covariance_type, n_features, owner)
    if mean is None or covariance is None:
        data_mean, data_covariance = data_moments()
        if mean is None:
            mean = np.array(data_mean, dtype=np.float64)
        if covariance is None:
            data_covariance = np.asarray(data_covariance, dtype=np.float64)
            covariance = {
                "full": data_covariance,
                "tied": data_covariance,
                "diag": np.diagonal(data_covariance).copy(),
                "spherical": np.array(np.diagonal(data_covariance).mean()),
            }[covariance_type]
    alpha, kappa = settings["weight_concentration_prior"], settings["mean_precision_prior"]
    return VariationalPrior(
        weight_concentration_type=settings["weight_concentration_prior_type"],
        weight_concentration=1.0 / n_components if alpha is None else alpha,
        mean_precision=DEFAULT_MEAN_PRECISION if kappa is None else kappa,
        mean=mean,
        degrees_of_freedom=nu,
        covariance=covariance,
    )


# -- the family ------------------------------------------------------------------------------
class VariationalGaussianFamily(GaussianFamily):
    """Variational Bayes for a Gaussian mixture of any ``covariance_type``.

    ``GaussianFamily``'s E-step and posterior with the expected log-weights of
    ``VariationalParams`` (``_kernel_args``: the same means and precision factors, the
    log-normaliser replaced), the variational M-step, and the evidence lower bound as
    the objective.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of each component's sample covariance in the M-step.
    prior : VariationalPrior
    """

    name = "variational_gaussian"

    def __init__(self, covariance_type, reg_covar, prior):
        super().__init__(covariance_type, reg_covar)
        self.prior = prior  # the variational prior; the MAP code paths it would steer are overridden

    # -- E-step ---------------------------------------------------------------------
    def expected_log_norm(self, params):
        """The E-step's constant per component: ``E[log pi_k] + 0.5 E[log |Lambda_k|]
        - D / (2 beta_k) - D / 2 log(2 pi)`` plus the log-determinant of the precision
        factor ``sqrt(nu_k) U_k`` that the kernels' quadratic form uses, less the
        ``D / 2 log nu_k`` that factor adds (scikit-learn's ``_estimate_log_prob``)."""
        n_components, n_features = params.means.shape
        nu = params.degrees_of_freedom
        log_lambda = n_features * math.log(2.0) + _wishart_digamma_sum(nu, n_features)
        return (
            expected_log_weights(params.weight_concentration)
            + self.log_det_precisions_cholesky(params.precisions_cholesky, n_components, n_features)
            - 0.5 * n_features * np.log(nu)
            + 0.5 * (log_lambda - n_features / params.mean_precision)
            - 0.5 * n_features * math.log(2 * math.pi)
        )

    def _log_norm(self, params):
        # the kernels (and a tied model's whitened form) take the expected constants
        return self.expected_log_norm(params)

    # -- M-step ---------------------------------------------------------------------
    def m_step(self, stats, previous=None, update=None):
        """The variational parameters given the E-step's ``stats`` (scikit-learn's
        ``_m_step``).  ``previous`` and ``update`` are not used: every part is updated.

        With ``n_k`` the counts (plus ``EMPTY_COUNT``, as scikit-learn), ``xbar_k`` the
        sample means and ``S_k`` the sample covariances plus ``reg_covar``:
        ``beta_k = beta_0 + n_k``, ``m_k = (beta_0 m_0 + n_k xbar_k) / beta_k``,
        ``nu_k = nu_0 + n_k`` and ``nu_k covariances_k = W_0^-1 + n_k S_k + n_k beta_0 /
        beta_k (xbar_k - m_0)(xbar_k - m_0)^T`` ("diag": the diagonal; "spherical": the
        mean over the features; "tied": ``nu = nu_0 + N / K`` and the sums over the
        components divided by K).
        """
        prior, kind = self.prior, self.covariance_type
        nk = stats.nk + EMPTY_COUNT  # scikit-learn's counts: an empty component stays finite
        n_components, n_features = stats.sx.shape
        offset = stats.sx / nk[:, None]  # sample means less the shift
        gap = (stats.shift - prior.mean) + offset  # sample means less the prior mean
        kappa0 = prior.mean_precision
        mean_precision = kappa0 + nk
        means = stats.shift + (stats.sx + kappa0 * (prior.mean - stats.shift)) / mean_precision[:, None]
        shrink = nk * kappa0 / mean_precision  # n_k beta_0 / beta_k
        diagonal = np.arange(n_features)
        if kind == "full":
            sample = stats.sxx / nk[:, None, None] - _outer(offset, offset)
            sample[:, diagonal, diagonal] += self.reg_covar
            nu = prior.degrees_of_freedom + nk
            scaled = prior.covariance + nk[:, None, None] * sample + shrink[:, None, None] * _outer(gap, gap)
            covariances = scaled / nu[:, None, None]
        elif kind == "tied":
            total = nk.sum()
            sample = (stats.sxx.sum(axis=0) - np.einsum("k,kd,ke->de", nk, offset, offset)) / total
            sample[diagonal, diagonal] += self.reg_covar
            nu = np.full(n_components, prior.degrees_of_freedom + total / n_components)
            scaled = (
                prior.covariance + sample * (total / n_components)
                + np.einsum("k,kd,ke->de", shrink, gap, gap) / n_components
            )
            covariances = scaled / nu[0]
        else:
            sample = stats.sxx / nk[:, None] - offset**2 + self.reg_covar
            nu = prior.degrees_of_freedom + nk
            if kind == "diag":
                scaled = prior.covariance + nk[:, None] * sample + shrink[:, None] * gap**2
                covariances = scaled / nu[:, None]
            else:
                scaled = prior.covariance + nk * sample.mean(axis=1) + shrink * (gap**2).mean(axis=1)
                covariances = scaled / nu
        if kind in ("full", "tied"):
            covariances = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
        return VariationalParams(
            weight_concentration=prior.weight_concentration_posterior(nk),
            mean_precision=mean_precision,
            means=means,
            degrees_of_freedom=nu,
            covariances=covariances,
            precisions_cholesky=self.precisions_cholesky_from_covariances(covariances),
            covariance_type=kind,
        )

    # -- the bound ------------------------------------------------------------------
    def objective(self, stats, params):
        """scikit-learn's evidence lower bound of the responsibilities of ``params`` (the
        E-step that gave ``stats``) and the parameters the M-step makes of them, a total
        over the (weighted) rows, not per sample.

        With ``q(Z)`` fixed, the M-step maximises the bound over the rest, and what is
        left of the bound there is the entropy of ``q(Z)`` plus the log-normalisers of
        the posterior factors (scikit-learn's ``_compute_lower_bound``, its constant
        terms omitted, as there):

            H[q(Z)] + sum_k [nu_k log|L_k| + nu_k D / 2 log 2 + sum_i log Gamma((nu_k - i) / 2)]
            + log B(q(pi)) - D / 2 sum_k log beta_k

        (``L_k`` the Cholesky factor of W_k, ``log B`` the log of the Dirichlet's or the
        Beta sticks' normalising integral).  As a function of ``params`` it never
        decreases under EM: the next E-step raises the bound with the parameters held,
        the M-step after it raises it with the responsibilities held.

        The entropy comes from the statistics, with no (N, K) array: each row's
        ``sum_k r log r`` is ``sum_k r l_k - log sum_k exp(l_k)`` for the E-step's
        log-weights ``l_k = log_norm_k - 0.5 (x - m_k)^T P_k (x - m_k)``, so
        ``H = loglik - sum_k n_k log_norm_k + 0.5 sum_k tr(P_k S_k)`` with ``S_k`` the
        second moments about ``m_k`` (the statistics' shift).
        """
        entropy = stats.loglik - stats.nk @ self.expected_log_norm(params) + 0.5 * self._quadratic(stats, params)
        return entropy + self.log_normalisers(self.m_step(stats))

    def _quadratic(self, stats, params):
        """``sum_k tr(P_k S_k)`` for the precisions ``P_k`` of ``params`` and the second
        moments ``S_k`` of ``stats`` (about the means of ``params``)."""
        precisions = params.precisions
        kind = self.covariance_type
        if kind == "full":
            return float(np.einsum("kde,kde->", precisions, stats.sxx))
        if kind == "tied":
            return float(np.sum(precisions * stats.sxx.sum(axis=0)))
        if kind == "diag":
            return float(np.sum(precisions * stats.sxx))
        return float(precisions @ stats.sxx.sum(axis=1))

    def log_normalisers(self, params):
        """The parameter part of the bound (see ``objective``), for the parameters an
        M-step made."""
        n_components, n_features = params.means.shape
        nu = params.degrees_of_freedom
        # log|L_k|: the factor of the expected precision nu_k W_k, less D / 2 log nu_k
        log_det = self.log_det_precisions_cholesky(params.precisions_cholesky, n_components, n_features)
        log_det = log_det - 0.5 * n_features * np.log(nu)
        wishart = nu * log_det + 0.5 * n_features * math.log(2.0) * nu + _wishart_gammaln_sum(nu, n_features)
        concentration = params.weight_concentration
        if concentration.ndim == 2:
            a, b = concentration
            weights = float(np.sum(gammaln(a) + gammaln(b) - gammaln(a + b)))
        else:
            weights = float(np.sum(gammaln(concentration)) - math.lgamma(concentration.sum()))
        return float(wishart.sum()) + weights - 0.5 * n_features * float(np.log(params.mean_precision).sum())


def expected_log_weights(concentration):
    """``E[log pi_k]`` under q(pi): a Dirichlet (K,) or Beta sticks (2, K)."""
    if concentration.ndim == 2:
        a, b = concentration
        digamma_sum = digamma(a + b)
        earlier = np.concatenate([[0.0], np.cumsum(digamma(b) - digamma_sum)[:-1]])  # sum_{j<k} E[log(1 - v_j)]
        return digamma(a) - digamma_sum + earlier
    return digamma(concentration) - digamma(concentration.sum())
