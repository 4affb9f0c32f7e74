"""The bounded sample of rows that initialises a fit on data that is not in memory.

Initialisation (k-means, k-means++, random starts) needs the rows at hand several times,
so chunked and Dask sources hand it a uniform random sample of at most
``sample_size(...)`` rows, kept in their original order.  When the data have no more
rows than that, the sample is every row, so a small chunked fit starts exactly where the
in-memory fit does.  The sample is drawn by a fixed seed: it does not depend on the
chunking, the thread count or ``random_state`` (which still seeds the initialisation run
on the sample).
"""

import numpy as np

from .._rows import BinaryRows

# At most this many bytes of float64 rows, and at least this many rows per component.
INIT_SAMPLE_BYTES = 64 * 2**20
INIT_ROWS_PER_COMPONENT = 100
SAMPLE_SEED = 20091208


def sample_size(n_features, n_components):
    """Rows in the initialisation sample for data of ``n_features`` columns."""
    return max(INIT_SAMPLE_BYTES // (8 * n_features), INIT_ROWS_PER_COMPONENT * n_components)


def concat_rows(parts):
    """The rows of ``parts`` (arrays or BinaryRows) one after the other."""
    if isinstance(parts[0], BinaryRows):
        return BinaryRows.concatenate(parts)
    return np.concatenate(parts)


class StreamSample:
    """A uniform sample of at most ``limit`` rows of a stream seen once, chunk by chunk.

    Every row gets a uniform key from one generator, drawn in row order (so the keys do
    not depend on how the stream is cut into chunks); the sample is the rows with the
    ``limit`` smallest keys.  Candidates are trimmed back to ``limit`` whenever they pass
    twice that, so memory stays bounded and the work amortised; they stay in stream
    order throughout.
    """

    def __init__(self, limit):
        self.limit = limit
        self._rng = np.random.default_rng(SAMPLE_SEED)
        self._keys, self._rows, self._weights = [], [], []
        self._held = 0

    def add(self, rows, sample_weight):
        """Offer the next chunk of the stream (an array or BinaryRows, weights or None)."""
        n_rows = rows.shape[0]
        self._keys.append(self._rng.random(n_rows))
        self._rows.append(rows)
        self._weights.append(np.ones(n_rows) if sample_weight is None else sample_weight)
        self._held += n_rows
        if self._held > 2 * self.limit:
            self._trim()

    def _trim(self):
        keys = np.concatenate(self._keys)
        kept = np.arange(keys.size)
        if keys.size > self.limit:
            kept = np.sort(np.argpartition(keys, self.limit - 1)[: self.limit])
        self._keys = [keys[kept]]
        self._rows = [concat_rows(self._rows)[kept]]
        self._weights = [np.concatenate(self._weights)[kept]]
        self._held = kept.size

    def rows(self, weighted):
        """(rows, sample_weight or None) of the sample, in stream order."""
        self._trim()
        return self._rows[0], (self._weights[0] if weighted else None)
