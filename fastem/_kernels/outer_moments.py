"""Full-covariance moments of a component's listed rows, features in vector lanes.

A chunk's sparse tiles defer the rows a component holds to one pass at the chunk's
end (``gaussian_tile.chunk_stats``).  ``deferred_moments`` copies those rows, centred
and weighted, into row buffers, and forms ``sum_i w_i (x_i - m)(x_i - m)^T`` as a sum
of outer products: a Numba ``@intrinsic`` holds J_ROWS rows j of the sums by up to
two vectors of features d in vector registers over all the listed rows, one
multiply-add per row, j and vector.  The sums end in lanes, with no horizontal sum;
the gathered columns that ``gaussian_tile.column_moments`` took ended each 4 x 4 block
in 16 of them, which did not shrink in float32.  ``deferred_moments_loops`` forms the
same sums by plain loops (the tests' reference, and the path where the register
kernels are not used: ``target.REGISTER_KERNELS``).
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .arrays import zeros
from .target import REGISTER_KERNELS, VECTOR_BYTES, VECTOR_REGISTERS
from .vector_ir import INT32, Vectors, as_index

# Rows j of the sums per pass (J_ROWS x 2 vectors of sums, the 2 vectors of a row and
# a weight in registers: 8 with 32 registers, 4 with 16), and rows copied into the
# buffers at a time.
J_ROWS = 8 if VECTOR_REGISTERS >= 32 else 4
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
                        builder.store(vectors.multiply_add(weight, x, builder.load(slot)), slot)
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


@intrinsic
def _centre_rows(typingctx, X, start, rows, weights, first, n_rows, mean, rows_x, rows_w, part_sx):
    """Copy the listed rows ``rows[first + c]``, c < n_rows, centred and weighted, to
    the row buffers: rows_x[c] = X[start + row] - mean, rows_w[c] = weight * rows_x[c],
    and add rows_w[c] to ``part_sx``; a vector of features at a time, the last one
    masked, so that the buffers' padding features get 0 and no load passes the row."""
    floats = (X, mean, rows_x, rows_w, part_sx, weights)
    if not (
        all(isinstance(a, types.Array) and a.layout == "C" for a in floats + (rows,))
        and isinstance(X.dtype, types.Float)
        and all(a.dtype == X.dtype for a in floats)
        and isinstance(rows.dtype, types.Integer)
    ):
        return None

    def codegen(context, builder, signature, args):
        x_array, rows_array, w_array, mean_array, bx_array, bw_array, sx_array = (
            context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 2, 3, 6, 7, 8, 9)
        )
        vectors = Vectors(context, builder, signature.args[0].dtype)
        lanes = vectors.lanes
        start_, first_, n_rows_ = (as_index(context, builder, args[i], signature.args[i]) for i in (1, 4, 5))
        n_features = cgutils.unpack_tuple(builder, x_array.shape)[1]
        width = cgutils.unpack_tuple(builder, bx_array.shape)[1]
        n_vectors = builder.udiv(width, vectors.index(lanes))
        lane = ir.Constant(vectors.int_type, list(range(lanes)))
        with cgutils.for_range(builder, n_rows_) as listed:
            position = builder.add(first_, listed.index)
            row = builder.load(builder.gep(rows_array.data, [position]))
            row = context.cast(builder, row, signature.args[2].dtype, types.int64)
            weight = vectors.splat(builder.load(builder.gep(w_array.data, [position])))
            source = builder.mul(builder.add(start_, row), n_features)
            target = builder.mul(listed.index, width)
            with cgutils.for_range(builder, n_vectors) as block:
                d0 = builder.mul(block.index, vectors.index(lanes))
                remaining = builder.trunc(builder.sub(n_features, d0), INT32)
                mask = builder.icmp_signed("<", lane, vectors.splat(remaining, lane.type))
                x = vectors.masked_load(x_array, builder.add(source, d0), mask)
                centred = builder.fsub(x, vectors.masked_load(mean_array, d0, mask))
                weighted = builder.fmul(centred, weight)
                vectors.store(centred, bx_array, builder.add(target, d0))
                vectors.store(weighted, bw_array, builder.add(target, d0))
                vectors.store(builder.fadd(vectors.load(sx_array, d0), weighted), sx_array, d0)
        return context.get_dummy_value()

    signature = types.none(X, start, rows, weights, first, n_rows, mean, rows_x, rows_w, part_sx)
    return signature, codegen


@kernel()
def outer_buffers(n_features, X):
    """(rows_x, rows_w, part, part_sx) for ``deferred_moments``, in X's dtype: (BUFFER_ROWS,
    W) twice, (W, W) and (W,), W = D rounded up to J_ROWS and to a whole vector."""
    lanes = VECTOR_BYTES // X.itemsize
    width = n_features + (-n_features) % J_ROWS
    width = width + (-width) % lanes
    rows_x = zeros((BUFFER_ROWS, width), X.dtype)
    return rows_x, zeros(rows_x.shape, X.dtype), zeros((width, width), X.dtype), zeros(width, X.dtype)


@kernel()
def deferred_moments(X, start, mean, rows, weights, count, rows_x, rows_w, part, part_sx, sx, acc):
    """sx += sum_j w_j (x_j - mean); the upper triangle of acc += sum_j w_j (x_j - mean)
    (x_j - mean)^T, over the listed rows x_j = X[start + rows[j]] with w_j = weights[j],
    j < count.

    X : (N, D); mean (>= D,) and weights (>= count,) in X's dtype; rows (>= count,)
    integers; rows_x, rows_w, part, part_sx from ``outer_buffers(D, X)``.  sx (D,),
    acc (D, D) float64.  The sums are formed in X's dtype and enter sx and acc once
    per call.  Computed by ``deferred_moments_registers`` where the target uses the
    register kernels, else by ``deferred_moments_loops``.
    """
    if REGISTER_KERNELS:
        deferred_moments_registers(X, start, mean, rows, weights, count, rows_x, rows_w, part, part_sx, sx, acc)
    else:
        deferred_moments_loops(X, start, mean, rows, weights, count, rows_x, rows_w, part, part_sx, sx, acc)


@kernel()
def deferred_moments_registers(X, start, mean, rows, weights, count, rows_x, rows_w, part, part_sx, sx, acc):
    """``deferred_moments`` by the intrinsics: the rows copied a vector at a time
    (``_centre_rows``; copied value by value they cost more than the outer products),
    the sums held in registers (``_outer_of``)."""
    n_features = X.shape[1]
    lanes = VECTOR_BYTES // X.itemsize
    width = rows_x.shape[1]
    part[:] = 0.0
    part_sx[:] = 0.0
    for first in range(0, count, BUFFER_ROWS):
        n_rows = min(BUFFER_ROWS, count - first)
        _centre_rows(X, start, rows, weights, first, n_rows, mean, rows_x, rows_w, part_sx)
        # Vectors of d that reach the diagonal or beyond, for each block of J_ROWS j.
        for j0 in range(0, n_features, J_ROWS):
            d0 = j0 - j0 % lanes
            while d0 < n_features:
                if d0 + 2 * lanes <= width:
                    _outer_2(rows_x, rows_w, n_rows, j0, d0, part)
                    d0 += 2 * lanes
                else:
                    _outer_1(rows_x, rows_w, n_rows, j0, d0, part)
                    d0 += lanes
    for j in range(n_features):
        sx[j] += part_sx[j]
        for d in range(j, n_features):
            acc[j, d] += part[j, d]


@kernel()
def deferred_moments_loops(X, start, mean, rows, weights, count, rows_x, rows_w, part, part_sx, sx, acc):
    """``deferred_moments`` by plain loops, with the same arguments and, up to rounding,
    the same result: the rows centred and weighted into the same buffers, and the
    upper triangle of the sums formed in X's dtype, a row at a time, features
    innermost."""
    n_features = X.shape[1]
    part[:] = 0.0
    part_sx[:] = 0.0
    for first in range(0, count, BUFFER_ROWS):
        n_rows = min(BUFFER_ROWS, count - first)
        for c in range(n_rows):
            row = start + rows[first + c]
            weight = weights[first + c]
            for d in range(n_features):
                centred = X[row, d] - mean[d]
                rows_x[c, d] = centred
                rows_w[c, d] = weight * centred
                part_sx[d] += weight * centred
        for c in range(n_rows):
            for j in range(n_features):
                w = rows_w[c, j]
                for d in range(j, n_features):
                    part[j, d] += w * rows_x[c, d]
    for j in range(n_features):
        sx[j] += part_sx[j]
        for d in range(j, n_features):
            acc[j, d] += part[j, d]
