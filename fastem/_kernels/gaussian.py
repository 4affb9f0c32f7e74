"""Entry points of the Gaussian kernels (full and diagonal covariance).

One parallel pass over ``X`` computes each point's weighted log-densities, turns them
into weights over components (soft or hard) and accumulates the sufficient statistics
about a shift -- the component means the pass was run with -- so that data far from the
origin keeps its precision.  The covariance type follows from ``factors.ndim``
(3: full, 2: diagonal); Numba resolves it at compile time.  Each chunk then takes one
of four tile kernels: ``gaussian_narrow`` (full, up to NARROW_FEATURES features),
``gaussian_full`` (full, more), ``gaussian_nearest`` (hard weights with every diagonal
precision exactly 1: k-means) or ``gaussian_diag`` (the other diagonal cases).

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

from . import gaussian_diag, gaussian_full, gaussian_narrow, gaussian_nearest
from ._jit import (
    MODE_HARD, MODE_SAMPLE, MODE_SOFT, TILE_ROWS, add_partials, chunk_bounds, group_size, kernel,
    n_chunks_of,
)
from .weights import (
    best_component, hard_row, normalise_row, stream_start, tile_posterior, tile_row_weights, tile_weight_buffers,
    tile_weights, weigh_row,
)


@kernel()
def _tile_operands(X, means, factors):
    """What the log-density tiles of a chunk read, made once per chunk: the components
    (diagonal: transposed to (D, K), so that the tile's innermost loop runs over
    components) and a scratch buffer in X's dtype (full: the centred tile,
    (TILE_ROWS, D); diagonal: the tile's sums, (TILE_ROWS, K))."""
    n_components, n_features = means.shape
    if factors.ndim == 3:
        return means, factors, np.empty((TILE_ROWS, n_features), dtype=X.dtype)
    scratch = np.empty((TILE_ROWS, n_components), dtype=X.dtype)
    return np.ascontiguousarray(means.T), np.ascontiguousarray(factors.T), scratch


@kernel()
def _tile_log_prob(X, start, stop, tile_means, tile_factors, log_norm, scratch, logp):
    """logp[:stop - start] of rows start:stop, from ``_tile_operands``' arrays."""
    if tile_factors.ndim == 3:
        gaussian_full.tile_log_prob(X, start, stop, tile_means, tile_factors, log_norm, scratch, logp)
    else:
        gaussian_diag.tile_log_prob(X, start, stop, tile_means, tile_factors, log_norm, scratch, logp)


# Rows per tile of the diagonal kernel's soft and sampled passes, whose weights are
# formed a tile at once with the rows innermost.
SOFT_TILE_ROWS = 128


@kernel()
def _diag_tile_log_prob_t(X, start, stop, tile_means, tile_factors, log_norm, acc, logp_t):
    """Diagonal log-densities of rows start:stop into ``logp_t`` (K, n) in X's dtype,
    in row blocks of ``acc``'s length (the diagonal tile's scratch)."""
    block = acc.shape[0]
    for s in range(start, stop, block):
        e = min(s + block, stop)
        gaussian_diag.tile_log_prob(X, s, e, tile_means, tile_factors, log_norm, acc, logp_t[:, s - start:].T)


@kernel()
def _diag_soft_chunk(X, sample_weight, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx):
    """``_chunk_stats`` for diagonal covariances under soft or sampled weights: the
    log-densities of a tile are held components by rows, so the weights of the whole
    tile are formed at once (``tile_weights``), every loop running over rows; then each
    component's moments over the tile."""
    n_components, n_features = means.shape
    dtype = X.dtype
    nk[:] = 0.0
    sx[:] = 0.0
    sxx[:] = 0.0
    tile_means, tile_factors, scratch = _tile_operands(X, means, factors)
    n_rows = SOFT_TILE_ROWS
    logp_t = np.zeros((n_components, n_rows), dtype=dtype)  # padding columns stay finite
    weights_t, top, total, log_prob, row = tile_weight_buffers(n_components, n_rows, X)
    w = np.empty(n_rows)
    work = np.empty((2, 1, n_features), dtype=dtype)
    loglik = 0.0
    weight = 0.0
    for tile_start in range(start, stop, n_rows):
        tile_stop = min(tile_start + n_rows, stop)
        n_used = tile_stop - tile_start
        weight = tile_row_weights(sample_weight, tile_start, n_used, w, weight)
        _diag_tile_log_prob_t(X, tile_start, tile_stop, tile_means, tile_factors, log_norm, scratch, logp_t)
        loglik = tile_weights(loglik, logp_t, w, n_used, mode, n_draws, state, top, total, log_prob, row, nk, weights_t)
        for k in range(n_components):
            total_k = 0.0
            for i in range(n_used):
                total_k += weights_t[k, i]
            if total_k == 0.0:
                continue  # nothing to add for this component
            if mode != MODE_SAMPLE:
                nk[k] += total_k
            gaussian_diag.tile_moments(X, tile_start, tile_stop, means[k], weights_t[k], sx[k], sxx[k], work)
    return loglik, weight, np.uint64(0)


@kernel()
def _diag_posterior_chunk(X, start, stop, means, factors, log_norm, out_resp, out_log_prob, out_label):
    """``posterior_gaussian`` for diagonal covariances, rows ``start:stop``: the same
    log-densities and tile weights as ``_diag_soft_chunk`` (so a sampled E-step draws
    from exactly the posterior reported here)."""
    n_components = means.shape[0]
    dtype = X.dtype
    tile_means, tile_factors, scratch = _tile_operands(X, means, factors)
    n_rows = SOFT_TILE_ROWS
    logp_t = np.zeros((n_components, n_rows), dtype=dtype)
    weights_t, top, total, log_prob, row = tile_weight_buffers(n_components, n_rows, X)
    for tile_start in range(start, stop, n_rows):
        tile_stop = min(tile_start + n_rows, stop)
        _diag_tile_log_prob_t(X, tile_start, tile_stop, tile_means, tile_factors, log_norm, scratch, logp_t)
        tile_posterior(
            logp_t, tile_stop - tile_start, tile_start, top, total, weights_t, log_prob, row,
            out_resp, out_log_prob, out_label,
        )


@kernel()
def _chunk_stats(X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx):
    """Statistics of rows ``start:stop`` written to ``nk, sx, sxx``; returns their
    (log-likelihood, total sample weight, assignment fingerprint).  Picks the chunk's
    kernel; the row-by-row code below serves full covariances with many features and
    diagonal hard weights."""
    n_components, n_features = means.shape
    full = factors.ndim == 3
    if mode == MODE_HARD and not full and gaussian_nearest.unit_factors(factors):
        return gaussian_nearest.chunk_stats(X, sample_weight, first_row, start, stop, means, log_norm, nk, sx, sxx)
    if not full and mode != MODE_HARD:
        return _diag_soft_chunk(X, sample_weight, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx)
    if full and n_features <= gaussian_narrow.NARROW_FEATURES:
        return gaussian_narrow.chunk_stats(
            X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx
        )
    weighted = sample_weight.shape[0] > 0
    nk[:] = 0.0
    sx[:] = 0.0
    sxx[:] = 0.0
    if full:  # padded upper-block accumulators, copied to sxx at the end
        padded = gaussian_full.padded_features(n_features)
        acc = np.zeros((n_components, padded, padded))
        work = np.empty((2, padded, TILE_ROWS), dtype=X.dtype)
    else:
        acc = sxx
        work = np.empty((2, 1, n_features), dtype=X.dtype)
    tile_means, tile_factors, scratch = _tile_operands(X, means, factors)
    logp = np.empty((TILE_ROWS, n_components))
    # A tile's moments are formed in X's dtype (float32 data: twice the lanes) and added
    # to the float64 accumulators once per tile and component.
    resp = np.zeros(TILE_ROWS, dtype=X.dtype)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    for tile_start in range(start, stop, TILE_ROWS):
        tile_stop = min(tile_start + TILE_ROWS, stop)
        n_rows = tile_stop - tile_start
        _tile_log_prob(X, tile_start, tile_stop, tile_means, tile_factors, log_norm, scratch, logp)
        for i in range(n_rows):
            w = sample_weight[tile_start + i] if weighted else 1.0
            weight += w
            if mode == MODE_HARD:
                label, term, row_hash = hard_row(logp[i], w, first_row + tile_start + i)
                loglik += w * term
                fingerprint += row_hash  # row hashes add up to the assignment's hash
                if label >= 0 and not full:  # diagonal: add the row where it went, no tile scan
                    nk[label] += w
                    gaussian_diag.row_moments(X, tile_start + i, means[label], w, sx[label], acc[label])
                    continue
                normalise_row(logp[i], MODE_HARD)
            else:  # full covariances only: diagonal soft weights go by _diag_soft_chunk
                loglik += w * weigh_row(logp[i], mode, n_draws, state)
            if weighted:
                for k in range(n_components):
                    logp[i, k] *= w
        if mode == MODE_HARD and not full:
            continue  # every row went straight to its component above
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
            if full:
                gaussian_full.tile_moments(X, tile_start, tile_stop, means[k], resp, sx[k], acc[k], work)
            else:
                gaussian_diag.tile_moments(X, tile_start, tile_stop, means[k], resp, sx[k], acc[k], work)
    if full:
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
    narrow = factors.ndim == 3 and means.shape[1] <= gaussian_narrow.NARROW_FEATURES
    for c in prange(n_chunks_of(n_rows)):
        start, stop = chunk_bounds(c, n_rows)
        if narrow:
            gaussian_narrow.posterior_chunk(X, start, stop, means, factors, log_norm, out_resp, out_log_prob, out_label)
            continue
        if factors.ndim == 2:
            _diag_posterior_chunk(X, start, stop, means, factors, log_norm, out_resp, out_log_prob, out_label)
            continue
        tile_means, tile_factors, scratch = _tile_operands(X, means, factors)
        logp = np.empty((TILE_ROWS, n_components))
        for tile_start in range(start, stop, TILE_ROWS):
            tile_stop = min(tile_start + TILE_ROWS, stop)
            _tile_log_prob(X, tile_start, tile_stop, tile_means, tile_factors, log_norm, scratch, logp)
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
