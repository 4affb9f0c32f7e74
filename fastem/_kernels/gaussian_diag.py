"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``prec_chol[k, d] = 1 / sqrt(variance[k, d])``).
"""

from ._jit import kernel


@kernel()
def tile_log_prob(X, start, stop, means, prec_chol, log_norm, xc, y, logp):
    """logp[i, k] = log_norm[k] - sum_d ((X[start + i, d] - means[k, d]) * prec_chol[k, d])^2 / 2."""
    n_features = X.shape[1]
    for i in range(stop - start):
        row = start + i
        for k in range(means.shape[0]):
            mean = means[k]
            scale = prec_chol[k]
            s = 0.0
            for d in range(n_features):
                z = (X[row, d] - mean[d]) * scale[d]
                s += z * z
            logp[i, k] = log_norm[k] - 0.5 * s


@kernel()
def tile_moments(xc, n_rows, resp, sx, sxx):
    """sx += resp @ xc; sxx += resp @ xc**2 (float64)."""
    n_features = xc.shape[1]
    for i in range(n_rows):
        r = resp[i]
        if r == 0.0:
            continue
        for d in range(n_features):
            a = r * xc[i, d]
            sx[d] += a
            sxx[d] += a * xc[i, d]
