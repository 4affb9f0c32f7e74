"""The jit policy and the row partitioning shared by every kernel.

All kernels are compiled lazily (only the signatures a process uses), cached on disk,
with the NumPy error model (no Python exceptions on division by zero) and with fast-math
flags that keep ``nnan``/``ninf`` off: log-sum-exp relies on ``-inf`` behaving as IEEE says.

Only the entry points -- the kernels that Python code calls, marked ``entry=True`` --
are compiled with the wrappers that let Python call them.  Every other kernel runs in
compiled code only: its wrappers were a tenth of a first fit's compile time.  Calling
one from Python raises ``TypeError`` (``CompiledOnly``); the tests run them through a
compiled trampoline.  Nor does such a kernel get machine code of its own: its callers
link its optimised LLVM module and make their machine code from it (``linking``).
"""

from contextlib import contextmanager

import numba
from numba.core import config
from numba.core.registry import CPUDispatcher

from .linking import PIPELINE

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


class CompiledOnly(CPUDispatcher):
    """A kernel compiled without a Python entry: compiled callers call it as any other
    kernel, and a call from Python raises ``TypeError`` (without the wrapper, the call
    would jump to no code at all)."""

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"{self.py_func.__module__}.{self.py_func.__qualname__} is a kernel for compiled "
            "code only: call it from a compiled function."
        )


def kernel(reassociate=True, no_nan=False, entry=False):
    """Return the decorator every fastem kernel is compiled with.

    ``entry``: Python calls the kernel (the range kernels that ``threads`` runs, and
    the few others called once per pass); it then gets the wrappers that make that
    possible.  Any other kernel is a ``CompiledOnly`` one.
    """
    if no_nan:
        fastmath = FASTMATH_NO_NAN
    else:
        fastmath = FASTMATH if reassociate else FASTMATH_ORDERED
    options = dict(nogil=True, error_model="numpy", fastmath=fastmath)
    if entry or config.DISABLE_JIT:
        return numba.njit(cache=True, **options)

    def compile_only(py_func):
        targetoptions = dict(options, nopython=True, no_cpython_wrapper=True, no_cfunc_wrapper=True)
        dispatcher = CompiledOnly(
            py_func=py_func, locals={}, targetoptions=targetoptions, pipeline_class=PIPELINE
        )
        dispatcher.enable_caching()
        return dispatcher

    return compile_only


@kernel()
def chunk_bounds(chunk, n_rows):
    start = chunk * CHUNK_ROWS
    return start, min(start + CHUNK_ROWS, n_rows)


# Entries of ``out`` that ``add_in_chunk_order`` keeps in the L1 cache while it adds
# every chunk's partials into them.
ADDED_ENTRIES = 1024


@kernel(reassociate=False, entry=True)
def add_in_chunk_order(count, parts, out, lo, hi):
    """out[e] += parts[0, e] + ... + parts[count - 1, e], left to right, for lo <= e < hi
    (``threads.sum_in_chunk_order`` splits the entries between threads: the sums do
    not depend on how).

    Chunk by chunk over a block of entries: the inner loop then runs along a chunk's
    partials, contiguous, in vectors, and each entry still receives its chunks in
    order (no reassociation, so none is reordered)."""
    for block in range(lo, hi, ADDED_ENTRIES):
        end = min(block + ADDED_ENTRIES, hi)
        for c in range(count):
            for e in range(block, end):
                out[e] += parts[c, e]


@kernel(reassociate=False)
def add_in_order(total, values, count):
    """total + values[0] + ... + values[count - 1], added left to right.  Compiled
    without reassociation, so no vectoriser reorders it: running sums that must equal
    those of a row-by-row kernel bit for bit (a pass's weight and log-likelihood) are
    formed with it."""
    for i in range(count):
        total += values[i]
    return total


def read_only(array):
    """``array`` as a read-only view.  Numba compiles a kernel once per argument type,
    and a read-only array (a memory-mapped file's rows) is a type of its own: the
    entry points pass the data read-only always, so in-memory and memory-mapped data
    share one compiled kernel."""
    if not array.flags.writeable:
        return array
    view = array.view()
    view.flags.writeable = False
    return view


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
