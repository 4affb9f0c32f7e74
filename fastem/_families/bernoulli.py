"""The Bernoulli family: binary features, a Beta prior on each probability."""

from dataclasses import dataclass

import numpy as np

from .._kernels._jit import MODE_SAMPLE, MODE_SOFT
from .._kernels.bernoulli import accumulate_bernoulli, posterior_bernoulli, sharing_first_compile
from .._stats import BernoulliStats
from .mixing import kernel_labels, log_weights, mixing_weights, weights_from_vector, weights_to_vector

_EMPTY_WEIGHTS = np.empty(0)

# Probabilities are evaluated at least this far from 0 and 1, so that log(0) never
# occurs (only reachable with alpha = beta = 1, plain maximum likelihood).
PROBABILITY_FLOOR = 1e-12


@dataclass(frozen=True)
class BernoulliParams:
    """Parameters of a Bernoulli mixture (float64).

    Attributes
    ----------
    weights : ndarray of shape (n_components,)
    probabilities : ndarray of shape (n_components, n_features), P(x_d = 1 | component k)
    """

    weights: np.ndarray
    probabilities: np.ndarray


class BernoulliFamily:
    """Mixture of products of Bernoulli distributions, MAP under a Beta(alpha, beta) prior.

    The M-step is ``p_kd = (sum_n w_n r_nk x_nd + alpha - 1) / (N_k + alpha + beta - 2)``
    and ``weights = N_k / N``; alpha = beta = 1 is plain maximum likelihood.  The
    objective EM raises is the log-likelihood plus the log prior density (per unit of
    sample weight).
    """

    name = "bernoulli"
    parameter_groups = ("weights", "probabilities")
    conditional_cycles = (("weights",), ("probabilities",))

    def __init__(self, alpha=1.01, beta=1.01):
        self.alpha = alpha
        self.beta = beta

    # -- E-step ---------------------------------------------------------------------
    def _tables(self, params):
        """(table (D, K), log_norm (K,)) of the kernel: log-odds and log(pi_k) + sum log(1 - p)."""
        p = np.clip(params.probabilities, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        log_not = np.log1p(-p)
        table = np.ascontiguousarray((np.log(p) - log_not).T)
        return table, log_weights(params.weights) + log_not.sum(axis=1)

    def estep(self, X, sample_weight, params, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0, known_labels=None):
        """Statistics of the rows of ``X`` (``BinaryRows``) under ``params`` (the
        arguments as in ``GaussianFamily.estep``)."""
        if mode == MODE_SAMPLE and n_draws < 1:
            raise ValueError(f"n_draws must be at least 1 for sampled weights; got {n_draws}.")
        table, log_norm = self._tables(params)
        nk = np.zeros(log_norm.shape[0])
        sx_t = np.zeros((X.n_features, log_norm.shape[0]))
        weights = _EMPTY_WEIGHTS if sample_weight is None else sample_weight
        labels = kernel_labels(known_labels, X.shape[0])
        with sharing_first_compile(X.indices.dtype):
            colptr, column_rows = X.tile_columns()
            loglik, weight, fingerprint = accumulate_bernoulli(
                X.indptr, X.indices, colptr, column_rows, weights, labels, table, log_norm, mode, seed, n_draws,
                first_row, nk, sx_t,
            )
        return BernoulliStats(nk, np.ascontiguousarray(sx_t.T), loglik, weight, int(fingerprint))

    def posterior(self, X, params, resp=False, log_prob=False, label=False, weighted_log_prob=False):
        """Per-row outputs ``(resp (N, K), log_prob (N,), label (N,), weighted_log_prob
        (N, K))``, the last ``log pi_k + log p(x | k)``; unrequested ones are None."""
        table, log_norm = self._tables(params)
        n_rows, n_components = X.shape[0], log_norm.shape[0]
        out_resp = np.empty((n_rows, n_components) if resp else (0, 0))
        out_log_prob = np.empty(n_rows if log_prob else 0)
        out_label = np.empty(n_rows if label else 0, dtype=np.int64)
        out_weighted = np.empty((n_rows, n_components) if weighted_log_prob else (0, 0))
        posterior_bernoulli(X.indptr, X.indices, table, log_norm, out_resp, out_log_prob, out_label, out_weighted)
        return (
            out_resp if resp else None,
            out_log_prob if log_prob else None,
            out_label if label else None,
            out_weighted if weighted_log_prob else None,
        )

    def log_prior(self, params):
        """Log density of the Beta prior at ``params`` (up to its constant)."""
        if self.alpha == 1.0 and self.beta == 1.0:
            return 0.0
        p = np.clip(params.probabilities, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        return float((self.alpha - 1.0) * np.log(p).sum() + (self.beta - 1.0) * np.log1p(-p).sum())

    def objective(self, stats, params):
        """The MAP objective per unit of weight: (log-likelihood + log prior) / weight."""
        return (stats.loglik + self.log_prior(params)) / stats.weight

    # -- M-step ---------------------------------------------------------------------
    def m_step(self, stats, previous=None, update=None):
        """MAP parameters from ``stats``; ``update`` (a subset of ``parameter_groups``,
        None for all) keeps the other groups from ``previous``."""
        update = self.parameter_groups if update is None else update
        nk = stats.nk
        if "weights" in update:
            weights = mixing_weights(nk)
        else:
            weights = previous.weights
        if "probabilities" in update:
            denominator = np.maximum(nk + self.alpha + self.beta - 2.0, np.finfo(np.float64).tiny)
            probabilities = (stats.sx + self.alpha - 1.0) / denominator[:, None]
        else:
            probabilities = previous.probabilities
        return BernoulliParams(weights, probabilities)

    # -- unconstrained form (for over-relaxed steps and SQUAREM) ---------------------
    def to_vector(self, params):
        """Centred log-weights and the log-odds of the probabilities."""
        p = np.clip(params.probabilities, PROBABILITY_FLOOR, 1.0 - PROBABILITY_FLOOR)
        return np.concatenate([weights_to_vector(params.weights), (np.log(p) - np.log1p(-p)).ravel()])

    def from_vector(self, vector, like):
        """Inverse of ``to_vector``; ``like`` gives the shapes."""
        n_components, n_features = like.probabilities.shape
        weights = weights_from_vector(vector[:n_components])
        log_odds = vector[n_components:].reshape(n_components, n_features)
        return BernoulliParams(weights, 1.0 / (1.0 + np.exp(-log_odds)))

    # -- model size and sampling ----------------------------------------------------
    def n_parameters(self, params):
        n_components, n_features = params.probabilities.shape
        return n_components * n_features + n_components - 1

    def sample(self, params, n_samples, rng):
        """``n_samples`` binary rows (float64 0/1) and their component labels."""
        counts = rng.multinomial(n_samples, params.weights)
        labels = np.repeat(np.arange(len(counts), dtype=np.int64), counts)
        n_features = params.probabilities.shape[1]
        X = (rng.uniform(size=(n_samples, n_features)) < params.probabilities[labels]).astype(np.float64)
        return X, labels


class BinaryKMeansFamily(BernoulliFamily):
    """K-means on binary rows, in the Bernoulli kernel's linear form.

    ``-|x - c_k|^2 / 2 = -|c_k|^2 / 2 + sum over x's ones of (c_kd - 1/2) - nnz(x) / 2``:
    the same table-plus-constant shape as a Bernoulli log-density, so hard EM on the
    Bernoulli kernel with these tables is Lloyd's algorithm (equal weights, centres in
    ``probabilities``).  Its objective is minus half the inertia per unit of weight, up to
    the constant ``-nnz / 2``.
    """

    name = "binary_kmeans"

    def __init__(self):
        super().__init__(alpha=1.0, beta=1.0)

    def _tables(self, params):
        centres = params.probabilities
        return np.ascontiguousarray((centres - 0.5).T), -0.5 * (centres**2).sum(axis=1)

    def m_step(self, stats, previous=None, update=None):
        """Centres move to the mean of their rows; an empty cluster keeps its centre."""
        centres = previous.probabilities.copy()
        filled = stats.nk > 0
        centres[filled] = stats.sx[filled] / stats.nk[filled, None]
        return BernoulliParams(previous.weights, centres)
