"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``factors[k, d] = 1 / sqrt(variance[k, d])``).  Four rows at a time share each pass
over a component's mean and factors (log-densities) and each update of the moment
accumulators (moments); leftover rows of a tile take the one-row path.
"""

from ._jit import kernel


@kernel()
def tile_log_prob(X, start, stop, means, factors, log_norm, xc, logp):
    """logp[i, k] = log_norm[k] - sum_d ((X[start + i, d] - means[k, d]) * factors[k, d])^2 / 2."""
    n_rows = stop - start
    n_blocked = n_rows - n_rows % 4
    n_features = X.shape[1]
    for k in range(means.shape[0]):
        mean = means[k]
        scale = factors[k]
        for i in range(0, n_blocked, 4):
            r = start + i
            s0 = s1 = s2 = s3 = 0.0
            for d in range(n_features):
                m = mean[d]
                c = scale[d]
                z0 = (X[r, d] - m) * c
                z1 = (X[r + 1, d] - m) * c
                z2 = (X[r + 2, d] - m) * c
                z3 = (X[r + 3, d] - m) * c
                s0 += z0 * z0
                s1 += z1 * z1
                s2 += z2 * z2
                s3 += z3 * z3
            logp[i, k] = log_norm[k] - 0.5 * s0
            logp[i + 1, k] = log_norm[k] - 0.5 * s1
            logp[i + 2, k] = log_norm[k] - 0.5 * s2
            logp[i + 3, k] = log_norm[k] - 0.5 * s3
        for i in range(n_blocked, n_rows):
            s = 0.0
            for d in range(n_features):
                z = (X[start + i, d] - mean[d]) * scale[d]
                s += z * z
            logp[i, k] = log_norm[k] - 0.5 * s


@kernel()
def tile_moments(X, start, stop, mean, resp, sx, acc, work):
    """sx += sum_i resp_i (x_i - mean); acc += sum_i resp_i (x_i - mean)**2 (float64)."""
    n_rows = stop - start
    n_blocked = n_rows - n_rows % 4
    n_features = X.shape[1]
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
            sx[d] += (a0 + a1) + (a2 + a3)
            acc[d] += (a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)
    for i in range(n_blocked, n_rows):
        w = resp[i]
        for d in range(n_features):
            v = X[start + i, d] - mean[d]
            a = w * v
            sx[d] += a
            acc[d] += a * v
