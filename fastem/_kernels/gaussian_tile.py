"""The Gaussian kernel on transposed tiles, rows innermost: full covariances (any
number of features) and diagonal ones (their log-densities from
``gaussian_diag.log_prob_t``).

A tile of rows is transposed once to (D, rows), and every loop -- centring,
``L @ (x - mean)``, the log-sum-exp over components, the weights and the moments --
runs over the tile's rows, so each vectorises across rows whatever D is: at D = 4 a
loop over features would be too short to vectorise, and at D = 128 a row-by-row dot
product pays a horizontal sum per row of ``L``.  (Their count is read from an array's
shape, not a constant: with a constant trip count LLVM unrolls these loops completely
and leaves them scalar, which measured 1.7x slower.)

Full-covariance tiles have their features padded to a multiple of four (zero features
add nothing), so that ``log_prob_t`` forms the rows of ``L @ (x - mean)`` in blocks of
four or eight (in vector registers from 32 features on, ``full_log_prob``); their rows
are as many as keep a tile in the L2 cache.  Per
tile the log-densities are held as ``logp_t[k, i]`` (components by rows).  The
densities, exps, weights and moments are in X's dtype (float32 data: twice the lanes),
and their sums enter the float64 accumulators once per block of rows and component (a
tile; for full covariances the rows that sparse tiles deferred to the chunk's end; for
diagonal ones each component's rows with weight, listed for the whole chunk).
Soft weights are formed for the whole tile at once (sampled weights are drawn from them
row by row); hard weights reuse the per-row code of ``weights``.
"""

import numba
import numpy as np
from numba import types
from numba.extending import overload

from . import full_log_prob, gaussian_diag
from ._jit import CHUNK_ROWS, MODE_HARD, MODE_SAMPLE, chunk_bounds, kernel
from .arrays import empty, zeros
from .outer_moments import deferred_moments, outer_buffers
from .target import REGISTER_KERNELS, VECTOR_BYTES
from .transpose import block_lanes, copy_rows, transpose_tile
from .weights import (
    hard_row, mask_known_labels, stream_start, tile_posterior, tile_row_weights, tile_weight_buffers, tile_weights,
)


# Rows of a full-covariance tile: as many as keep the tile within FULL_TILE_BYTES (its
# copies xc and wx are as large), and at most MAX_TILE_ROW_BYTES per feature (256
# float64 or 512 float32 rows), so that the vector loops over a tile's rows take as
# many steps in either dtype.  Those loops are short, each with a fixed cost (runtime
# alias checks, the horizontal sum of a reduction), so the tiles are as long as the
# L2 cache allows: a tile larger than FULL_TILE_BYTES is read from the third level
# (CONTRIBUTING.md, "Kernel notes", for the numbers).
MAX_TILE_ROW_BYTES = 2048
FULL_TILE_BYTES = 2**17

# Features of a full-covariance tile are padded to a multiple of this (log_prob_t).
FEATURE_BLOCK = 4

# Features from which a chunk's sparse tiles defer their moments to one pass per chunk
# (below it a tile's rows are few enough to gather at once, and deferring costs more
# than it saves).
DEFERRED_FEATURES = 16

# Gathered columns are padded with zeros to a multiple of this (column_moments' vector loop).
GATHER_ROWS = 16

# Bytes per feature of a diagonal tile: 128 float64 or 256 float32 rows, the fastest of
# 512 / 1024 / 2048 on row 1 of the benchmark in both dtypes.
DIAG_TILE_BYTES = 1024


def padded_components(means, factors):
    """(means (K, Dp), factors (K, Dp, Dp)): full-covariance components padded with
    zeros to D rounded up to FEATURE_BLOCK features, so that ``log_prob_t`` needs no
    leftover paths (a zero feature adds nothing to a row's sum).  NumPy, called once
    per pass."""
    n_components, n_features = means.shape
    padded = n_features + (-n_features) % FEATURE_BLOCK
    means_p = np.zeros((n_components, padded), dtype=means.dtype)
    factors_p = np.zeros((n_components, padded, padded), dtype=factors.dtype)
    means_p[:, :n_features] = means
    factors_p[:, :n_features, :n_features] = factors
    return means_p, factors_p


@kernel()
def log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t):
    """logp_t[k, i] = log_norm[k] - |factors[k] @ (xt[:, i] - means[k])|^2 / 2: the
    log-densities of a transposed tile, full or diagonal (``factors.ndim``).

    xt : (Dp, n) the tile, xc : (Dp, n) a work array for its centred copy, both in X's
    dtype; full: means (K, Dp) and factors (K, Dp, Dp) lower-triangular, zero past D
    (``padded_components``); ys : (5, n) in X's dtype, ``tile_log_prob``'s rows.
    Diagonal: ``gaussian_diag.log_prob_t`` (means and factors (K, D); xc, ys unused).

    From REGISTER_FEATURES padded features on, where the target uses the register
    kernels (``target.REGISTER_KERNELS``), ``full_log_prob.log_prob_t`` holds the
    rows of ``L @ (x - mean)`` in registers: as fast as these loops in float64 at 32
    features and faster wider, faster in float32 (rows 2 and 4 of the benchmark).
    Narrower tiles take ``tile_log_prob``.  float64 ones, and float32 ones of up to
    eight features, are centred in every pass that loads them (a subtraction per load
    costs less than a store per value).  float32's
    eight-feature passes have no registers left for the means: there each block of
    four features is centred once per component, by the first pass that loads it,
    which keeps it in xc for the passes after it (a store per value, then no mean).
    """
    if factors.ndim == 2:  # (a branch Numba resolves at compile time)
        gaussian_diag.log_prob_t(xt, means, factors, log_norm, logp_t)
        return
    n_padded = xt.shape[0]
    if REGISTER_KERNELS and n_padded >= full_log_prob.REGISTER_FEATURES and xt.shape[1] % block_lanes(xt) == 0:
        full_log_prob.log_prob_t(xt, means, factors, log_norm, logp_t)
        return
    narrow_log_prob(xt, xc, means, factors, log_norm, ys, logp_t)


@kernel()
def _subtract(value, mean_value):
    return value - mean_value


@kernel()
def _as_loaded(value, mean_value):
    return value


def _tile_log_prob_of(centre_in_passes, eight_features):
    """``tile_log_prob`` for one way of centring and one width of pass, chosen when
    the closure is made, so that each compiled version holds none of the others' work
    (``eight_features``: float32's passes over eight features, see below)."""
    centred = _subtract if centre_in_passes else _as_loaded

    @kernel()
    def tile_log_prob(xt, xc, means, factors, log_norm, ys, logp_t):
        """``log_prob_t``'s passes: with ``centre_in_passes`` every pass reads xt and
        subtracts the mean as it loads; otherwise the diagonal pass of each block of
        four features centres them into xc, and the later passes read xc.

        ys : (5, n) in X's dtype: four rows of ``L @ (x - mean)`` and the running sums of
        squares.  Four rows are formed at once, four features per update: 16 multiply-adds
        per pass over the tile's rows share its 4 loads and the 4 loads and stores of the
        rows being formed.
        """
        n_padded, n_rows = xt.shape
        y0 = ys[0]
        y1 = ys[1]
        y2 = ys[2]
        y3 = ys[3]
        s = ys[4]
        wide = 2 * FEATURE_BLOCK
        for k in range(means.shape[0]):
            lower = factors[k]
            source = xt if centre_in_passes else xc
            mean = means[k]
            for d in range(0, n_padded, FEATURE_BLOCK):
                # Rows d..d+3 of L are zero past their diagonal, so j stops at block d.  The
                # first block of j sets the four rows, the last one adds their squares to s
                # (the first d block sets s): no pass only zeroes or only squares.
                # float32 takes eight features per pass where they fit: 32 multiply-adds
                # per load and store of the four rows being formed, where four features had
                # 16.  float64 keeps four (eight measured a little slower there).
                j = 0
                if eight_features:  # (pruned at compile time where it is False)
                    while j + wide <= d:
                        a0, a1, a2, a3 = lower[d, j], lower[d, j + 1], lower[d, j + 2], lower[d, j + 3]
                        a4, a5 = lower[d, j + 4], lower[d, j + 5]
                        a6, a7 = lower[d, j + 6], lower[d, j + 7]
                        b0, b1, b2, b3 = lower[d + 1, j], lower[d + 1, j + 1], lower[d + 1, j + 2], lower[d + 1, j + 3]
                        b4, b5 = lower[d + 1, j + 4], lower[d + 1, j + 5]
                        b6, b7 = lower[d + 1, j + 6], lower[d + 1, j + 7]
                        c0, c1, c2, c3 = lower[d + 2, j], lower[d + 2, j + 1], lower[d + 2, j + 2], lower[d + 2, j + 3]
                        c4, c5 = lower[d + 2, j + 4], lower[d + 2, j + 5]
                        c6, c7 = lower[d + 2, j + 6], lower[d + 2, j + 7]
                        e0, e1, e2, e3 = lower[d + 3, j], lower[d + 3, j + 1], lower[d + 3, j + 2], lower[d + 3, j + 3]
                        e4, e5 = lower[d + 3, j + 4], lower[d + 3, j + 5]
                        e6, e7 = lower[d + 3, j + 6], lower[d + 3, j + 7]
                        m0, m1 = mean[j], mean[j + 1]
                        m2, m3 = mean[j + 2], mean[j + 3]
                        m4, m5 = mean[j + 4], mean[j + 5]
                        m6, m7 = mean[j + 6], mean[j + 7]
                        if j == 0:
                            for i in range(n_rows):
                                x0, x1 = centred(source[j, i], m0), centred(source[j + 1, i], m1)
                                x2, x3 = centred(source[j + 2, i], m2), centred(source[j + 3, i], m3)
                                x4, x5 = centred(source[j + 4, i], m4), centred(source[j + 5, i], m5)
                                x6, x7 = centred(source[j + 6, i], m6), centred(source[j + 7, i], m7)
                                y0[i] = ((a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)) + (
                                    (a4 * x4 + a5 * x5) + (a6 * x6 + a7 * x7)
                                )
                                y1[i] = ((b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)) + (
                                    (b4 * x4 + b5 * x5) + (b6 * x6 + b7 * x7)
                                )
                                y2[i] = ((c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3)) + (
                                    (c4 * x4 + c5 * x5) + (c6 * x6 + c7 * x7)
                                )
                                y3[i] = ((e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)) + (
                                    (e4 * x4 + e5 * x5) + (e6 * x6 + e7 * x7)
                                )
                        else:
                            for i in range(n_rows):
                                x0, x1 = centred(source[j, i], m0), centred(source[j + 1, i], m1)
                                x2, x3 = centred(source[j + 2, i], m2), centred(source[j + 3, i], m3)
                                x4, x5 = centred(source[j + 4, i], m4), centred(source[j + 5, i], m5)
                                x6, x7 = centred(source[j + 6, i], m6), centred(source[j + 7, i], m7)
                                y0[i] += ((a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)) + (
                                    (a4 * x4 + a5 * x5) + (a6 * x6 + a7 * x7)
                                )
                                y1[i] += ((b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)) + (
                                    (b4 * x4 + b5 * x5) + (b6 * x6 + b7 * x7)
                                )
                                y2[i] += ((c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3)) + (
                                    (c4 * x4 + c5 * x5) + (c6 * x6 + c7 * x7)
                                )
                                y3[i] += ((e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)) + (
                                    (e4 * x4 + e5 * x5) + (e6 * x6 + e7 * x7)
                                )
                        j += wide
                while j < d:
                    a0, a1, a2, a3 = lower[d, j], lower[d, j + 1], lower[d, j + 2], lower[d, j + 3]
                    b0, b1, b2, b3 = lower[d + 1, j], lower[d + 1, j + 1], lower[d + 1, j + 2], lower[d + 1, j + 3]
                    c0, c1, c2, c3 = lower[d + 2, j], lower[d + 2, j + 1], lower[d + 2, j + 2], lower[d + 2, j + 3]
                    e0, e1, e2, e3 = lower[d + 3, j], lower[d + 3, j + 1], lower[d + 3, j + 2], lower[d + 3, j + 3]
                    m0, m1 = mean[j], mean[j + 1]
                    m2, m3 = mean[j + 2], mean[j + 3]
                    if j == 0:
                        for i in range(n_rows):
                            x0, x1 = centred(source[j, i], m0), centred(source[j + 1, i], m1)
                            x2, x3 = centred(source[j + 2, i], m2), centred(source[j + 3, i], m3)
                            y0[i] = (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                            y1[i] = (b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)
                            y2[i] = (c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3)
                            y3[i] = (e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)
                    else:
                        for i in range(n_rows):
                            x0, x1 = centred(source[j, i], m0), centred(source[j + 1, i], m1)
                            x2, x3 = centred(source[j + 2, i], m2), centred(source[j + 3, i], m3)
                            y0[i] += (a0 * x0 + a1 * x1) + (a2 * x2 + a3 * x3)
                            y1[i] += (b0 * x0 + b1 * x1) + (b2 * x2 + b3 * x3)
                            y2[i] += (c0 * x0 + c1 * x1) + (c2 * x2 + c3 * x3)
                            y3[i] += (e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)
                    j += FEATURE_BLOCK
                # The diagonal block (j == d) is lower triangular: 10 products of 16.
                a0 = lower[d, d]
                b0, b1 = lower[d + 1, d], lower[d + 1, d + 1]
                c0, c1, c2 = lower[d + 2, d], lower[d + 2, d + 1], lower[d + 2, d + 2]
                e0, e1, e2, e3 = lower[d + 3, d], lower[d + 3, d + 1], lower[d + 3, d + 2], lower[d + 3, d + 3]
                # It is the first pass to load features d..d+3, from the tile itself, and
                # centres them (into xc too, for the passes of the blocks after it, when
                # those read xc).
                m0, m1 = means[k, d], means[k, d + 1]
                m2, m3 = means[k, d + 2], means[k, d + 3]
                if d == 0:
                    for i in range(n_rows):
                        x0, x1 = xt[0, i] - m0, xt[1, i] - m1
                        x2, x3 = xt[2, i] - m2, xt[3, i] - m3
                        if not centre_in_passes:
                            xc[0, i] = x0
                            xc[1, i] = x1
                            xc[2, i] = x2
                            xc[3, i] = x3
                        v0 = a0 * x0
                        v1 = b0 * x0 + b1 * x1
                        v2 = (c0 * x0 + c1 * x1) + c2 * x2
                        v3 = (e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3)
                        s[i] = (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
                else:
                    for i in range(n_rows):
                        x0, x1 = xt[d, i] - m0, xt[d + 1, i] - m1
                        x2, x3 = xt[d + 2, i] - m2, xt[d + 3, i] - m3
                        if not centre_in_passes:
                            xc[d, i] = x0
                            xc[d + 1, i] = x1
                            xc[d + 2, i] = x2
                            xc[d + 3, i] = x3
                        v0 = y0[i] + a0 * x0
                        v1 = y1[i] + (b0 * x0 + b1 * x1)
                        v2 = y2[i] + ((c0 * x0 + c1 * x1) + c2 * x2)
                        v3 = y3[i] + ((e0 * x0 + e1 * x1) + (e2 * x2 + e3 * x3))
                        s[i] += (v0 * v0 + v1 * v1) + (v2 * v2 + v3 * v3)
            norm = log_norm[k]
            for i in range(n_rows):
                logp_t[k, i] = norm - 0.5 * s[i]

    return tile_log_prob


# float64 tiles, and float32 ones of up to 8 padded features (where no pass is eight
# features wide), are centred in the passes; wider float32 ones once.
_centring_in_passes = _tile_log_prob_of(True, False)
_centred_once = _tile_log_prob_of(False, True)


def narrow_log_prob(xt, xc, means, factors, log_norm, ys, logp_t):
    """The version of ``tile_log_prob`` for ``xt`` (compiled code only)."""
    raise NotImplementedError("narrow_log_prob runs in compiled code only")


@overload(narrow_log_prob)
def _narrow_log_prob(xt, xc, means, factors, log_norm, ys, logp_t):
    # Resolved by dtype at compile time: float64 code never holds the float32 version.
    if xt.dtype.bitwidth == 32:

        def float32_passes(xt, xc, means, factors, log_norm, ys, logp_t):
            if xt.shape[0] > 2 * FEATURE_BLOCK:
                _centred_once(xt, xc, means, factors, log_norm, ys, logp_t)
            else:
                _centring_in_passes(xt, xc, means, factors, log_norm, ys, logp_t)

        return float32_passes

    def float64_passes(xt, xc, means, factors, log_norm, ys, logp_t):
        _centring_in_passes(xt, xc, means, factors, log_norm, ys, logp_t)

    return float64_passes


@kernel()
def gather_is_cheaper(n_active, n_rows, n_features, itemsize):
    """Whether a component's moments over a tile should gather the ``n_active`` of its
    ``n_rows`` rows that have weight, rather than take every row (``dense_moments_t``).
    Gathering costs 2 D scalar copies per row held, against D (D + 1) / 2 products per
    row, a vector's worth of rows at a time, that it saves on the others."""
    n_products = n_features * (n_features + 1) // 2
    lanes = VECTOR_BYTES // itemsize
    return n_active * (n_products + 2 * n_features * lanes) < n_rows * n_products


@kernel()
def dense_moments_t(xt, mean, resp, xc, wx, sx, acc):
    """Add one component's moments of a whole tile about ``mean`` (rows innermost).

    resp : (n,) weights in X's dtype, zero past the tile's rows.
    xt : (Dp, n) the tile; xc, wx : (Dp, n) work arrays in X's dtype, zero in the
    padding features (``tile_buffers``; nothing writes them).
    sx : (D,) float64, gets sum_i resp_i (x_i - mean).
    acc : (D, D) float64, its upper triangle gets sum_i resp_i (x_i - mean)(x_i - mean)^T.
    """
    for d in range(sx.shape[0]):
        m = mean[d]
        for i in range(xt.shape[1]):
            v = xt[d, i] - m
            xc[d, i] = v
            wx[d, i] = resp[i] * v
    column_moments(xc, wx, xt.shape[1], sx, acc)


@kernel()
def gathered_moments(X, start, mean, resp, xc, wx, rows, sx, acc):
    """Add one component's moments about ``mean`` of the rows ``start + i`` with
    ``resp[i] != 0``: they are copied from X's rows into the columns of ``xc`` and
    ``wx`` (as ``dense_moments_t`` takes them), a block of ``xc.shape[1]`` at a time;
    ``rows`` (at least resp's length, int64) is a work array for their indices.

    Sparse tiles of fewer than DEFERRED_FEATURES features take it per tile; wider ones
    defer their rows to one pass per chunk (``outer_moments.deferred_moments``), so
    that each sum runs over the rows of four tiles at once: with sharp posteriors a
    component holds about n / K rows of a tile, too few to fill the vector loops.
    """
    n_active = 0
    for i in range(resp.shape[0]):
        rows[n_active] = i
        n_active += resp[i] != 0.0
    n_block = xc.shape[1]  # a multiple of GATHER_ROWS
    for first in range(0, n_active, n_block):
        n_columns = min(n_block, n_active - first)
        gather_columns(X, start, rows[first : first + n_columns], mean, resp, xc, wx)
        # Zero columns up to a whole group: column_moments' vector loop then takes them
        # all, where its scalar remainder took up to 15 columns one by one.
        n_whole = n_columns + (-n_columns) % GATHER_ROWS
        xc[:, n_columns:n_whole] = 0.0
        wx[:, n_columns:n_whole] = 0.0
        column_moments(xc, wx, n_whole, sx, acc)


@kernel()
def gather_columns(X, start, rows, mean, resp, xc, wx):
    """xc[d, c] = X[start + rows[c], d] - mean[d] and wx[d, c] = resp[rows[c]] xc[d, c]
    for the columns c < len(rows): the rows are copied (``copy_rows``), then centred
    and weighted feature by feature, along the columns."""
    n_rows = rows.shape[0]
    copy_rows(X, start, rows, xc, X.shape[1])
    w = empty(n_rows, resp.dtype)
    for c in range(n_rows):
        w[c] = resp[rows[c]]
    for d in range(X.shape[1]):
        m = mean[d]
        for c in range(n_rows):
            v = xc[d, c] - m
            xc[d, c] = v
            wx[d, c] = w[c] * v


@kernel()
def column_moments(xc, wx, n_columns, sx, acc):
    """sx[d] += sum_i wx[d, i]; the upper triangle of acc gets sum_i wx[j, i] xc[d, i],
    over the first ``n_columns`` columns; xc, wx : (Dp, n) in X's dtype, zero in the
    padding features; sx (D,), acc (D, D) float64.  The sums are formed in X's dtype."""
    n_features = sx.shape[0]
    zero = xc.dtype.type(0.0)
    for d in range(n_features):
        s = zero
        for i in range(n_columns):
            s += wx[d, i]
        sx[d] += s
    # Blocks of 4 x 4 sums share each pass over the columns: 16 independent
    # accumulators, 8 loads per 16 multiply-adds, where one sum per pass waited on its
    # multiply-adds' latency (all 256 rows of a tile, D = 128: 15 -> 7 ns per sum,
    # one thread).  The padding features are zero in xc and wx.
    n_padded = xc.shape[0]
    for j in range(0, n_padded, FEATURE_BLOCK):
        for d in range(j, n_padded, FEATURE_BLOCK):
            s00 = s01 = s02 = s03 = zero
            s10 = s11 = s12 = s13 = zero
            s20 = s21 = s22 = s23 = zero
            s30 = s31 = s32 = s33 = zero
            for i in range(n_columns):
                w0, w1, w2, w3 = wx[j, i], wx[j + 1, i], wx[j + 2, i], wx[j + 3, i]
                x0, x1, x2, x3 = xc[d, i], xc[d + 1, i], xc[d + 2, i], xc[d + 3, i]
                s00 += w0 * x0
                s01 += w0 * x1
                s02 += w0 * x2
                s03 += w0 * x3
                s10 += w1 * x0
                s11 += w1 * x1
                s12 += w1 * x2
                s13 += w1 * x3
                s20 += w2 * x0
                s21 += w2 * x1
                s22 += w2 * x2
                s23 += w2 * x3
                s30 += w3 * x0
                s31 += w3 * x1
                s32 += w3 * x2
                s33 += w3 * x3
            if d + FEATURE_BLOCK <= n_features:  # (and so j + FEATURE_BLOCK)
                # Spelt out: indexing the tuple below by loop counters costs a trip
                # through memory per sum.
                acc[j, d] += s00
                acc[j, d + 1] += s01
                acc[j, d + 2] += s02
                acc[j, d + 3] += s03
                acc[j + 1, d] += s10
                acc[j + 1, d + 1] += s11
                acc[j + 1, d + 2] += s12
                acc[j + 1, d + 3] += s13
                acc[j + 2, d] += s20
                acc[j + 2, d + 1] += s21
                acc[j + 2, d + 2] += s22
                acc[j + 2, d + 3] += s23
                acc[j + 3, d] += s30
                acc[j + 3, d + 1] += s31
                acc[j + 3, d + 2] += s32
                acc[j + 3, d + 3] += s33
                continue
            sums = (s00, s01, s02, s03, s10, s11, s12, s13, s20, s21, s22, s23, s30, s31, s32, s33)
            for a in range(min(FEATURE_BLOCK, n_features - j)):
                for b in range(min(FEATURE_BLOCK, n_features - d)):
                    acc[j + a, d + b] += sums[FEATURE_BLOCK * a + b]


@kernel()
def tile_rows(factors, X):
    """Rows per tile: for full covariances as many as keep a tile within
    FULL_TILE_BYTES (at most MAX_TILE_ROW_BYTES per feature, a multiple of 16), for diagonal ones
    DIAG_TILE_BYTES // itemsize."""
    if factors.ndim == 3:
        by_bytes = FULL_TILE_BYTES // (factors.shape[1] * X.itemsize)
        return max(16, min(MAX_TILE_ROW_BYTES // X.itemsize, by_bytes - by_bytes % 16))
    return DIAG_TILE_BYTES // X.itemsize


@kernel()
def tile_buffers(X, means, n_rows):
    """(xt, xc, ys): the transposed tile and a work array for its centred copies,
    (means.shape[1], n_rows) each, both zero (nothing writes their padding features,
    which the moments take as zero), and the (5, n_rows) rows of ``log_prob_t``; all
    in X's dtype."""
    n_features = means.shape[1]  # padded for full covariances
    xt = zeros((n_features, n_rows), X.dtype)
    return xt, zeros(xt.shape, X.dtype), empty((5, n_rows), X.dtype)


@kernel(entry=True)
def range_stats(
    X, sample_weight, known_labels, first_row, means, factors, log_norm, mode, seed, n_draws, first_chunk, lo, hi,
    part_totals, part_prints, part_nk, part_sx, part_sxx,
):
    """Statistics of chunks ``first_chunk + lo ... first_chunk + hi - 1``, added into
    slots ``lo ... hi - 1`` of the partials (zeroed by ``threads.sum_in_chunk_order``):
    for each chunk nk, sx and sxx (full: upper triangles) about ``means``, and its
    (log-likelihood, total sample weight) and assignment fingerprint.  Full-covariance components come padded
    (``padded_components``).  The chunk starting at row r draws from the stream
    ``stream_start(seed, first_row + r)``.  Rows with a known label (``known_labels``,
    or (0,) for none) go wholly to it (``mask_known_labels``).  The work arrays are
    made once per range."""
    n_components, n_features = means.shape
    n_data_rows = X.shape[0]
    dtype = X.dtype
    chunk_rows = min(CHUNK_ROWS, n_data_rows)
    n_rows = tile_rows(factors, X)
    xt, xc, ys = tile_buffers(X, means, n_rows)
    wx = zeros(xc.shape, dtype)  # its padding features are never written: they stay 0
    logp_t = empty((n_components, n_rows), dtype)
    weights_t, top, total, log_prob, row, ones = tile_weight_buffers(n_components, n_rows, X)
    w = empty(n_rows, np.float64)
    work = empty((2, n_features), dtype)  # listed_moments' part sums
    # Full covariances of DEFERRED_FEATURES or more: sparse tiles' rows, listed per
    # component with their weights, whose moments are formed once for the whole chunk
    # (outer_moments.deferred_moments).
    defer = factors.ndim == 3 and part_sx.shape[2] >= DEFERRED_FEATURES
    n_deferred_rows = chunk_rows if defer else 0
    deferred_rows = empty((n_components, n_deferred_rows), np.int32)
    deferred_weights = empty((n_components, n_deferred_rows), dtype)
    n_deferred = zeros(n_components, np.int64)
    rows_x, rows_w, part, outer_sx = outer_buffers(part_sx.shape[2] if defer else 0, X)
    rows = empty(max(n_rows, chunk_rows), np.int64)  # gathered_moments' rows
    # Diagonal covariances: each component's rows with weight, and their weights, listed
    # for the whole chunk (gaussian_diag.listed_moments).
    n_listed_rows = chunk_rows if factors.ndim == 2 else 0
    listed = empty((n_components, n_listed_rows), np.int32)
    listed_weights = empty((n_components, n_listed_rows), dtype)
    n_listed = zeros(n_components, np.int64)
    row_counts = empty(n_rows, np.int32)
    row_labels = empty(n_rows, np.int32)
    state = empty(1, np.uint64)
    for c in range(lo, hi):
        start, stop = chunk_bounds(first_chunk + c, n_data_rows)
        state[0] = stream_start(seed, first_row + start)
        nk = part_nk[c]
        sx = part_sx[c]
        sxx = part_sxx[c]
        n_deferred[:] = 0
        n_listed[:] = 0
        loglik = 0.0
        weight = 0.0
        fingerprint = np.uint64(0)
        for tile_start in range(start, stop, n_rows):
            tile_stop = min(tile_start + n_rows, stop)
            n_used = tile_stop - tile_start
            weight = tile_row_weights(sample_weight, tile_start, n_used, w, weight)
            transpose_tile(X, tile_start, tile_stop, xt)
            log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t)
            mask_known_labels(logp_t, known_labels, tile_start, n_used)
            # Weights enter the moments in X's dtype; nk of hard and sampled weights (whole
            # sample weights, draw frequencies) is summed from their float64 values, exactly.
            if mode == MODE_HARD:
                weights_t[:] = 0.0
                for i in range(n_used):
                    for k in range(n_components):
                        row[k] = logp_t[k, i]
                    label, term, row_hash = hard_row(row, w[i], first_row + tile_start + i)
                    loglik += w[i] * term
                    fingerprint += row_hash
                    if label >= 0:
                        weights_t[label, i] = w[i]
                        nk[label] += w[i]
            else:
                loglik = tile_weights(
                    loglik, logp_t, w, n_used, mode, n_draws, state, top, total, log_prob, row, ones, nk, weights_t
                )
            if factors.ndim == 2:
                gaussian_diag.list_rows(
                    weights_t, n_used, tile_start - start, row_counts, row_labels, listed, listed_weights, n_listed
                )
            for k in range(n_components):
                total_k = 0.0
                n_active = 0
                for i in range(n_rows):
                    total_k += weights_t[k, i]
                    n_active += weights_t[k, i] != 0.0
                if n_active == 0:
                    continue  # nothing to add for this component
                if mode != MODE_HARD and mode != MODE_SAMPLE:
                    nk[k] += total_k
                if factors.ndim == 2:
                    continue  # listed above
                if gather_is_cheaper(n_active, n_rows, sx.shape[1], X.itemsize):
                    if defer:  # listed, as list_rows does (a row is kept when it has weight)
                        offset = tile_start - start
                        j = n_deferred[k]
                        for i in range(n_used):
                            deferred_rows[k, j] = offset + i
                            deferred_weights[k, j] = weights_t[k, i]
                            j += weights_t[k, i] != 0.0
                        n_deferred[k] = j
                    else:
                        gathered_moments(X, tile_start, means[k], weights_t[k], xc, wx, rows, sx[k], sxx[k])
                else:
                    dense_moments_t(xt, means[k], weights_t[k], xc, wx, sx[k], sxx[k])
        if factors.ndim == 3:  # (a branch Numba prunes for diagonal factors)
            for k in range(n_components):
                if n_deferred[k] > 0:
                    deferred_moments(
                        X, start, means[k], deferred_rows[k], deferred_weights[k], n_deferred[k], rows_x, rows_w, part,
                        outer_sx, sx[k], sxx[k],
                    )
        else:
            for k in range(n_components):
                if n_listed[k] > 0:
                    gaussian_diag.listed_moments(
                        X, start, means[k], listed[k], listed_weights[k], n_listed[k], sx[k], sxx[k], work
                    )
        part_totals[c, 0] = loglik
        part_totals[c, 1] = weight
        part_prints[c] = fingerprint


def late_kernels(dtype, diagonal=False):
    """``(kernel, argument types)`` of the kernels that ``range_stats`` (X of
    ``dtype``; full covariances, or ``diagonal`` ones) reaches last as Numba types it,
    in the reverse of that order: the soft weights' and the moments' kernels.
    ``ahead.compile_ahead`` compiles them in a first fit's own process, from the front
    of this list, while a helper compiles ``range_stats`` from the front of its own
    (``_init``).  These are the types ``range_stats`` passes (``test_ahead`` checks
    them): all arrays C-contiguous, X read-only, the partials and the rows' weights
    float64.
    """
    element = numba.from_dtype(np.dtype(dtype))
    data = types.Array(element, 2, "C", readonly=True)
    vector, matrix = types.Array(element, 1, "C"), types.Array(element, 2, "C")
    vector64, matrix64 = types.Array(types.float64, 1, "C"), types.Array(types.float64, 2, "C")
    int64 = types.int64
    int32_vector = types.Array(types.int32, 1, "C")
    weights = (tile_weights, (
        types.float64, matrix, vector64, int64, int64, int64, types.Array(types.uint64, 1, "C"), vector, vector,
        vector64, vector64, vector64, vector64, matrix,
    ))
    if diagonal:
        return [
            (gaussian_diag.listed_moments, (
                data, int64, vector, int32_vector, vector, int64, vector64, vector64, matrix,
            )),
            (gaussian_diag.list_rows, (
                matrix, int64, int64, int32_vector, int32_vector, types.Array(types.int32, 2, "C"), matrix,
                types.Array(int64, 1, "C"),
            )),
            weights,
        ]
    return [
        (deferred_moments, (
            data, int64, vector, int32_vector, vector, int64, matrix, matrix, matrix, vector, vector64, matrix64,
        )),
        (dense_moments_t, (matrix, vector, vector, matrix, matrix, vector64, matrix64)),
        (gathered_moments, (
            data, int64, vector, vector, matrix, matrix, types.Array(int64, 1, "C"), vector64, matrix64,
        )),
        weights,
    ]


@kernel(entry=True)
def posterior_range(X, means, factors, log_norm, lo, hi, out_resp, out_log_prob, out_label, out_weighted_log_prob):
    """``gaussian.posterior_gaussian`` for the rows of chunks ``lo ... hi - 1``, through
    the same log-densities and soft weights as ``range_stats`` (so a sampled E-step
    draws from exactly the posterior reported here)."""
    n_components = means.shape[0]
    dtype = X.dtype
    n_rows = tile_rows(factors, X)
    xt, xc, ys = tile_buffers(X, means, n_rows)
    logp_t = empty((n_components, n_rows), dtype)
    weights_t, top, total, log_prob, row, ones = tile_weight_buffers(n_components, n_rows, X)
    for c in range(lo, hi):
        start, stop = chunk_bounds(c, X.shape[0])
        for tile_start in range(start, stop, n_rows):
            tile_stop = min(tile_start + n_rows, stop)
            transpose_tile(X, tile_start, tile_stop, xt)
            log_prob_t(xt, means, factors, log_norm, xc, ys, logp_t)
            tile_posterior(
                logp_t, tile_stop - tile_start, tile_start, top, total, weights_t, log_prob, row, ones,
                out_resp, out_log_prob, out_label, out_weighted_log_prob,
            )
