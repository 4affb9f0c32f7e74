"""Kernels of the Bernoulli family: binary rows held as CSR (the columns that are 1).

A component's log-density is linear in a binary row,
``log p(x | k) + log pi_k = log_norm[k] + sum over the row's ones of table[d, k]``,
with ``table[d, k] = log(p_kd / (1 - p_kd))`` and
``log_norm[k] = log pi_k + sum_d log(1 - p_kd)``; so the log-densities cost the number
of ones times K plus N times K, whatever the density, and dense input runs through the
same code once its ones are listed.  K-means on binary rows has the same linear form
(see ``BinaryKMeansFamily``).  The sums over a row's ones run over components, contiguous
in ``table``'s rows, held in registers (``add_pattern_product``).

The moments ``sum_n w_n r_nk x_n`` follow the weights: a row whose weight sits on one
component (a hard row, or a soft one whose other posteriors are exactly 0) adds it once
per one, and only tiles of rows spread over many components take a per-component loop
or the product of the tile's pattern, by columns, with its weights (see TILE_COLUMNS).

Arguments shared by the entry points
------------------------------------
indptr : (N + 1,) int64; indices : (nnz,) int32 or int64 (row n's ones are the columns
    ``indices[indptr[n]:indptr[n + 1]]``).
table : (D, K) float64; log_norm : (K,) float64.
colptr, column_rows : the tiles' columns (``tile_columns``), or empty arrays where
    they are not formed.
"""

from contextlib import nullcontext

import numba
import numpy as np
from numba import types

from ._jit import MODE_HARD, MODE_SOFT, chunk_bounds, kernel, read_only
from .ahead import compile_ahead, compile_signatures
from .arrays import arange, empty, zeros
from .threads import n_chunks_of, spread, sum_in_chunk_order
from .pattern_product import add_pattern_product
from .target import VECTOR_BYTES
from .transpose import copy_rows
from .weights import (
    best_component, hard_row, mask_known_labels, normalise_row, stream_start, tile_row_weights, tile_weight_buffers,
    tile_weights,
)

# Log-densities and moments are formed tile by tile, TILE_ROWS rows at a time.
TILE_ROWS = 128

# How a tile's moments are formed (costs in units of one scalar scatter-add, about
# 1.15 ns; measured on 100k x 256 at density 1/2, one thread):
# - rows whose weight sits on few components add it per component and per one
#   (``m * nnz`` adds: a hard row, or a soft row whose other posteriors are exactly 0);
# - rows spread over many components add their K weights per one, a vectorised loop
#   that costs about K / VECTOR_SCATTER per-component passes;
# - where the data's tiles are also held by columns (``tile_columns``), a tile of
#   spread rows forms each feature's moments as the sum of the weights of the rows that
#   have it, held in registers (``add_pattern_product``; the counts nk are a feature
#   every row has): PATTERN_ONE + K / PATTERN_SPEEDUP per one and per row.  Measured:
#   0.53 / 0.94 / 1.70 / 3.51 ns per one at K = 8 / 16 / 32 / 64, against 2.4 / 3.1 /
#   5.4 / 9.3 ns for the vectorised scatter.  Below 8 components (one float64 vector)
#   its sums are scalar and never cheaper.
#   The columns are formed once per data set (0.035-0.050 s for this one), where its
#   density of ones is at least TILE_COLUMNS: their pointers then take no more memory
#   than the rows listed in them.
VECTOR_SCATTER = 7
PATTERN_ONE = 0.25
PATTERN_SPEEDUP = 28
TILE_COLUMNS = 1 / 16


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
def pattern_is_cheaper(tile_scatter_cost, n_rows, n_ones, n_components):
    """Whether the column pattern of a tile of ``n_rows`` rows and ``n_ones`` ones beats
    scattering its rows' weights, which costs ``tile_scatter_cost``."""
    if n_components < VECTOR_BYTES // 8:  # fewer than a float64 vector: scalar sums
        return False
    return tile_scatter_cost > (n_ones + n_rows) * (PATTERN_ONE + n_components / PATTERN_SPEEDUP)


def tile_columns(indptr, indices, n_features):
    """The data's tiles of TILE_ROWS rows held by columns, for the moments.

    Returns (colptr, column_rows): colptr (n_tiles, D + 2) int64 and column_rows
    (nnz + N,) uint8.  Column d of tile t lists, in increasing order, the positions
    within the tile of the rows whose feature d is 1, as
    ``column_rows[colptr[t, d]:colptr[t, d + 1]]``; column D lists every row.  Data
    whose density of ones is below TILE_COLUMNS gets empty arrays (no tile, no entry).
    """
    n_rows = indptr.shape[0] - 1
    dense_enough = n_rows > 0 and indices.shape[0] >= TILE_COLUMNS * n_rows * n_features
    n_tiles = (n_rows + TILE_ROWS - 1) // TILE_ROWS if dense_enough else 0
    colptr = np.empty((n_tiles, n_features + 2), dtype=np.int64)
    column_rows = np.empty(indices.shape[0] + n_rows if dense_enough else 0, dtype=np.uint8)
    spread(lambda lo, hi: _fill_tile_columns(indptr, indices, n_features, lo, hi, colptr, column_rows), n_tiles)
    return colptr, column_rows


@kernel(entry=True)
def _fill_tile_columns(indptr, indices, n_features, lo, hi, colptr, column_rows):
    """Tiles ``lo ... hi - 1`` of ``tile_columns``."""
    n_rows = indptr.shape[0] - 1
    for t in range(lo, hi):
        start = t * TILE_ROWS
        stop = min(start + TILE_ROWS, n_rows)
        pointers = colptr[t]
        pointers[:] = 0
        for j in range(indptr[start], indptr[stop]):
            pointers[indices[j] + 1] += 1
        pointers[n_features + 1] = stop - start
        pointers[0] = indptr[start] + start  # the entries of the tiles before
        for d in range(n_features + 1):
            pointers[d + 1] += pointers[d]
        fill = pointers[: n_features + 1].copy()
        for row in range(start, stop):
            for j in range(indptr[row], indptr[row + 1]):
                d = indices[j]
                column_rows[fill[d]] = row - start
                fill[d] += 1
            column_rows[fill[n_features]] = row - start
            fill[n_features] += 1


@kernel()
def _tile_log_prob(indptr, indices, tile_start, tile_stop, table, log_norm, logp):
    """logp[i, k] = log_norm[k] + sum of table[d, k] over the ones d of row tile_start + i,
    the sums held in registers (``add_pattern_product``: 0.047-0.052 -> 0.032-0.038 s
    for the log-densities of 100k x 256 rows at density 1/2, K = 32, one thread)."""
    for row in range(tile_start, tile_stop):
        for k in range(log_norm.shape[0]):
            logp[row - tile_start, k] = log_norm[k]
    add_pattern_product(logp, indptr, indices, tile_start, tile_stop, table, 0, log_norm.shape[0])


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


@kernel(entry=True)
def _range_stats(
    indptr, indices, colptr, column_rows, sample_weight, known_labels, first_row, table, log_norm, mode, seed,
    n_draws, first_chunk, lo, hi, part_totals, part_prints, part_nk, part_sx,
):
    """Statistics of chunks ``first_chunk + lo ... first_chunk + hi - 1`` into slots
    ``lo ... hi - 1`` of the partials (``threads.sum_in_chunk_order``): nk, sx
    transposed ((D, K): a row's ones then update contiguous rows), and the
    (log-likelihood, total sample weight) and assignment fingerprint.  The chunk
    starting at row r draws from the stream ``stream_start(seed, first_row + r)``.
    Rows with a known label (``known_labels``, or (0,) for none) go wholly to it.

    Each tile of TILE_ROWS rows first forms its rows' weights, then adds them to
    the moments by whichever way costs least for these weights (see TILE_COLUMNS).
    """
    n_components = log_norm.shape[0]
    n_features = part_sx.shape[1]
    tile_rows = TILE_ROWS
    by_columns = colptr.shape[0] > 0
    sums = zeros((n_features + 1, n_components), np.float64)  # sx transposed, then nk
    resp = empty((tile_rows, n_components), np.float64)
    n_nonzero = empty(tile_rows, np.int64)
    # Soft and sampled weights are formed for the whole tile, components by rows
    # (``tile_weights``), and turned back into rows for the moments, both by
    # ``copy_rows``' register blocks (leftovers value by value): ``transpose_tile``'s
    # kernels for narrow widths would add a third to this kernel's compile time.
    logp_t = empty((n_components, tile_rows), np.float64)
    positions = arange(max(tile_rows, n_components))
    weights_t, top, total, log_prob, row_work, ones = tile_weight_buffers(n_components, tile_rows, logp_t)
    w = empty(tile_rows, np.float64)
    drawn_nk = zeros(n_components, np.float64)  # (nk comes from the moments' last row)
    state = empty(1, np.uint64)
    n_rows = indptr.shape[0] - 1
    for c in range(lo, hi):
        start, stop = chunk_bounds(first_chunk + c, n_rows)
        state[0] = stream_start(seed, first_row + start)
        nk = part_nk[c]
        sx_t = part_sx[c]
        sums[:] = 0.0
        drawn_nk[:] = 0.0
        loglik = 0.0
        weight = 0.0
        fingerprint = np.uint64(0)
        for tile_start in range(start, stop, tile_rows):
            tile_stop = min(tile_start + tile_rows, stop)
            n_used = tile_stop - tile_start
            cost = 0.0
            _tile_log_prob(indptr, indices, tile_start, tile_stop, table, log_norm, resp)
            mask_known_labels(resp.T, known_labels, tile_start, n_used)
            weight = tile_row_weights(sample_weight, tile_start, n_used, w, weight)
            if mode != MODE_HARD:
                copy_rows(resp, 0, positions[:n_used], logp_t, n_components)
                logp_t[:, n_used:] = 0.0  # padding rows (their weight w is 0)
                loglik = tile_weights(
                    loglik, logp_t, w, n_used, mode, n_draws, state, top, total, log_prob, row_work, ones, drawn_nk,
                    weights_t,
                )
                # (the width as a variable: the constant tile_rows would compile copy_rows again)
                copy_rows(weights_t, 0, positions[:n_components], resp, weights_t.shape[1])
            for row in range(tile_start, tile_stop):
                i = row - tile_start
                logp = resp[i]
                if mode == MODE_HARD:
                    label, term, row_hash = hard_row(logp, w[i], first_row + row)
                    loglik += w[i] * term
                    fingerprint += row_hash
                    logp[:] = 0.0
                    n_nonzero[i] = 0
                    if label >= 0:
                        logp[label] = w[i]
                        n_nonzero[i] = 1
                else:
                    count = 0
                    for k in range(n_components):
                        count += logp[k] != 0.0
                    n_nonzero[i] = count
                cost += scatter_cost(indptr[row + 1] - indptr[row], n_nonzero[i], n_components)
            n_ones = indptr[tile_stop] - indptr[tile_start]
            if by_columns and pattern_is_cheaper(cost, tile_stop - tile_start, n_ones, n_components):
                tile = tile_start // tile_rows
                add_pattern_product(sums, colptr[tile], column_rows, 0, n_features + 1, resp, 0, n_components)
                continue
            for row in range(tile_start, tile_stop):
                i = row - tile_start
                if n_nonzero[i] > 0:
                    _scatter_row(indptr, indices, row, resp[i], n_nonzero[i], sums)
        for d in range(n_features):  # (loops: a slice copy compiles a broadcast check)
            for k in range(n_components):
                sx_t[d, k] = sums[d, k]
        for k in range(n_components):
            nk[k] = sums[n_features, k]
        part_totals[c, 0] = loglik
        part_totals[c, 1] = weight
        part_prints[c] = fingerprint


def accumulate_bernoulli(
    indptr, indices, colptr, column_rows, sample_weight, known_labels, table, log_norm, mode, seed, n_draws, first_row,
    out_nk, out_sx_t, min_group=None,
):
    """Add the E-step statistics of the rows to ``out_nk`` (K,) and ``out_sx_t`` (D, K)
    (sum of w * r_k * x, transposed); ``known_labels``, ``mode``, ``seed``,
    ``n_draws``, ``first_row``, ``min_group`` and the returned (loglik, weight,
    fingerprint) as in ``gaussian.accumulate_gaussian``; ``colptr``, ``column_rows``
    the rows' ``tile_columns``, or empty arrays."""
    known_labels = read_only(known_labels)

    def chunk_range(first, lo, hi, part_totals, part_prints, part_nk, part_sx):
        _range_stats(
            indptr, indices, colptr, column_rows, sample_weight, known_labels, first_row, table, log_norm, mode, seed,
            n_draws, first, lo, hi, part_totals, part_prints, part_nk, part_sx,
        )

    return sum_in_chunk_order(indptr.shape[0] - 1, (out_nk, out_sx_t), chunk_range, min_group)


def late_kernels(index_dtype):
    """``(kernel, argument types)`` of the kernels that ``_range_stats`` reaches last as
    Numba types it, in that order, for rows whose ``indices`` are of ``index_dtype``:
    the soft weights', the hard rows' and the moments' kernels.  A first fit compiles
    ``_range_stats``' tree in its own process from the front while a helper process
    compiles these (``compile_late_kernels``), which the fit then loads from the disk
    cache.  These are the types ``_range_stats`` passes (``test_ahead`` checks them):
    every array C-contiguous and writable, the weights and sums float64.
    """
    vector64, matrix64 = types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C")
    int64, zero = types.int64, types.IntegerLiteral(0)
    offsets = types.Array(int64, 1, "C")
    indices = types.Array(numba.from_dtype(np.dtype(index_dtype)), 1, "C")
    return [
        (tile_weights, (
            types.float64, matrix64, vector64, int64, int64, int64, types.Array(types.uint64, 1, "C"), vector64,
            vector64, vector64, vector64, vector64, vector64, matrix64,
        )),
        (hard_row, (vector64, types.float64, int64)),
        (add_pattern_product, (matrix64, offsets, types.Array(types.uint8, 1, "C"), zero, int64, matrix64, zero, int64)),
        (_scatter_row, (offsets, indices, int64, vector64, int64, matrix64)),
    ]


def compile_late_kernels(index_dtype):
    """Compile (or load) ``late_kernels(index_dtype)``: the helper's job in
    ``sharing_first_compile``."""
    compile_signatures(late_kernels(index_dtype))


def sharing_first_compile(index_dtype):
    """A block for the E-steps of a process that has not run ``_range_stats`` yet: if
    they compile it, a helper process compiles its ``late_kernels`` meanwhile
    (``ahead.compile_ahead``), so that the two share its tree (every Bernoulli E-step,
    hard, soft or sampled, and the k-means start's, runs that one tree)."""
    if _range_stats.overloads:  # compiled or loaded already: nothing to share
        return nullcontext()
    return compile_ahead(compile_late_kernels, np.dtype(index_dtype))


def posterior_bernoulli(indptr, indices, table, log_norm, out_resp, out_log_prob, out_label, out_weighted_log_prob):
    """Per-row outputs, each filled only when its length is not zero (as
    ``gaussian.posterior_gaussian``)."""
    spread(
        lambda lo, hi: _posterior_range(
            indptr, indices, table, log_norm, lo, hi, out_resp, out_log_prob, out_label, out_weighted_log_prob
        ),
        n_chunks_of(indptr.shape[0] - 1),
    )


@kernel(entry=True)
def _posterior_range(
    indptr, indices, table, log_norm, lo, hi, out_resp, out_log_prob, out_label, out_weighted_log_prob,
):
    """``posterior_bernoulli`` for chunks ``lo ... hi - 1``."""
    n_rows = indptr.shape[0] - 1
    n_components = log_norm.shape[0]
    want_resp = out_resp.shape[0] > 0
    want_log_prob = out_log_prob.shape[0] > 0
    want_label = out_label.shape[0] > 0
    want_weighted = out_weighted_log_prob.shape[0] > 0
    tile = empty((TILE_ROWS, n_components), np.float64)
    for c in range(lo, hi):
        start, stop = chunk_bounds(c, n_rows)
        for tile_start in range(start, stop, TILE_ROWS):
            tile_stop = min(tile_start + TILE_ROWS, stop)
            _tile_log_prob(indptr, indices, tile_start, tile_stop, table, log_norm, tile)
            for row in range(tile_start, tile_stop):
                logp = tile[row - tile_start]
                if want_weighted:
                    for k in range(n_components):
                        out_weighted_log_prob[row, k] = logp[k]
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
