"""Hard weights under unit-precision diagonal components: k-means' assignment step.

With every precision equal to 1 a row's weighted log-density is
``log_norm[k] - |x - m_k|^2 / 2``, and its best component is the largest
``score[k] = bias[k] + x . c_k``: one multiply-add per feature and component instead
of a subtract, a multiply and a multiply-add.  Rows and centres are first moved by the
mean of the centres (``x`` and ``c_k = m_k - origin``; distances do not change), and
``bias[k] = log_norm[k] - max(log_norm) - |c_k|^2 / 2``, so that the expanded form
loses no more precision than the data's spread allows, at any scale of the data.

Scores are float32 whatever the data: they only pick a component, and float32 runs
twice the lanes.  For float64 data every pick is confirmed.  A row's float32 scores are
within ``E_i = (D + 4) u (max|bias| + max|c| |x_i|)`` of the exact scores of its
float64 values (u = 2**-24; the conversions, the products and any order of the sums
included), plus a term for float32's underflow.  When its two best float32 scores are
more than ``2 E_i`` apart the exact best is the same component; any other row -- a near
tie, or values too large for float32 -- is scored again in float64.  Labels are
therefore those of float64 scores, and the chosen component's log-density and moments
are taken from its exact distance, in X's precision.

A tile of NEAREST_TILE_ROWS rows is transposed (and centred) once, and
``nearest_scores.tile_scores`` folds the components into each row's best and
second-best score, its rows in the lanes of vector registers.  The moments are
formed once per chunk, over each component's rows grouped together
(``gaussian_diag.listed_moments``, with float64 sums).
"""

import numpy as np
from numba.extending import overload

from ._jit import CHUNK_ROWS, chunk_bounds, kernel
from .arrays import arange, empty, full, zeros
from .gaussian_diag import listed_moments
from .nearest_scores import BLOCK_ROWS, tile_scores
from .transpose import copy_rows
from .weights import hard_assignment

# Rows per tile: 128 (a tile of 32 float64 features stays in L1), a whole number of
# tile_scores' register blocks.
NEAREST_TILE_ROWS = BLOCK_ROWS * max(1, 128 // BLOCK_ROWS)

# float32's unit roundoff, and a bound on the absolute error of a product or sum that
# underflows (2**-149 is float32's smallest subnormal; the rest is margin).
UNIT_ROUNDOFF = 2.0**-24
UNDERFLOW_ERROR = 2.0**-140
# Rows whose scores could come near float32's range (3.4e38) are scored in float64.
FLOAT32_REACH = 2.0**64


@kernel(entry=True)
def unit_factors(factors):
    """True when every factor (square root of a precision) is exactly 1."""
    for k in range(factors.shape[0]):
        for d in range(factors.shape[1]):
            if factors[k, d] != 1.0:
                return False
    return True


@kernel(reassociate=False)  # reassociated, (a - top) - b became a - (top + b): 0 for small b
def centred_components(X, means, log_norm):
    """(origin (D padded to 4,), centres - origin (K padded to even, D padded to 4), bias
    (K padded to even, -inf in the padding)), all in X's dtype: the origin is the mean of
    the centres; bias[k] = log_norm[k] - max(log_norm) - |centre_k - origin|^2 / 2.
    (A common shift does not change the argmax; without it a log_norm of -30 would
    swamp the squared norms of data on a scale of 1e-8.)  Then, in float64, the two
    scales of ``E_i`` (module docstring) over the components of finite bias: max |bias|
    and max |centre - origin|."""
    n_components, n_features = means.shape
    dtype = X.dtype
    padded = n_features + (-n_features) % 4
    origin = zeros(padded, dtype)
    for d in range(n_features):
        total = 0.0
        for k in range(n_components):
            total += means[k, d]
        origin[d] = total / n_components
    centres = zeros((n_components + (n_components & 1), padded), dtype)
    bias = full(n_components + (n_components & 1), -np.inf, np.float64)
    top = log_norm[0]  # the largest log_norm (a loop: ndarray.max compiles two library kernels)
    for k in range(1, n_components):
        top = max(top, log_norm[k])
    largest_bias = 0.0
    largest_norm = 0.0
    for k in range(n_components):
        squares = 0.0
        for d in range(n_features):
            c = means[k, d] - origin[d]
            centres[k, d] = c
            squares += np.float64(centres[k, d]) ** 2
        if log_norm[k] > -np.inf:
            bias[k] = (log_norm[k] - top) - 0.5 * squares
            largest_bias = max(largest_bias, abs(bias[k]))
            largest_norm = max(largest_norm, np.sqrt(squares))
    return origin, centres, bias.astype(dtype), largest_bias, largest_norm


@kernel()
def transpose_centred(X, start, stop, origin, rows, wide, xt, norm):
    """xt[d, i] = X[start + i, d] - origin[d] (in X's dtype, then rounded to xt's); rows
    past ``stop`` are zero, and so are the padding features; norm[i] = |X[start + i] -
    origin| in float64, for the confirmation of wide data's scores.  The rows are first
    turned into ``wide`` ((D, tile rows), X's dtype) by ``copy_rows``' register blocks,
    so that the centring, the rounding and the norms run rows innermost, in vectors;
    ``rows`` holds 0, 1, ..., at least ``stop - start`` of them."""
    n_rows = stop - start
    copy_rows(X, start, rows[:n_rows], wide, X.shape[1])
    norm[:] = 0.0
    for d in range(X.shape[1]):
        shift = origin[d]
        for i in range(n_rows):
            v = wide[d, i] - shift
            xt[d, i] = v
            norm[i] += np.float64(v) * v
        for i in range(n_rows, xt.shape[1]):
            xt[d, i] = 0.0
    for i in range(xt.shape[1]):
        norm[i] = np.sqrt(norm[i])


def centred_tile(X, start, stop, origin, rows, wide, xt, norm):
    """``transpose_centred`` as X's dtype needs it (compiled code only): float64 rows
    with their norms, for the confirmation; float32 rows turned by ``copy_rows``
    straight into the float32 tile and centred there (``wide`` unused).  The values are
    those of ``transpose_centred``: the same subtraction in float32."""
    raise NotImplementedError("centred_tile runs in compiled code only")


@overload(centred_tile)
def _centred_tile(X, start, stop, origin, rows, wide, xt, norm):
    if X.dtype.bitwidth == 32:

        def float32_tile(X, start, stop, origin, rows, wide, xt, norm):
            n_rows = stop - start
            copy_rows(X, start, rows[:n_rows], xt, X.shape[1])
            for d in range(X.shape[1]):
                shift = origin[d]
                for i in range(n_rows):
                    xt[d, i] -= shift
                for i in range(n_rows, xt.shape[1]):
                    xt[d, i] = 0.0

        return float32_tile

    def wider_tile(X, start, stop, origin, rows, wide, xt, norm):
        transpose_centred(X, start, stop, origin, rows, wide, xt, norm)

    return wider_tile


@kernel()
def confirmed(best, second, norm, largest_bias, largest_norm, n_features):
    """True when the float32 scores' best component is certainly the exact best:
    the gap to the runner-up exceeds twice ``E_i`` (module docstring)."""
    reach = largest_bias + largest_norm * (norm + 1.0)
    error = (n_features + 4) * UNIT_ROUNDOFF * reach + (n_features + 2) * UNDERFLOW_ERROR * (1.0 + largest_norm + norm)
    gap = np.float64(best) - np.float64(second)  # NaN (not confirmed) when both are -inf
    return reach < FLOAT32_REACH and gap > 2.0 * error


@kernel()
def rescore_row(X, row, origin, centres, bias, xc):
    """The first k of largest bias[k] + centres[k] . (X[row] - origin), in X's dtype
    (xc: (D,) work array)."""
    for d in range(X.shape[1]):
        xc[d] = X[row, d] - origin[d]
    top = -np.inf
    chosen = 0
    for k in range(bias.shape[0]):
        s = bias[k]
        for d in range(X.shape[1]):
            s += centres[k, d] * xc[d]
        if s > top:
            top = s
            chosen = k
    return chosen


@kernel()
def scorer_of(X, means, log_norm):
    """What ``tile_labels`` works with: the centred components (``centred_components``),
    their float32 copies for the lanes, and work arrays for a tile of
    NEAREST_TILE_ROWS rows."""
    origin, centres, bias, largest_bias, largest_norm = centred_components(X, means, log_norm)
    n_rows = NEAREST_TILE_ROWS
    return (
        origin, centres, bias, largest_bias, largest_norm, centres.astype(np.float32), bias.astype(np.float32),
        zeros((centres.shape[1], n_rows), np.float32),  # the tile; padding features stay 0
        empty(n_rows, np.float32), empty(n_rows, np.float32),  # best and second scores
        empty(n_rows, np.int32), empty(n_rows, np.float64), empty(means.shape[1], X.dtype),
        arange(n_rows),  # the tile's row positions, for copy_rows
        empty((means.shape[1] if X.itemsize > 4 else 0, n_rows), X.dtype),  # wider data's tile
    )


@kernel()
def tile_labels(X, tile_start, tile_stop, scorer):
    """The most probable component of each row ``tile_start ... tile_stop - 1``, as an
    int32 array whose first ``tile_stop - tile_start`` entries hold them: float32
    scores, and those of wider data confirmed, or redone, in the data's precision."""
    (origin, centres, bias, largest_bias, largest_norm, lane_centres, lane_bias, xt, best, second, label, norm,
     xc, rows, wide) = scorer
    confirm = X.itemsize > 4
    centred_tile(X, tile_start, tile_stop, origin, rows, wide, xt, norm)
    tile_scores(xt, lane_centres, lane_bias, best, second, label)
    if confirm:
        for i in range(tile_stop - tile_start):
            if not confirmed(best[i], second[i], norm[i], largest_bias, largest_norm, centres.shape[1]):
                label[i] = rescore_row(X, tile_start + i, origin, centres, bias, xc)
    return label


@kernel(entry=True)
def range_labels(X, means, log_norm, lo, hi, out_label):
    """``out_label[row]``, the most probable component of each row of chunks ``lo ...
    hi - 1`` under unit diagonal precisions (k-means' ``predict``)."""
    scorer = scorer_of(X, means, log_norm)
    n_rows = NEAREST_TILE_ROWS
    for c in range(lo, hi):
        start, stop = chunk_bounds(c, X.shape[0])
        for tile_start in range(start, stop, n_rows):
            tile_stop = min(tile_start + n_rows, stop)
            label = tile_labels(X, tile_start, tile_stop, scorer)
            for i in range(tile_stop - tile_start):
                out_label[tile_start + i] = label[i]


@kernel(entry=True)
def range_stats(
    X, sample_weight, first_row, means, log_norm, first_chunk, lo, hi, part_totals, part_prints, part_nk, part_sx,
    part_sxx,
):
    """``gaussian_tile.range_stats`` under hard weights with unit diagonal precisions:
    for chunks ``first_chunk + lo ... first_chunk + hi - 1``, added into slots ``lo ...
    hi - 1`` (zeroed by ``threads.sum_in_chunk_order``), nk, sx and sxx, and the
    classification log-likelihood, the total sample weight and the assignment
    fingerprint."""
    n_components, n_features = means.shape
    weighted = sample_weight.shape[0] > 0
    scorer = scorer_of(X, means, log_norm)
    n_rows = NEAREST_TILE_ROWS
    # Each row's component and weight, for the moments of the whole chunk at its end.
    chunk_labels = empty(min(CHUNK_ROWS, X.shape[0]), np.int64)
    chunk_weights = empty(chunk_labels.shape[0], np.float64)
    ends = empty(n_components + 1, np.int64)
    work = empty((2, n_features), np.float64)  # float64 sums, as k-means always had
    for c in range(lo, hi):
        start, stop = chunk_bounds(first_chunk + c, X.shape[0])
        n_chunk = stop - start
        nk = part_nk[c]
        sx = part_sx[c]
        sxx = part_sxx[c]
        loglik = 0.0
        weight = 0.0
        fingerprint = np.uint64(0)
        for tile_start in range(start, stop, n_rows):
            tile_stop = min(tile_start + n_rows, stop)
            label = tile_labels(X, tile_start, tile_stop, scorer)
            for i in range(tile_stop - tile_start):
                row = tile_start + i
                k = np.int64(label[i])
                w = sample_weight[row] if weighted else 1.0
                weight += w
                # Only the finiteness of log_norm[k] matters to the assignment.
                k, row_hash = hard_assignment(k, log_norm[k], w, first_row + row, n_components)
                fingerprint += row_hash
                chunk_labels[row - start] = k
                chunk_weights[row - start] = w
                if k >= 0:
                    nk[k] += w
                    loglik += w * log_norm[k]
                elif w > 0.0:
                    loglik = -np.inf  # a row no component can hold
        # The rows grouped by component (a counting sort), and each group's moments; per
        # row they paid the feature loop's set-up (runtime alias checks) for D sums.
        ends[:] = 0
        for r in range(n_chunk):
            ends[chunk_labels[r] + 1] += chunk_labels[r] >= 0
        for k in range(n_components):
            ends[k + 1] += ends[k]
        fill = ends[:n_components].copy()
        grouped = empty(ends[n_components], np.int64)
        grouped_weights = empty(ends[n_components], np.float64)
        for r in range(n_chunk):
            k = chunk_labels[r]
            if k >= 0:
                grouped[fill[k]] = r
                grouped_weights[fill[k]] = chunk_weights[r]
                fill[k] += 1
        for k in range(n_components):
            first, last = ends[k], ends[k + 1]
            if last > first:
                listed_moments(
                    X, start, means[k], grouped[first:last], grouped_weights[first:last], last - first,
                    sx[k], sxx[k], work,
                )
        # Each held row's log-density is log_norm[k] - |x - mean_k|^2 / 2; the weighted
        # squares are the chunk's second moments.
        for k in range(n_components):
            for d in range(n_features):
                loglik -= 0.5 * sxx[k, d]
        part_totals[c, 0] = loglik
        part_totals[c, 1] = weight
        part_prints[c] = fingerprint
