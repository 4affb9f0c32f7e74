"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``factors[k, d] = 1 / sqrt(variance[k, d])``).
"""

from ._jit import kernel


@kernel()
def tile_log_prob(X, start, stop, means, factors, log_norm, xc, logp):
    """logp[i, k] = log_norm[k] - sum_d ((X[start + i, d] - means[k, d]) * factors[k, d])^2 / 2."""
    n_features = X.shape[1]
    for i in range(stop - start):
        row = start + i
        for k in range(means.shape[0]):
            mean = means[k]
            scale = factors[k]
            s = 0.0
            for d in range(n_features):
                z = (X[row, d] - mean[d]) * scale[d]
                s += z * z
            logp[i, k] = log_norm[k] - 0.5 * s


@kernel()
def tile_moments(X, start, stop, mean, resp, sx, acc, work):
    """sx += sum_i resp_i (x_i - mean); acc += sum_i resp_i (x_i - mean)**2 (float64)."""
    n_features = X.shape[1]
    for i in range(stop - start):
        r = resp[i]
        if r == 0.0:
            continue
        for d in range(n_features):
            v = X[start + i, d] - mean[d]
            a = r * v
            sx[d] += a
            acc[d] += a * v
