"""Whitening for tied covariances: rows mapped by the shared precision factor, and the
weighted scatter of the mapped rows, in one parallel pass.

With ``precision = U U^T`` (``U`` upper triangular, ``L = U^T``), ``y = (x - c) U`` turns
every component of a tied model into one of unit covariance, so the diagonal kernels
score all components at one triangular product per row.
"""

import numpy as np

from ._jit import chunk_bounds, kernel, read_only
from .arrays import zeros
from .threads import sum_in_chunk_order


def whiten(X, sample_weight, centre, lower, out_rows, out_scatter):
    """``out_rows[n] = L (X[n] - centre)`` in ``out_rows``' dtype, and add
    ``sum_n w_n y_n y_n^T`` (float64, summed in chunk order) into ``out_scatter``.

    X : (N, D) float32 or float64, C-contiguous.
    sample_weight : (N,) float64, or (0,) for unit weights.
    centre : (D,) float64.
    lower : (D, D) float64 lower-triangular ``L``.
    out_rows : (N, D), C-contiguous.
    out_scatter : (D, D) float64.
    """
    X, sample_weight = read_only(X), read_only(sample_weight)

    def chunk_range(first, lo, hi, part_totals, part_prints, part_scatter):
        _whiten_range(X, sample_weight, centre, lower, first, lo, hi, out_rows, part_totals, part_prints, part_scatter)

    added = np.zeros_like(out_scatter)
    sum_in_chunk_order(X.shape[0], (added,), chunk_range)
    lower_rows, lower_columns = np.tril_indices(added.shape[0], -1)
    added[lower_rows, lower_columns] = added[lower_columns, lower_rows]  # only the upper triangle was summed
    out_scatter += added


# Rows whitened together, held by columns so that every inner loop runs along rows.
TILE_ROWS = 64


@kernel(entry=True)
def _whiten_range(X, sample_weight, centre, lower, first_chunk, lo, hi, out_rows, part_totals, part_prints,
                  part_scatter):
    n_rows, n_features = X.shape
    centred_t = zeros((n_features, TILE_ROWS), np.float64)
    white_t = zeros((n_features, TILE_ROWS), np.float64)
    weighted_t = zeros((n_features, TILE_ROWS), np.float64)
    w = zeros(TILE_ROWS, np.float64)
    for c in range(lo, hi):
        start, stop = chunk_bounds(first_chunk + c, n_rows)
        scatter = part_scatter[c]
        weight = 0.0
        for tile_start in range(start, stop, TILE_ROWS):
            n_used = min(TILE_ROWS, stop - tile_start)
            for r in range(TILE_ROWS):  # rows past the chunk's end weigh 0
                w[r] = 0.0 if r >= n_used else (sample_weight[tile_start + r] if sample_weight.shape[0] > 0 else 1.0)
                weight += w[r]
            for r in range(n_used):
                for d in range(n_features):
                    centred_t[d, r] = np.float64(X[tile_start + r, d]) - centre[d]
            for e in range(n_features):
                white_t[e, :] = 0.0
                for d in range(e + 1):
                    factor = lower[e, d]
                    for r in range(TILE_ROWS):
                        white_t[e, r] += factor * centred_t[d, r]
                for r in range(TILE_ROWS):
                    weighted_t[e, r] = w[r] * white_t[e, r]
            for r in range(n_used):
                for e in range(n_features):
                    out_rows[tile_start + r, e] = white_t[e, r]
            for a in range(n_features):
                for b in range(a, n_features):
                    total = 0.0
                    for r in range(TILE_ROWS):
                        total += weighted_t[a, r] * white_t[b, r]
                    scatter[a, b] += total
        part_totals[c, 0] = 0.0
        part_totals[c, 1] = weight
        part_prints[c] = 0
