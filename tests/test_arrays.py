"""The kernels' allocation intrinsics (``fastem._kernels.arrays``) against NumPy's
functions of the same names: type, shape, contents, errors, and memory released."""

import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastem._kernels.arrays import arange, empty, full, zeros


@numba.njit
def _allocate(n, m, like):
    return (
        empty(n, np.float64), empty((n, m), np.int32), empty((2, n, m), like.dtype),
        zeros(n, np.uint8), zeros((n, m), like.dtype), zeros((m, np.int32(n)), np.float32),
        full(n, -np.inf, np.float64), full((n, m), 7, like.dtype), arange(n), arange(np.int32(m)),
    )


def _expected(n, m, like):
    return (
        np.empty(n, np.float64), np.empty((n, m), np.int32), np.empty((2, n, m), like.dtype),
        np.zeros(n, np.uint8), np.zeros((n, m), like.dtype), np.zeros((m, n), np.float32),
        np.full(n, -np.inf, np.float64), np.full((n, m), 7, like.dtype), np.arange(n, dtype=np.int64),
        np.arange(m, dtype=np.int64),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("n, m", [(5, 3), (0, 4), (1, 0)])
def test_allocations_match_numpy(dtype, n, m):
    like = np.ones(2, dtype=dtype)
    got, expected = _allocate(n, m, like), _expected(n, m, like)
    for index, (array, reference) in enumerate(zip(got, expected)):
        assert (array.dtype, array.shape) == (reference.dtype, reference.shape), index
        assert array.flags.c_contiguous and array.flags.writeable, index
        if index not in (0, 1, 2):  # empty's contents are undefined
            assert_array_equal(array, reference)


@numba.njit
def _negative(n):
    return zeros((3, n), np.float64)


def test_a_negative_dimension_raises_as_numpy_does():
    with pytest.raises(ValueError, match="negative dimensions not allowed"):
        _negative(-1)
    with pytest.raises(ValueError, match="negative dimensions"):
        np.zeros((3, -1))


def test_a_shape_numba_cannot_read_is_a_typing_error():
    @numba.njit
    def from_floats(n):
        return empty(n, np.float64)

    with pytest.raises(numba.core.errors.TypingError):
        from_floats(2.5)


# Allocations that compiled code makes and drops, counted by Numba's runtime.
_RELEASED = """
import numba, numpy as np
from numba.core.runtime import rtsys
from fastem._kernels.arrays import arange, empty, full, zeros

@numba.njit
def churn(n):
    total = 0.0
    for i in range(n):
        a = empty((i + 1, 3), np.float64)
        b = zeros(i + 1, np.float32)
        c = full(4, 1.0, np.float64)
        d = arange(i + 2)
        a[:] = 1.0
        total += a.sum() + b.sum() + c.sum() + d.sum()
    return total

churn(2)
before = rtsys.get_allocation_stats()
churn(100)
after = rtsys.get_allocation_stats()
print(after.alloc - before.alloc, after.free - before.free)
"""


def test_every_allocation_is_released(tmp_path):
    environment = dict(os.environ, NUMBA_NRT_STATS="1", NUMBA_CACHE_DIR=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", _RELEASED], env=environment, capture_output=True, text=True,
                            check=True)
    allocated, freed = map(int, result.stdout.split())
    assert allocated >= 400  # four arrays per trip
    assert freed == allocated
