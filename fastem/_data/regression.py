"""Rows that come with a regression target: the mixtures' sources, with
``RowsWithTargets`` as their rows.

- in memory: an ``ArraySource`` on the checked ``(X, y)``;
- a memory-mapped ``X``: a ``ChunkedSource`` over ``memmap_chunks`` (``y``, a NumPy
  array or a memmap of its own, sliced alongside the rows);
- a chunk factory: a ``ChunkedSource`` whose chunks are ``(X, y)`` or
  ``(X, y, sample_weight)``;
- a Dask array: a ``DaskSource`` on ``X`` with ``y`` appended as a last column (a lazy
  concatenation, joined block by block where the blocks live), split again by the
  block's check.

Every source's ``estep(family, params)`` hands each block's ``RowsWithTargets`` to the
family and adds the statistics, as for the mixtures.
"""

from dataclasses import dataclass
from functools import partial

import numpy as np

from .._validation import check_data, check_sample_weight, check_target
from .array import ArraySource
from .chunked import ChunkedSource, memmap_chunks
from .dask_source import DaskSource, is_dask_array


@dataclass(frozen=True)
class RowsWithTargets:
    """Rows and their targets, passed together through a data source to the family.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float32 or float64 once checked
    y : ndarray of shape (n_samples,), float64 once checked
    """

    X: object
    y: object

    @property
    def shape(self):
        return np.shape(self.X)


@dataclass(frozen=True)
class _Malformed:
    """What a chunk factory yielded in place of a chunk; its check raises ``message``."""

    message: str


def check_rows(rows, n_features=None, min_samples=1, estimator_name="the estimator"):
    """Checked ``RowsWithTargets``: ``X`` as ``check_data`` returns it, ``y`` as
    ``check_target`` does (the data check of every regression source)."""
    if isinstance(rows, _Malformed):
        raise ValueError(rows.message)
    X = check_data(rows.X, "X", n_features, estimator_name, min_samples)
    return RowsWithTargets(X, check_target(rows.y, X.shape[0]))


def check_joined_rows(block, n_features=None, min_samples=1, estimator_name="the estimator"):
    """A Dask block of ``[X | y]`` (``n_features`` counts y's column) as checked
    ``RowsWithTargets``."""
    block = np.asarray(block)
    width = None if n_features is None else n_features - 1
    X = check_data(block[:, :-1], "X", width, estimator_name, min_samples)
    return RowsWithTargets(X, check_target(block[:, -1], X.shape[0]))


def make_regression_source(X, y, sample_weight, estimator_name):
    """The source for what ``fit(X, y, sample_weight)`` was given (see the module
    docstring); in-memory data need at least 2 rows."""
    if is_dask_array(X) or is_dask_array(y):
        return _dask_source(X, y, sample_weight, estimator_name)
    check = partial(check_rows, estimator_name=estimator_name)
    if isinstance(X, np.memmap):
        _check_layout(X, estimator_name)
        targets = check_target(y, X.shape[0])
        weights = check_sample_weight(sample_weight, X.shape[0])
        chunks = memmap_chunks(X, weights, targets)  # slices its third array alongside the rows

        def pairs():
            return ((RowsWithTargets(rows, part), part_weights) for rows, part_weights, part in chunks())

        return ChunkedSource(pairs, check, X.shape[1])
    rows = check(RowsWithTargets(X, y), min_samples=2)
    return ArraySource(rows, check_sample_weight(sample_weight, rows.X.shape[0]))


def chunk_source(chunks, estimator_name):
    """A ``ChunkedSource`` on a user's chunks: ``chunks`` is a callable that returns an
    iterable of them, or the iterable itself (a regression reads its data once); a
    chunk is ``(X, y)`` or ``(X, y, sample_weight)``."""
    if callable(chunks):
        factory = chunks
    else:
        try:
            iter(chunks)
        except TypeError:
            raise TypeError(
                f"fit_chunks takes an iterable of chunks, or a callable that returns one; got "
                f"{type(chunks).__name__}."
            ) from None
        factory = lambda: chunks  # noqa: E731 -- read once

    def pairs():
        iterable = factory()
        try:
            iterator = iter(iterable)
        except TypeError:
            raise TypeError(
                f"the chunk factory must return an iterable of chunks; it returned {type(iterable).__name__}."
            ) from None
        for item in iterator:
            yield _as_pair(item)

    return ChunkedSource(pairs, partial(check_rows, estimator_name=estimator_name))


def _as_pair(item):
    """A user's chunk as ``ChunkedSource`` takes it: ``(rows, sample_weight)``."""
    if isinstance(item, tuple) and len(item) in (2, 3):
        return RowsWithTargets(item[0], item[1]), (item[2] if len(item) == 3 else None)
    got = f"a {len(item)}-tuple" if isinstance(item, tuple) else type(item).__name__
    return _Malformed(f"a chunk is a pair (X, y) or a triple (X, y, sample_weight); got {got}."), None


def _check_layout(X, estimator_name):
    """Rank and dtype of data read later, chunk by chunk (its values are checked then)."""
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-D array of shape (n_samples, n_features); got a {X.ndim}-D array "
            f"of shape {X.shape}."
        )
    check_data(np.empty((0, X.shape[1]), dtype=X.dtype), estimator_name=estimator_name, min_samples=0)


def _dask_source(X, y, sample_weight, estimator_name):
    import dask.array as da

    if not is_dask_array(X):
        raise TypeError(
            "y is a Dask array but X is not; pass X as a Dask array with the same row chunks "
            "(dask.array.from_array(X, chunks=...))."
        )
    _check_layout(X, estimator_name)
    if any(np.isnan(size) for size in X.chunks[0]):
        raise ValueError("X has blocks of unknown size; call X.compute_chunk_sizes() first.")
    n_samples = X.shape[0]
    if is_dask_array(y):
        if y.ndim != 1:
            raise ValueError(
                f"y must be a 1-D array of shape (n_samples,); got a {y.ndim}-D array of shape {y.shape}."
            )
        if y.shape[0] != n_samples:
            raise ValueError(f"y has {y.shape[0]} entries but X has {n_samples} rows.")
        if y.dtype.kind not in "fiub":
            raise TypeError(f"y has dtype {y.dtype}; a regression target must be numeric.")
        y = y.rechunk((X.chunks[0],))
    else:
        y = da.from_array(check_target(y, n_samples), chunks=(X.chunks[0],))
    # float64 blocks: the family converts every block to float64 anyway, so a float32 X
    # gives the same values
    joined = da.concatenate([X.astype(np.float64), y.astype(np.float64)[:, None]], axis=1)
    return DaskSource(joined, sample_weight, partial(check_joined_rows, estimator_name=estimator_name))
