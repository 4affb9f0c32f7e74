"""Full-covariance moments of a component's listed rows, features in vector lanes.

A chunk's sparse tiles defer the rows a component holds to one pass at the chunk's
end (``gaussian_tile.chunk_stats``).  ``deferred_moments`` copies those rows, centred
and weighted, into row buffers, and forms ``sum_i w_i (x_i - m)(x_i - m)^T`` as a sum
of outer products: a Numba ``@intrinsic`` holds eight rows j of the sums by two
vectors of features d in 16 vector registers over all the listed rows, one fused
multiply-add per row, j and vector.  The sums end in lanes, with no horizontal sum;
the gathered columns that ``gaussian_tile.column_moments`` took ended each 4 x 4 block
in 16 of them, which did not shrink in float32.

Measured, ``chunk_stats`` of rows 2 and 4 of the benchmark, one thread, float64 /
float32, gathered columns against these passes in one process: 200k x 32, K = 16:
0.101 / 0.060 -> 0.098 / 0.054 s; 50k x 128, K = 8: 0.173 / 0.096 -> 0.172 / 0.090 s.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .transpose import BLOCK_BYTES
from .vector_ir import Vectors, as_index

# Rows j of the sums per pass, and rows copied into the buffers at a time.
J_ROWS = 8
BUFFER_ROWS = 64


def _outer_of(n_vectors):
    """An intrinsic that adds rows j0 ... j0 + J_ROWS - 1, features d0 on (``n_vectors``
    vectors of them), of ``sum_c rows_w[c, j] rows_x[c, d]`` over c < n_rows to ``part``."""

    @intrinsic
    def outer_pass(typingctx, rows_x, rows_w, n_rows, j0, d0, part):
        arrays = (rows_x, rows_w, part)
        if not (
            all(isinstance(a, types.Array) and a.layout == "C" and a.ndim == 2 for a in arrays)
            and isinstance(rows_x.dtype, types.Float)
            and all(a.dtype == rows_x.dtype for a in arrays)
        ):
            return None

        def codegen(context, builder, signature, args):
            x_array, w_array = (context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 1))
            part_array = context.make_array(signature.args[5])(context, builder, args[5])
            vectors = Vectors(context, builder, signature.args[0].dtype)
            lanes = vectors.lanes
            constant = vectors.index
            n_rows_, j0_, d0_ = (as_index(context, builder, args[i], signature.args[i]) for i in (2, 3, 4))
            width = cgutils.unpack_tuple(builder, x_array.shape)[1]
            part_stride = cgutils.unpack_tuple(builder, part_array.shape)[1]
            zero = ir.Constant(vectors.type, [0.0] * lanes)
            sums = [[cgutils.alloca_once(builder, vectors.type) for _ in range(n_vectors)] for _ in range(J_ROWS)]
            for slots in sums:
                for slot in slots:
                    builder.store(zero, slot)
            with cgutils.for_range(builder, n_rows_) as rows:
                start = builder.mul(rows.index, width)
                xs = [vectors.load(x_array, builder.add(start, builder.add(d0_, constant(v * lanes)))) for v in range(n_vectors)]
                for g in range(J_ROWS):
                    weight = vectors.splat(builder.load(builder.gep(w_array.data, [builder.add(start, builder.add(j0_, constant(g)))])))
                    for x, slot in zip(xs, sums[g]):
                        builder.store(vectors.fma(weight, x, builder.load(slot)), slot)
            for g in range(J_ROWS):
                row = builder.mul(builder.add(j0_, constant(g)), part_stride)
                for v in range(n_vectors):
                    position = builder.add(row, builder.add(d0_, constant(v * lanes)))
                    total = builder.fadd(vectors.load(part_array, position), builder.load(sums[g][v]))
                    vectors.store(total, part_array, position)
            return context.get_dummy_value()

        return types.none(rows_x, rows_w, n_rows, j0, d0, part), codegen

    return outer_pass


_outer_2 = _outer_of(2)
_outer_1 = _outer_of(1)


@kernel()
def outer_buffers(n_features, X):
    """(rows_x, rows_w, part) for ``deferred_moments``, zero, in X's dtype: (BUFFER_ROWS,
    W) twice and (W, W), W = D rounded up to J_ROWS and to a whole vector."""
    lanes = BLOCK_BYTES // X.itemsize
    width = n_features + (-n_features) % J_ROWS
    width = width + (-width) % lanes
    rows_x = np.zeros((BUFFER_ROWS, width), dtype=X.dtype)
    return rows_x, np.zeros_like(rows_x), np.zeros((width, width), dtype=X.dtype)


@kernel()
def deferred_moments(X, start, mean, resp, rows, rows_x, rows_w, part, sx, acc):
    """sx += sum_i w_i (x_i - mean); the upper triangle of acc += sum_i w_i (x_i - mean)
    (x_i - mean)^T, over the rows x_i = X[start + i] with w_i = resp[i] != 0.

    X : (N, D); mean (>= D,) and resp (n,) in X's dtype; rows (>= n,) int64 work;
    rows_x, rows_w, part from ``outer_buffers(D, X)`` (the padding features of the row
    buffers stay zero: only the first D are written); sx (D,), acc (D, D) float64.
    The sums are formed in X's dtype and enter sx and acc once per call.
    """
    n_features = X.shape[1]
    lanes = BLOCK_BYTES // X.itemsize
    width = rows_x.shape[1]
    n_active = 0
    for i in range(resp.shape[0]):
        rows[n_active] = i
        n_active += resp[i] != 0.0
    part[:] = 0.0
    for first in range(0, n_active, BUFFER_ROWS):
        n_rows = min(BUFFER_ROWS, n_active - first)
        for c in range(n_rows):
            i = rows[first + c]
            w = resp[i]
            for d in range(n_features):
                v = X[start + i, d] - mean[d]
                rows_x[c, d] = v
                rows_w[c, d] = w * v
        # Vectors of d that reach the diagonal or beyond, for each block of eight j.
        for j0 in range(0, n_features, J_ROWS):
            d0 = j0 - j0 % lanes
            while d0 < n_features:
                if d0 + 2 * lanes <= width:
                    _outer_2(rows_x, rows_w, n_rows, j0, d0, part)
                    d0 += 2 * lanes
                else:
                    _outer_1(rows_x, rows_w, n_rows, j0, d0, part)
                    d0 += lanes
        for c in range(n_rows):
            for d in range(n_features):
                sx[d] += rows_w[c, d]
    for j in range(n_features):
        for d in range(j, n_features):
            acc[j, d] += part[j, d]
