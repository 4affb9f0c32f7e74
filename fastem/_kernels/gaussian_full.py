"""Tile-level pieces of the full-covariance Gaussian kernel.

A component is held as its mean and a lower-triangular factor ``L`` of its precision
(``precision = L.T @ L``; ``L`` is the transpose of scikit-learn's upper
``precisions_cholesky_``), so the Mahalanobis term is ``|L @ (x - mean)|^2`` and no
covariance is ever inverted.

Both loops are register-blocked small matrix products written out by hand: four rows
of a tile share each row of ``L`` (log-densities), and 2 x 2 blocks of the second-moment
matrix share each pass over a tile (moments).  Padding -- zero rows past the end of a
tile, one zero feature when D is odd -- keeps every row on the same code path, so a
row's result does not depend on where it sits in the data.
"""

from ._jit import TILE_ROWS, kernel

ROW_BLOCK = 4  # rows of a tile that share one pass over L


@kernel()
def padded_features(n_features):
    return n_features + (n_features & 1)


@kernel()
def tile_log_prob(X, start, stop, means, factors, log_norm, xc, logp):
    """logp[i, k] = log_norm[k] - |factors[k] @ (X[start + i] - means[k])|^2 / 2.

    xc : (TILE_ROWS, D) work buffer in X's dtype.  The products and their sums stay in
    X's dtype too (mixing in float64 would convert every term and halve the lanes).
    """
    n_rows = stop - start
    n_features = X.shape[1]
    zero = xc.dtype.type(0.0)
    for k in range(means.shape[0]):
        mean = means[k]
        lower = factors[k]
        for i in range(TILE_ROWS):
            if i < n_rows:
                for d in range(n_features):
                    xc[i, d] = X[start + i, d] - mean[d]
            else:
                for d in range(n_features):
                    xc[i, d] = 0.0
        for i0 in range(0, n_rows, ROW_BLOCK):
            s0 = s1 = s2 = s3 = zero
            for d in range(n_features):
                a0 = a1 = a2 = a3 = zero
                for j in range(d + 1):
                    f = lower[d, j]
                    a0 += xc[i0, j] * f
                    a1 += xc[i0 + 1, j] * f
                    a2 += xc[i0 + 2, j] * f
                    a3 += xc[i0 + 3, j] * f
                s0 += a0 * a0
                s1 += a1 * a1
                s2 += a2 * a2
                s3 += a3 * a3
            logp[i0, k] = log_norm[k] - 0.5 * s0
            logp[i0 + 1, k] = log_norm[k] - 0.5 * s1
            logp[i0 + 2, k] = log_norm[k] - 0.5 * s2
            logp[i0 + 3, k] = log_norm[k] - 0.5 * s3


@kernel()
def tile_moments(X, start, stop, mean, resp, sx, acc, work):
    """Add one component's first and second moments of a tile about ``mean``.

    Only rows with a non-zero weight are gathered (transposed) into ``work``, so a
    component that owns few rows of the tile costs little.

    resp : (TILE_ROWS,) weights of the rows, in X's dtype.
    sx : (D,) float64, gets sum_i resp_i (x_i - mean).
    acc : (Dp, Dp) float64 padded accumulator; its upper 2 x 2 blocks get
        sum_i resp_i (x_i - mean)(x_i - mean)^T.
    work : (2, Dp, TILE_ROWS) buffer in X's dtype for the gathered, transposed rows;
        the tile's sums are formed in X's dtype and added to ``sx`` and ``acc``.
    """
    zero = work.dtype.type(0.0)
    n_features = X.shape[1]
    padded = acc.shape[0]
    xt = work[0]
    wxt = work[1]
    n_active = 0
    for i in range(stop - start):
        r = resp[i]
        if r == 0.0:
            continue
        for d in range(n_features):
            v = X[start + i, d] - mean[d]
            xt[d, n_active] = v
            wxt[d, n_active] = r * v
        for d in range(n_features, padded):
            xt[d, n_active] = 0.0
            wxt[d, n_active] = 0.0
        n_active += 1
    for d in range(n_features):
        s = zero
        for i in range(n_active):
            s += wxt[d, i]
        sx[d] += s
    for j in range(0, padded, 2):
        for d in range(j, padded, 2):
            a00 = a01 = a10 = a11 = zero
            for i in range(n_active):
                w0 = wxt[j, i]
                w1 = wxt[j + 1, i]
                x0 = xt[d, i]
                x1 = xt[d + 1, i]
                a00 += w0 * x0
                a01 += w0 * x1
                a10 += w1 * x0
                a11 += w1 * x1
            acc[j, d] += a00
            acc[j, d + 1] += a01
            acc[j + 1, d] += a10
            acc[j + 1, d + 1] += a11
