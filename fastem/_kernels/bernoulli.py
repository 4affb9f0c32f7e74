"""Kernels of the Bernoulli family: binary rows held as CSR (the columns that are 1).

A component's log-density is linear in a binary row,
``log p(x | k) + log pi_k = log_norm[k] + sum over the row's ones of table[d, k]``,
with ``table[d, k] = log(p_kd / (1 - p_kd))`` and
``log_norm[k] = log pi_k + sum_d log(1 - p_kd)``; so the log-densities cost the number
of ones times K plus N times K, whatever the density, and dense input runs through the
same code once its ones are listed.  K-means on binary rows has the same linear form
(see ``BinaryKMeansFamily``).  The innermost loops run over components, contiguous in
``table``'s rows.

The moments ``sum_n w_n r_nk x_n`` follow the weights: a row whose weight sits on one
component (a hard row, or a soft one whose other posteriors are exactly 0) adds it once
per one, and only tiles of rows spread over many components take a per-component loop
or dense products (see DENSE_MOMENTS).

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

# How a tile's moments are formed (costs in units of one scalar scatter-add, measured
# on 100k x 256 at density 1/2, K = 32, one thread):
# - rows whose weight sits on few components add it per component and per one
#   (``m * nnz`` adds: a hard row, or a soft row whose other posteriors are exactly 0);
# - rows spread over many components add their K weights per one, a vectorised loop
#   that costs about K / VECTOR_SCATTER per-component passes;
# - a tile of many spread rows forms its moments as dense products over the transposed
#   tile, (D + 1) * K multiply-adds per row at 1 / DENSE_SPEEDUP of an add each (the
#   tile's transpose included).  Only chunks with at least DENSE_MOMENTS of their
#   entries equal to 1 may take dense products: sparser ones never gain from them.
DENSE_MOMENTS = 0.2
MOMENT_TILE_ROWS = 128
VECTOR_SCATTER = 7
DENSE_SPEEDUP = 16


@kernel()
def per_component(n_nonzero, n_components):
    """Whether a row whose weight sits on ``n_nonzero`` components scatters it per
    component (else across all K at once)."""
    return n_nonzero * VECTOR_SCATTER <= n_components


@kernel()
def scatter_cost(n_ones, n_nonzero, n_components):
    """Cost of adding one row's weights to the moments by scattering (see above)."""
    if per_component(n_nonzero, n_components):
        return n_ones * n_nonzero
    return n_ones * n_components / VECTOR_SCATTER


@kernel()
def dense_is_cheaper(tile_scatter_cost, n_rows, n_features, n_components):
    """Whether dense products beat scattering for a tile whose rows cost
    ``tile_scatter_cost`` in total."""
    return tile_scatter_cost * DENSE_SPEEDUP > n_rows * (n_features + 1) * n_components


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
def _scatter_row(indptr, indices, row, weights, n_nonzero, sums):
    """Add a row's weights (K,) to ``sums`` (D + 1, K): row d of ``sums`` gets them for
    each one d of the row, row D (the counts nk) once.  Both get exactly the same
    additions, so where every row has a one, sx == nk holds exactly."""
    n_components = weights.shape[0]
    ones = sums.shape[0] - 1
    if per_component(n_nonzero, n_components):
        for k in range(n_components):
            r = weights[k]
            if r == 0.0:
                continue
            sums[ones, k] += r
            for j in range(indptr[row], indptr[row + 1]):
                sums[indices[j], k] += r
        return
    for k in range(n_components):
        sums[ones, k] += weights[k]
    for j in range(indptr[row], indptr[row + 1]):
        d = indices[j]
        for k in range(n_components):
            sums[d, k] += weights[k]


@kernel()
def _dense_tile_moments(indptr, indices, tile_start, tile_stop, resp, xt, resp_t, sums):
    """Add the weights ``resp`` (n, K) of rows tile_start:tile_stop to ``sums`` as dense
    products over the tile transposed into ``xt`` (its feature D is 1 on every row, so
    that its sums are nk, added in exactly the order of any feature's)."""
    n_features = sums.shape[0] - 1
    n_components = sums.shape[1]
    xt[:] = 0.0
    resp_t[:] = 0.0
    for row in range(tile_start, tile_stop):
        i = row - tile_start
        xt[n_features, i] = 1.0
        for j in range(indptr[row], indptr[row + 1]):
            xt[indices[j], i] = 1.0
        for k in range(n_components):
            resp_t[k, i] = resp[i, k]
    _tile_moments_dense(xt, resp_t, sums)


@kernel()
def _chunk_stats(indptr, indices, sample_weight, first_row, start, stop, table, log_norm, mode, state, n_draws, nk, sx_t):
    """Statistics of rows ``start:stop`` written to ``nk, sx_t`` (sx transposed, (D, K):
    a row's ones then update contiguous rows); returns their (log-likelihood, total
    sample weight, assignment fingerprint).

    Each tile of MOMENT_TILE_ROWS rows first forms its rows' weights, then adds them to
    the moments by whichever way costs least for these weights (see DENSE_MOMENTS).
    """
    n_components = log_norm.shape[0]
    n_features = sx_t.shape[0]
    weighted = sample_weight.shape[0] > 0
    tile_rows = MOMENT_TILE_ROWS
    dense_allowed = indptr[stop] - indptr[start] >= DENSE_MOMENTS * (stop - start) * n_features
    with_ones = n_features + 1
    dense_rows = tile_rows if dense_allowed else 0
    xt = np.zeros((with_ones + (with_ones & 1), dense_rows))
    resp_t = np.zeros((n_components + (n_components & 1), dense_rows))
    sums = np.zeros((with_ones, n_components))  # sx transposed, then nk
    resp = np.empty((tile_rows, n_components))
    n_nonzero = np.empty(tile_rows, dtype=np.int64)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    for tile_start in range(start, stop, tile_rows):
        tile_stop = min(tile_start + tile_rows, stop)
        cost = 0.0
        for row in range(tile_start, tile_stop):
            i = row - tile_start
            logp = resp[i]
            _row_log_prob(indptr, indices, row, table, log_norm, logp)
            w = sample_weight[row] if weighted else 1.0
            weight += w
            if mode == MODE_HARD:
                label, term, row_hash = hard_row(logp, w, first_row + row)
                loglik += w * term
                fingerprint += row_hash
                logp[:] = 0.0
                n_nonzero[i] = 0
                if label >= 0:
                    logp[label] = w
                    n_nonzero[i] = 1
            else:
                loglik += w * weigh_row(logp, mode, n_draws, state)
                count = 0
                for k in range(n_components):
                    logp[k] *= w
                    count += logp[k] != 0.0
                n_nonzero[i] = count
            cost += scatter_cost(indptr[row + 1] - indptr[row], n_nonzero[i], n_components)
        if dense_allowed and dense_is_cheaper(cost, tile_stop - tile_start, n_features, n_components):
            _dense_tile_moments(indptr, indices, tile_start, tile_stop, resp, xt, resp_t, sums)
            continue
        for row in range(tile_start, tile_stop):
            i = row - tile_start
            if n_nonzero[i] > 0:
                _scatter_row(indptr, indices, row, resp[i], n_nonzero[i], sums)
    sx_t[:] = sums[:n_features]
    nk[:] = sums[n_features]
    return loglik, weight, fingerprint


@kernel(parallel=True)
def accumulate_bernoulli(
    indptr, indices, sample_weight, table, log_norm, mode, seed, n_draws, first_row, out_nk, out_sx_t, min_group
):
    """Add the E-step statistics of the rows to ``out_nk`` (K,) and ``out_sx_t`` (D, K)
    (sum of w * r_k * x, transposed); ``mode``, ``seed``, ``n_draws``, ``first_row``,
    ``min_group`` and the returned (loglik, weight, fingerprint) as in ``accumulate_gaussian``."""
    n_rows = indptr.shape[0] - 1
    n_chunks = n_chunks_of(n_rows)
    group = group_size(n_chunks, out_nk.size + out_sx_t.size + 1, min_group)
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
