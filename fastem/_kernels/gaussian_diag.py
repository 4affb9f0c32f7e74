"""Tile-level pieces of the diagonal-covariance Gaussian kernel.

A component is held as its mean and the square roots of its precisions
(``factors[k, d] = 1 / sqrt(variance[k, d])``).  Log-densities are formed rows
innermost, from the tile transposed to (D, rows), four features per update of a row's
sum (float32 gets twice the lanes of float64 in every loop).  Moments are formed
once per chunk, row by row over each component's listed rows (those with weight on
it), four rows sharing each update of the sums; leftover rows take the one-row path.
"""


from ._jit import kernel


# Listed rows summed in X's dtype before their sums enter the float64 accumulators
# (as many as a float32 tile held before the moments were listed per chunk).
SUMMED_ROWS = 256


@kernel()
def list_rows(weights_t, n_used, offset, count, label, listed, listed_weights, n_listed):
    """Append each of a tile's rows ``offset + i`` (i < n_used) to the list of every
    component it has weight on: ``listed[k, j]`` the row, ``listed_weights[k, j]`` its
    weight, ``n_listed[k]`` the length of component k's list.

    weights_t : (K, n) the tile's weights.  count, label : (n,) int32 work arrays.
    Under sharp posteriors most rows have weight on one component only: two vector
    passes over the components count each row's components and note its last one,
    and such a row is appended to that one's list directly.  Scanning each component's
    weights for its rows instead took 0.03 s of row 1's 0.23 s (1M x 32, K = 32,
    float64, one thread), its branches mispredicted.
    """
    n_components = weights_t.shape[0]
    for i in range(n_used):
        count[i] = 0
        label[i] = 0
    for k in range(n_components):
        for i in range(n_used):
            has_weight = weights_t[k, i] != 0.0
            count[i] += has_weight
            label[i] = k if has_weight else label[i]
    for i in range(n_used):
        if count[i] == 1:
            k = label[i]
            j = n_listed[k]
            listed[k, j] = offset + i
            listed_weights[k, j] = weights_t[k, i]
            n_listed[k] = j + 1
        elif count[i] > 1:
            for k in range(n_components):
                j = n_listed[k]
                listed[k, j] = offset + i  # kept (counted) only when the row has weight
                listed_weights[k, j] = weights_t[k, i]
                n_listed[k] = j + (weights_t[k, i] != 0.0)


@kernel()
def listed_moments(X, start, mean, rows, weights, count, sx, acc, work):
    """sx += sum_j w_j (x_j - mean); acc += sum_j w_j (x_j - mean)**2 over the listed
    rows ``x_j = X[start + rows[j]]``, ``w_j = weights[j]``, j < count.

    A chunk lists each component's rows (``list_rows``) and forms their moments here
    once: per tile, with sharp posteriors, a component held a handful of rows, and the
    fixed cost of each tile's sums outweighed them (row 1 of the benchmark, 1M x 32,
    K = 32, one thread).  Four rows share each update of the sums, which are formed in
    ``work`` ((2, D): X's dtype for the diagonal kernel, float64 for k-means') and
    enter the float64 ``sx`` and ``acc`` ((D,)) every SUMMED_ROWS rows.
    """
    n_features = X.shape[1]
    part_sx = work[0]
    part_acc = work[1]
    for first in range(0, count, SUMMED_ROWS):
        last = min(first + SUMMED_ROWS, count)
        part_sx[:] = 0.0
        part_acc[:] = 0.0
        n_quads = last - (last - first) % 4
        for j in range(first, n_quads, 4):
            w0, w1, w2, w3 = weights[j], weights[j + 1], weights[j + 2], weights[j + 3]
            x0, x1 = X[start + rows[j]], X[start + rows[j + 1]]
            x2, x3 = X[start + rows[j + 2]], X[start + rows[j + 3]]
            for d in range(n_features):
                m = mean[d]
                v0 = x0[d] - m
                v1 = x1[d] - m
                v2 = x2[d] - m
                v3 = x3[d] - m
                a0 = w0 * v0
                a1 = w1 * v1
                a2 = w2 * v2
                a3 = w3 * v3
                part_sx[d] += (a0 + a1) + (a2 + a3)
                part_acc[d] += (a0 * v0 + a1 * v1) + (a2 * v2 + a3 * v3)
        for j in range(n_quads, last):
            w = weights[j]
            x = X[start + rows[j]]
            for d in range(n_features):
                v = x[d] - mean[d]
                a = w * v
                part_sx[d] += a
                part_acc[d] += a * v
        for d in range(n_features):
            sx[d] += part_sx[d]
            acc[d] += part_acc[d]


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

