"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``factors[k, d] = 1 / sqrt(variance[k, d])``).  Log-densities are formed rows
innermost, from the tile transposed to (D, rows), four features per update of a row's
sum (float32 gets twice the lanes of float64 in every loop).  Moments are formed row
by row, four rows sharing each update of the accumulators, so that blocks of rows
with no weight on a component are skipped; leftover rows take the one-row path, and
leftover features (D not a multiple of 4) the one-feature path.
"""

import numpy as np

from ._jit import kernel


@kernel()
def tile_moments(X, start, stop, mean, resp, sx, acc, work):
    """sx += sum_i resp_i (x_i - mean); acc += sum_i resp_i (x_i - mean)**2.

    resp : (n,) weights of the tile's rows in X's dtype; sx, acc : (D,) float64.
    work : (2, 1, D) buffer in X's dtype: the tile's sums are formed there, in X's
    dtype, and added to ``sx`` and ``acc`` once.
    """
    n_rows = stop - start
    n_blocked = n_rows - n_rows % 4
    n_features = X.shape[1]
    tile_sx = work[0, 0]
    tile_acc = work[1, 0]
    tile_sx[:] = 0.0
    tile_acc[:] = 0.0
    for i in range(0, n_blocked, 4):
        r = start + i
        w0 = resp[i]
        w1 = resp[i + 1]
        w2 = resp[i + 2]
        w3 = resp[i + 3]
        if w0 == 0.0 and w1 == 0.0 and w2 == 0.0 and w3 == 0.0:
            continue  # none of the four rows belongs to this component
        for d in range(n_features):
            m = mean[d]
            v0 = X[r, d] - m
            v1 = X[r + 1, d] - m
            v2 = X[r + 2, d] - m
            v3 = X[r + 3, d] - m
            a0 = w0 * v0
            a1 = w1 * v1
            a2 = w2 * v2
            a3 = w3 * v3
            tile_sx[d] += (a0 + a1) + (a2 + a3)
            tile_acc[d] += (a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)
    for i in range(n_blocked, n_rows):
        w = resp[i]
        for d in range(n_features):
            v = X[start + i, d] - mean[d]
            a = w * v
            tile_sx[d] += a
            tile_acc[d] += a * v
    for d in range(n_features):
        sx[d] += tile_sx[d]
        acc[d] += tile_acc[d]


@kernel()
def row_moments(X, row, mean, w, sx, acc):
    """sx += w (x_row - mean); acc += w (x_row - mean)**2: one row wholly in one component
    (hard weights), which skips the per-component scan of the tile.  Returns
    |x_row - mean|^2 in float64."""
    squares = 0.0
    for d in range(X.shape[1]):
        v = X[row, d] - mean[d]
        a = w * v
        sx[d] += a
        acc[d] += a * v
        squares += np.float64(v) * v
    return squares


@kernel()
def log_prob_t(xt, means, factors, log_norm, logp_t):
    """logp_t[k, i] = log_norm[k] - sum_d ((xt[d, i] - means[k, d]) * factors[k, d])^2 / 2,
    rows innermost: xt (D, n) is the tile transposed, every loop runs over its rows and
    four features are summed before each update of a row's sum."""
    n_features, n_rows = xt.shape
    n_quads = n_features - n_features % 4
    zero = logp_t.dtype.type(0.0)
    for k in range(means.shape[0]):
        mean = means[k]
        scale = factors[k]
        s = logp_t[k]
        for i in range(n_rows):
            s[i] = zero
        for d in range(0, n_quads, 4):
            m0, m1, m2, m3 = mean[d], mean[d + 1], mean[d + 2], mean[d + 3]
            c0, c1, c2, c3 = scale[d], scale[d + 1], scale[d + 2], scale[d + 3]
            x0, x1, x2, x3 = xt[d], xt[d + 1], xt[d + 2], xt[d + 3]
            for i in range(n_rows):
                z0 = (x0[i] - m0) * c0
                z1 = (x1[i] - m1) * c1
                z2 = (x2[i] - m2) * c2
                z3 = (x3[i] - m3) * c3
                s[i] += (z0 * z0 + z1 * z1) + (z2 * z2 + z3 * z3)
        for d in range(n_quads, n_features):
            m = mean[d]
            c = scale[d]
            x = xt[d]
            for i in range(n_rows):
                z = (x[i] - m) * c
                s[i] += z * z
        norm = log_norm[k]
        for i in range(n_rows):
            s[i] = norm - 0.5 * s[i]

