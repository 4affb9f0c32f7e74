"""Distances for k-means++ seeding."""

import numpy as np

from ._jit import chunk_bounds, kernel, read_only
from .threads import n_chunks_of, spread


def squared_distances(X, points, out):
    """out[c, n] = |X[n] - points[c]|^2 in float64, in parallel over chunks of rows
    (rows are independent: the result does not depend on the threads)."""
    X = read_only(X)
    spread(lambda lo, hi: _chunk_distances(X, points, out, lo, hi), n_chunks_of(X.shape[0]))


@kernel(entry=True)
def _chunk_distances(X, points, out, lo, hi):
    n_rows, n_features = X.shape
    for chunk in range(lo, hi):
        start, stop = chunk_bounds(chunk, n_rows)
        for c in range(points.shape[0]):
            for n in range(start, stop):
                s = 0.0
                for d in range(n_features):
                    z = np.float64(X[n, d]) - points[c, d]
                    s += z * z
                out[c, n] = s
