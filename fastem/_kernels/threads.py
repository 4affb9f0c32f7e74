"""Kernels spread over threads, and the chunk-order reduction of their statistics.

Every parallel pass of fastem goes through this module.  A pass is cut into the fixed
chunks of ``_jit.CHUNK_ROWS`` rows; a compiled kernel computes the statistics of a
range of chunks on one thread (kernels are compiled ``nogil``), one partial result per
chunk; ranges run on a pool of Python threads; and the partials are added to the
outputs in chunk order, a group of chunks at a time.  The sums therefore never depend
on the number of threads or on how chunks are grouped: results are bitwise identical
for 1 or N threads.

Why Python threads and not Numba's ``prange``: a parallel Numba function is compiled
with the whole tree of kernels it calls inlined into its parallel loop, and that
compilation, once per signature, was most of a first fit's compile time.  Here the
parallel layer is plain Python, and each kernel is compiled once, on its own.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np

from ._jit import CHUNK_ROWS, add_in_chunk_order

# Bytes of per-chunk partial statistics alive at once; more chunks are reduced in groups,
# each reusing the memory of the one before.  Every group costs a hand-off to the threads
# and an addition of its partials (by one thread, below SPLIT_ADDITIONS), so groups are
# as large as a small, fixed amount of memory allows.  Groups never change the result
# (chunks are added in order either way), so their size may follow the number of
# threads: at least MIN_CHUNKS_PER_THREAD chunks per thread keep every thread busy.
# (CONTRIBUTING, kernel notes, has the measurements.)
PARTIAL_BYTES = 2**22
MIN_CHUNKS_PER_THREAD = 4

# Entries of partial statistics (chunks x floats) below which one thread adds them:
# splitting smaller sums costs more in hand-offs than it saves.
SPLIT_ADDITIONS = 2**16

_pool = None
_pool_lock = threading.Lock()


def _forget_pool():
    """In a forked child: the parent's pool threads do not exist there, and an
    executor that still counts them would never start a thread for new work."""
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):  # POSIX
    os.register_at_fork(after_in_child=_forget_pool)


def _executor():
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=numba.config.NUMBA_NUM_THREADS, thread_name_prefix="fastem")
        return _pool


def n_chunks_of(n_rows):
    """Chunks of ``CHUNK_ROWS`` rows (the last one possibly shorter) in ``n_rows`` rows."""
    return -(-n_rows // CHUNK_ROWS)


def spread(function, n_items, n_threads=None):
    """Call ``function(lo, hi)`` on contiguous parts of ``range(n_items)``, one per
    thread (``n_threads``, by default Numba's thread count of the calling thread, as
    ``limit_threads`` sets it), and return when all are done.  The calling thread
    takes the first part.  Every part has ended when it returns or raises: the first
    part's exception first, else the first of the others'."""
    n_threads = numba.get_num_threads() if n_threads is None else n_threads
    n_parts = max(1, min(n_threads, n_items))
    if n_items == 0:
        return
    if n_parts == 1:
        function(0, n_items)
        return
    bounds = [n_items * p // n_parts for p in range(n_parts + 1)]
    pool = _executor()
    futures = [pool.submit(function, bounds[p], bounds[p + 1]) for p in range(1, n_parts)]
    error = None
    try:
        function(bounds[0], bounds[1])
    except BaseException as raised:  # wait for the other parts before raising
        error = raised
    for future in futures:
        try:
            future.result()
        except BaseException as raised:
            error = raised if error is None else error
    if error is not None:
        raise error


def group_size(n_chunks, floats_per_chunk, min_group):
    """Chunks whose partial statistics are held at once: ``PARTIAL_BYTES``' worth, but
    at least ``min_group``.  Groups never change the result (chunks are added in order
    either way); a group that fits the cache keeps the additions fast."""
    by_memory = max(1, PARTIAL_BYTES // (8 * floats_per_chunk))
    return max(1, min(n_chunks, max(by_memory, min_group)))


def busy_group(n_threads=None):
    """The smallest group that keeps every thread busy."""
    return MIN_CHUNKS_PER_THREAD * (numba.get_num_threads() if n_threads is None else n_threads)


def sum_in_chunk_order(n_rows, outputs, chunk_range, min_group=None):
    """Add the statistics of all chunks of ``n_rows`` rows to ``outputs``, in chunk order.

    Parameters
    ----------
    n_rows : int
        Rows of the pass.
    outputs : sequence of ndarray
        C-contiguous float64 arrays the statistics are added into (e.g. nk, sx, sxx).
    chunk_range : callable
        ``chunk_range(first, lo, hi, part_totals, part_prints, *parts)`` adds the
        statistics of chunks ``first + lo ... first + hi - 1`` into slots ``lo ... hi -
        1`` of ``parts`` (one array per output, with a leading axis of chunks; the slots
        come zeroed) and writes ``part_totals`` ((chunks, 2)
        float64: log-likelihood and weight) and ``part_prints`` ((chunks,) uint64).
        It is called on several threads at once, on disjoint slots.
    min_group : int, optional
        Chunks reduced at once, at least (``busy_group()`` by default; never changes
        the result).

    Returns
    -------
    (loglik, weight, fingerprint) : (float, float, numpy.uint64)
        The partial totals added in chunk order; fingerprints add modulo 2**64.
    """
    for out in outputs:
        if out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError("statistics outputs must be C-contiguous float64 arrays")
    n_threads = numba.get_num_threads()
    n_chunks = n_chunks_of(n_rows)
    floats_per_chunk = sum(out.size for out in outputs) + 1
    min_group = busy_group(n_threads) if min_group is None else min_group
    group = group_size(n_chunks, floats_per_chunk, min_group)
    parts = [np.empty((group,) + out.shape) for out in outputs]
    flat_parts = [part.reshape(group, -1) for part in parts]
    flat_outputs = [out.reshape(-1) for out in outputs]
    part_totals = np.empty((group, 2))
    part_prints = np.empty(group, dtype=np.uint64)
    loglik = 0.0
    weight = 0.0
    fingerprint = 0
    for first in range(0, n_chunks, group):
        count = min(group, n_chunks - first)

        def run_range(lo, hi):
            for part in parts:
                part[lo:hi] = 0.0  # each thread zeroes its own slots, which the kernels add into
            chunk_range(first, lo, hi, part_totals, part_prints, *parts)

        spread(run_range, count, n_threads)
        for c in range(count):  # left to right, as one thread would add them
            loglik += float(part_totals[c, 0])
            weight += float(part_totals[c, 1])
        fingerprint = (fingerprint + int(np.add.reduce(part_prints[:count], dtype=np.uint64))) % 2**64
        for part, out in zip(flat_parts, flat_outputs):
            size = out.shape[0]
            split = n_threads if count * size >= SPLIT_ADDITIONS else 1
            spread(lambda lo, hi: add_in_chunk_order(count, part, out, lo, hi), size, split)
    return loglik, weight, np.uint64(fingerprint)
