"""Bayesian linear regression: the weights are the hidden variables, and EM sets the
precision of their prior and the precision of the noise (evidence maximisation).

Model (scikit-learn's names: ``alpha`` the noise precision, ``lambda`` the weights')::

    w ~ N(0, lambda^-1 I_D),    y_n | x_n, w ~ N(w^T x_n, alpha^-1),

row n counted ``s_n`` times (its sample weight; ``W = diag(s)``, ``N = sum_n s_n``).

- E-step: the posterior of the weights, N(m, S) with
  ``S = (lambda I + alpha X^T W X)^-1`` and ``m = alpha S X^T W y``.
- M-step: ``lambda = D / (m^T m + tr S)`` and
  ``alpha = N / (||y - X m||_W^2 + tr(X^T W X S))``.
- Objective: the log evidence ``log p(y | X, alpha, lambda)``, the weights integrated
  out::

      1/2 (D log lambda + N log alpha - alpha ||y - X m||_W^2 - lambda m^T m
           + log |S| - N log 2 pi)

  which EM never lowers.

Every one of these reads the data through ``X^T W X``, ``X^T W y``, ``y^T W y`` and
``N`` alone (``RegressionStats``), and none of those depends on ``alpha`` or
``lambda``: a fit takes them in one pass over the data, before EM.  ``X^T W X = V
diag(e) V^T`` is then diagonalised once (``Design``); in that basis ``S`` is diagonal,
``1 / (lambda + alpha e)``, and the E-step, M-step and evidence are sums over the D
eigenvalues.  An EM iteration costs O(D) for the step and O(D^2) to rotate the mean
back into the features' basis; no iteration touches the data.
"""

import math
from dataclasses import dataclass

import numpy as np

from .._kernels._jit import MODE_SOFT
from .._stats import RegressionStats

# Rows per block of the statistics pass: a float64 copy of the block's (x, y) rows of
# about this many bytes (it converts float32 blocks to float64 and centres them).
BLOCK_BYTES = 4 * 2**20

# Precisions stay within exp(+-LOG_PRECISION_BOUND) (1e-150 to 1e150), so that an
# extrapolated step (SQUAREM) or data fitted exactly (alpha -> inf) cannot overflow
# ``lambda + alpha e``.
LOG_PRECISION_BOUND = 345.0

_LOG_2PI = math.log(2.0 * math.pi)


@dataclass(frozen=True)
class LinearParams:
    """The hyper-parameters EM fits.

    Attributes
    ----------
    lambda_ : float
        Precision of the weights' prior.
    alpha : float
        Precision of the noise.
    """

    lambda_: float
    alpha: float


@dataclass(frozen=True)
class Design:
    """The data of a fit, reduced once: ``X^T W X`` diagonalised, and what the E-step
    needs of ``X^T W y`` and ``y``.

    Attributes
    ----------
    eigenvalues : ndarray of shape (n_features,)
        ``e`` of ``X^T W X = V diag(e) V^T``, ascending; those below the numerical rank
        (``D * eps * max(e)``) are exactly 0.
    eigenvectors : ndarray of shape (n_features, n_features)
        ``V``.
    projected : ndarray of shape (n_features,)
        ``z = V^T X^T W y``, 0 where ``e`` is 0 (``X^T W y`` lies in the range of
        ``X^T W X``; what rounding left there would grow with ``alpha``).
    least_squares_residual : float
        ``||y - X b||_W^2`` at the least-squares ``b`` (``y^T W y - sum z^2 / e`` over
        the nonzero ``e``, at least 0), so that ``||y - X m||_W^2`` is this plus a sum
        of non-negative terms.
    weight : float
        ``N``, the sum of sample weights.
    x_mean, y_mean : ndarray of shape (n_features,), float
        Weighted means of the features and the target (the fit's centre when it has an
        intercept).
    y_var : float
        Weighted variance of the target (the default start of ``alpha`` is its inverse).
    """

    eigenvalues: np.ndarray
    eigenvectors: np.ndarray
    projected: np.ndarray
    least_squares_residual: float
    weight: float
    x_mean: np.ndarray
    y_mean: float
    y_var: float

    @property
    def n_features(self):
        return self.eigenvalues.shape[0]


@dataclass(frozen=True)
class WeightPosterior:
    """The posterior of the weights under some hyper-parameters, and the sums the M-step
    and the evidence take from it.

    Attributes
    ----------
    params : LinearParams it was computed under
    mean : ndarray of shape (n_features,), ``m``
    mean_norm2 : float, ``m^T m``
    trace_cov : float, ``tr S``
    residual : float, ``||y - X m||_W^2``
    trace_fit : float, ``tr(X^T W X S)``
    log_det_cov : float, ``log |S|``
    weight : float, ``N``
    """

    params: LinearParams
    mean: np.ndarray
    mean_norm2: float
    trace_cov: float
    residual: float
    trace_fit: float
    log_det_cov: float
    weight: float

    @property
    def n_features(self):
        return self.mean.shape[0]


class BayesianLinearFamily:
    """Bayesian linear regression as an EM family (see the module docstring).

    Parameters
    ----------
    fit_intercept : bool
        Fit about the weighted means of X and y (scikit-learn's ``BayesianRidge``: the
        intercept has no prior, ``intercept = y_mean - x_mean^T m``); otherwise about
        the origin.
    """

    name = "bayesian_linear"

    def __init__(self, fit_intercept=True):
        self.fit_intercept = fit_intercept

    # -- the one pass over the data --------------------------------------------------
    def estep(self, rows, sample_weight, params=None, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0,
              known_labels=None):
        """Moments of a block of rows (``fastem._data.RowsWithTargets``); ``params`` and the other
        arguments of a mixture's E-step do not matter: the moments do not depend on them.

        NumPy's BLAS does the work: a block's centred rows ``Z`` (float64, with the
        target as a last column, scaled by the square roots of the weights) give the
        scatter ``Z^T Z``, a symmetric rank-k update.  It measured faster than a Numba
        kernel from 16 features on (see CONTRIBUTING.md), and it runs once per fit.

        Returns
        -------
        RegressionStats
        """
        X, y = rows.X, rows.y
        n_rows, n_features = X.shape
        total = RegressionStats.zeros(n_features)
        block_rows = max(BLOCK_BYTES // (8 * (n_features + 1)), 1)
        buffer = np.empty((min(block_rows, n_rows), n_features + 1))
        for start in range(0, n_rows, block_rows):
            stop = min(start + block_rows, n_rows)
            z = buffer[:stop - start]
            z[:, :n_features] = X[start:stop]
            z[:, n_features] = y[start:stop]
            total = total + _block_moments(z, None if sample_weight is None else sample_weight[start:stop])
        return total

    # -- once per fit ---------------------------------------------------------------
    def summarise(self, stats):
        """The ``Design`` of summed statistics (one eigendecomposition, D x D)."""
        xx, xy, yy = stats.moments(centred=self.fit_intercept)
        eigenvalues, eigenvectors = np.linalg.eigh(xx)
        null = eigenvalues <= xx.shape[0] * np.finfo(np.float64).eps * max(eigenvalues[-1], 0.0)
        eigenvalues = np.where(null, 0.0, eigenvalues)
        projected = np.where(null, 0.0, eigenvectors.T @ xy)
        kept = ~null
        least_squares = max(yy - float(np.sum(projected[kept] ** 2 / eigenvalues[kept])), 0.0)
        D = stats.n_features
        return Design(
            eigenvalues=eigenvalues,
            eigenvectors=eigenvectors,
            projected=projected,
            least_squares_residual=least_squares,
            weight=float(stats.weight),
            x_mean=stats.mean[:D].copy(),
            y_mean=float(stats.mean[D]),
            y_var=float(stats.scatter[D, D] / stats.weight),
        )

    def initial_params(self, design, alpha_init=None, lambda_init=None):
        """scikit-learn's start where none is given: ``alpha = 1 / (Var(y) + eps)``,
        ``lambda = 1``."""
        alpha = 1.0 / (design.y_var + np.finfo(np.float64).eps) if alpha_init is None else alpha_init
        return LinearParams(_bounded(1.0 if lambda_init is None else lambda_init), _bounded(alpha))

    # -- EM -------------------------------------------------------------------------
    def summary_estep(self, design, params):
        """The posterior of the weights under ``params`` (``WeightPosterior``), from the
        design alone."""
        lam, alpha = params.lambda_, params.alpha
        e, z = design.eigenvalues, design.projected
        precision = lam + alpha * e  # S's eigenvalues are their inverses
        coordinates = alpha * z / precision
        positive = e > 0
        # ||y - Xm||^2 = ||y - Xb||^2 + (m - b)^T X^T W X (m - b), b the least-squares fit
        shrinkage = np.sum(lam**2 * z[positive] ** 2 / (e[positive] * precision[positive] ** 2))
        return WeightPosterior(
            params=params,
            mean=design.eigenvectors @ coordinates,
            mean_norm2=float(coordinates @ coordinates),
            trace_cov=float(np.sum(1.0 / precision)),
            residual=design.least_squares_residual + float(shrinkage),
            trace_fit=float(np.sum(e / precision)),
            log_det_cov=-float(np.sum(np.log(precision))),
            weight=design.weight,
        )

    def m_step(self, posterior, previous=None, update=None):
        """``lambda = D / (m^T m + tr S)``, ``alpha = N / (||y - X m||_W^2 + tr(X^T W X S))``."""
        lam = posterior.n_features / (posterior.mean_norm2 + posterior.trace_cov)
        with np.errstate(divide="ignore"):  # y fitted exactly: alpha is bounded below
            alpha = np.float64(posterior.weight) / (posterior.residual + posterior.trace_fit)
        return LinearParams(_bounded(lam), _bounded(alpha))

    def objective(self, posterior, params):
        """The log evidence ``log p(y | X, alpha, lambda)`` (a total over the rows, as
        scikit-learn's ``scores_``, not per unit of weight)."""
        lam, alpha, N = params.lambda_, params.alpha, posterior.weight
        return 0.5 * (
            posterior.n_features * math.log(lam)
            + N * math.log(alpha)
            - alpha * posterior.residual
            - lam * posterior.mean_norm2
            + posterior.log_det_cov
            - N * _LOG_2PI
        )

    def to_vector(self, params):
        """``(log lambda, log alpha)``: unconstrained, for SQUAREM's extrapolation."""
        return np.log([params.lambda_, params.alpha])

    def from_vector(self, vector, like=None):
        lam, alpha = np.exp(np.clip(vector, -LOG_PRECISION_BOUND, LOG_PRECISION_BOUND))
        return LinearParams(float(lam), float(alpha))

    def covariance(self, design, params):
        """The posterior covariance ``S`` of the weights, (n_features, n_features)."""
        V = design.eigenvectors
        return (V / (params.lambda_ + params.alpha * design.eigenvalues)) @ V.T


def _bounded(precision):
    bound = math.exp(LOG_PRECISION_BOUND)
    return float(min(max(precision, 1.0 / bound), bound))


def _block_moments(z, weights):
    """``RegressionStats`` of the rows ``z`` (float64, written to: centred and scaled)."""
    if weights is None:
        weight = float(z.shape[0])
        mean = z.mean(axis=0)
        z -= mean
    else:
        weight = float(weights.sum())
        if weight == 0:
            return RegressionStats.zeros(z.shape[1] - 1)
        mean = (weights @ z) / weight
        z -= mean
        z *= np.sqrt(weights)[:, None]
    return RegressionStats(weight, mean, z.T @ z)
