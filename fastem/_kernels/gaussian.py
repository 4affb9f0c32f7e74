"""Entry points of the Gaussian kernels (full and diagonal covariance).

One parallel pass over ``X`` computes each point's weighted log-densities, turns them
into weights over components (soft or hard) and accumulates the sufficient statistics
about a shift -- the component means the pass was run with -- so that data far from the
origin keeps its precision.  The covariance type follows from ``factors.ndim``
(3: full, 2: diagonal); Numba resolves it at compile time.  Each chunk then takes one
of three tile kernels: ``gaussian_nearest`` (hard weights with every diagonal precision
exactly 1: k-means), ``gaussian_narrow`` (rows innermost: diagonal covariances, with
``gaussian_diag``'s pieces, and full ones up to NARROW_FEATURES features) or
``gaussian_full`` (full, more features; row by row).

Arguments shared by the entry points
------------------------------------
X : (N, D) float32 or float64, C-contiguous, read-only is fine.
means : (K, D) in X's dtype (the arithmetic of the densities runs in X's dtype).
factors : in X's dtype.  Full: (K, D, D) lower-triangular ``L_k`` with
    ``precision_k = L_k.T @ L_k``.  Diagonal: (K, D) ``sqrt(precision_k)``.
log_norm : (K,) float64, ``log weight_k + log det L_k - D/2 log(2 pi)``.
"""

import numpy as np
from numba import prange

from . import gaussian_full, gaussian_narrow, gaussian_nearest
from ._jit import MODE_HARD, MODE_SOFT, TILE_ROWS, add_partials, chunk_bounds, group_size, kernel, n_chunks_of
from .weights import best_component, hard_row, normalise_row, stream_start, weigh_row


@kernel()
def _wide_buffers(X, n_components):
    """Work arrays of the row-by-row (wide full-covariance) code: the centred tile
    (TILE_ROWS, D) in X's dtype and the tile's log-densities (TILE_ROWS, K) float64."""
    return np.empty((TILE_ROWS, X.shape[1]), dtype=X.dtype), np.empty((TILE_ROWS, n_components))


@kernel()
def _chunk_stats(X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx):
    """Statistics of rows ``start:stop`` written to ``nk, sx, sxx``; returns their
    (log-likelihood, total sample weight, assignment fingerprint).  Picks the chunk's
    kernel; the row-by-row code below serves full covariances with many features."""
    n_components, n_features = means.shape
    full = factors.ndim == 3
    if mode == MODE_HARD and not full and gaussian_nearest.unit_factors(factors):
        return gaussian_nearest.chunk_stats(X, sample_weight, first_row, start, stop, means, log_norm, nk, sx, sxx)
    if not full or n_features <= gaussian_narrow.NARROW_FEATURES:
        return gaussian_narrow.chunk_stats(
            X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx
        )
    weighted = sample_weight.shape[0] > 0
    nk[:] = 0.0
    sx[:] = 0.0
    # padded upper-block accumulators, copied to sxx at the end
    padded = gaussian_full.padded_features(n_features)
    acc = np.zeros((n_components, padded, padded))
    work = np.empty((2, padded, TILE_ROWS), dtype=X.dtype)
    xc, logp = _wide_buffers(X, n_components)
    # A tile's moments are formed in X's dtype (float32 data: twice the lanes) and added
    # to the float64 accumulators once per tile and component.
    resp = np.zeros(TILE_ROWS, dtype=X.dtype)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    for tile_start in range(start, stop, TILE_ROWS):
        tile_stop = min(tile_start + TILE_ROWS, stop)
        n_rows = tile_stop - tile_start
        gaussian_full.tile_log_prob(X, tile_start, tile_stop, means, factors, log_norm, xc, logp)
        for i in range(n_rows):
            w = sample_weight[tile_start + i] if weighted else 1.0
            weight += w
            if mode == MODE_HARD:
                label, term, row_hash = hard_row(logp[i], w, first_row + tile_start + i)
                loglik += w * term
                fingerprint += row_hash  # row hashes add up to the assignment's hash
                normalise_row(logp[i], MODE_HARD)
            else:
                loglik += w * weigh_row(logp[i], mode, n_draws, state)
            if weighted:
                for k in range(n_components):
                    logp[i, k] *= w
        for k in range(n_components):
            total = 0.0
            for i in range(n_rows):
                resp[i] = logp[i, k]
                total += logp[i, k]
            for i in range(n_rows, TILE_ROWS):
                resp[i] = 0.0
            if total == 0.0:
                continue  # nothing to add for this component
            nk[k] += total
            gaussian_full.tile_moments(X, tile_start, tile_stop, means[k], resp, sx[k], acc[k], work)
    for k in range(n_components):
        for j in range(n_features):
            for d in range(j, n_features):
                sxx[k, j, d] = acc[k, j, d]
    return loglik, weight, fingerprint


@kernel(parallel=True)
def accumulate_gaussian(
    X, sample_weight, means, factors, log_norm, mode, seed, n_draws, first_row, out_nk, out_sx, out_sxx
):
    """Add the E-step statistics of ``X`` to ``out_nk, out_sx, out_sxx``.

    sample_weight : (N,) float64, or (0,) for unit weights.
    mode : MODE_SOFT (posterior weights), MODE_HARD (argmax) or MODE_SAMPLE (the
        frequencies of ``n_draws`` labels drawn per row from the posterior; the chunk
        starting at row ``r`` draws from the stream ``stream_start(seed, first_row + r)``).
    seed, n_draws : non-negative ints, used by MODE_SAMPLE only.
    first_row : int, the position of ``X``'s first row in the whole data set.  A source
        that passes its rows in blocks gives each block its offset, so the random
        streams and the assignment hash are those of one pass over all the rows.
    out_nk : (K,) float64, sum of weights per component.
    out_sx : (K, D) float64, sum of w * r * (x - means[k]).
    out_sxx : (K, D, D) full or (K, D) diag float64, sum of w * r * (x - means[k])^2 terms.
    Returns (loglik, weight, fingerprint): sum of w * log p(x) (soft, sampled) or of
    w * max_k log(pi_k p_k(x)) (hard); sum of w (the number of rows when unweighted);
    under MODE_HARD, a uint64 hash of the assignment of every row of positive weight (0
    otherwise), equal for two passes when they assign those rows alike.
    """
    n_rows = X.shape[0]
    n_components = means.shape[0]
    n_chunks = n_chunks_of(n_rows)
    group = group_size(n_chunks, out_nk.size + out_sx.size + out_sxx.size + 1)
    part_totals = np.empty((group, 2))  # (log-likelihood, weight) per chunk
    part_nk = np.empty((group,) + out_nk.shape)
    part_sx = np.empty((group,) + out_sx.shape)
    part_sxx = np.empty((group,) + out_sxx.shape)
    part_prints = np.empty(group, dtype=np.uint64)
    totals = np.zeros(2)
    prints = np.zeros(1, dtype=np.uint64)
    for first in range(0, n_chunks, group):
        count = min(group, n_chunks - first)
        for c in prange(count):
            start, stop = chunk_bounds(first + c, n_rows)
            state = np.empty(1, dtype=np.uint64)
            state[0] = stream_start(seed, first_row + start)
            part_totals[c, 0], part_totals[c, 1], part_prints[c] = _chunk_stats(
                X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws,
                part_nk[c], part_sx[c], part_sxx[c],
            )
        add_partials(
            count, part_totals, part_prints, part_nk, part_sx, part_sxx, out_nk, out_sx, out_sxx,
            totals, prints,
        )
    if out_sxx.ndim == 3:  # only the upper triangles were accumulated
        for k in range(n_components):
            for j in range(out_sxx.shape[1]):
                for d in range(j):
                    out_sxx[k, j, d] = out_sxx[k, d, j]
    return totals[0], totals[1], prints[0]


@kernel(parallel=True)
def posterior_gaussian(X, means, factors, log_norm, out_resp, out_log_prob, out_label):
    """Per-point outputs; each is filled only when its length is not zero.

    out_resp : (N, K) float64 responsibilities, or (0, 0).
    out_log_prob : (N,) float64 log p(x), or (0,).
    out_label : (N,) int64 most probable component, or (0,).
    """
    n_rows = X.shape[0]
    n_components = means.shape[0]
    want_resp = out_resp.shape[0] > 0
    want_log_prob = out_log_prob.shape[0] > 0
    want_label = out_label.shape[0] > 0
    narrow = factors.ndim == 2 or means.shape[1] <= gaussian_narrow.NARROW_FEATURES
    for c in prange(n_chunks_of(n_rows)):
        start, stop = chunk_bounds(c, n_rows)
        if narrow:
            gaussian_narrow.posterior_chunk(X, start, stop, means, factors, log_norm, out_resp, out_log_prob, out_label)
            continue
        xc, logp = _wide_buffers(X, n_components)
        for tile_start in range(start, stop, TILE_ROWS):
            tile_stop = min(tile_start + TILE_ROWS, stop)
            gaussian_full.tile_log_prob(X, tile_start, tile_stop, means, factors, log_norm, xc, logp)
            for i in range(tile_stop - tile_start):
                row = tile_start + i
                if want_label:
                    out_label[row] = best_component(logp[i])
                if not (want_log_prob or want_resp):
                    continue
                log_prob = normalise_row(logp[i], MODE_SOFT)
                if want_log_prob:
                    out_log_prob[row] = log_prob
                if want_resp:
                    for k in range(n_components):
                        out_resp[row, k] = logp[i, k]
