"""Kernels of the Bernoulli family: binary rows held as CSR (the columns that are 1).

A component's log-density is linear in a binary row,
``log p(x | k) + log pi_k = log_norm[k] + sum over the row's ones of table[d, k]``,
with ``table[d, k] = log(p_kd / (1 - p_kd))`` and
``log_norm[k] = log pi_k + sum_d log(1 - p_kd)``; so a pass costs the number of ones
times K plus N times K, whatever the density, and dense input runs through the same
code once its ones are listed.  K-means on binary rows has the same linear form (see
``BinaryKMeansFamily``).  The innermost loops run over components, contiguous in
``table``'s rows.

Arguments shared by the entry points
------------------------------------
indptr : (N + 1,) int64; indices : (nnz,) int32 or int64 (row n's ones are the columns
    ``indices[indptr[n]:indptr[n + 1]]``).
table : (D, K) float64; log_norm : (K,) float64.
"""

import numpy as np
from numba import prange

from ._jit import MODE_HARD, MODE_SOFT, add_partials, chunk_bounds, group_size, kernel, n_chunks_of
from .weights import best_component, hard_row, normalise_row, stream_start, weigh_row

# Chunks with at least this fraction of ones form their moments as dense products over
# tiles of MOMENT_TILE_ROWS rows; sparser ones scatter each row's weights per one.  The
# two cost the same at a density of 0.2 (50k x 256, K = 32, one thread); at 0.5 the
# dense products take the whole E-step from 0.068 to 0.051 s.
DENSE_MOMENTS = 0.2
MOMENT_TILE_ROWS = 128


@kernel()
def _row_log_prob(indptr, indices, row, table, log_norm, logp):
    """logp[k] = log_norm[k] + sum of table[d, k] over the row's ones d.

    Four ones share each update of ``logp``: its loop over components is short, and
    each pass pays a fixed cost (runtime alias checks) besides its loads and stores
    (0.059 -> 0.040 s for the log-densities of 100k x 256 at density 1/2, K = 32).
    """
    n_components = log_norm.shape[0]
    for k in range(n_components):
        logp[k] = log_norm[k]
    j = indptr[row]
    end = indptr[row + 1]
    while j + 4 <= end:
        c0 = table[indices[j]]
        c1 = table[indices[j + 1]]
        c2 = table[indices[j + 2]]
        c3 = table[indices[j + 3]]
        for k in range(n_components):
            logp[k] += (c0[k] + c1[k]) + (c2[k] + c3[k])
        j += 4
    while j < end:
        column = table[indices[j]]
        for k in range(n_components):
            logp[k] += column[k]
        j += 1


@kernel()
def _tile_moments_dense(xt, resp_t, sx_t):
    """sx_t[d, k] += sum_i xt[d, i] resp_t[k, i]: a tile's moments as dense products.

    xt : (D padded to even, n) the tile's rows as 0/1, transposed; resp_t : (K padded to
    even, n) their weights (padding rows are zero).  Two features by two components
    share each pass over the tile's rows, whose loop is a vectorised reduction.
    """
    n_features, n_components = sx_t.shape
    n_rows = xt.shape[1]
    for d in range(0, n_features, 2):
        x0 = xt[d]
        x1 = xt[d + 1]
        for k in range(0, n_components, 2):
            r0 = resp_t[k]
            r1 = resp_t[k + 1]
            s00 = s01 = s10 = s11 = 0.0
            for i in range(n_rows):
                s00 += x0[i] * r0[i]
                s01 += x0[i] * r1[i]
                s10 += x1[i] * r0[i]
                s11 += x1[i] * r1[i]
            sx_t[d, k] += s00
            if k + 1 < n_components:
                sx_t[d, k + 1] += s01
            if d + 1 < n_features:
                sx_t[d + 1, k] += s10
                if k + 1 < n_components:
                    sx_t[d + 1, k + 1] += s11


@kernel()
def _chunk_stats(indptr, indices, sample_weight, first_row, start, stop, table, log_norm, mode, state, n_draws, nk, sx_t):
    """Statistics of rows ``start:stop`` written to ``nk, sx_t`` (sx transposed, (D, K):
    a row's ones then update contiguous rows); returns their (log-likelihood, total
    sample weight, assignment fingerprint).

    A chunk with at least DENSE_MOMENTS of its entries equal to 1 forms ``sx_t`` as
    dense products over tiles of MOMENT_TILE_ROWS rows; a sparser one adds each row's
    weights once per one (a scatter, whose cost follows the number of ones).
    """
    n_components = log_norm.shape[0]
    n_features = sx_t.shape[0]
    weighted = sample_weight.shape[0] > 0
    nk[:] = 0.0
    sx_t[:] = 0.0
    dense = indptr[stop] - indptr[start] >= DENSE_MOMENTS * (stop - start) * n_features
    tile_rows = MOMENT_TILE_ROWS if dense else 1
    # Dense moments: feature D of ``xt`` is 1 on every row, so its sums are nk, added in
    # exactly the order of any feature's; where every row has a one, sx == nk holds
    # exactly and maximum likelihood gives a probability of exactly 1.
    with_ones = n_features + 1
    xt = np.zeros((with_ones + (with_ones & 1), tile_rows if dense else 0))
    resp_t = np.zeros((n_components + (n_components & 1), tile_rows if dense else 0))
    dense_sums = np.zeros((with_ones if dense else 0, n_components))
    logp = np.empty(n_components)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    for tile_start in range(start, stop, tile_rows):
        tile_stop = min(tile_start + tile_rows, stop)
        if dense:
            xt[:] = 0.0
            resp_t[:] = 0.0
            for row in range(tile_start, tile_stop):
                xt[n_features, row - tile_start] = 1.0
                for j in range(indptr[row], indptr[row + 1]):
                    xt[indices[j], row - tile_start] = 1.0
        for row in range(tile_start, tile_stop):
            i = row - tile_start
            _row_log_prob(indptr, indices, row, table, log_norm, logp)
            w = sample_weight[row] if weighted else 1.0
            weight += w
            if mode == MODE_HARD:
                label, term, row_hash = hard_row(logp, w, first_row + row)
                loglik += w * term
                fingerprint += row_hash
                if label < 0:
                    continue
                if dense:
                    resp_t[label, i] = w
                    continue
                nk[label] += w
                for j in range(indptr[row], indptr[row + 1]):
                    sx_t[indices[j], label] += w
                continue
            loglik += w * weigh_row(logp, mode, n_draws, state)
            for k in range(n_components):
                logp[k] *= w
            if dense:
                for k in range(n_components):
                    resp_t[k, i] = logp[k]
                continue
            for k in range(n_components):
                nk[k] += logp[k]
            for j in range(indptr[row], indptr[row + 1]):
                column = sx_t[indices[j]]
                for k in range(n_components):
                    column[k] += logp[k]
        if dense:
            _tile_moments_dense(xt, resp_t, dense_sums)
    if dense:
        sx_t[:] = dense_sums[:n_features]
        nk[:] = dense_sums[n_features]
    return loglik, weight, fingerprint


@kernel(parallel=True)
def accumulate_bernoulli(
    indptr, indices, sample_weight, table, log_norm, mode, seed, n_draws, first_row, out_nk, out_sx_t
):
    """Add the E-step statistics of the rows to ``out_nk`` (K,) and ``out_sx_t`` (D, K)
    (sum of w * r_k * x, transposed); ``mode``, ``seed``, ``n_draws``, ``first_row`` and the returned
    (loglik, weight, fingerprint) as in ``accumulate_gaussian``."""
    n_rows = indptr.shape[0] - 1
    n_chunks = n_chunks_of(n_rows)
    group = group_size(n_chunks, out_nk.size + out_sx_t.size + 1)
    part_totals = np.empty((group, 2))
    part_prints = np.empty(group, dtype=np.uint64)
    part_nk = np.empty((group,) + out_nk.shape)
    part_sx = np.empty((group,) + out_sx_t.shape)
    no_sxx = np.zeros((group, 0))
    totals = np.zeros(2)
    prints = np.zeros(1, dtype=np.uint64)
    for first in range(0, n_chunks, group):
        count = min(group, n_chunks - first)
        for c in prange(count):
            start, stop = chunk_bounds(first + c, n_rows)
            state = np.empty(1, dtype=np.uint64)
            state[0] = stream_start(seed, first_row + start)
            part_totals[c, 0], part_totals[c, 1], part_prints[c] = _chunk_stats(
                indptr, indices, sample_weight, first_row, start, stop, table, log_norm, mode, state, n_draws,
                part_nk[c], part_sx[c],
            )
        add_partials(count, part_totals, part_prints, part_nk, part_sx, no_sxx, out_nk, out_sx_t, no_sxx[0], totals, prints)
    return totals[0], totals[1], prints[0]


@kernel(parallel=True)
def posterior_bernoulli(indptr, indices, table, log_norm, out_resp, out_log_prob, out_label):
    """Per-row outputs, each filled only when its length is not zero (as ``posterior_gaussian``)."""
    n_rows = indptr.shape[0] - 1
    n_components = log_norm.shape[0]
    want_resp = out_resp.shape[0] > 0
    want_log_prob = out_log_prob.shape[0] > 0
    want_label = out_label.shape[0] > 0
    for c in prange(n_chunks_of(n_rows)):
        start, stop = chunk_bounds(c, n_rows)
        logp = np.empty(n_components)
        for row in range(start, stop):
            _row_log_prob(indptr, indices, row, table, log_norm, logp)
            if want_label:
                out_label[row] = best_component(logp)
            if not (want_log_prob or want_resp):
                continue
            log_prob = normalise_row(logp, MODE_SOFT)
            if want_log_prob:
                out_log_prob[row] = log_prob
            if want_resp:
                for k in range(n_components):
                    out_resp[row, k] = logp[k]
