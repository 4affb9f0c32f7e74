"""Full-covariance log-densities of a transposed tile, ``L @ (x - mean)`` in registers.

``log_prob_t`` computes ``logp_t[k, i] = log_norm[k] - |L_k (x_i - mean_k)|^2 / 2`` for
a tile held as (features, rows).  Written as loops (``gaussian_tile.tile_log_prob``),
four rows of ``L @ (x - mean)`` lived in a work array that every pass over four (or
eight) features loaded and stored again.  Here a Numba ``@intrinsic`` holds eight of
them for two vectors of rows in 16 vector registers across all the features they
need, one fused multiply-add per coefficient of L and vector of rows, subtracting the
mean as each feature is loaded; their squares go straight into the rows' sums.  Each
block of eight rows of L is taken to its diagonal and no further: the diagonal 8 x 8
block is unrolled with only its lower triangle, so the multiply-adds are exactly those
of the triangle.

Measured, one thread, the log-densities alone (tile in cache), float64 / float32:
200k x 32, K = 16: 0.072-0.084 / 0.044-0.060 s by loops, 0.080-0.082 / 0.040 s here;
50k x 128, K = 8: 0.137-0.153 / 0.079-0.089 s by loops, 0.134-0.136 / 0.066 s here,
the core's multiply-add rate in both precisions.  Below 32 features the loops stay
faster in float64 (D = 8: 0.0077 against 0.0110 s per 500k rows), hence
REGISTER_FEATURES.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .transpose import BLOCK_BYTES
from .vector_ir import Vectors, as_index

# Padded features from which ``gaussian_tile.log_prob_t`` takes this kernel.
REGISTER_FEATURES = 32
# Rows of L formed at once (the padded features are a multiple of 4: a last block
# may have four).
GROUP = 8


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
                            builder.store(vectors.fma(coefficient, x, builder.load(slot)), slot)

                with cgutils.for_range(builder, g0) as features:
                    add_feature(features.index, 0)
                for t in range(width):  # the diagonal block, lower triangle only
                    add_feature(builder.add(g0, constant(t)), t)
                for slots in ys:
                    for slot, total in zip(slots, sums):
                        y = builder.load(slot)
                        builder.store(vectors.fma(y, y, builder.load(total)), total)

            with cgutils.for_range(builder, n_blocks) as blocks:
                block_start = builder.add(first_column, builder.mul(blocks.index, constant(block_rows)))
                for total in sums:
                    builder.store(zero, total)
                with cgutils.for_range(builder, n_groups) as groups:
                    rows_of_lower(block_start, builder.mul(groups.index, constant(GROUP)), GROUP)
                has_four = builder.icmp_unsigned("!=", builder.urem(n_padded, constant(GROUP)), constant(0))
                with builder.if_then(has_four):
                    rows_of_lower(block_start, builder.mul(n_groups, constant(GROUP)), GROUP // 2)
                for r, total in enumerate(sums):
                    value = builder.fsub(norm, builder.fmul(half, builder.load(total)))
                    position = builder.add(builder.mul(k, out_stride), builder.add(block_start, constant(r * lanes)))
                    vectors.store(value, out_array, position)
            return context.get_dummy_value()

        return types.none(xt, means, factors, log_norm, k, column, n_columns, logp_t), codegen

    return component_log_prob


_two_vectors = _log_prob_of(2)
_one_vector = _log_prob_of(1)


@kernel()
def log_prob_t(xt, means, factors, log_norm, logp_t):
    """logp_t[k, i] = log_norm[k] - |factors[k] @ (xt[:, i] - means[k])|^2 / 2.

    xt : (Dp, n) the tile, Dp a multiple of 4 and n of one vector (8 float64 or 16
    float32 rows); means (K, Dp) and factors (K, Dp, Dp) lower-triangular, zero past
    D (``gaussian_tile.padded_components``); logp_t (K, n): all in X's dtype,
    C-contiguous.  log_norm : (K,) float64.  No bounds checks: the shapes are the
    caller's to keep.
    """
    lanes = BLOCK_BYTES // xt.itemsize
    n_rows = xt.shape[1]
    paired = n_rows - n_rows % (2 * lanes)
    for k in range(means.shape[0]):
        _two_vectors(xt, means, factors, log_norm, k, 0, paired, logp_t)
        if paired < n_rows:
            _one_vector(xt, means, factors, log_norm, k, paired, n_rows - paired, logp_t)
