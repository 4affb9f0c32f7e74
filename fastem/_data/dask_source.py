"""Rows in a Dask array: each E-step maps the kernel over the blocks where they live and
tree-reduces the statistics, so only parameters and statistics travel, never the rows.

Dask is imported when such a source is made, never when fastem is imported.  With a
``dask.distributed.Client`` active, ``dask.compute`` runs on its cluster; otherwise on
Dask's default (threaded) scheduler.  A block lost with its worker is recomputed by
Dask from the array's task graph, and the statistics do not depend on where or in what
order blocks run: they are added in a fixed tree over block order.
"""

import operator
import threading

import numpy as np

from .._kernels._jit import MODE_SOFT, limit_threads
from .._validation import check_known_labels, check_sample_weight
from .array import ArraySource
from .sampling import SAMPLE_SEED, concat_rows, sample_size

# The kernels use every core of a process already; blocks of one process take turns.
_KERNEL_LOCK = threading.Lock()


def is_dask_array(X):
    """True for a ``dask.array.Array``, found without importing dask."""
    return type(X).__module__.split(".")[0] == "dask" and hasattr(X, "to_delayed")


def _checked_block(rows, weights, index, check, n_features):
    try:
        rows = check(rows, n_features=n_features, min_samples=0)
        return rows, check_sample_weight(weights, rows.shape[0])
    except (ValueError, TypeError) as error:
        raise type(error)(f"chunk {index}: {error}") from None


def block_estep(
    rows, weights, labels, index, first_row, check, n_features, family, params, mode, seed, n_draws, n_threads
):
    """Statistics of one block (runs where the block is); ``labels`` the block's known
    labels (checked already) or None."""
    rows, weights = _checked_block(rows, weights, index, check, n_features)
    with _KERNEL_LOCK, limit_threads(n_threads):
        return family.estep(rows, weights, params, mode, seed, n_draws, first_row, labels)


def block_sample(rows, weights, index, check, n_features, positions):
    """The rows at ``positions`` of one block, after checking the whole block."""
    rows, weights = _checked_block(rows, weights, index, check, n_features)
    return rows[positions], (None if weights is None else weights[positions])


class DaskSource:
    """A row-chunked ``dask.array.Array`` (any column chunking), optional sample weights
    (a NumPy array or a 1-D Dask array) and optional known labels (a NumPy array).

    Parameters
    ----------
    X : dask.array.Array of shape (n_samples, n_features)
    sample_weight : array-like, dask.array.Array or None
    check : callable, as for ``ChunkedSource`` (it must pickle for a distributed cluster)
    n_threads : int or None
        Threads for the kernels in each worker process.
    known_labels : array-like of shape (n_samples,) or None
        Each row's known component or -1 (``check_known_labels``); each block gets the
        slice that starts at its first row.
    n_components : int or None
        The components the labels index (needed when labels are given).
    """

    def __init__(self, X, sample_weight, check, n_threads=None, known_labels=None, n_components=None):
        sizes = X.chunks[0]
        if any(np.isnan(size) for size in sizes):
            raise ValueError("X has blocks of unknown size; call X.compute_chunk_sizes() first.")
        self.n_samples, self.n_features = X.shape
        self.n_threads = n_threads
        self.chunks_read = 0
        self._check = check
        self._rows = list(X.rechunk({1: -1}).to_delayed().ravel())
        self._first_rows = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)
        self._weights = self._weight_blocks(sample_weight, sizes)
        labels = check_known_labels(known_labels, self.n_samples, n_components)
        self._labels = [
            None if labels is None else labels[start:start + size] for start, size in zip(self._first_rows, sizes)
        ]
        self._samples = {}  # n_components -> ArraySource: each start of n_init reuses it

    def _weight_blocks(self, sample_weight, sizes):
        if sample_weight is None:
            return [None] * len(sizes)
        if is_dask_array(sample_weight):
            if sample_weight.shape != (self.n_samples,):
                raise ValueError(
                    f"sample_weight must have shape ({self.n_samples},) like X's rows; got {sample_weight.shape}."
                )
            return list(sample_weight.rechunk((sizes,)).to_delayed().ravel())
        weights = check_sample_weight(sample_weight, self.n_samples)
        return [weights[start:start + size] for start, size in zip(self._first_rows, sizes)]

    def _compute(self, tasks):
        import dask

        self.chunks_read += len(self._rows)
        return dask.compute(*tasks)

    def estep(self, family, params, mode=MODE_SOFT, seed=0, n_draws=0):
        """Sum of the blocks' statistics, added pairwise up a tree on the cluster."""
        import dask

        estep = dask.delayed(block_estep, pure=False)
        parts = [
            estep(rows, weights, labels, index, int(first_row), self._check, self.n_features,
                  family, params, mode, seed, n_draws, self.n_threads)
            for index, (rows, weights, labels, first_row) in enumerate(
                zip(self._rows, self._weights, self._labels, self._first_rows)
            )
        ]
        add = dask.delayed(operator.add, pure=False)
        while len(parts) > 1:
            parts = [add(*parts[i:i + 2]) if i + 1 < len(parts) else parts[i] for i in range(0, len(parts), 2)]
        return self._compute(parts)[0]

    def init_sample(self, n_components):
        """An ``ArraySource`` on a uniform sample of the rows (every row when there are few;
        see ``fastem._data.sampling``), gathered block by block, once per source."""
        if n_components not in self._samples:
            self._samples[n_components] = self._gather_sample(n_components)
        return self._samples[n_components]

    def _gather_sample(self, n_components):
        import dask

        limit = sample_size(self.n_features, n_components)
        if self.n_samples <= limit:
            chosen = np.arange(self.n_samples)
        else:
            chosen = np.sort(np.random.default_rng(SAMPLE_SEED).choice(self.n_samples, limit, replace=False))
        block_of = np.searchsorted(self._first_rows, chosen, side="right") - 1
        sample = dask.delayed(block_sample, pure=False)
        tasks = [
            sample(self._rows[b], self._weights[b], b, self._check, self.n_features,
                   chosen[block_of == b] - self._first_rows[b])
            for b in range(len(self._rows))
        ]
        parts = [part for part in self._compute(tasks) if part[0].shape[0]]
        rows = concat_rows([part[0] for part in parts])
        weighted = parts[0][1] is not None
        return ArraySource(rows, np.concatenate([part[1] for part in parts]) if weighted else None, self.n_threads)

    def note(self):
        """Progress text for the iteration lines."""
        return f"chunks read {self.chunks_read}"
