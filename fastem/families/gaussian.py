"""The Gaussian family: parameters, M-step, binding to the Numba kernels, sampling."""

import math
from dataclasses import dataclass

import numpy as np

from .._kernels._jit import MODE_SAMPLE, MODE_SOFT
from .._kernels.gaussian import accumulate_gaussian, posterior_gaussian
from .._kernels.linalg import cholesky_lower, inverse_transpose_lower
from ..exceptions import ComponentError
from ..stats import GaussianStats
from .mixing import EMPTY_COUNT, kernel_labels, log_weights, mixing_weights, weights_from_vector, weights_to_vector

COVARIANCE_TYPES = ("full", "diag")

# What an M-step can update; a conditional M-step updates a subset.
PARAMETER_GROUPS = ("weights", "means", "covariances")

_EMPTY_WEIGHTS = np.empty(0)


@dataclass(frozen=True)
class GaussianParams:
    """Parameters of a Gaussian mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray of shape (n_components, n_features, n_features) or (n_components, n_features)
    precisions_cholesky : ndarray, same shape as ``covariances``
        Upper-triangular ``U`` with ``precision = U @ U.T`` (full), or ``1 / sqrt(variance)`` (diag).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray

    @property
    def covariance_type(self):
        return "full" if self.precisions_cholesky.ndim == 3 else "diag"

    @property
    def precisions(self):
        pc = self.precisions_cholesky
        if pc.ndim == 3:
            return pc @ pc.transpose(0, 2, 1)
        return pc**2


def _eye_like(n_components, n_features):
    return np.broadcast_to(np.eye(n_features), (n_components, n_features, n_features))


def _upper_inverse_transpose(chol):
    """``inv(chol).T`` for a stack of lower Cholesky factors: the upper precision factor."""
    upper = np.empty_like(chol)
    inverse_transpose_lower(chol, upper)
    return upper


def _cholesky_per_component(matrices, what, reg_covar):
    """Lower Cholesky factors; names the first component that is not positive definite."""
    matrices = np.ascontiguousarray(matrices, dtype=np.float64)
    chol = np.empty_like(matrices)
    bad = cholesky_lower(matrices, chol)
    if bad >= 0:
        raise ComponentError(_not_pd_message(bad, what, reg_covar))
    return chol


def _not_pd_message(k, what, reg_covar):
    if what == "precisions_init":
        return f"precisions_init[{k}] is not symmetric positive definite."
    return (
        f"Component {k} has a covariance that is not positive definite (the component "
        f"collapsed onto too few distinct points). Increase reg_covar (now {reg_covar:g}), "
        "lower n_components, or rescale the data."
    )


class GaussianFamily:
    """Gaussian mixture components with ``covariance_type`` "full" or "diag".

    Parameters
    ----------
    covariance_type : {"full", "diag"}
    reg_covar : float
        Added to the diagonal of every covariance in the M-step.
    """

    name = "gaussian"
    parameter_groups = PARAMETER_GROUPS
    # ECM: weights and means with the covariances held, then the covariances.
    conditional_cycles = (("weights", "means"), ("covariances",))

    def __init__(self, covariance_type, reg_covar):
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar

    @property
    def moments_type(self):
        """The second moments its statistics carry: "full" (K, D, D) or "diag" (K, D)."""
        return self.covariance_type

    # -- E-step ---------------------------------------------------------------------
    def _kernel_args(self, params, dtype):
        log_norm = (
            log_weights(params.weights)
            + self.log_det_precisions_cholesky(params.precisions_cholesky)
            - 0.5 * params.means.shape[1] * math.log(2 * math.pi)
        )
        means = np.ascontiguousarray(params.means, dtype=dtype)
        factors = params.precisions_cholesky
        if factors.ndim == 3:  # the kernel applies L = U.T row by row
            factors = factors.transpose(0, 2, 1)
        return means, np.ascontiguousarray(factors, dtype=dtype), log_norm

    def estep(self, X, sample_weight, params, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0, known_labels=None):
        """Statistics of the rows of ``X`` (C-contiguous float32/float64) under ``params``.

        ``mode`` is MODE_SOFT, MODE_HARD or MODE_SAMPLE (``n_draws`` labels per row from
        the random stream ``seed``); ``first_row`` is the position of ``X``'s first row
        in the whole data set (see ``fastem._kernels.gaussian.accumulate_gaussian``).
        ``known_labels`` (int64, one per row of ``X``: a component, or -1 for unknown;
        None for none) puts each labelled row wholly on its component in every mode.
        """
        if mode == MODE_SAMPLE and n_draws < 1:
            raise ValueError(f"n_draws must be at least 1 for sampled weights; got {n_draws}.")
        means, factors, log_norm = self._kernel_args(params, X.dtype)
        stats = GaussianStats.zeros(means.astype(np.float64), self.covariance_type)
        weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight
        labels = kernel_labels(known_labels, X.shape[0])
        loglik, weight, fingerprint = accumulate_gaussian(
            X, weights, labels, means, factors, log_norm, mode, seed, n_draws, first_row, stats.nk, stats.sx, stats.sxx
        )
        return GaussianStats(stats.nk, stats.sx, stats.sxx, stats.shift, loglik, weight, int(fingerprint))

    def posterior(self, X, params, resp=False, log_prob=False, label=False, weighted_log_prob=False):
        """Per-point outputs ``(resp (N, K), log_prob (N,), label (N,), weighted_log_prob
        (N, K))``, the last ``log pi_k + log p(x | k)``; unrequested ones are None."""
        means, factors, log_norm = self._kernel_args(params, X.dtype)
        n_rows, n_components = X.shape[0], means.shape[0]
        out_resp = np.empty((n_rows, n_components) if resp else (0, 0))
        out_log_prob = np.empty(n_rows if log_prob else 0)
        out_label = np.empty(n_rows if label else 0, dtype=np.int64)
        out_weighted = np.empty((n_rows, n_components) if weighted_log_prob else (0, 0))
        posterior_gaussian(X, means, factors, log_norm, out_resp, out_log_prob, out_label, out_weighted)
        return (
            out_resp if resp else None,
            out_log_prob if log_prob else None,
            out_label if label else None,
            out_weighted if weighted_log_prob else None,
        )

    # -- M-step ---------------------------------------------------------------------
    def objective(self, stats, params):
        """The objective EM raises: the log-likelihood per unit of sample weight."""
        return stats.loglik / stats.weight

    def m_step(self, stats, previous=None, update=None):
        """Parameters that maximise the expected log-likelihood given ``stats``.

        With ``update`` a subset of ``PARAMETER_GROUPS`` ("weights", "means",
        "covariances"; None for all), only those groups are maximised and the others are taken from
        ``previous``, the parameters the statistics were taken under (a conditional
        M-step: ECM, and k-means, which moves the means only).  Covariances are
        maximised about the new means, or about the held ones, and get ``reg_covar`` on
        their diagonal.
        """
        update = PARAMETER_GROUPS if update is None else update
        nk = stats.nk + EMPTY_COUNT  # keeps empty components finite
        if "weights" in update:
            weights = mixing_weights(stats.nk)
        else:
            weights = previous.weights
        if "means" in update:
            offset = stats.sx / nk[:, None]
            means = stats.shift + offset
        else:  # moments are about previous.means (the shift): no offset to remove
            offset = np.zeros_like(stats.sx)
            means = previous.means
        if "covariances" not in update:
            return GaussianParams(weights, means, previous.covariances, previous.precisions_cholesky)
        if self.covariance_type == "full":
            covariances = stats.sxx / nk[:, None, None] - offset[:, :, None] * offset[:, None, :]
            covariances = 0.5 * (covariances + covariances.transpose(0, 2, 1))
            n_features = means.shape[1]
            covariances[:, np.arange(n_features), np.arange(n_features)] += self.reg_covar
        else:
            covariances = stats.sxx / nk[:, None] - offset**2 + self.reg_covar
        return GaussianParams(
            weights=weights,
            means=means,
            covariances=covariances,
            precisions_cholesky=self.precisions_cholesky_from_covariances(covariances),
        )

    # -- unconstrained form (for over-relaxed steps and SQUAREM) ---------------------
    def to_vector(self, params):
        """Parameters as one unconstrained vector: log-weights (centred), means and the
        precision Cholesky factors with the log of their diagonal.  Any vector maps back
        to valid parameters, so extrapolated steps stay valid."""
        factors = params.precisions_cholesky
        if factors.ndim == 3:
            n_features = factors.shape[1]
            upper = np.triu_indices(n_features)
            factors = factors.copy()
            diagonal = np.arange(n_features)
            factors[:, diagonal, diagonal] = np.log(factors[:, diagonal, diagonal])
            factor_part = factors[:, upper[0], upper[1]]
        else:
            factor_part = np.log(factors)
        return np.concatenate([weights_to_vector(params.weights), params.means.ravel(), factor_part.ravel()])

    def from_vector(self, vector, like):
        """Inverse of ``to_vector``; ``like`` gives the shapes."""
        n_components, n_features = like.means.shape
        weights = weights_from_vector(vector[:n_components])
        n_means = n_components * n_features
        means = vector[n_components:n_components + n_means].reshape(n_components, n_features)
        rest = vector[n_components + n_means:]
        if self.covariance_type == "full":
            upper = np.triu_indices(n_features)
            factors = np.zeros((n_components, n_features, n_features))
            factors[:, upper[0], upper[1]] = rest.reshape(n_components, -1)
            diagonal = np.arange(n_features)
            factors[:, diagonal, diagonal] = np.exp(factors[:, diagonal, diagonal])
        else:
            factors = np.exp(rest.reshape(n_components, n_features))
        covariances = self.covariances_from_precisions_cholesky(factors)
        return GaussianParams(weights, means.copy(), covariances, factors)

    # -- conversions ----------------------------------------------------------------
    def precisions_cholesky_from_covariances(self, covariances):
        if self.covariance_type == "full":
            chol = _cholesky_per_component(covariances, "covariance", self.reg_covar)
            return _upper_inverse_transpose(chol)
        bad = np.flatnonzero(~(covariances > 0).all(axis=1))
        if bad.size:
            raise ComponentError(_not_pd_message(bad[0], "covariance", self.reg_covar))
        return 1.0 / np.sqrt(covariances)

    def precisions_cholesky_from_precisions(self, precisions):
        """Upper factors ``U`` with ``precisions = U @ U.T`` (via the exchange matrix J:
        the lower Cholesky factor of ``J P J``, flipped back, is upper triangular)."""
        if self.covariance_type == "full":
            flipped = precisions[:, ::-1, ::-1]
            chol = _cholesky_per_component(flipped, "precisions_init", self.reg_covar)
            return np.ascontiguousarray(chol[:, ::-1, ::-1])
        return np.sqrt(precisions)

    def covariances_from_precisions_cholesky(self, prec_chol):
        if self.covariance_type == "full":
            inv_upper = np.linalg.solve(prec_chol, _eye_like(*prec_chol.shape[:2]))
            return inv_upper.transpose(0, 2, 1) @ inv_upper
        return 1.0 / prec_chol**2

    def identity_params(self, means):
        """Equal weights, the given means and unit covariances (used by k-means)."""
        n_components, n_features = means.shape
        if self.covariance_type == "full":
            unit = np.array(_eye_like(n_components, n_features))
        else:
            unit = np.ones((n_components, n_features))
        return GaussianParams(np.full(n_components, 1.0 / n_components), means, unit, unit.copy())

    @staticmethod
    def log_det_precisions_cholesky(prec_chol):
        if prec_chol.ndim == 3:
            return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        return np.log(prec_chol).sum(axis=1)

    # -- model size and sampling ----------------------------------------------------
    def n_parameters(self, params):
        n_components, n_features = params.means.shape
        if self.covariance_type == "full":
            cov_params = n_components * n_features * (n_features + 1) // 2
        else:
            cov_params = n_components * n_features
        return cov_params + n_components * n_features + n_components - 1

    def sample(self, params, n_samples, rng):
        """``n_samples`` draws and their component labels, using the RandomState ``rng``."""
        counts = rng.multinomial(n_samples, params.weights)
        n_features = params.means.shape[1]
        blocks = []
        for k, count in enumerate(counts):
            z = rng.standard_normal(size=(count, n_features))
            if self.covariance_type == "full":
                blocks.append(params.means[k] + z @ np.linalg.cholesky(params.covariances[k]).T)
            else:
                blocks.append(params.means[k] + z * np.sqrt(params.covariances[k]))
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return np.vstack(blocks), labels
