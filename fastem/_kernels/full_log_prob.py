"""Full-covariance log-densities of a transposed tile, ``L @ (x - mean)`` in registers.

``log_prob_t`` computes ``logp_t[k, i] = log_norm[k] - |L_k (x_i - mean_k)|^2 / 2`` for
a tile held as (features, rows).  Written as loops (``gaussian_tile.tile_log_prob``),
four rows of ``L @ (x - mean)`` live in a work array that every pass over four (or
eight) features loads and stores again.  Here a Numba ``@intrinsic`` holds GROUP of
them for ROW_VECTORS vectors of rows in vector registers across all the features they
need, one multiply-add per coefficient of L and vector of rows, subtracting the mean as
each feature is loaded; their squares go straight into the rows' sums.  Each block of
GROUP rows of L is taken to its diagonal and no further: the diagonal block is unrolled
with only its lower triangle, so the multiply-adds are exactly those of the triangle.
Narrow tiles do better by the loops (fewer rows of L per pass), hence
REGISTER_FEATURES.  ``log_prob_t_loops`` computes the same by plain loops: the tests'
reference.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .arrays import empty
from .target import VECTOR_BYTES, VECTOR_REGISTERS
from .vector_ir import Vectors, as_index

# Padded features from which ``gaussian_tile.log_prob_t`` takes this kernel.
REGISTER_FEATURES = 32
# Rows of L formed at once, for ROW_VECTORS vectors of rows: GROUP * ROW_VECTORS sums,
# the rows loaded, a coefficient, a mean and the rows' sums of squares in registers
# (32 registers: 8 x 2; 16 registers: 4 x 2).  The padded features are a multiple of
# FEATURE_BLOCK: with GROUP 8 a last block may have four.
GROUP = 8 if VECTOR_REGISTERS >= 32 else 4
ROW_VECTORS = 2
FEATURE_BLOCK = 4


def _log_prob_of(row_vectors):
    """An intrinsic that writes component k's log-densities of ``n_columns`` tile rows
    from ``column`` on, ``row_vectors`` vectors of rows at a time."""

    @intrinsic
    def component_log_prob(typingctx, xt, means, factors, log_norm, k, column, n_columns, logp_t):
        arrays = (xt, means, factors, logp_t)
        if not (
            all(isinstance(a, types.Array) and a.layout == "C" for a in arrays + (log_norm,))
            and isinstance(xt.dtype, types.Float)
            and all(a.dtype == xt.dtype for a in arrays)
            and xt.ndim == 2 and means.ndim == 2 and factors.ndim == 3 and logp_t.ndim == 2
            and isinstance(log_norm.dtype, types.Float)
        ):
            return None

        def codegen(context, builder, signature, args):
            xt_array, means_array, factors_array, norm_array = (
                context.make_array(signature.args[i])(context, builder, args[i]) for i in range(4)
            )
            out_array = context.make_array(signature.args[7])(context, builder, args[7])
            dtype = signature.args[0].dtype
            vectors = Vectors(context, builder, dtype)
            lanes = vectors.lanes
            constant = vectors.index
            splat = vectors.splat
            k, first_column, n_columns = (as_index(context, builder, args[i], signature.args[i]) for i in (4, 5, 6))
            n_padded, n_rows = cgutils.unpack_tuple(builder, xt_array.shape)
            out_stride = cgutils.unpack_tuple(builder, out_array.shape)[1]
            mean_start = builder.mul(k, n_padded)
            lower_start = builder.mul(k, builder.mul(n_padded, n_padded))
            norm = builder.load(builder.gep(norm_array.data, [k]))
            norm = splat(context.cast(builder, norm, signature.args[3].dtype, dtype))
            half = ir.Constant(vectors.type, [0.5] * lanes)
            zero = ir.Constant(vectors.type, [0.0] * lanes)
            block_rows = lanes * row_vectors
            sums = [cgutils.alloca_once(builder, vectors.type) for _ in range(row_vectors)]
            n_blocks = builder.udiv(n_columns, constant(block_rows))
            n_groups = builder.udiv(n_padded, constant(GROUP))

            def rows_of_lower(block_start, g0, width):
                """Add the squares of rows g0 ... g0 + width - 1 of L (x - mean)."""
                ys = [[cgutils.alloca_once(builder, vectors.type) for _ in range(row_vectors)] for _ in range(width)]
                for slots in ys:
                    for slot in slots:
                        builder.store(zero, slot)

                def add_feature(j, first_row):
                    # Rows of the group before first_row are zero at feature j.
                    mean = splat(builder.load(builder.gep(means_array.data, [builder.add(mean_start, j)])))
                    start = builder.add(builder.mul(j, n_rows), block_start)
                    xs = [
                        builder.fsub(vectors.load(xt_array, builder.add(start, constant(r * lanes))), mean)
                        for r in range(row_vectors)
                    ]
                    for g in range(first_row, width):
                        row = builder.mul(builder.add(g0, constant(g)), n_padded)
                        coefficient = splat(builder.load(builder.gep(factors_array.data, [builder.add(lower_start, builder.add(row, j))])))
                        for x, slot in zip(xs, ys[g]):
                            builder.store(vectors.multiply_add(coefficient, x, builder.load(slot)), slot)

                with cgutils.for_range(builder, g0) as features:
                    add_feature(features.index, 0)
                for t in range(width):  # the diagonal block, lower triangle only
                    add_feature(builder.add(g0, constant(t)), t)
                for slots in ys:
                    for slot, total in zip(slots, sums):
                        y = builder.load(slot)
                        builder.store(vectors.multiply_add(y, y, builder.load(total)), total)

            with cgutils.for_range(builder, n_blocks) as blocks:
                block_start = builder.add(first_column, builder.mul(blocks.index, constant(block_rows)))
                for total in sums:
                    builder.store(zero, total)
                with cgutils.for_range(builder, n_groups) as groups:
                    rows_of_lower(block_start, builder.mul(groups.index, constant(GROUP)), GROUP)
                if GROUP > FEATURE_BLOCK:
                    has_four = builder.icmp_unsigned("!=", builder.urem(n_padded, constant(GROUP)), constant(0))
                    with builder.if_then(has_four):
                        rows_of_lower(block_start, builder.mul(n_groups, constant(GROUP)), FEATURE_BLOCK)
                for r, total in enumerate(sums):
                    value = builder.fsub(norm, builder.fmul(half, builder.load(total)))
                    position = builder.add(builder.mul(k, out_stride), builder.add(block_start, constant(r * lanes)))
                    vectors.store(value, out_array, position)
            return context.get_dummy_value()

        return types.none(xt, means, factors, log_norm, k, column, n_columns, logp_t), codegen

    return component_log_prob


_row_vectors = _log_prob_of(ROW_VECTORS)
_one_vector = _log_prob_of(1)


@kernel()
def log_prob_t(xt, means, factors, log_norm, logp_t):
    """logp_t[k, i] = log_norm[k] - |factors[k] @ (xt[:, i] - means[k])|^2 / 2.

    xt : (Dp, n) the tile, Dp a multiple of 4 and n of one vector (``VECTOR_BYTES``
    of rows); means (K, Dp) and factors (K, Dp, Dp) lower-triangular, zero past
    D (``gaussian_tile.padded_components``); logp_t (K, n): all in X's dtype,
    C-contiguous.  log_norm : (K,) float64.  No bounds checks: the shapes are the
    caller's to keep.
    """
    lanes = VECTOR_BYTES // xt.itemsize
    n_rows = xt.shape[1]
    blocked = n_rows - n_rows % (ROW_VECTORS * lanes)
    for k in range(means.shape[0]):
        _row_vectors(xt, means, factors, log_norm, k, 0, blocked, logp_t)
        if blocked < n_rows:
            _one_vector(xt, means, factors, log_norm, k, blocked, n_rows - blocked, logp_t)


@kernel()
def log_prob_t_loops(xt, means, factors, log_norm, logp_t):
    """``log_prob_t`` by plain loops over the tile's rows, in the same order (each row
    of L (x - mean) summed over the features in order, its square added to the row's
    sum, multiply-adds fused as the target fuses them): the same arguments and, up to
    rounding, the same result; any n."""
    n_padded, n_rows = xt.shape
    dtype = xt.dtype
    centred = empty((n_padded, n_rows), dtype)
    y = empty(n_rows, dtype)
    s = empty(n_rows, dtype)
    norm = empty(1, dtype)
    for k in range(means.shape[0]):
        for j in range(n_padded):
            m = means[k, j]
            for i in range(n_rows):
                centred[j, i] = xt[j, i] - m
        s[:] = 0.0
        for d in range(n_padded):
            y[:] = 0.0
            for j in range(d + 1):
                coefficient = factors[k, d, j]
                for i in range(n_rows):
                    y[i] += coefficient * centred[j, i]
            for i in range(n_rows):
                s[i] += y[i] * y[i]
        norm[0] = log_norm[k]  # in X's dtype, as log_prob_t takes it
        for i in range(n_rows):
            logp_t[k, i] = norm[0] - 0.5 * s[i]
