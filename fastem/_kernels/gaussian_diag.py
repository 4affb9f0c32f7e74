"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``factors[k, d] = 1 / sqrt(variance[k, d])``).  Four rows at a time share each pass
over a component's mean and factors (log-densities) and each update of the moment
accumulators (moments); leftover rows of a tile take the one-row path, and leftover
features (D not a multiple of 4) the one-feature path.
"""

from ._jit import kernel


@kernel()
def tile_log_prob(X, start, stop, means_t, factors_t, log_norm, acc, logp):
    """logp[i, k] = log_norm[k] - sum_d ((X[start + i, d] - means[k, d]) * factors[k, d])^2 / 2.

    means_t, factors_t : (D, K), the components transposed, in X's dtype.
    acc : (TILE_ROWS, K) scratch in X's dtype.

    The innermost loop runs over components, so it vectorises without a horizontal sum
    per (row, component).  Its accumulators
    live in memory, so each update is a load and a store: four rows share each load of
    a mean and a factor, and four features are summed before each update, which cut
    the time of a tile by 1.3-1.8x (1M x 32, K = 32 and 64).  Sums are formed in X's
    dtype.
    """
    n_rows = stop - start
    n_blocked = n_rows - n_rows % 4
    n_features, n_components = means_t.shape
    n_quads = n_features - n_features % 4
    acc[:n_rows] = 0.0
    for i in range(0, n_blocked, 4):
        r = start + i
        a0 = acc[i]
        a1 = acc[i + 1]
        a2 = acc[i + 2]
        a3 = acc[i + 3]
        for d in range(0, n_quads, 4):
            # x<f><i>: feature d + f of row r + i
            x00, x01, x02, x03 = X[r, d], X[r + 1, d], X[r + 2, d], X[r + 3, d]
            x10, x11, x12, x13 = X[r, d + 1], X[r + 1, d + 1], X[r + 2, d + 1], X[r + 3, d + 1]
            x20, x21, x22, x23 = X[r, d + 2], X[r + 1, d + 2], X[r + 2, d + 2], X[r + 3, d + 2]
            x30, x31, x32, x33 = X[r, d + 3], X[r + 1, d + 3], X[r + 2, d + 3], X[r + 3, d + 3]
            mean0, mean1, mean2, mean3 = means_t[d], means_t[d + 1], means_t[d + 2], means_t[d + 3]
            scale0, scale1, scale2, scale3 = factors_t[d], factors_t[d + 1], factors_t[d + 2], factors_t[d + 3]
            for k in range(n_components):
                m0, m1, m2, m3 = mean0[k], mean1[k], mean2[k], mean3[k]
                c0, c1, c2, c3 = scale0[k], scale1[k], scale2[k], scale3[k]
                z00, z10, z20, z30 = (x00 - m0) * c0, (x10 - m1) * c1, (x20 - m2) * c2, (x30 - m3) * c3
                z01, z11, z21, z31 = (x01 - m0) * c0, (x11 - m1) * c1, (x21 - m2) * c2, (x31 - m3) * c3
                z02, z12, z22, z32 = (x02 - m0) * c0, (x12 - m1) * c1, (x22 - m2) * c2, (x32 - m3) * c3
                z03, z13, z23, z33 = (x03 - m0) * c0, (x13 - m1) * c1, (x23 - m2) * c2, (x33 - m3) * c3
                a0[k] += (z00 * z00 + z10 * z10) + (z20 * z20 + z30 * z30)
                a1[k] += (z01 * z01 + z11 * z11) + (z21 * z21 + z31 * z31)
                a2[k] += (z02 * z02 + z12 * z12) + (z22 * z22 + z32 * z32)
                a3[k] += (z03 * z03 + z13 * z13) + (z23 * z23 + z33 * z33)
        for d in range(n_quads, n_features):
            x0 = X[r, d]
            x1 = X[r + 1, d]
            x2 = X[r + 2, d]
            x3 = X[r + 3, d]
            mean = means_t[d]
            scale = factors_t[d]
            for k in range(n_components):
                m = mean[k]
                c = scale[k]
                z0 = (x0 - m) * c
                z1 = (x1 - m) * c
                z2 = (x2 - m) * c
                z3 = (x3 - m) * c
                a0[k] += z0 * z0
                a1[k] += z1 * z1
                a2[k] += z2 * z2
                a3[k] += z3 * z3
    for i in range(n_blocked, n_rows):
        a = acc[i]
        for d in range(n_features):
            x = X[start + i, d]
            mean = means_t[d]
            scale = factors_t[d]
            for k in range(n_components):
                z = (x - mean[k]) * scale[k]
                a[k] += z * z
    for i in range(n_rows):
        for k in range(n_components):
            logp[i, k] = log_norm[k] - 0.5 * acc[i, k]


@kernel()
def tile_moments(X, start, stop, mean, resp, sx, acc, work):
    """sx += sum_i resp_i (x_i - mean); acc += sum_i resp_i (x_i - mean)**2.

    resp : (TILE_ROWS,) weights in X's dtype; sx, acc : (D,) float64.
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
    (hard weights), which skips the per-component scan of the tile."""
    for d in range(X.shape[1]):
        v = X[row, d] - mean[d]
        a = w * v
        sx[d] += a
        acc[d] += a * v
