"""The jit policy and the row partitioning shared by every kernel.

All kernels are compiled lazily (only the signatures a process uses), cached on disk,
with the NumPy error model (no Python exceptions on division by zero) and with fast-math
flags that keep ``nnan``/``ninf`` off: log-sum-exp relies on ``-inf`` behaving as IEEE says.
"""

import math
from contextlib import contextmanager

import numba
import numpy as np

# Reassociation lets LLVM vectorise the reductions over features; contraction allows FMA.
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}
# For code whose accuracy rests on the order of its operations (exp's range reduction).
FASTMATH_ORDERED = {"nsz", "contract"}

# Rows of one chunk: the unit of the fixed partition.  Partial statistics are formed per
# chunk and summed in chunk order, so results do not depend on the number of threads.
CHUNK_ROWS = 1024

# Rows of one tile inside a chunk: small enough that a tile of X, its centred copy and its
# log-densities stay in the L1/L2 cache while every component is visited.
TILE_ROWS = 32

# A component whose weighted log-density is this far below a row's best has a
# posterior below 2**-53 (half an ulp of the best term's 1.0): its exp is skipped and its
# weight is 0, so the row's sum of exps is low by less than K * 2**-53 relative, and the
# component's moments for that tile need not be formed at all.
EXP_CUTOFF = 53 * np.log(2.0)

# Soft posteriors (standard EM) or a hard argmax (classification EM, k-means).
MODE_SOFT = 0
MODE_HARD = 1

# Bytes of per-chunk partial statistics alive at once; more chunks are reduced in groups.
# Groups never change the result (chunks are added in order either way); at least
# MIN_GROUP chunks per group keep up to 16 threads busy.
PARTIAL_BYTES = 64 * 2**20
MIN_GROUP = 32


def kernel(parallel=False, reassociate=True):
    """Return the decorator every fastem kernel is compiled with."""
    return numba.njit(
        cache=True,
        nogil=True,
        error_model="numpy",
        fastmath=FASTMATH if reassociate else FASTMATH_ORDERED,
        parallel=parallel,
    )


@kernel()
def n_chunks_of(n_rows):
    return (n_rows + CHUNK_ROWS - 1) // CHUNK_ROWS


@kernel()
def chunk_bounds(chunk, n_rows):
    start = chunk * CHUNK_ROWS
    return start, min(start + CHUNK_ROWS, n_rows)


@kernel()
def group_size(n_chunks, floats_per_chunk):
    """Chunks whose partial statistics are held at once (never changes the result)."""
    by_memory = max(1, PARTIAL_BYTES // (8 * floats_per_chunk))
    return max(1, min(n_chunks, max(by_memory, MIN_GROUP)))


_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(12, -1, -1))  # 1/12!, ..., 1/0!


@kernel(reassociate=False)
def exp_nonpositive(x):
    """exp(x) for -EXP_CUTOFF < x <= 0, within 2 ulp, in plain arithmetic.

    Numba has no vector exp, and a libm call per element keeps the loop scalar; this
    version inlines and vectorises.  x = n ln2 + r with |r| <= ln2 / 2; exp(r) by its
    Taylor series to r**12 (truncation below 2e-16); 2**n (-53 <= n <= 0) from the six
    bits of -n.  Compiled without reassociation, which would undo the range reduction.
    """
    n = np.floor(x * _INV_LN2 + 0.5)
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _EXP_TAYLOR[0]
    for c in _EXP_TAYLOR[1:]:
        p = p * r + c
    m = np.int64(-n)
    scale = 1.0
    if m & 1:
        scale *= 0.5
    if m & 2:
        scale *= 0.25
    if m & 4:
        scale *= 0.0625
    if m & 8:
        scale *= 0.00390625
    if m & 16:
        scale *= 1.52587890625e-05
    if m & 32:
        scale *= 2.3283064365386963e-10
    return p * scale


@kernel()
def best_component(logp):
    """Index of the largest entry of a row (the first one on ties)."""
    best = 0
    for k in range(1, logp.shape[0]):
        if logp[k] > logp[best]:
            best = k
    return best


@kernel()
def normalise_row(logp, mode):
    """Turn one row of weighted log-densities into weights over components, in place.

    Returns the row's log-likelihood: log-sum-exp for soft weights, the largest term for
    hard ones (the classification log-likelihood).
    """
    n_components = logp.shape[0]
    best = best_component(logp)
    top = logp[best]
    if mode == MODE_HARD or top == -np.inf:
        for k in range(n_components):
            logp[k] = 0.0
        if top > -np.inf:
            logp[best] = 1.0
        return top
    total = 0.0
    for k in range(n_components):
        gap = logp[k] - top
        logp[k] = exp_nonpositive(gap) if gap > -EXP_CUTOFF else 0.0
        total += logp[k]
    inv = 1.0 / total
    for k in range(n_components):
        logp[k] *= inv
    return top + np.log(total)


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
