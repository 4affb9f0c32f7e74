"""The jit policy and the row partitioning shared by every kernel.

All kernels are compiled lazily (only the signatures a process uses), cached on disk,
with the NumPy error model (no Python exceptions on division by zero) and with fast-math
flags that keep ``nnan``/``ninf`` off: log-sum-exp relies on ``-inf`` behaving as IEEE says.
"""

from contextlib import contextmanager

import numba

# Reassociation lets LLVM vectorise the reductions over features; contraction allows FMA.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
# For code whose accuracy rests on the order of its operations (exp's range reduction).
FASTMATH_ORDERED = {"nsz", "contract"}
# For code that only ever sees numbers or infinities (log-densities): ``nnan`` lets LLVM
# vectorise max reductions, which IEEE NaN ordering otherwise keeps scalar.
FASTMATH_NO_NAN = FASTMATH | {"nnan"}

# Rows of one chunk: the unit of the fixed partition.  Partial statistics are formed per
# chunk and summed in chunk order, so results do not depend on the number of threads.
CHUNK_ROWS = 1024

# How a row's log-densities become weights over components: soft posteriors (standard
# EM), a hard argmax (classification EM, k-means) or Monte-Carlo draws from the posterior.
MODE_SOFT = 0
MODE_HARD = 1
MODE_SAMPLE = 2

# Bytes of per-chunk partial statistics alive at once; more chunks are reduced in groups,
# and each group reuses the memory of the one before, which is then still in cache.
# Groups never change the result (chunks are added in order either way), so their size
# may follow the number of threads: at least MIN_CHUNKS_PER_THREAD chunks per thread
# keep every thread busy.  Full covariances at D = 128, K = 8 hold 1 MiB per chunk:
# groups of 49 fresh MiB took the E-step of 50k rows from 0.163 to 0.194 s (float32,
# one thread; 0.259 to 0.278 s float64) against groups of 8.  At D = 32, K = 16 (128 KiB
# per chunk) groups of 8 MiB left the second-level cache as well: 1 MiB took the E-step
# of 200k rows from 0.0304-0.0309 to 0.0268-0.0275 s (float32, two threads; float64
# 0.055-0.063 -> 0.051-0.053 s).
PARTIAL_BYTES = 2**20
MIN_CHUNKS_PER_THREAD = 4


def kernel(parallel=False, reassociate=True, no_nan=False):
    """Return the decorator every fastem kernel is compiled with."""
    if no_nan:
        fastmath = FASTMATH_NO_NAN
    else:
        fastmath = FASTMATH if reassociate else FASTMATH_ORDERED
    return numba.njit(
        cache=True,
        nogil=True,
        error_model="numpy",
        fastmath=fastmath,
        parallel=parallel,
    )


@kernel()
def n_chunks_of(n_rows):
    return (n_rows + CHUNK_ROWS - 1) // CHUNK_ROWS


@kernel()
def chunk_bounds(chunk, n_rows):
    start = chunk * CHUNK_ROWS
    return start, min(start + CHUNK_ROWS, n_rows)


def busy_group():
    """Chunks per group that keep this process's Numba threads busy (called from Python:
    reading the thread count inside a kernel would keep it out of the disk cache)."""
    return MIN_CHUNKS_PER_THREAD * numba.get_num_threads()


@kernel()
def group_size(n_chunks, floats_per_chunk, min_group):
    """Chunks whose partial statistics are held at once (never changes the result):
    PARTIAL_BYTES' worth, but at least ``min_group`` (``busy_group()``)."""
    by_memory = max(1, PARTIAL_BYTES // (8 * floats_per_chunk))
    return max(1, min(n_chunks, max(by_memory, min_group)))


@kernel(parallel=True)
def add_in_chunk_order(count, parts, out):
    """out[e] += parts[0, e] + ... + parts[count - 1, e], left to right for every e, the
    entries split between the threads (the sums do not depend on how)."""
    for e in numba.prange(out.shape[0]):
        total = out[e]
        for c in range(count):
            total += parts[c, e]
        out[e] = total


@kernel()
def add_partials(count, part_totals, part_prints, part_nk, part_sx, part_sxx, out_nk, out_sx, out_sxx, totals, prints):
    """Add the first ``count`` chunks' statistics into the outputs, in chunk order
    (a family without second moments passes zero-size ``part_sxx``/``out_sxx``).
    In parallel over the entries: at D = 32, K = 16 a chunk's partials are 128 KiB,
    whose additions on one thread held back the other."""
    for c in range(count):
        totals[0] += part_totals[c, 0]
        totals[1] += part_totals[c, 1]
        prints[0] += part_prints[c]
    add_in_chunk_order(count, part_nk.reshape((part_nk.shape[0], -1)), out_nk.reshape(-1))
    add_in_chunk_order(count, part_sx.reshape((part_sx.shape[0], -1)), out_sx.reshape(-1))
    add_in_chunk_order(count, part_sxx.reshape((part_sxx.shape[0], -1)), out_sxx.reshape(-1))


@kernel(reassociate=False)
def add_in_order(total, values, count):
    """total + values[0] + ... + values[count - 1], added left to right.  Compiled
    without reassociation, so no vectoriser reorders it: running sums that must equal
    those of a row-by-row kernel bit for bit (a pass's weight and log-likelihood) are
    formed with it."""
    for i in range(count):
        total += values[i]
    return total


@contextmanager
def limit_threads(n_threads):
    """Run the enclosed kernels on ``n_threads`` threads (``None``: Numba's default)."""
    if n_threads is None:
        yield
        return
    available = numba.config.NUMBA_NUM_THREADS
    if not 1 <= n_threads <= available:
        raise ValueError(
            f"n_threads={n_threads} is out of range: this process can use 1 to "
            f"{available} threads (set NUMBA_NUM_THREADS before importing to raise it)."
        )
    previous = numba.get_num_threads()
    numba.set_num_threads(n_threads)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
