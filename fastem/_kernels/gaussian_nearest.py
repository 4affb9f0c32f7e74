"""Hard weights under unit-precision diagonal components: k-means' assignment step.

With every precision equal to 1 a row's weighted log-density is
``log_norm[k] - |x - m_k|^2 / 2``, and its best component is the largest
``score[k] = log_norm[k] - |m_k|^2 / 2 + x . m_k`` -- one multiply-add per feature and
component instead of a subtract, a multiply and a multiply-add.  Rows and centres are
first moved by the mean of the centres (distances do not change), so that the expanded
form loses no more precision than the data's spread allows.

A tile of NEAREST_TILE_ROWS rows is transposed once, and the scores of two components
over four features are updated per pass over the tile's rows; the best score of each
row is tracked across components with the rows innermost too.  The chosen component's
moments are then added exactly, about its mean, as in hard mode elsewhere.
"""

import numpy as np

from ._jit import kernel
from .gaussian_diag import row_moments
from .gaussian_tile import centre, transpose_tile
from .weights import hard_assignment

# Rows per tile: long vector loops over rows amortise each pass's fixed cost.
NEAREST_TILE_ROWS = 128


@kernel()
def unit_factors(factors):
    """True when every factor (square root of a precision) is exactly 1."""
    for k in range(factors.shape[0]):
        for d in range(factors.shape[1]):
            if factors[k, d] != 1.0:
                return False
    return True


@kernel()
def centred_components(X, means, log_norm):
    """(origin (D padded to 4,), centres - origin (K padded to even, D padded to 4), bias
    (K padded to even, -inf in the padding)), all in X's dtype:
    the origin is the mean of the centres; bias[k] = log_norm[k] - |centre_k - origin|^2 / 2."""
    n_components, n_features = means.shape
    dtype = X.dtype
    padded = n_features + (-n_features) % 4
    origin = np.zeros(padded, dtype=dtype)
    for d in range(n_features):
        total = 0.0
        for k in range(n_components):
            total += means[k, d]
        origin[d] = total / n_components
    centres = np.zeros((n_components + (n_components & 1), padded), dtype=dtype)
    bias = np.full(n_components + (n_components & 1), -np.inf)
    for k in range(n_components):
        squares = 0.0
        for d in range(n_features):
            c = means[k, d] - origin[d]
            centres[k, d] = c
            squares += np.float64(centres[k, d]) ** 2
        bias[k] = log_norm[k] - 0.5 * squares
    return origin, centres, bias.astype(dtype)


@kernel()
def tile_scores(X, start, stop, origin, centres, bias, xt, score, best, label, sq):
    """For rows start:stop: label[i] = the first k of largest score[k, i], best[i] that
    score, sq[i] = |x_i - origin|^2.

    xt : (D padded to 4, n) work array, its padding features 0; score : (2, n) work array; best, sq : (n,);
    label : (n,) int64.  All but ``label`` in X's dtype.
    """
    n_features = X.shape[1]
    n_rows = xt.shape[1]
    n_components = bias.shape[0]  # padded to even, with -inf
    transpose_tile(X, start, stop, xt)
    centre(xt, origin, xt)  # padding features stay 0: origin is 0 there
    sq[:] = 0.0
    for d in range(n_features):
        for i in range(n_rows):
            sq[i] += xt[d, i] * xt[d, i]
    best[:] = -np.inf
    label[:] = 0
    # 2-D indexing, not row views, in the loops: a view costs reference-count updates.
    for k in range(0, n_components, 2):
        b0 = bias[k]
        b1 = bias[k + 1]
        for i in range(n_rows):
            score[0, i] = b0
            score[1, i] = b1
        for d in range(0, xt.shape[0], 4):
            a0, a1, a2, a3 = centres[k, d], centres[k, d + 1], centres[k, d + 2], centres[k, d + 3]
            e0, e1, e2, e3 = centres[k + 1, d], centres[k + 1, d + 1], centres[k + 1, d + 2], centres[k + 1, d + 3]
            for i in range(n_rows):
                x0 = xt[d, i]
                x1 = xt[d + 1, i]
                x2 = xt[d + 2, i]
                x3 = xt[d + 3, i]
                score[0, i] += (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                score[1, i] += (e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)
        for i in range(n_rows):
            # Strictly greater: ties go to the first component, as in best_component.
            # Selects, not branches, so that the loop vectorises.
            top = best[i]
            chosen = label[i]
            v = score[0, i]
            chosen = k if v > top else chosen
            top = v if v > top else top
            v = score[1, i]
            chosen = k + 1 if v > top else chosen
            top = v if v > top else top
            best[i] = top
            label[i] = chosen


@kernel()
def chunk_stats(X, sample_weight, first_row, start, stop, means, log_norm, nk, sx, sxx):
    """``gaussian._chunk_stats`` under hard weights with unit diagonal precisions:
    the statistics of rows ``start:stop`` in ``nk, sx, sxx``; returns (classification
    log-likelihood, total sample weight, assignment fingerprint)."""
    n_components, n_features = means.shape
    weighted = sample_weight.shape[0] > 0
    dtype = X.dtype
    nk[:] = 0.0
    sx[:] = 0.0
    sxx[:] = 0.0
    origin, centres, bias = centred_components(X, means, log_norm)
    n_rows = NEAREST_TILE_ROWS
    xt = np.zeros((centres.shape[1], n_rows), dtype=dtype)  # padding features stay 0
    score = np.empty((2, n_rows), dtype=dtype)
    best = np.empty(n_rows, dtype=dtype)
    sq = np.empty(n_rows, dtype=dtype)
    label = np.empty(n_rows, dtype=np.int64)
    loglik = 0.0
    weight = 0.0
    fingerprint = np.uint64(0)
    for tile_start in range(start, stop, n_rows):
        tile_stop = min(tile_start + n_rows, stop)
        tile_scores(X, tile_start, tile_stop, origin, centres, bias, xt, score, best, label, sq)
        for i in range(tile_stop - tile_start):
            row = tile_start + i
            w = sample_weight[row] if weighted else 1.0
            weight += w
            term = np.float64(best[i]) - 0.5 * np.float64(sq[i])
            loglik += w * term
            k, row_hash = hard_assignment(label[i], term, w, first_row + row, n_components)
            fingerprint += row_hash
            if k >= 0:
                nk[k] += w
                row_moments(X, row, means[k], w, sx[k], sxx[k])
    return loglik, weight, fingerprint
