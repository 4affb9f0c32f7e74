"""Entry points of the Gaussian kernels (full and diagonal covariance).

One parallel pass over ``X`` computes each point's weighted log-densities, turns them
into weights over components (soft or hard) and accumulates the sufficient statistics
about a shift -- the component means the pass was run with -- so that data far from the
origin keeps its precision.  The covariance type follows from ``factors.ndim``
(3: full, 2: diagonal); Numba resolves it at compile time.  Each chunk then takes one
of two tile kernels: ``gaussian_nearest`` (hard weights with every diagonal precision
exactly 1: k-means) or ``gaussian_tile`` (everything else: full covariances, and
diagonal ones with ``gaussian_diag``'s pieces).

Arguments shared by the entry points
------------------------------------
X : (N, D) float32 or float64, C-contiguous, read-only is fine.
means : (K, D) in X's dtype (the arithmetic of the densities runs in X's dtype).
factors : in X's dtype.  Full: (K, D, D) lower-triangular ``L_k`` with
    ``precision_k = L_k.T @ L_k``.  Diagonal: (K, D) ``sqrt(precision_k)``.
log_norm : (K,) float64, ``log weight_k + log det L_k - D/2 log(2 pi)``.
"""

import numpy as np
from numba import prange

from . import gaussian_nearest, gaussian_tile
from ._jit import MODE_HARD, add_partials, chunk_bounds, group_size, kernel, n_chunks_of
from .weights import stream_start


@kernel()
def _chunk_stats(X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx):
    """Statistics of rows ``start:stop`` written to ``nk, sx, sxx``; returns their
    (log-likelihood, total sample weight, assignment fingerprint).  Picks the chunk's
    kernel (full covariances come padded, ``gaussian_tile.padded_components``)."""
    if mode == MODE_HARD and factors.ndim == 2 and gaussian_nearest.unit_factors(factors):
        return gaussian_nearest.chunk_stats(X, sample_weight, first_row, start, stop, means, log_norm, nk, sx, sxx)
    return gaussian_tile.chunk_stats(
        X, sample_weight, first_row, start, stop, means, factors, log_norm, mode, state, n_draws, nk, sx, sxx
    )


@kernel()
def _tile_components(means, factors):
    """The components as the tile kernels take them: full ones padded, diagonal ones as given."""
    if factors.ndim == 3:
        return gaussian_tile.padded_components(means, factors)
    return means, factors


@kernel(parallel=True)
def accumulate_gaussian(
    X, sample_weight, means, factors, log_norm, mode, seed, n_draws, first_row, out_nk, out_sx, out_sxx, min_group
):
    """Add the E-step statistics of ``X`` to ``out_nk, out_sx, out_sxx``.

    sample_weight : (N,) float64, or (0,) for unit weights.
    mode : MODE_SOFT (posterior weights), MODE_HARD (argmax) or MODE_SAMPLE (the
        frequencies of ``n_draws`` labels drawn per row from the posterior; the chunk
        starting at row ``r`` draws from the stream ``stream_start(seed, first_row + r)``).
    seed, n_draws : non-negative ints, used by MODE_SAMPLE only.
    first_row : int, the position of ``X``'s first row in the whole data set.  A source
        that passes its rows in blocks gives each block its offset, so the random
        streams and the assignment hash are those of one pass over all the rows.
    out_nk : (K,) float64, sum of weights per component.
    out_sx : (K, D) float64, sum of w * r * (x - means[k]).
    out_sxx : (K, D, D) full or (K, D) diag float64, sum of w * r * (x - means[k])^2 terms.
    min_group : int, ``_jit.busy_group()``: chunks reduced at once, at least (never
        changes the result).
    Returns (loglik, weight, fingerprint): sum of w * log p(x) (soft, sampled) or of
    w * max_k log(pi_k p_k(x)) (hard); sum of w (the number of rows when unweighted);
    under MODE_HARD, a uint64 hash of the assignment of every row of positive weight (0
    otherwise), equal for two passes when they assign those rows alike.
    """
    n_rows = X.shape[0]
    n_components = means.shape[0]
    n_chunks = n_chunks_of(n_rows)
    group = group_size(n_chunks, out_nk.size + out_sx.size + out_sxx.size + 1, min_group)
    part_totals = np.empty((group, 2))  # (log-likelihood, weight) per chunk
    part_nk = np.empty((group,) + out_nk.shape)
    part_sx = np.empty((group,) + out_sx.shape)
    part_sxx = np.empty((group,) + out_sxx.shape)
    part_prints = np.empty(group, dtype=np.uint64)
    totals = np.zeros(2)
    prints = np.zeros(1, dtype=np.uint64)
    tile_means, tile_factors = _tile_components(means, factors)
    for first in range(0, n_chunks, group):
        count = min(group, n_chunks - first)
        for c in prange(count):
            start, stop = chunk_bounds(first + c, n_rows)
            state = np.empty(1, dtype=np.uint64)
            state[0] = stream_start(seed, first_row + start)
            part_totals[c, 0], part_totals[c, 1], part_prints[c] = _chunk_stats(
                X, sample_weight, first_row, start, stop, tile_means, tile_factors, log_norm, mode, state,
                n_draws, part_nk[c], part_sx[c], part_sxx[c],
            )
        add_partials(
            count, part_totals, part_prints, part_nk, part_sx, part_sxx, out_nk, out_sx, out_sxx,
            totals, prints,
        )
    if out_sxx.ndim == 3:  # only the upper triangles were accumulated
        for k in range(n_components):
            for j in range(out_sxx.shape[1]):
                for d in range(j):
                    out_sxx[k, j, d] = out_sxx[k, d, j]
    return totals[0], totals[1], prints[0]


@kernel(parallel=True)
def posterior_gaussian(X, means, factors, log_norm, out_resp, out_log_prob, out_label):
    """Per-point outputs; each is filled only when its length is not zero.

    out_resp : (N, K) float64 responsibilities, or (0, 0).
    out_log_prob : (N,) float64 log p(x), or (0,).
    out_label : (N,) int64 most probable component, or (0,).
    """
    n_rows = X.shape[0]
    tile_means, tile_factors = _tile_components(means, factors)
    for c in prange(n_chunks_of(n_rows)):
        start, stop = chunk_bounds(c, n_rows)
        gaussian_tile.posterior_chunk(
            X, start, stop, tile_means, tile_factors, log_norm, out_resp, out_log_prob, out_label
        )
