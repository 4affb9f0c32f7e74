"""Tile-level pieces of the full-covariance Gaussian kernel.

A component is held as its mean and the upper-triangular Cholesky factor ``U`` of its
precision (``precision = U @ U.T``), so the Mahalanobis term is ``|(x - mean) @ U|^2``
and no covariance is ever inverted.  Work is done on tiles of rows: the same ``U[j]``
row is applied to every row of the tile while it sits in registers.
"""

from ._jit import kernel


@kernel()
def centre_tile(X, start, stop, mean, xc):
    """xc[i] = X[start + i] - mean, in X's dtype."""
    for i in range(stop - start):
        for d in range(X.shape[1]):
            xc[i, d] = X[start + i, d] - mean[d]


@kernel()
def tile_log_prob(X, start, stop, means, prec_chol, log_norm, xc, y, logp):
    """logp[i, k] = log_norm[k] - |(X[start + i] - means[k]) @ prec_chol[k]|^2 / 2."""
    n_rows = stop - start
    n_features = X.shape[1]
    for k in range(means.shape[0]):
        centre_tile(X, start, stop, means[k], xc)
        upper = prec_chol[k]
        for i in range(n_rows):
            for d in range(n_features):
                y[i, d] = 0.0
        for j in range(n_features):
            for i in range(n_rows):
                a = xc[i, j]
                for d in range(j, n_features):
                    y[i, d] += a * upper[j, d]
        for i in range(n_rows):
            s = 0.0
            for d in range(n_features):
                s += y[i, d] * y[i, d]
            logp[i, k] = log_norm[k] - 0.5 * s


@kernel()
def tile_moments(xc, n_rows, resp, sx, sxx):
    """sx += resp @ xc; upper triangle of sxx += xc.T @ diag(resp) @ xc (float64)."""
    n_features = xc.shape[1]
    for i in range(n_rows):
        r = resp[i]
        if r == 0.0:
            continue
        for j in range(n_features):
            a = r * xc[i, j]
            sx[j] += a
            for d in range(j, n_features):
                sxx[j, d] += a * xc[i, d]
