"""Entry points of the Gaussian kernels (full and diagonal covariance).

One parallel pass over ``X`` computes each point's weighted log-densities, turns them
into weights over components (soft or hard) and accumulates the sufficient statistics
about a shift -- the component means the pass was run with -- so that data far from the
origin keeps its precision.  The covariance type follows from ``factors.ndim``
(3: full, 2: diagonal); Numba resolves it at compile time.  A pass takes one of two
tile kernels: ``gaussian_nearest`` (hard weights with every diagonal precision exactly
1: k-means) or ``gaussian_tile`` (everything else: full covariances, and diagonal ones
with ``gaussian_diag``'s pieces).  The entry points are Python: they spread ranges of
chunks over threads (``threads``), and the range kernels of those modules do the work.

Arguments shared by the entry points
------------------------------------
X : (N, D) float32 or float64, C-contiguous; passed to the compiled kernels read-only
    (``_jit.read_only``).
means : (K, D) in X's dtype (the arithmetic of the densities runs in X's dtype).
factors : in X's dtype.  Full: (K, D, D) lower-triangular ``L_k`` with
    ``precision_k = L_k.T @ L_k``.  Diagonal: (K, D) ``sqrt(precision_k)``.
log_norm : (K,) float64, ``log weight_k + log det L_k - D/2 log(2 pi)``.
"""

import numpy as np

from . import gaussian_nearest, gaussian_tile
from ._jit import MODE_HARD, read_only
from .threads import n_chunks_of, spread, sum_in_chunk_order


def tile_components(means, factors):
    """The components as the tile kernels take them: full ones padded, diagonal ones as given."""
    if factors.ndim == 3:
        return gaussian_tile.padded_components(means, factors)
    return means, factors


def accumulate_gaussian(
    X, sample_weight, known_labels, means, factors, log_norm, mode, seed, n_draws, first_row, out_nk, out_sx, out_sxx,
    min_group=None,
):
    """Add the E-step statistics of ``X`` to ``out_nk, out_sx, out_sxx``, in parallel
    over chunks of rows (``threads.sum_in_chunk_order``).

    sample_weight : (N,) float64, or (0,) for unit weights.
    known_labels : (N,) int64, each row's known component or -1, or (0,) for none; a
        labelled row goes wholly to its component in every mode
        (``weights.mask_known_labels``).  Positions count from X's first row.
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
    min_group : int, optional, chunks reduced at once, at least (never changes the result).
    Returns (loglik, weight, fingerprint): sum of w * log p(x) (soft, sampled) or of
    w * max_k log(pi_k p_k(x)) (hard); sum of w (the number of rows when unweighted);
    under MODE_HARD, a uint64 hash of the assignment of every row of positive weight (0
    otherwise), equal for two passes when they assign those rows alike.

    Hard weights with every diagonal precision exactly 1 (k-means) and no labels take
    ``gaussian_nearest``; everything else ``gaussian_tile``.  Each is compiled only when
    first used.
    """
    X, sample_weight, known_labels = read_only(X), read_only(sample_weight), read_only(known_labels)
    unlabelled = known_labels.shape[0] == 0
    if mode == MODE_HARD and unlabelled and factors.ndim == 2 and gaussian_nearest.unit_factors(factors):

        def chunk_range(first, lo, hi, part_totals, part_prints, part_nk, part_sx, part_sxx):
            gaussian_nearest.range_stats(
                X, sample_weight, first_row, means, log_norm, first, lo, hi, part_totals, part_prints, part_nk,
                part_sx, part_sxx,
            )

    else:
        tile_means, tile_factors = tile_components(means, factors)

        def chunk_range(first, lo, hi, part_totals, part_prints, part_nk, part_sx, part_sxx):
            gaussian_tile.range_stats(
                X, sample_weight, known_labels, first_row, tile_means, tile_factors, log_norm, mode, seed, n_draws,
                first, lo, hi, part_totals, part_prints, part_nk, part_sx, part_sxx,
            )

    totals = sum_in_chunk_order(X.shape[0], (out_nk, out_sx, out_sxx), chunk_range, min_group)
    if out_sxx.ndim == 3:  # only the upper triangles were accumulated
        lower_rows, lower_columns = np.tril_indices(out_sxx.shape[1], -1)
        out_sxx[:, lower_rows, lower_columns] = out_sxx[:, lower_columns, lower_rows]
    return totals


def posterior_gaussian(X, means, factors, log_norm, out_resp, out_log_prob, out_label, out_weighted_log_prob):
    """Per-point outputs; each is filled only when its length is not zero.

    out_resp : (N, K) float64 responsibilities, or (0, 0).
    out_log_prob : (N,) float64 log p(x), or (0,).
    out_label : (N,) int64 most probable component, or (0,).
    out_weighted_log_prob : (N, K) float64 ``log pi_k + log p(x | k)`` as the E-step
        forms it (in X's dtype), or (0, 0).
    """
    X = read_only(X)
    n_chunks = n_chunks_of(X.shape[0])
    labels_only = out_resp.shape[0] == 0 and out_log_prob.shape[0] == 0 and out_weighted_log_prob.shape[0] == 0
    if labels_only and factors.ndim == 2 and gaussian_nearest.unit_factors(factors):  # k-means' predict
        spread(lambda lo, hi: gaussian_nearest.range_labels(X, means, log_norm, lo, hi, out_label), n_chunks)
        return
    tile_means, tile_factors = tile_components(means, factors)

    def chunk_range(lo, hi):
        gaussian_tile.posterior_range(
            X, tile_means, tile_factors, log_norm, lo, hi, out_resp, out_log_prob, out_label, out_weighted_log_prob
        )

    spread(chunk_range, n_chunks)
