"""Distances for k-means++ seeding."""

import numpy as np
from numba import prange

from ._jit import chunk_bounds, kernel, n_chunks_of


@kernel(parallel=True)
def squared_distances(X, points, out):
    """out[c, n] = |X[n] - points[c]|^2 in float64 (rows independent: thread-count free)."""
    n_rows, n_features = X.shape
    for chunk in prange(n_chunks_of(n_rows)):
        start, stop = chunk_bounds(chunk, n_rows)
        for c in range(points.shape[0]):
            for n in range(start, stop):
                s = 0.0
                for d in range(n_features):
                    z = np.float64(X[n, d]) - points[c, d]
                    s += z * z
                out[c, n] = s
