"""Missing values (NaN) in a Gaussian mixture: E-steps, posteriors and imputation on the
kernels of complete rows.

Entries are missing at random.  The marginal of a Gaussian on the observed coordinates
``o`` of a row is the Gaussian of ``means[k, o]`` and ``Sigma_k[o, o]``, so a row's
log-densities and responsibilities come from its observed features; its missing ones
``m`` given those are Gaussian too,

    x_m | x_o, k  ~  N(mu_m + B_k (x_o - mu_o), C_k),
    B_k = Sigma_mo Sigma_oo^-1,   C_k = Sigma_mm - B_k Sigma_om,

and the M-step takes the expected statistics of the complete data under that
conditional (Ghahramani and Jordan 1994).  EM then never decreases the log-likelihood
of the observed data.

Nothing here is a kernel and there is no second EM loop.  A block of rows is grouped by
missingness pattern; each pattern's rows, gathered into a copy of their observed
columns (in the data's dtype), run through the family's E-step of complete rows under
the marginal parameters (the same covariance type on ``o``: the factor of
``Sigma_oo`` for full and tied covariances, the observed variances for diagonal and
spherical ones), which gives per component ``n_k``, ``sum r (x_o - mu_o)``, the second
moments about ``mu_o`` and the observed-data log-likelihood.  Because
``E[x_m - mu_m | x_o, k] = B_k (x_o - mu_o)`` is linear in ``x_o - mu_o``, those
statistics *lift* exactly to the statistics of all D coordinates (``lift``), and the
lifted statistics of every pattern add like any others.  The marginal factors of a
pattern are formed once per E-step and shared by its blocks.  A block without NaN
takes the complete rows' path untouched, so data without NaN fit exactly as with
``missing="raise"``.

The modes work per pattern: the responsibilities of a pattern's rows come from its
kernel run (soft, hard, or sampled), and the statistics of their missing entries are
the conditional expectations given the component the row was put in (or drawn for).
``first_row`` positions: within a block with NaN, the rows are taken pattern by
pattern, and the kernel sees them at consecutive positions from the block's first
(``first_row + start + rows of the patterns before``): a fixed permutation of the
block's own positions.  Monte-Carlo streams and hard-EM assignment hashes therefore
stay distinct per row and repeat from one pass to the next, but a source cut into
other blocks draws other streams.
"""

from dataclasses import replace

import numpy as np

from .._kernels._jit import CHUNK_ROWS
from .._validation import every_feature_missing
from .._stats import GaussianStats

# Rows grouped by pattern at once: bounds the gathered copies, and is a multiple of the
# kernels' chunk, so that the random streams and hashes of a block without NaN are
# those of one pass.
MISSING_BLOCK_ROWS = 64 * CHUNK_ROWS


def has_missing(X):
    """True when ``X`` (a 2-D float array) holds a NaN; read a block of rows at a time,
    so that the test holds no mask of the whole array."""
    return any(np.isnan(X[start:stop]).any() for start, stop in _blocks(X.shape[0]))


def _blocks(n_rows):
    return [(start, min(start + MISSING_BLOCK_ROWS, n_rows)) for start in range(0, n_rows, MISSING_BLOCK_ROWS)]


def _patterns(missing, first_row):
    """``(position, rows, mask)`` for each missingness pattern of a block's rows:
    ``missing`` is the block's NaN mask, ``rows`` the pattern's row indices in the
    block (increasing), ``position`` the data-set position its first row is given
    (``first_row`` plus the rows of the patterns before it).  Patterns come in a fixed
    order of their masks, the complete rows' first."""
    everything = missing.all(axis=1)
    if everything.any():
        raise ValueError(every_feature_missing(first_row + int(np.flatnonzero(everything)[0])))
    n_features = missing.shape[1]
    if n_features < 63:
        # a pattern as the bits of an integer sorts far faster than as bytes (up to 16
        # features, as uint16: NumPy's stable sort of those is a radix sort)
        keys = missing.astype(np.int64) @ (np.int64(1) << np.arange(n_features, dtype=np.int64))
        if n_features <= 16:
            keys = keys.astype(np.uint16)
        order = np.argsort(keys, kind="stable")
        ordered = keys[order]
        firsts = np.flatnonzero(ordered[1:] != ordered[:-1]) + 1
    else:
        packed = np.ascontiguousarray(np.packbits(missing, axis=1))
        _, group = np.unique(packed.view(np.dtype((np.void, packed.shape[1]))).ravel(), return_inverse=True)
        order = np.argsort(group.ravel(), kind="stable")
        firsts = np.cumsum(np.bincount(group.ravel()))[:-1]
    bounds = np.concatenate([[0], firsts, [missing.shape[0]]])
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        rows = order[lo:hi]
        yield first_row + int(lo), rows, missing[rows[0]]


class _Marginal:
    """One missingness pattern under ``params``: the marginal parameters of its observed
    coordinates and the conditional of its missing ones.

    Attributes
    ----------
    observed, missing : int arrays, the coordinates ``o`` and ``m``
    params : GaussianParams on ``o`` (``params`` itself when nothing is missing)
    regression : (K, |m|, |o|) ``B_k`` (tied: the one matrix, broadcast), or None for
        diagonal and spherical covariances, whose ``B_k`` is 0
    residual : ``C_k``: (K, |m|, |m|) full, (|m|, |m|) tied, (K, |m|) variances for
        diagonal and spherical covariances
    """

    def __init__(self, family, params, mask):
        self.observed, self.missing = np.flatnonzero(~mask), np.flatnonzero(mask)
        self.regression = self.residual = None
        if not self.missing.size:
            self.params = params
            return
        o, m = self.observed, self.missing
        kind = family.covariance_type
        n_components = params.means.shape[0]
        if kind == "diag":
            covariances, factors = params.covariances[:, o], params.precisions_cholesky[:, o]
            self.residual = params.covariances[:, m]
        elif kind == "spherical":
            covariances, factors = params.covariances, params.precisions_cholesky
            self.residual = np.repeat(params.covariances[:, None], m.size, axis=1)
        else:
            stack = params.covariances[None] if kind == "tied" else params.covariances
            sigma_oo, sigma_mo = stack[:, o[:, None], o], stack[:, m[:, None], o]
            covariances = sigma_oo[0] if kind == "tied" else sigma_oo
            factors = family.precisions_cholesky_from_covariances(covariances)
            upper = factors[None] if kind == "tied" else factors
            regression = sigma_mo @ (upper @ upper.transpose(0, 2, 1))  # Sigma_mo Sigma_oo^-1
            residual = stack[:, m[:, None], m] - regression @ sigma_mo.transpose(0, 2, 1)
            residual = 0.5 * (residual + residual.transpose(0, 2, 1))
            self.regression = np.broadcast_to(regression, (n_components, m.size, o.size))
            self.residual = residual[0] if kind == "tied" else residual
        self.params = replace(params, means=params.means[:, o], covariances=covariances, precisions_cholesky=factors)

    def rows(self, block, rows):
        """The pattern's ``rows`` of ``block``, its observed columns, as a C-contiguous copy."""
        if not self.missing.size:
            return block[rows]
        return np.ascontiguousarray(block[np.ix_(rows, self.observed)])

    def lift(self, stats, means, shift, tied):
        """The statistics of all D coordinates from ``stats`` of the observed ones.

        ``stats`` are about ``shift[:, o]`` (``y = x_o - shift_o``); the lifted ones about
        ``shift``, the point the complete rows' E-step uses (the means, rounded to the
        data's dtype).  With ``d = means - shift`` (0 but for that rounding) and
        ``a_k = d_m - B_k d_o``, ``E[x_m - shift_m | x_o, k] = a_k + B_k y``, so

            sx_m  = n_k a_k + B_k sx_o
            sxx_mo = a_k sx_o^T + B_k sxx_o
            sxx_mm = n_k a_k a_k^T + a_k (B_k sx_o)^T + (B_k sx_o) a_k^T + B_k sxx_o B_k^T + n_k C_k

        and, for diagonal moments (``B_k = 0``), ``sxx_m = n_k (d_m^2 + C_k)``.  A tied
        E-step keeps only the sum over components of the second moments (first slot),
        which is all a tied M-step reads: its ``B`` is shared, so the sum lifts alone,
        with ``sum_k n_k C`` in the first slot.
        """
        if not self.missing.size:
            return stats
        o, m = self.observed, self.missing
        nk = stats.nk
        n_components, n_features = shift.shape
        offset = means - shift
        sx = np.zeros((n_components, n_features))
        sx[:, o] = stats.sx
        if self.regression is None:
            sxx = np.zeros((n_components, n_features))
            sxx[:, o] = stats.sxx
            sx[:, m] = nk[:, None] * offset[:, m]
            sxx[:, m] = nk[:, None] * (offset[:, m] ** 2 + self.residual)
        else:
            regression = self.regression
            intercept = offset[:, m] - np.einsum("kmo,ko->km", regression, offset[:, o])
            predicted = np.einsum("kmo,ko->km", regression, stats.sx)  # B_k sx_o
            sx[:, m] = nk[:, None] * intercept + predicted
            cross = intercept[:, :, None] * stats.sx[:, None, :] + regression @ stats.sxx
            inner = (
                nk[:, None, None] * intercept[:, :, None] * intercept[:, None, :]
                + intercept[:, :, None] * predicted[:, None, :]
                + predicted[:, :, None] * intercept[:, None, :]
                + regression @ stats.sxx @ regression.transpose(0, 2, 1)
            )
            if tied:
                inner[0] += nk.sum() * self.residual
            else:
                inner += nk[:, None, None] * self.residual
            sxx = np.zeros((n_components, n_features, n_features))
            sxx[:, o[:, None], o] = stats.sxx
            sxx[:, m[:, None], o] = cross
            sxx[:, o[:, None], m] = cross.transpose(0, 2, 1)
            sxx[:, m[:, None], m] = inner
        return GaussianStats(nk, sx, sxx, shift, stats.loglik, stats.weight, stats.fingerprint)

    def conditional_means(self, observed, means):
        """``E[x_m | x_o, k]`` for the gathered ``observed`` rows (n, |o|): (n, K, |m|) float64."""
        means_m = means[:, self.missing]
        if self.regression is None:
            return np.broadcast_to(means_m, (observed.shape[0],) + means_m.shape)
        centred = observed.astype(np.float64)[:, None, :] - means[None][:, :, self.observed]
        return means_m + np.einsum("kmo,nko->nkm", self.regression, centred)


class _Marginals:
    """The ``_Marginal`` of each pattern met under ``params``, formed on first use."""

    def __init__(self, family, params):
        self.family, self.params = family, params
        self._by_mask = {}

    def __getitem__(self, mask):
        key = mask.tobytes()
        if key not in self._by_mask:
            self._by_mask[key] = _Marginal(self.family, self.params, mask)
        return self._by_mask[key]


def estep_missing(family, X, sample_weight, labels, params, mode, seed, n_draws, first_row):
    """``family.estep`` of rows some of which hold NaN (arguments as in
    ``GaussianFamily.estep_complete``): the summed statistics of the observed-data
    E-step, lifted to expected statistics of every coordinate (see the module
    docstring); ``loglik`` is the log-likelihood of the observed entries."""
    marginals = _Marginals(family, params)
    shift = family.shift(params, X.dtype)
    tied = family.covariance_type == "tied"
    total = None
    for start, stop in _blocks(X.shape[0]):
        block = X[start:stop]
        weights = None if sample_weight is None else sample_weight[start:stop]
        block_labels = labels[start:stop] if labels.shape[0] else labels
        missing = np.isnan(block)
        if not missing.any():
            position = first_row + start
            parts = [family.estep_complete(block, weights, block_labels, params, mode, seed, n_draws, position)]
        else:
            parts = []
            for position, rows, mask in _patterns(missing, first_row + start):
                marginal = marginals[mask]
                stats = family.estep_complete(
                    marginal.rows(block, rows),
                    None if weights is None else weights[rows],
                    block_labels[rows] if block_labels.shape[0] else block_labels,
                    marginal.params, mode, seed, n_draws, position,
                )
                parts.append(marginal.lift(stats, params.means, shift, tied))
        for stats in parts:
            total = stats if total is None else total + stats
    return total


def posterior_missing(family, X, params, out_resp, out_log_prob, out_label, out_weighted):
    """``family.posterior`` of rows some of which hold NaN: each row's outputs under
    the marginal of its observed features, written into the outputs (each of X's rows,
    or empty where not wanted)."""
    marginals = _Marginals(family, params)
    outputs = (out_resp, out_log_prob, out_label, out_weighted)
    for start, stop in _blocks(X.shape[0]):
        block = X[start:stop]
        missing = np.isnan(block)
        if not missing.any():
            family.posterior_complete(block, params, *[out[start:stop] if out.shape[0] else out for out in outputs])
            continue
        for _, rows, mask in _patterns(missing, start):
            marginal = marginals[mask]
            parts = [np.empty((rows.size,) + out.shape[1:], out.dtype) if out.shape[0] else out for out in outputs]
            family.posterior_complete(marginal.rows(block, rows), marginal.params, *parts)
            for out, part in zip(outputs, parts):
                if out.shape[0]:
                    out[start + rows] = part


def impute_missing(family, X, params):
    """A copy of ``X`` whose NaN entries hold ``sum_k r_nk E[x_m | x_o, k]``, with
    ``r_nk`` the responsibilities of the row's observed features; rows without NaN are
    copied unchanged, and ``X`` is not written to."""
    imputed = X.copy()
    marginals = _Marginals(family, params)
    n_components = params.means.shape[0]
    no_output = (np.empty(0), np.empty(0, dtype=np.int64), np.empty((0, 0)))
    for start, stop in _blocks(X.shape[0]):
        block = X[start:stop]
        missing = np.isnan(block)
        if not missing.any():
            continue
        for _, rows, mask in _patterns(missing, start):
            marginal = marginals[mask]
            if not marginal.missing.size:
                continue
            observed = marginal.rows(block, rows)
            resp = np.empty((rows.size, n_components))
            family.posterior_complete(observed, marginal.params, resp, *no_output)
            expected = np.einsum("nk,nkm->nm", resp, marginal.conditional_means(observed, params.means))
            imputed[np.ix_(start + rows, marginal.missing)] = expected
    return imputed
