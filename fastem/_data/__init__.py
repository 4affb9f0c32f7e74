"""Data sources: where the rows come from.

The EM driver only asks a source for the summed E-step statistics under some
parameters; it never touches the data itself.  Every source has

- ``estep(family, params, mode, seed, n_draws)``: the statistics of one pass;
- ``n_samples`` (known once a pass has been made) and ``n_threads``;
- ``init_sample(n_components)``: an ``ArraySource`` on the rows initialisation may use
  (all of them when they are in memory, a bounded sample otherwise);
- ``note()``: progress text for the iteration lines.

``ArraySource`` holds an array in memory; ``ChunkedSource`` reads chunks afresh on every
pass (a memory-mapped file, or a user's factory of chunks); ``DaskSource`` runs the
kernels where the blocks of a Dask array live.  A regression's rows carry their targets
(``RowsWithTargets``, ``regression.py``) through the same sources; a model whose
statistics do not depend on its parameters runs EM on a ``SummarySource`` after one pass.
"""

import numpy as np

from .._rows import BinaryRows
from .._validation import check_known_labels, check_sample_weight
from .array import ArraySource
from .chunked import ChunkedSource, memmap_chunks
from .dask_source import DaskSource, is_dask_array
from .regression import RowsWithTargets, chunk_source, make_regression_source
from .summary import SummarySource

__all__ = [
    "ArraySource",
    "BinaryRows",
    "ChunkedSource",
    "DaskSource",
    "RowsWithTargets",
    "SummarySource",
    "chunk_source",
    "make_regression_source",
    "make_source",
]


def make_source(
    X, sample_weight, check, n_features=None, n_threads=None, verbose=0, known_labels=None, n_components=None
):
    """The source for what ``fit`` was given.

    A Dask array runs on Dask; a ``np.memmap`` (``np.load(..., mmap_mode="r")``) is read
    chunk by chunk; anything else is validated by ``check(X, n_features=...,
    min_samples=2)`` and held in memory.  ``check`` is the estimator's data check (see
    ``ChunkedSource``).  ``known_labels`` (a NumPy array of shape (n_samples,) for
    every kind of X, or None) index ``n_components`` components.
    """
    if is_dask_array(X):
        _check_layout(X, check, n_features)
        return DaskSource(X, sample_weight, check, n_threads, known_labels, n_components)
    if isinstance(X, np.memmap):
        _check_layout(X, check, n_features)
        weights = check_sample_weight(sample_weight, X.shape[0])
        labels = check_known_labels(known_labels, X.shape[0], n_components)
        chunks = memmap_chunks(X, weights, labels)
        return ChunkedSource(chunks, check, X.shape[1], n_threads, verbose, n_components)
    X = check(X, n_features=n_features, min_samples=2)
    weights = check_sample_weight(sample_weight, X.shape[0])
    return ArraySource(X, weights, n_threads, check_known_labels(known_labels, X.shape[0], n_components))


def _check_layout(X, check, n_features):
    """Rank, dtype and width of data that is read later, chunk by chunk, without reading
    it now: the estimator's check sees an empty array of X's width and dtype (the values
    are checked per chunk)."""
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features); got a {X.ndim}-D array "
            f"of shape {X.shape}."
        )
    check(np.empty((0, X.shape[1]), dtype=X.dtype), n_features=n_features, min_samples=0)
