"""The Gaussian family: parameters, M-step, binding to the Numba kernels, sampling."""

import math
from dataclasses import dataclass

import numpy as np

from .._kernels._jit import CHUNK_ROWS, MODE_SAMPLE, MODE_SOFT
from .._kernels.gaussian import accumulate_gaussian, posterior_gaussian
from .._kernels.linalg import cholesky_lower, inverse_transpose_lower
from .._kernels.whiten import whiten
from ..exceptions import ComponentError
from .._stats import GaussianStats
from .gaussian_missing import estep_missing, has_missing, impute_missing, posterior_missing
from .mixing import EMPTY_COUNT, kernel_labels, log_weights, mixing_weights, weights_from_vector, weights_to_vector

COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# The second moments each type's statistics carry, so that the kernels of full and
# diagonal covariance serve all four: a tied covariance is a full one shared by the
# components, a spherical one a diagonal one with equal entries.
MOMENTS_TYPES = {"full": "full", "tied": "full", "diag": "diag", "spherical": "diag"}

# What X's NaN entries are: an error (the estimators check), or missing values.
MISSING_OPTIONS = ("raise", "em")

# What an M-step can update; a conditional M-step updates a subset.
PARAMETER_GROUPS = ("weights", "means", "covariances")

_EMPTY_WEIGHTS = np.empty(0)

# Rows whitened at once by a tied E-step; a multiple of the kernels' chunk, so that the
# blocks' random streams and assignment hashes are those of one pass over all rows.
TIED_BLOCK_ROWS = 64 * CHUNK_ROWS


@dataclass(frozen=True)
class GaussianParams:
    """Parameters of a Gaussian mixture (float64), in scikit-learn's shapes.

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    means : ndarray of shape (n_components, n_features)
    covariances : ndarray
        (n_components, n_features, n_features) for "full", (n_features, n_features) for
        "tied", (n_components, n_features) for "diag", (n_components,) for "spherical".
    precisions_cholesky : ndarray, same shape as ``covariances``
        Upper-triangular ``U`` with ``precision = U @ U.T`` (full, tied), or
        ``1 / sqrt(variance)`` (diag, spherical).
    covariance_type : str, optional
        Inferred from the shapes when not given; "tied" must be given where
        n_components equals n_features (its factor then has the shape of a diagonal one).
    """

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    precisions_cholesky: np.ndarray
    covariance_type: str = None

    def __post_init__(self):
        if self.covariance_type is None:
            object.__setattr__(self, "covariance_type", _type_of(self.precisions_cholesky, self.means))

    @property
    def precisions(self):
        return precisions_of(self.precisions_cholesky, self.covariance_type)


def precisions_of(precisions_cholesky, covariance_type):
    """The precisions ``U U^T`` (full, tied) or ``U**2`` (diag, spherical) of their factors."""
    if covariance_type in ("full", "tied"):
        return precisions_cholesky @ np.swapaxes(precisions_cholesky, -1, -2)
    return precisions_cholesky**2


def _type_of(precisions_cholesky, means):
    if precisions_cholesky.ndim == 3:
        return "full"
    if precisions_cholesky.ndim == 1:
        return "spherical"
    return "diag" if precisions_cholesky.shape == means.shape else "tied"


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
        raise ComponentError(_not_pd_message(bad, what, reg_covar, matrices.shape[0] == 1))
    return chol


def _not_pd_message(k, what, reg_covar, shared=False):
    if what == "precisions_init":
        return f"precisions_init{'' if shared else f'[{k}]'} is not symmetric positive definite."
    who = "The shared (tied) covariance is" if shared else f"Component {k} has a covariance that is"
    return (
        f"{who} not positive definite (the component collapsed onto too few distinct "
        f"points). Increase reg_covar (now {reg_covar:g}), lower n_components, or rescale the data."
    )


def _as_stack(matrices, covariance_type):
    """Full and tied matrices as a stack of (n, D, D) (tied: one)."""
    return matrices[None] if covariance_type == "tied" else matrices


def _outer(a, b):
    return a[:, :, None] * b[:, None, :]


class _Whitened:
    """A tied model in whitened coordinates ``y = (x - c) U`` (``U`` the shared upper
    precision factor, ``c`` the weighted mean of the means): there every component has
    unit covariance, so the diagonal kernels with unit factors compute its densities.
    ``scatter`` sums ``w y y^T`` over the blocks whitened so far."""

    def __init__(self, params, dtype, log_norm):
        n_components, n_features = params.means.shape
        self.centre = params.weights @ params.means
        self.upper = params.precisions_cholesky
        self.lower = np.ascontiguousarray(self.upper.T)
        self.means_f64 = (params.means - self.centre) @ self.upper
        self.means = np.ascontiguousarray(self.means_f64, dtype=dtype)
        self.factors = np.ones((n_components, n_features), dtype=dtype)
        self.log_norm = log_norm  # whitening keeps the densities: the same constants
        self.scatter = np.zeros((n_features, n_features))

    def blocks(self, X, sample_weight=None):
        """``(start, stop, whitened rows in X's dtype)`` for each block of rows."""
        weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight
        rows = np.empty((min(TIED_BLOCK_ROWS, X.shape[0]), X.shape[1]), dtype=X.dtype)
        for start in range(0, X.shape[0], TIED_BLOCK_ROWS):
            stop = min(start + TIED_BLOCK_ROWS, X.shape[0])
            block = rows[:stop - start]
            whiten(X[start:stop], weights[start:stop] if weights.size else weights, self.centre, self.lower, block,
                   self.scatter)
            yield start, stop, block


class GaussianFamily:
    """Gaussian mixture components of any ``covariance_type``.

    Full and tied covariances run on the full-covariance kernels (a tied factor is given
    to every component), diagonal and spherical ones on the diagonal kernels (a
    spherical factor is repeated over the features); each type's M-step then reduces
    the statistics to its own covariances.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}
    reg_covar : float
        Added to the diagonal of every covariance the M-step estimates.
    prior : ConjugatePrior or None
        None: maximum likelihood.  Otherwise the M-step takes the posterior mode under
        that prior and the objective adds its log-density (MAP-EM).
    fixed : dict, optional
        Parameter groups held at given values: "weights" (K,), "means" (K, D) and
        "covariances" (a ``(covariances, precisions_cholesky)`` pair).  No M-step
        changes them, ``reg_covar`` included.
    missing : {"raise", "em"}
        "em": NaN entries of X are missing at random; E-steps and posteriors take
        each row's observed features (``fastem._families.gaussian_missing``).  "raise":
        X has no NaN (the estimators check it), and nothing looks for them.
    """

    name = "gaussian"
    parameter_groups = PARAMETER_GROUPS
    # ECM: weights and means with the covariances held, then the covariances.
    conditional_cycles = (("weights", "means"), ("covariances",))

    def __init__(self, covariance_type, reg_covar, prior=None, fixed=None, missing="raise"):
        self.covariance_type = covariance_type
        self.reg_covar = reg_covar
        self.prior = prior
        self.fixed = {} if fixed is None else dict(fixed)
        self.missing = missing

    @property
    def moments_type(self):
        """The second moments its statistics carry: "full" (K, D, D) or "diag" (K, D)."""
        return MOMENTS_TYPES[self.covariance_type]

    # -- E-step ---------------------------------------------------------------------
    def _kernel_args(self, params, dtype):
        """(means, factors, log_norm) as the kernels take them: per component, with the
        full kernels' ``L = U.T`` applied row by row."""
        n_components, n_features = params.means.shape
        factors = params.precisions_cholesky
        if self.covariance_type == "full":
            factors = factors.transpose(0, 2, 1)
        elif self.covariance_type == "tied":
            factors = np.broadcast_to(factors.T, (n_components, n_features, n_features))
        elif self.covariance_type == "spherical":
            factors = np.broadcast_to(factors[:, None], (n_components, n_features))
        means = np.ascontiguousarray(params.means, dtype=dtype)
        return means, np.ascontiguousarray(factors, dtype=dtype), self._log_norm(params)

    def _log_norm(self, params):
        """Each component's constant in the kernels' log-densities:
        ``log weight_k + log det U_k - D/2 log(2 pi)``."""
        n_components, n_features = params.means.shape
        return (
            log_weights(params.weights)
            + self.log_det_precisions_cholesky(params.precisions_cholesky, n_components, n_features)
            - 0.5 * n_features * math.log(2 * math.pi)
        )

    def _whitened(self, params, dtype):
        """A tied model in whitened coordinates (``_Whitened``)."""
        return _Whitened(params, dtype, self._log_norm(params))

    def estep(self, X, sample_weight, params, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0, known_labels=None):
        """Statistics of the rows of ``X`` (C-contiguous float32/float64) under ``params``.

        ``mode`` is MODE_SOFT, MODE_HARD or MODE_SAMPLE (``n_draws`` labels per row from
        the random stream ``seed``); ``first_row`` is the position of ``X``'s first row
        in the whole data set (see ``fastem._kernels.gaussian.accumulate_gaussian``).
        ``known_labels`` (int64, one per row of ``X``: a component, or -1 for unknown;
        None for none) puts each labelled row wholly on its component in every mode.
        With ``missing="em"``, rows with NaN get the expected statistics of
        ``gaussian_missing.estep_missing``; X without NaN takes the path below unchanged.
        """
        if mode == MODE_SAMPLE and n_draws < 1:
            raise ValueError(f"n_draws must be at least 1 for sampled weights; got {n_draws}.")
        labels = kernel_labels(known_labels, X.shape[0])
        if self.missing == "em" and has_missing(X):
            return estep_missing(self, X, sample_weight, labels, params, mode, seed, n_draws, first_row)
        return self.estep_complete(X, sample_weight, labels, params, mode, seed, n_draws, first_row)

    def estep_complete(self, X, sample_weight, labels, params, mode, seed, n_draws, first_row):
        """``estep`` of rows without NaN; ``labels`` as the kernels take them
        (``kernel_labels``)."""
        if self.covariance_type == "tied":
            return self._tied_estep(X, sample_weight, labels, params, mode, seed, n_draws, first_row)
        means, factors, log_norm = self._kernel_args(params, X.dtype)
        stats = GaussianStats.zeros(means.astype(np.float64), self.moments_type)
        weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight
        loglik, weight, fingerprint = accumulate_gaussian(
            X, weights, labels, means, factors, log_norm, mode, seed, n_draws, first_row, stats.nk, stats.sx, stats.sxx
        )
        return GaussianStats(stats.nk, stats.sx, stats.sxx, stats.shift, loglik, weight, int(fingerprint))

    def shift(self, params, dtype):
        """The point (K, D) float64 that ``estep`` takes moments about for data of
        ``dtype``: the means as the kernels hold them (in the data's dtype; a tied
        E-step works in whitened coordinates and keeps them in float64)."""
        if self.covariance_type == "tied":
            return params.means.astype(np.float64)
        return np.asarray(params.means, dtype=dtype).astype(np.float64)

    def posterior(self, X, params, resp=False, log_prob=False, label=False, weighted_log_prob=False):
        """Per-point outputs ``(resp (N, K), log_prob (N,), label (N,), weighted_log_prob
        (N, K))``, the last ``log pi_k + log p(x | k)``; unrequested ones are None.
        With ``missing="em"``, a row with NaN gets those of its observed features."""
        n_rows, n_components = X.shape[0], params.means.shape[0]
        out_resp = np.empty((n_rows, n_components) if resp else (0, 0))
        out_log_prob = np.empty(n_rows if log_prob else 0)
        out_label = np.empty(n_rows if label else 0, dtype=np.int64)
        out_weighted = np.empty((n_rows, n_components) if weighted_log_prob else (0, 0))
        outputs = (out_resp, out_log_prob, out_label, out_weighted)
        if self.missing == "em" and has_missing(X):
            posterior_missing(self, X, params, *outputs)
        else:
            self.posterior_complete(X, params, *outputs)
        return (
            out_resp if resp else None,
            out_log_prob if log_prob else None,
            out_label if label else None,
            out_weighted if weighted_log_prob else None,
        )

    def posterior_complete(self, X, params, out_resp, out_log_prob, out_label, out_weighted):
        """``posterior`` of rows without NaN, written into the given outputs (each of
        X's rows, or empty where not wanted)."""
        if self.covariance_type == "tied":
            white = self._whitened(params, X.dtype)
            for start, stop, rows in white.blocks(X):
                outputs = [out[start:stop] if out.shape[0] else out for out in (out_resp, out_log_prob, out_label, out_weighted)]
                posterior_gaussian(rows, white.means, white.factors, white.log_norm, *outputs)
        else:
            means, factors, log_norm = self._kernel_args(params, X.dtype)
            posterior_gaussian(X, means, factors, log_norm, out_resp, out_log_prob, out_label, out_weighted)

    def impute(self, X, params):
        """A copy of ``X`` with each NaN replaced by its conditional expectation under
        the mixture, ``sum_k r_nk E[x_m | x_o, k]`` (``gaussian_missing.impute``),
        whatever ``missing`` is."""
        return impute_missing(self, X, params)

    def _tied_estep(self, X, sample_weight, labels, params, mode, seed, n_draws, first_row):
        """The E-step of a tied covariance: each block of rows is whitened by the shared
        factor once (``y = (x - c) U``, one triangular product per row for all
        components) and runs on the diagonal kernels with unit precisions; its scatter
        ``sum w y y^T`` gives the components' summed second moments, the only ones a
        tied M-step needs.  The statistics come back in the data's coordinates."""
        white = self._whitened(params, X.dtype)
        n_components, n_features = params.means.shape
        nk, white_sx = np.zeros(n_components), np.zeros((n_components, n_features))
        unused_sxx = np.zeros((n_components, n_features))
        loglik = weight = 0.0
        fingerprint = 0
        for start, stop, rows in white.blocks(X, sample_weight):
            weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight[start:stop]
            block_labels = labels[start:stop] if labels.shape[0] else labels
            block = accumulate_gaussian(
                rows, weights, block_labels, white.means, white.factors, white.log_norm, mode, seed, n_draws, first_row + start,
                nk, white_sx, unused_sxx,
            )
            loglik, weight = loglik + block[0], weight + block[1]
            fingerprint = (fingerprint + int(block[2])) % 2**64
        # Moments about the whitened means m_k: with a_k = sum r y = sx_k + n_k m_k,
        # sum_k sum r (y - m_k)(y - m_k)^T = sum w y y^T - sum_k (m a^T + a m^T - n m m^T).
        white_means, white_scatter = white.means_f64, white.scatter
        totals = white_sx + nk[:, None] * white_means
        white_scatter -= _outer(white_means, totals).sum(axis=0) + _outer(totals, white_means).sum(axis=0)
        white_scatter += np.einsum("k,kd,ke->de", nk, white_means, white_means)
        # back to the data's coordinates: x - mu = (y - m) U^-1
        inverse = np.linalg.solve(params.precisions_cholesky, np.eye(n_features))
        sxx = np.zeros((n_components, n_features, n_features))
        sxx[0] = inverse.T @ white_scatter @ inverse  # tied statistics keep only the sum over components
        return GaussianStats(nk, white_sx @ inverse, sxx, params.means.astype(np.float64), loglik, weight, fingerprint)

    # -- M-step ---------------------------------------------------------------------
    def objective(self, stats, params):
        """The objective EM raises, per unit of sample weight: the log-likelihood, plus
        the log-density of the prior at ``params`` under MAP-EM."""
        if self.prior is None:
            return stats.loglik / stats.weight
        return (stats.loglik + self.prior.log_density(params)) / stats.weight

    def m_step(self, stats, previous=None, update=None):
        """Parameters that maximise the expected log-likelihood (plus the log prior
        under MAP-EM) given ``stats``.

        With ``update`` a subset of ``PARAMETER_GROUPS`` ("weights", "means",
        "covariances"; None for all), only those groups are maximised and the others are
        taken from ``previous``, the parameters the statistics were taken under (a
        conditional M-step: ECM, and k-means, which moves the means only).  Groups in
        ``fixed`` are never maximised.  Covariances are maximised about the new means,
        or about the held ones, and get ``reg_covar`` on their diagonal.
        """
        update = PARAMETER_GROUPS if update is None else update
        update = [group for group in update if group not in self.fixed]
        prior = self.prior
        nk = stats.nk + EMPTY_COUNT  # keeps empty components finite
        if "weights" in update:
            weights = mixing_weights(stats.nk) if prior is None else prior.weights_mode(stats.nk)
        else:
            weights = self.fixed.get("weights", previous.weights if previous is not None else None)
        sample_offset = stats.sx / nk[:, None]  # each component's sample mean, about the shift
        if "means" in update:
            offset = sample_offset if prior is None else prior.means_offset(stats.sx, nk, stats.shift)
            means = stats.shift + offset
        else:
            means = self.fixed["means"] if "means" in self.fixed else previous.means
            offset = means - stats.shift
        if "covariances" not in update:
            if "covariances" in self.fixed:
                covariances, precisions_cholesky = self.fixed["covariances"]
            else:
                covariances, precisions_cholesky = previous.covariances, previous.precisions_cholesky
            return GaussianParams(weights, means, covariances, precisions_cholesky, self.covariance_type)
        gap = sample_offset - offset  # sample mean less the chosen mean (0 under ML)
        if self.covariance_type == "tied":
            # the components' summed scatter about their means: all a tied step needs
            scatter = (
                stats.sxx.sum(axis=0)
                - np.einsum("k,kd,ke->de", nk, sample_offset, sample_offset)
                + np.einsum("k,kd,ke->de", nk, gap, gap)
            )
        # Each component's spread about its chosen mean per unit weight: the spread about
        # its sample mean plus the squared distance of the two.
        elif self.moments_type == "full":
            scatter = stats.sxx / nk[:, None, None] - _outer(sample_offset, sample_offset) + _outer(gap, gap)
        else:
            scatter = stats.sxx / nk[:, None] - sample_offset**2 + gap**2
        covariances = self._covariances_step(scatter, nk, means)
        return GaussianParams(
            weights=weights,
            means=means,
            covariances=covariances,
            precisions_cholesky=self.precisions_cholesky_from_covariances(covariances),
            covariance_type=self.covariance_type,
        )

    def _covariances_step(self, scatter, nk, means):
        """This type's covariances, with ``reg_covar`` added, from ``scatter``: the summed
        scatter of all components about their means (tied), or each component's per
        unit weight (the others).  Under a prior, the posterior mode."""
        kind = self.covariance_type
        if self.prior is not None:
            if kind != "tied":
                scatter = scatter * (nk[:, None, None] if kind == "full" else nk[:, None])
            covariances = self.prior.covariances_mode(kind, scatter, nk, means)
        elif kind == "tied":
            covariances = scatter / nk.sum()
        elif kind == "spherical":
            covariances = scatter.mean(axis=1)
        else:
            covariances = scatter
        if kind in ("full", "tied"):
            covariances = 0.5 * (covariances + np.swapaxes(covariances, -1, -2))
            diagonal = np.arange(means.shape[1])
            covariances[..., diagonal, diagonal] += self.reg_covar
            return covariances
        return covariances + self.reg_covar

    # -- unconstrained form (for over-relaxed steps and SQUAREM) ---------------------
    def to_vector(self, params):
        """Parameters as one unconstrained vector: log-weights (centred), means and the
        precision Cholesky factors with the log of their diagonal.  Any vector maps back
        to valid parameters, so extrapolated steps stay valid."""
        factors = params.precisions_cholesky
        if self.moments_type == "full":
            factors = _as_stack(factors, self.covariance_type).copy()
            n_features = factors.shape[1]
            upper = np.triu_indices(n_features)
            diagonal = np.arange(n_features)
            factors[:, diagonal, diagonal] = np.log(factors[:, diagonal, diagonal])
            factor_part = factors[:, upper[0], upper[1]]
        else:
            factor_part = np.log(factors)
        return np.concatenate([weights_to_vector(params.weights), params.means.ravel(), factor_part.ravel()])

    def from_vector(self, vector, like):
        """Inverse of ``to_vector``; ``like`` gives the shapes.  Fixed groups come back
        exactly as they are held."""
        n_components, n_features = like.means.shape
        weights = weights_from_vector(vector[:n_components])
        n_means = n_components * n_features
        means = vector[n_components:n_components + n_means].reshape(n_components, n_features).copy()
        rest = vector[n_components + n_means:]
        if self.moments_type == "full":
            n_factors = 1 if self.covariance_type == "tied" else n_components
            upper = np.triu_indices(n_features)
            factors = np.zeros((n_factors, n_features, n_features))
            factors[:, upper[0], upper[1]] = rest.reshape(n_factors, -1)
            diagonal = np.arange(n_features)
            factors[:, diagonal, diagonal] = np.exp(factors[:, diagonal, diagonal])
            if self.covariance_type == "tied":
                factors = factors[0]
        else:
            factors = np.exp(rest.reshape(like.precisions_cholesky.shape))
        covariances = self.covariances_from_precisions_cholesky(factors)
        weights = self.fixed.get("weights", weights)
        means = self.fixed.get("means", means)
        covariances, factors = self.fixed.get("covariances", (covariances, factors))
        return GaussianParams(weights, means, covariances, factors, self.covariance_type)

    # -- conversions ----------------------------------------------------------------
    def precisions_cholesky_from_covariances(self, covariances):
        if self.moments_type == "full":
            chol = _cholesky_per_component(_as_stack(covariances, self.covariance_type), "covariance", self.reg_covar)
            upper = _upper_inverse_transpose(chol)
            return upper[0] if self.covariance_type == "tied" else upper
        bad = np.flatnonzero(~(covariances > 0).reshape(covariances.shape[0], -1).all(axis=1))
        if bad.size:
            raise ComponentError(_not_pd_message(bad[0], "covariance", self.reg_covar))
        return 1.0 / np.sqrt(covariances)

    def precisions_cholesky_from_precisions(self, precisions):
        """Upper factors ``U`` with ``precisions = U @ U.T`` (via the exchange matrix J:
        the lower Cholesky factor of ``J P J``, flipped back, is upper triangular)."""
        if self.moments_type == "full":
            flipped = _as_stack(precisions, self.covariance_type)[:, ::-1, ::-1]
            chol = np.ascontiguousarray(_cholesky_per_component(flipped, "precisions_init", self.reg_covar)[:, ::-1, ::-1])
            return chol[0] if self.covariance_type == "tied" else chol
        return np.sqrt(precisions)

    def covariances_from_precisions_cholesky(self, prec_chol):
        if self.moments_type == "full":
            stack = _as_stack(prec_chol, self.covariance_type)
            inv_upper = np.linalg.solve(stack, _eye_like(*stack.shape[:2]))
            covariances = inv_upper.transpose(0, 2, 1) @ inv_upper
            return covariances[0] if self.covariance_type == "tied" else covariances
        return 1.0 / prec_chol**2

    def identity_params(self, means):
        """Equal weights, the given means and unit covariances (used by k-means)."""
        n_components, n_features = means.shape
        shape = {
            "full": (n_components, n_features, n_features),
            "tied": (n_features, n_features),
            "diag": (n_components, n_features),
            "spherical": (n_components,),
        }[self.covariance_type]
        if self.moments_type == "full":
            unit = np.array(np.broadcast_to(np.eye(n_features), shape))
        else:
            unit = np.ones(shape)
        weights = np.full(n_components, 1.0 / n_components)
        return GaussianParams(weights, means, unit, unit.copy(), self.covariance_type)

    def log_det_precisions_cholesky(self, prec_chol, n_components, n_features):
        """log det of each component's precision factor, shape (n_components,)."""
        kind = self.covariance_type
        if kind == "full":
            return np.log(np.diagonal(prec_chol, axis1=1, axis2=2)).sum(axis=1)
        if kind == "tied":
            return np.full(n_components, np.log(np.diagonal(prec_chol)).sum())
        if kind == "diag":
            return np.log(prec_chol).sum(axis=1)
        return n_features * np.log(prec_chol)

    # -- model size and sampling ----------------------------------------------------
    def n_parameters(self, params):
        """Free parameters: scikit-learn's count, less the groups held fixed."""
        n_components, n_features = params.means.shape
        cov_params = {
            "full": n_components * n_features * (n_features + 1) // 2,
            "tied": n_features * (n_features + 1) // 2,
            "diag": n_components * n_features,
            "spherical": n_components,
        }[self.covariance_type]
        counts = {"weights": n_components - 1, "means": n_components * n_features, "covariances": cov_params}
        return sum(count for group, count in counts.items() if group not in self.fixed)

    def sample(self, params, n_samples, rng):
        """``n_samples`` draws and their component labels, using the RandomState ``rng``."""
        counts = rng.multinomial(n_samples, params.weights)
        n_features = params.means.shape[1]
        blocks = []
        for k, count in enumerate(counts):
            z = rng.standard_normal(size=(count, n_features))
            if self.covariance_type == "full":
                blocks.append(params.means[k] + z @ np.linalg.cholesky(params.covariances[k]).T)
            elif self.covariance_type == "tied":
                blocks.append(params.means[k] + z @ np.linalg.cholesky(params.covariances).T)
            else:
                blocks.append(params.means[k] + z * np.sqrt(params.covariances[k]))
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        return np.vstack(blocks), labels
