"""The Gaussian kernel with rows innermost: full covariances with few features, and
diagonal covariances (their log-densities from ``gaussian_diag.log_prob_t``).

With D features a full-covariance component costs D (D + 1) / 2 multiply-adds per row
for its log-density and as many for its moments.  At D = 4 that is 10: loops over
features are too short to vectorise, and the per-row work around them (a row's
log-sum-exp over components, its weights) dominates.  This kernel turns the tile
around: a tile of NARROW_TILE_ROWS rows is transposed once to (D, rows), and every
loop -- centring, ``L @ (x - mean)``, the log-sum-exp over components, the weights and
the moments -- runs over the tile's rows, so each vectorises across rows.  (Their count
is read from an array's shape, not a constant: with a constant trip count LLVM unrolls
these loops completely and leaves them scalar, which measured 1.7x slower.)

Per tile it holds the log-densities as ``logp_t[k, i]`` (components by rows).  The
densities, exps, weights and a tile's moments are in X's dtype (float32 data: twice
the lanes), and a tile's sums enter the float64 accumulators once per tile and
component.  Soft weights are formed for the whole tile at once (sampled weights are
drawn from them row by row); hard weights reuse the per-row code of ``weights``.
"""

import numpy as np

from . import gaussian_diag
from ._jit import MODE_HARD, MODE_SAMPLE, kernel
from .weights import hard_row, tile_posterior, tile_row_weights, tile_weight_buffers, tile_weights

# Rows of this kernel's tiles.  Its loops over a tile's rows are short vector loops, each
# with a fixed cost (runtime alias checks, the horizontal sum of a reduction): 256 rows
# rather than 32 took the moments of 1M x 4, K = 8 from 51 to 15 ms (one thread).
NARROW_TILE_ROWS = 256

# Up to this many features the rows-innermost kernel is used for full covariances.
# Measured against the wide kernel (ns per row, one thread): K = 8, D = 4, 8, 16: 42 /
# 150, 95 / 237, 273 / 390; K = 16, D = 16, 32, 48: 322 / 693, 1296 / 1479, 3502 / 2271.
NARROW_FEATURES = 32

# Bytes per feature of a diagonal tile: 128 float64 or 256 float32 rows.  Row 1 of the
# benchmark (1M x 32, K = 32), soft pass, one thread, with 512 / 1024 / 2048 bytes:
# float64 0.166 / 0.152 / 0.279 s, float32 0.102 / 0.097 / 0.186 s.
DIAG_TILE_BYTES = 1024


@kernel()
def transpose_tile(X, start, stop, xt):
    """xt[d, i] = X[start + i, d]; rows past ``stop`` are zero."""
    n_rows = stop - start
    for i in range(xt.shape[1]):
        if i < n_rows:
            for d in range(X.shape[1]):
                xt[d, i] = X[start + i, d]
        else:
            for d in range(X.shape[1]):
                xt[d, i] = 0.0


@kernel()
def centre(xt, mean, xc):
    """xc[d, i] = xt[d, i] - mean[d]."""
    n_features, n_rows = xt.shape
    for d in range(n_features):
        m = mean[d]
        for i in range(n_rows):
            xc[d, i] = xt[d, i] - m


@kernel()
def log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t):
    """logp_t[k, i] = log_norm[k] - |factors[k] @ (xt[:, i] - means[k])|^2 / 2.

    xc : (D, n) in X's dtype, the centred tile.
    ys : (2, n) in X's dtype, one row of ``L @ xc`` and the running sums of squares.
    The first term of each row of ``L @ xc`` sets it and the first square sets the
    sums, which saves a zeroing pass over the rows per feature.
    """
    n_features, n_rows = xt.shape
    y = ys[0]
    s = ys[1]
    for k in range(means.shape[0]):
        lower = factors[k]
        centre(xt, means[k], xc)
        for d in range(n_features):
            f = lower[d, 0]
            for i in range(n_rows):
                y[i] = f * xc[0, i]
            for j in range(1, d + 1):
                f = lower[d, j]
                for i in range(n_rows):
                    y[i] += f * xc[j, i]
            if d == 0:
                for i in range(n_rows):
                    s[i] = y[i] * y[i]
            else:
                for i in range(n_rows):
                    s[i] += y[i] * y[i]
        norm = log_norm[k]
        for i in range(n_rows):
            logp_t[k, i] = norm - 0.5 * s[i]


@kernel()
def tile_moments_t(xt, mean, resp, xc, wx, sx, acc):
    """Add one component's moments of a tile about ``mean`` (rows innermost).

    resp : (n,) weights in X's dtype, zero past the tile's rows.
    xc, wx : (D, n) work arrays in X's dtype.
    sx : (D,) float64, gets sum_i resp_i (x_i - mean).
    acc : (D, D) float64, its upper triangle gets sum_i resp_i (x_i - mean)(x_i - mean)^T.
    The sums over the tile are formed in X's dtype.
    """
    n_features, n_rows = xt.shape
    zero = xc.dtype.type(0.0)
    centre(xt, mean, xc)
    for d in range(n_features):
        s = zero
        for i in range(n_rows):
            v = resp[i] * xc[d, i]
            wx[d, i] = v
            s += v
        sx[d] += s
    for j in range(n_features):
        for d in range(j, n_features):
            s = zero
            for i in range(n_rows):
                s += wx[j, i] * xc[d, i]
            acc[j, d] += s


@kernel()
def tile_rows(factors, X):
    """Rows per tile: NARROW_TILE_ROWS for full covariances, DIAG_TILE_BYTES // itemsize
    for diagonal ones."""
    if factors.ndim == 3:
        return NARROW_TILE_ROWS
    return DIAG_TILE_BYTES // X.itemsize


@kernel()
def any_log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t):
    """Log-densities of a transposed tile, full (``factors.ndim == 3``) or diagonal."""
    if factors.ndim == 3:
        log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t)
    else:
        gaussian_diag.log_prob_t(xt, means, factors, log_norm, logp_t)


@kernel()
def chunk_stats(X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx):
    """``gaussian._chunk_stats`` for full covariances with few features: the statistics
    of rows ``start:stop`` in ``nk, sx, sxx`` (upper triangles); returns (log-likelihood,
    total sample weight, assignment fingerprint)."""
    n_components, n_features = means.shape
    dtype = X.dtype
    sx[:] = 0.0
    sxx[:] = 0.0
    n_rows = tile_rows(factors, X)
    xt = np.empty((n_features, n_rows), dtype=dtype)
    xc = np.empty((n_features, n_rows), dtype=dtype)
    wx = np.empty((n_features, n_rows), dtype=dtype)
    y = np.empty((2, n_rows), dtype=dtype)
    logp_t = np.empty((n_components, n_rows), dtype=dtype)
    weights_t, top, total, log_prob, row = tile_weight_buffers(n_components, n_rows, X)
    w = np.empty(n_rows)
    work = np.empty((2, 1, n_features), dtype=dtype)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    nk[:] = 0.0
    for tile_start in range(start, stop, n_rows):
        tile_stop = min(tile_start + n_rows, stop)
        n_used = tile_stop - tile_start
        weight = tile_row_weights(sample_weight, tile_start, n_used, w, weight)
        transpose_tile(X, tile_start, tile_stop, xt)
        any_log_prob_t(xt, means, factors, log_norm, xc, y, logp_t)
        # Weights enter the moments in X's dtype; nk of hard and sampled weights (whole
        # sample weights, draw frequencies) is summed from their float64 values, exactly.
        if mode == MODE_HARD:
            weights_t[:] = 0.0
            for i in range(n_used):
                row[:] = logp_t[:, i]
                label, term, row_hash = hard_row(row, w[i], first_row + tile_start + i)
                loglik += w[i] * term
                fingerprint += row_hash
                if label >= 0:
                    weights_t[label, i] = w[i]
                    nk[label] += w[i]
        else:
            loglik = tile_weights(
                loglik, logp_t, w, n_used, mode, n_draws, state, top, total, log_prob, row, nk, weights_t
            )
        for k in range(n_components):
            total_k = 0.0
            for i in range(n_rows):
                total_k += weights_t[k, i]
            if total_k == 0.0:
                continue  # nothing to add for this component
            if mode != MODE_HARD and mode != MODE_SAMPLE:
                nk[k] += total_k
            if factors.ndim == 3:
                tile_moments_t(xt, means[k], weights_t[k], xc, wx, sx[k], sxx[k])
            else:
                gaussian_diag.tile_moments(X, tile_start, tile_stop, means[k], weights_t[k], sx[k], sxx[k], work)
    return loglik, weight, fingerprint


@kernel()
def posterior_chunk(X, start, stop, means, factors, log_norm, out_resp, out_log_prob, out_label):
    """``gaussian.posterior_gaussian`` for rows ``start:stop``, through the same
    log-densities and soft weights as ``chunk_stats`` (so a sampled E-step draws from
    exactly the posterior reported here)."""
    n_components, n_features = means.shape
    dtype = X.dtype
    n_rows = tile_rows(factors, X)
    xt = np.empty((n_features, n_rows), dtype=dtype)
    xc = np.empty((n_features, n_rows), dtype=dtype)
    y = np.empty((2, n_rows), dtype=dtype)
    logp_t = np.empty((n_components, n_rows), dtype=dtype)
    weights_t, top, total, log_prob, row = tile_weight_buffers(n_components, n_rows, X)
    for tile_start in range(start, stop, n_rows):
        tile_stop = min(tile_start + n_rows, stop)
        transpose_tile(X, tile_start, tile_stop, xt)
        any_log_prob_t(xt, means, factors, log_norm, xc, y, logp_t)
        tile_posterior(
            logp_t, tile_stop - tile_start, tile_start, top, total, weights_t, log_prob, row,
            out_resp, out_log_prob, out_label,
        )
