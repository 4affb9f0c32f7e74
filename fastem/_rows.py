"""``BinaryRows``: binary rows held as the column indices of their ones (CSR without values).

A module of its own, below both the input checks (``_validation.check_binary_data``
builds BinaryRows) and the data sources (``data``, which import ``_validation``), so
that neither has to import the other from inside a function.
"""

import numpy as np

from ._kernels.bernoulli import tile_columns


class BinaryRows:
    """Binary rows as the column indices of their ones (CSR without values).

    Parameters
    ----------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int32 or int64; row n's ones are the columns
        ``indices[indptr[n]:indptr[n + 1]]``.
    n_features : int
    """

    def __init__(self, indptr, indices, n_features):
        self.indptr = indptr
        self.indices = indices
        self.n_features = n_features
        self._tile_columns = None

    def tile_columns(self):
        """The rows' tiles held by columns for the moments (``tile_columns`` of
        _kernels/bernoulli.py: nnz + n_samples bytes and 8 (n_features + 2) bytes per
        tile), formed on first use and kept for the next E-steps; empty arrays where
        the ones are too sparse for them (the moments then scatter)."""
        if self._tile_columns is None:
            self._tile_columns = tile_columns(self.indptr, self.indices, self.n_features)
        return self._tile_columns

    @property
    def shape(self):
        return (self.indptr.shape[0] - 1, self.n_features)

    def __getitem__(self, rows):
        """The rows at the integer positions ``rows`` (a new BinaryRows)."""
        rows = np.asarray(rows)
        counts = np.diff(self.indptr)[rows]
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        pieces = [self.indices[self.indptr[r]:self.indptr[r + 1]] for r in rows]
        indices = np.concatenate(pieces) if pieces else self.indices[:0]
        return BinaryRows(indptr, indices.astype(self.indices.dtype), self.n_features)

    @classmethod
    def concatenate(cls, parts):
        """The rows of every BinaryRows in ``parts``, in order (a new BinaryRows)."""
        counts = np.concatenate([np.diff(part.indptr) for part in parts])
        indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        indices = np.concatenate([part.indices for part in parts])
        return cls(indptr, indices, parts[0].n_features)

    def toarray(self):
        """Dense (n_samples, n_features) float64 array of 0/1."""
        dense = np.zeros(self.shape)
        rows = np.repeat(np.arange(self.shape[0]), np.diff(self.indptr))
        dense[rows, self.indices] = 1.0
        return dense
