"""The conjugate prior of MAP-EM for Gaussian mixtures (Fraley and Raftery 2007, the
prior mclust uses), in scikit-learn's BayesianGaussianMixture names.

- weights: Dirichlet(alpha, ..., alpha), alpha >= 1 (``weight_concentration_prior``);
- each mean given its covariance: normal about ``mean_prior`` with covariance
  ``Sigma_k / kappa`` (``mean_precision_prior`` kappa);
- covariances: inverse Wishart with ``degrees_of_freedom_prior`` nu and scale
  ``covariance_prior`` Lambda (full, tied); for diagonal covariances each variance
  (spherical: the one variance) is inverse gamma with shape nu / 2 and scale Lambda / 2.

The M-step takes the posterior mode, which for the means does not depend on the
covariance: ``mu_k = (n_k xbar_k + kappa mu_p) / (n_k + kappa)``.  With ``S_k`` the scatter
of component k about ``mu_k`` and ``e_k = mu_k - mu_p``, the covariances are

- full:       (Lambda + S_k + kappa e_k e_k^T) / (nu + n_k + D + 2)
- tied:       (Lambda + sum_k (S_k + kappa e_k e_k^T)) / (nu + N + K + D + 1)
- diag:       (Lambda_j + S_k,jj + kappa e_kj^2) / (nu + n_k + 3)
- spherical:  (Lambda + tr S_k + kappa |e_k|^2) / (nu + (n_k + 1) D + 2)

``S_k + kappa e_k e_k^T`` is the ``W_k + B_k`` of the paper when the means are its modes.
"""

import math
from dataclasses import dataclass

import numpy as np

from .._validation import check_float, check_init_array
from .mixing import EMPTY_COUNT

# The paper's defaults: kappa, and nu = n_features + this.
DEFAULT_MEAN_PRECISION = 0.01
DEFAULT_EXTRA_DEGREES_OF_FREEDOM = 2


@dataclass(frozen=True)
class ConjugatePrior:
    """A conjugate prior with every part resolved (float64).

    Attributes
    ----------
    weight_concentration : float, alpha >= 1
    mean : ndarray of shape (n_features,)
    mean_precision : float, kappa > 0
    degrees_of_freedom : float, nu
    covariance : ndarray, Lambda: (D, D) for "full" and "tied", (D,) for "diag", () for "spherical"
    """

    weight_concentration: float
    mean: np.ndarray
    mean_precision: float
    degrees_of_freedom: float
    covariance: np.ndarray

    # -- posterior modes (the M-step) -------------------------------------------------
    def weights_mode(self, nk):
        """pi_k = (n_k + alpha - 1) / (N + K (alpha - 1))."""
        counts = nk + (self.weight_concentration - 1.0) + EMPTY_COUNT
        return counts / counts.sum()

    def means_offset(self, sx, nk, shift):
        """The modes of the means less ``shift``, from moments ``sx`` about ``shift``."""
        kappa = self.mean_precision
        return (sx + kappa * (self.mean - shift)) / (nk + kappa)[:, None]

    def covariances_mode(self, covariance_type, scatter, nk, means):
        """The covariances' modes from the weighted scatter about ``means``: each
        component's ((K, D, D) full, (K, D) diag and spherical) or, for tied, the sum
        over the components (D, D)."""
        kappa, nu, scale = self.mean_precision, self.degrees_of_freedom, self.covariance
        n_components, n_features = means.shape
        gap = means - self.mean
        if covariance_type == "full":
            terms = scatter + kappa * gap[:, :, None] * gap[:, None, :]
            return (scale + terms) / (nu + nk + n_features + 2)[:, None, None]
        if covariance_type == "tied":
            terms = scatter + kappa * np.einsum("kd,ke->de", gap, gap)
            return (scale + terms) / (nu + nk.sum() + n_components + n_features + 1)
        terms = scatter + kappa * gap**2
        if covariance_type == "diag":
            return (scale + terms) / (nu + nk + 3)[:, None]
        return (scale + terms.sum(axis=1)) / (nu + (nk + 1) * n_features + 2)

    # -- log-density (the objective's prior term) --------------------------------------
    def log_density(self, params):
        """log p(params) under the prior, normalised.

        A density over the covariances (not the precisions): the parametrisation whose
        modes ``covariances_mode`` takes, so that each M-step raises the objective.
        """
        return self._log_weights_density(params.weights) + self._log_component_density(params)

    def _log_weights_density(self, weights):
        alpha, n_components = self.weight_concentration, weights.shape[0]
        if alpha == 1.0:
            return math.lgamma(n_components)  # uniform on the simplex
        with np.errstate(divide="ignore"):
            log_weights = np.log(weights)
        log_beta = n_components * math.lgamma(alpha) - math.lgamma(n_components * alpha)
        return (alpha - 1.0) * log_weights.sum() - log_beta

    def _log_component_density(self, params):
        kind = params.covariance_type
        kappa, nu, scale = self.mean_precision, self.degrees_of_freedom, self.covariance
        n_components, n_features = params.means.shape
        gap = params.means - self.mean
        factors = params.precisions_cholesky
        if kind in ("full", "tied"):
            stack = factors[None] if kind == "tied" else factors
            log_det_precision = 2.0 * np.log(np.diagonal(stack, axis1=1, axis2=2)).sum(axis=1)
            # (mu - mu_p)^T P (mu - mu_p) = |U^T (mu - mu_p)|^2 with P = U U^T
            whitened = np.einsum("kd,kde->ke", gap, np.broadcast_to(stack, (n_components,) + stack.shape[1:]))
            log_means = (
                0.5 * n_features * (math.log(kappa) - math.log(2 * math.pi)) * n_components
                + 0.5 * np.broadcast_to(log_det_precision, (n_components,)).sum()
                - 0.5 * kappa * (whitened**2).sum()
            )
            traces = np.einsum("de,kdf,kef->k", scale, stack, stack)  # tr(Lambda U U^T)
            log_wishart = (
                0.5 * nu * _log_det(scale)
                - 0.5 * nu * n_features * math.log(2.0)
                - _log_multivariate_gamma(0.5 * nu, n_features)
                + 0.5 * (nu + n_features + 1) * log_det_precision
                - 0.5 * traces
            )
            return float(log_means + log_wishart.sum())
        precisions = factors**2 if kind == "diag" else np.broadcast_to(factors[:, None] ** 2, gap.shape)
        log_means = (
            0.5 * (math.log(kappa) - math.log(2 * math.pi) + np.log(precisions)) - 0.5 * kappa * precisions * gap**2
        )
        variances = 1.0 / factors**2  # (K, D) diag, (K,) spherical
        shape, rate = 0.5 * nu, 0.5 * scale
        log_gamma = (
            shape * np.log(rate) - math.lgamma(shape) - (shape + 1.0) * np.log(variances) - rate / variances
        )
        return float(log_means.sum() + log_gamma.sum())


def _log_det(matrix):
    sign, value = np.linalg.slogdet(matrix)
    return value


def _log_multivariate_gamma(a, dimension):
    return 0.25 * dimension * (dimension - 1) * math.log(math.pi) + sum(
        math.lgamma(a + 0.5 * (1 - j)) for j in range(1, dimension + 1)
    )


# -- settings --------------------------------------------------------------------------
PRIOR_PARAMETERS = (
    "weight_concentration_prior",
    "mean_precision_prior",
    "mean_prior",
    "degrees_of_freedom_prior",
    "covariance_prior",
)


def prior_attributes(prior):
    """The fitted ``*_prior_`` attributes of a resolved prior (MAP or variational)."""
    covariance = prior.covariance
    return dict(
        weight_concentration_prior_=prior.weight_concentration,
        mean_precision_prior_=prior.mean_precision,
        mean_prior_=prior.mean,
        degrees_of_freedom_prior_=prior.degrees_of_freedom,
        covariance_prior_=covariance if covariance.ndim else float(covariance),
    )


def check_prior_settings(prior, values, owner):
    """The user's prior settings checked for what does not depend on the data: a dict
    of ``PRIOR_PARAMETERS`` (None where unset), or None for maximum likelihood."""
    if prior is None:
        given = [name for name in PRIOR_PARAMETERS if values[name] is not None]
        if given:
            raise ValueError(
                f"{given[0]} is set but prior=None (maximum likelihood ignores it); set "
                f"prior='conjugate' to use it, or leave {given[0]}=None."
            )
        return None
    if prior != "conjugate":
        raise ValueError(f"The 'prior' parameter of {owner} must be None or 'conjugate'. Got {prior!r} instead.")
    checked = dict(values)
    for name, low, low_open in (
        ("weight_concentration_prior", 1.0, False),
        ("mean_precision_prior", 0.0, True),
        ("degrees_of_freedom_prior", 0.0, True),
    ):
        if values[name] is not None:
            checked[name] = _check_finite_float(values[name], name, owner, low, low_open)
    return checked


def _check_finite_float(value, name, owner, low, low_open=False):
    """``check_float``, and finite: NaN passes its range test, and an infinite
    concentration, precision or count makes the modes NaN, not an error."""
    value = check_float(value, name, owner, low, low_open=low_open)
    if not math.isfinite(value):
        raise ValueError(f"The '{name}' parameter of {owner} must be finite. Got {value!r} instead.")
    return value


def resolve_prior(settings, covariance_type, n_components, n_features, data_moments=None):
    """The ``ConjugatePrior`` of checked ``settings`` (``check_prior_settings``) for data
    of ``n_features`` features.  ``data_moments()`` returns the data's mean (D,) and
    covariance (D, D), the defaults of ``mean_prior`` and ``covariance_prior``; it is
    called only when one of them is unset, and after every given part is checked, so a
    bad setting costs no pass over the data."""
    alpha = settings["weight_concentration_prior"]
    kappa = settings["mean_precision_prior"]
    nu = settings["degrees_of_freedom_prior"]
    if nu is None:
        nu = float(n_features + DEFAULT_EXTRA_DEGREES_OF_FREEDOM)
    elif covariance_type in ("full", "tied") and not nu > n_features - 1:
        raise ValueError(
            f"degrees_of_freedom_prior must be greater than n_features - 1 = {n_features - 1} for "
            f"covariance_type={covariance_type!r} (an inverse-Wishart prior); got {nu:g}."
        )
    mean = covariance = None
    if settings["mean_prior"] is not None:
        mean = check_init_array(settings["mean_prior"], "mean_prior", (n_features,), "(n_features,)")
    if settings["covariance_prior"] is not None:
        covariance = _covariance_prior(settings["covariance_prior"], covariance_type, n_features)
    if mean is None or covariance is None:
        data_mean, data_covariance = data_moments()
        if mean is None:
            mean = np.array(data_mean, dtype=np.float64)
        if covariance is None:
            covariance = _default_covariance_prior(data_covariance, covariance_type, n_components, n_features)
    return ConjugatePrior(
        weight_concentration=1.0 if alpha is None else alpha,
        mean=mean,
        mean_precision=DEFAULT_MEAN_PRECISION if kappa is None else kappa,
        degrees_of_freedom=nu,
        covariance=covariance,
    )


def _default_covariance_prior(data_covariance, covariance_type, n_components, n_features):
    """The paper's Lambda: the data covariance over K^(2/D), in the type's shape."""
    scaled = np.asarray(data_covariance, dtype=np.float64) / n_components ** (2.0 / n_features)
    if covariance_type in ("full", "tied"):
        return scaled
    if covariance_type == "diag":
        return np.diagonal(scaled).copy()
    return np.array(np.trace(scaled) / n_features)


def _covariance_prior(value, covariance_type, n_features, owner="GaussianMixture"):
    """The user's Lambda, checked for the type's shape (``owner`` names the estimator)."""
    if covariance_type == "spherical":
        return np.array(_check_finite_float(value, "covariance_prior", owner, 0.0, low_open=True))
    if covariance_type == "diag":
        scale = check_init_array(value, "covariance_prior", (n_features,), "(n_features,)")
        if (scale <= 0).any():
            raise ValueError(f"covariance_prior must be positive; entry {np.flatnonzero(scale <= 0)[0]} is <= 0.")
        return scale
    scale = check_init_array(value, "covariance_prior", (n_features, n_features), "(n_features, n_features)")
    # allclose's tolerances with atol scaled to the matrix, so that the rounding of a
    # float32 computation passes and a small scale is not symmetric by atol alone.
    if not np.allclose(scale, scale.T, atol=1e-8 * np.abs(scale).max()):
        raise ValueError("covariance_prior is not symmetric.")
    scale = 0.5 * (scale + scale.T)  # Cholesky reads one triangle; the density uses both
    try:
        np.linalg.cholesky(scale)
    except np.linalg.LinAlgError:
        raise ValueError("covariance_prior is not positive definite.") from None
    return scale
