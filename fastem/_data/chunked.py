"""Rows read chunk by chunk on every pass: a memory-mapped array, or the chunks that a
user's factory produces (``fit_chunks``).

An E-step is one pass over the chunks: the kernel runs on each chunk (with the chunk's
row offset, so random draws and assignment hashes are those of one pass over all the
rows) and the statistics of the chunks add.  Only one chunk is held at a time.
"""

import mmap
import sys

import numpy as np

from .._kernels._jit import CHUNK_ROWS, MODE_SOFT, limit_threads
from .._validation import check_known_labels, check_sample_weight
from .array import ArraySource
from .sampling import StreamSample, sample_size

# Bytes of a memory-mapped array read per chunk: large enough that every thread of the
# kernel gets many of its row chunks, small enough to stay a small part of memory.
MEMMAP_CHUNK_BYTES = 32 * 2**20


def memmap_chunks(X, sample_weight=None, known_labels=None):
    """A factory of ``(rows, weights, labels)`` chunks of the memory-mapped ``X``
    (``weights`` and ``labels`` slices of the given arrays, or None).

    Chunks are ``MEMMAP_CHUNK_BYTES`` of whole rows, a multiple of the kernels' chunk
    size.  Once a chunk has been used, its pages are released from this process (they
    stay in the operating system's file cache), so a pass over a file larger than
    memory does not make the process resident size grow with it.
    """
    row_bytes = max(X.shape[1] * X.itemsize, 1) if X.ndim == 2 else 1
    rows = max(MEMMAP_CHUNK_BYTES // row_bytes // CHUNK_ROWS, 1) * CHUNK_ROWS

    def chunks():
        for start in range(0, X.shape[0], rows):
            chunk = X[start:start + rows]
            weights = None if sample_weight is None else sample_weight[start:start + rows]
            labels = None if known_labels is None else known_labels[start:start + rows]
            yield chunk, weights, labels
            release_pages(chunk)

    return chunks


def release_pages(array):
    """Drop the pages under ``array`` (a view of a read-only or shared ``np.memmap``) from
    this process; a no-op for anything else.  The data stay valid: a later read pages
    them in again."""
    mapping = getattr(array, "_mmap", None)
    if mapping is None or getattr(array, "mode", "r") == "c" or not hasattr(mapping, "madvise"):
        return  # copy-on-write pages hold the user's changes: never drop them
    base = np.frombuffer(mapping, dtype=np.uint8).ctypes.data
    offset = array.ctypes.data - base
    start = offset - offset % mmap.PAGESIZE
    length = offset + array.nbytes - start
    if length > 0:
        mapping.madvise(mmap.MADV_DONTNEED, start, min(length, len(mapping) - start))


class ChunkedSource:
    """Rows that arrive in chunks, produced afresh for every pass.

    Parameters
    ----------
    chunks : callable
        ``chunks()`` returns a fresh iterable; each item is a 2-D array of rows, a
        pair ``(rows, sample_weight)`` or a triple ``(rows, sample_weight,
        known_labels)`` (either may be None).
    check : callable
        ``check(rows, n_features=..., min_samples=0)`` validates one chunk's rows (and
        converts them to what the family's kernel takes).
    n_features : int or None
        The width the chunks must have (None: the first chunk's).
    n_threads : int or None
        Threads for the kernels.
    verbose : int
        With a terminal on stderr, a nonzero value shows the chunks of each pass.
    n_components : int or None
        The components that chunks' known labels index (None: chunks take no labels).
    """

    def __init__(self, chunks, check, n_features=None, n_threads=None, verbose=0, n_components=None):
        self._make_chunks = chunks
        self._n_components = n_components
        self._check = check
        self.n_features = n_features
        self.n_threads = n_threads
        self.n_samples = None  # known after the first pass
        self.chunks_read = 0
        self._n_chunks = None
        self._weighted = False
        self._last_iterator = None
        self._show_chunks = bool(verbose) and sys.stderr.isatty()
        self._samples = {}  # n_components -> ArraySource: each start of n_init reuses it

    def _checked(self, item, index):
        """(rows, sample_weight, known_labels) of one chunk, validated; errors name the chunk."""
        try:
            if isinstance(item, tuple):
                if len(item) not in (2, 3):
                    raise ValueError(
                        "a chunk is an array, a pair (X, sample_weight) or a triple (X, sample_weight, "
                        f"known_labels); got a {len(item)}-tuple."
                    )
                rows, weights, labels = item if len(item) == 3 else item + (None,)
            else:
                rows, weights, labels = item, None, None
            rows = self._check(rows, n_features=self.n_features, min_samples=0)
            weights = check_sample_weight(weights, rows.shape[0])
            if labels is not None and self._n_components is None:
                raise ValueError("this source takes no known_labels (it was made without n_components).")
            labels = check_known_labels(labels, rows.shape[0], self._n_components)
        except (ValueError, TypeError) as error:
            raise type(error)(f"chunk {index}: {error}") from None
        if self.n_features is None:
            self.n_features = rows.shape[1]
        self._weighted |= weights is not None
        return rows, weights, labels

    def chunks(self):
        """``(first_row, rows, sample_weight, known_labels)`` of every non-empty chunk of
        one pass."""
        iterable = self._make_chunks()
        try:
            iterator = iter(iterable)
        except TypeError:
            raise TypeError(
                f"the chunk factory must return an iterable of chunks; it returned {type(iterable).__name__}."
            ) from None
        if iterator is self._last_iterator:
            raise ValueError(
                "the chunk factory returned the same iterator as on the previous pass; EM reads the "
                "data several times, so the factory must return a fresh iterable on each call "
                "(e.g. lambda: iter_chunks(path), not an iterator created once)."
            )
        self._last_iterator = iterator
        first_row = n_chunks = 0
        for index, item in enumerate(iterator):
            rows, weights, labels = self._checked(item, index)
            self.chunks_read += 1
            n_chunks = index + 1
            self._show(index)
            if rows.shape[0]:
                yield first_row, rows, weights, labels
            first_row += rows.shape[0]
        self._show(None)
        self._end_pass(first_row, n_chunks)

    def peek(self):
        """Read and check the first chunk of a pass, so that ``n_features`` is known."""
        next(self.chunks(), None)

    def _end_pass(self, n_rows, n_chunks):
        if n_rows == 0 and self.n_samples is None:
            # The first pass: most often a factory over files whose pattern matched none.
            if n_chunks == 0:
                raise ValueError(
                    "the chunk factory returned no chunks (an empty iterable); fit_chunks needs at "
                    "least one chunk of rows (a factory over files: check that its pattern matches some)."
                )
            raise ValueError(f"the chunk factory produced no rows ({n_chunks} chunks, all empty).")
        if n_rows == 0:
            raise ValueError(
                "the chunk factory produced no rows on this pass; it must return a fresh iterable of "
                "the same chunks on each call."
            )
        if self.n_samples is None:
            self.n_samples, self._n_chunks = n_rows, n_chunks
        elif n_rows != self.n_samples:
            raise ValueError(
                f"the chunk factory produced {n_rows} rows on this pass and {self.n_samples} on the "
                "first; it must return the same chunks on each call."
            )

    def _show(self, index):
        """A one-line count of the chunks of the pass on a terminal (cleared at its end)."""
        if not self._show_chunks:
            return
        if index is None:
            sys.stderr.write("\r\033[K")
        else:
            total = f"/{self._n_chunks}" if self._n_chunks else ""
            sys.stderr.write(f"\r  chunk {index + 1}{total}")
        sys.stderr.flush()

    def estep(self, family, params, mode=MODE_SOFT, seed=0, n_draws=0):
        """Sum over the chunks of ``family.estep`` (arguments as for ``ArraySource``)."""
        total = None
        with limit_threads(self.n_threads):
            for first_row, rows, weights, labels in self.chunks():
                stats = family.estep(rows, weights, params, mode, seed, n_draws, first_row, labels)
                total = stats if total is None else total + stats
        return total

    def init_sample(self, n_components):
        """An ``ArraySource`` on a uniform sample of the rows, drawn in one pass (see
        ``fastem._data.sampling``), without labels; drawn once per source."""
        if n_components not in self._samples:
            sample = None
            for _, rows, weights, _ in self.chunks():
                if sample is None:
                    sample = StreamSample(sample_size(rows.shape[1], n_components))
                sample.add(rows, weights)
            self._samples[n_components] = ArraySource(*sample.rows(self._weighted), self.n_threads)
        return self._samples[n_components]

    def note(self):
        """Progress text for the iteration lines."""
        return f"chunks read {self.chunks_read}"
