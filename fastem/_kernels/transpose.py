"""Square blocks transposed in vector registers.

The tile kernels read X row by row (as it is stored) and compute with rows innermost,
so every tile and every gathered block of rows is transposed once.  Written as loops,
a transposition compiles to one scalar load and store per value -- the vectorisers
have no shuffles to offer there -- and took as long in float32 as in float64.
``transpose_block`` instead loads a square block as one vector per row (64 bytes: 16
float32 or 8 float64 values), transposes it with log2(lanes) rounds of two-vector
shuffles and stores one vector per column.  One thread, transposing 50k x 128 rows in
the full-covariance tiles: float32 0.0061 -> 0.0033 s, float64 0.0073 -> 0.0057 s.
"""

from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import kernel

# Bytes of one block row: a 64-byte vector (an AVX-512 register; LLVM splits it where
# the machine's vectors are narrower).
BLOCK_BYTES = 64


@kernel()
def block_lanes(x):
    """Rows and columns of ``transpose_block``'s blocks for x's dtype (16 float32, 8 float64)."""
    return BLOCK_BYTES // x.itemsize


@intrinsic
def transpose_block(typingctx, src, src_offsets, dst, dst_offset, dst_stride):
    """dst[dst_offset + r * dst_stride + c] = src[src_offsets[c] + r] for r, c < lanes
    (``block_lanes``): block row c is the ``lanes`` values of src from ``src_offsets[c]``
    on, and it becomes column c of the block written to dst.

    src, dst : 1-D C-contiguous arrays of one floating dtype; src_offsets : 1-D int64
    array of at least ``lanes`` entries; dst_offset, dst_stride : integers.  Compiled
    code only, with no bounds checks: the caller guarantees that every value read and
    written lies within src and dst.
    """
    if not (
        isinstance(src, types.Array) and isinstance(dst, types.Array)
        and isinstance(src.dtype, types.Float) and src.dtype == dst.dtype
        and isinstance(src_offsets, types.Array) and src_offsets.dtype == types.int64
    ):
        return None
    dtype = src.dtype
    itemsize = dtype.bitwidth // 8
    lanes = BLOCK_BYTES // itemsize

    def codegen(context, builder, signature, args):
        src_array = context.make_array(signature.args[0])(context, builder, args[0])
        offsets = context.make_array(signature.args[1])(context, builder, args[1])
        dst_array = context.make_array(signature.args[2])(context, builder, args[2])
        index = ir.IntType(64)
        vector = ir.VectorType(context.get_data_type(dtype), lanes)
        rows = []
        for c in range(lanes):
            start = builder.load(builder.gep(offsets.data, [ir.Constant(index, c)]))
            address = builder.bitcast(builder.gep(src_array.data, [start]), vector.as_pointer())
            rows.append(builder.load(address, align=itemsize))
        # Round h swaps, for every pair of rows (i, i + h) with bit h of i clear, the
        # values of row i in columns with bit h set and those of row i + h in columns
        # with bit h clear: after the rounds h = lanes/2, ..., 1 row r holds column r.
        mask = ir.VectorType(ir.IntType(32), lanes)
        h = lanes // 2
        while h >= 1:
            first = ir.Constant(mask, [c + lanes - h if c & h else c for c in range(lanes)])
            second = ir.Constant(mask, [c + lanes if c & h else c + h for c in range(lanes)])
            for i in range(lanes):
                if not i & h:
                    a, b = rows[i], rows[i + h]
                    rows[i] = builder.shuffle_vector(a, b, first)
                    rows[i + h] = builder.shuffle_vector(a, b, second)
            h //= 2
        offset = context.cast(builder, args[3], signature.args[3], types.int64)
        stride = context.cast(builder, args[4], signature.args[4], types.int64)
        for r in range(lanes):
            start = builder.add(offset, builder.mul(ir.Constant(index, r), stride))
            address = builder.bitcast(builder.gep(dst_array.data, [start]), vector.as_pointer())
            builder.store(rows[r], address, align=itemsize)
        return context.get_dummy_value()

    return types.none(src, src_offsets, dst, dst_offset, dst_stride), codegen
