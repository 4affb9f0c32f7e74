"""Tiles of rows transposed to (features, rows), in square blocks of vector registers.

The tile kernels read X row by row (as it is stored) and compute with rows innermost,
so every tile and every gathered block of rows is transposed once.  Written as loops,
a transposition compiles to one scalar load and store per value -- the vectorisers
have no shuffles to offer there -- and took as long in float32 as in float64.
``transpose_block`` instead loads a square block as one vector register per row (on
AVX2 32 bytes: 8 float32 or 4 float64 values), transposes it with log2(lanes) rounds of
two-vector shuffles and stores one vector per column; ``transpose_block_loops`` beside
it copies the same block value by value (the tests' reference, and the path where the
register kernels are not used: ``target.REGISTER_KERNELS``).  ``transpose_tile`` (a
tile of consecutive rows) and ``copy_rows`` (listed rows) build on them; the Gaussian
tiles and the Bernoulli kernel's weights both use them.
"""

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import kernel
from .arrays import arange, empty
from .target import REGISTER_KERNELS, VECTOR_BYTES

# Bytes of one block row: one vector register of the compile target.
BLOCK_BYTES = VECTOR_BYTES


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


@kernel()
def transpose_block_loops(src, src_offsets, dst, dst_offset, dst_stride):
    """``transpose_block`` as a loop, value by value (the same arguments and result)."""
    lanes = block_lanes(src)
    for c in range(lanes):
        start = src_offsets[c]
        for r in range(lanes):
            dst[dst_offset + r * dst_stride + c] = src[start + r]


@kernel()
def transpose_tile(X, start, stop, xt):
    """xt[d, i] = X[start + i, d]; rows past ``stop`` are zero.

    Square blocks of ``block_lanes`` rows and features at a time (``copy_rows``), the
    features and rows left over one by one.  Where the leftover features are many
    against the blocks (fewer than four blocks and a partial one) ``transpose_narrow``
    is faster, its trip counts being constants.  Fewer than NARROW_FEATURES features
    take ``transpose_few``."""
    n_rows = stop - start
    n_features = X.shape[1]
    lanes = block_lanes(X)
    if n_features < NARROW_FEATURES:
        transpose_few(X, start, stop, xt)
        return
    if n_features % lanes != 0 and n_features < 4 * lanes:
        transpose_narrow(X, start, stop, xt)
        return
    blocked_rows = n_rows - n_rows % lanes
    blocked_features = n_features - n_features % lanes
    copy_rows(X, start, arange(blocked_rows), xt, blocked_features)
    # The leftover features in groups of 8 rows (an unrolled, constant trip count),
    # not by copy_rows' own leftover loop.
    for i0 in range(0, blocked_rows, 8):
        transpose_features_from(X, start, i0, blocked_features, xt)
    transpose_rows_from(X, start, stop, blocked_rows, xt)


@kernel()
def transpose_narrow(X, start, stop, xt):
    """``transpose_tile`` in blocks of 8 rows by 8 features (constant trip counts,
    unrolled, where the leftover loops of the vector-block path have unknown ones).
    Tiles of fewer than NARROW_FEATURES features take ``transpose_few``."""
    n_rows = stop - start
    n_features = X.shape[1]
    blocked_rows = n_rows - n_rows % 8
    blocked_features = n_features - n_features % 8
    for i0 in range(0, blocked_rows, 8):
        for d0 in range(0, blocked_features, 8):
            for d in range(d0, d0 + 8):
                for q in range(8):
                    xt[d, i0 + q] = X[start + i0 + q, d]
        transpose_features_from(X, start, i0, blocked_features, xt)
    transpose_rows_from(X, start, stop, blocked_rows, xt)


# Below this many features a tile is transposed by ``transpose_few``.
NARROW_FEATURES = 8


def _few_of(n_features):
    """``transpose_tile`` for exactly ``n_features`` features, a constant: the loop
    over a row's features unrolls, and the loop over rows, whose loads then lie a
    constant stride apart in the flat data, vectorises with wide loads and shuffles
    (an interleaved access group)."""

    @kernel()
    def transpose_of(X, start, stop, xt):
        flat = X.reshape(-1)
        base = start * n_features
        for i in range(stop - start):
            for d in range(n_features):
                xt[d, i] = flat[base + n_features * i + d]
        for i in range(stop - start, xt.shape[1]):
            for d in range(n_features):
                xt[d, i] = 0.0

    return transpose_of


_few_1, _few_2, _few_3, _few_4, _few_5, _few_6, _few_7 = (_few_of(d) for d in range(1, NARROW_FEATURES))


@kernel()
def transpose_few(X, start, stop, xt):
    """``transpose_tile`` for fewer than NARROW_FEATURES features, one kernel per
    count (``_few_of``: vector loads and shuffles where ``transpose_narrow`` copies
    value by value)."""
    n_features = X.shape[1]
    if n_features == 1:
        _few_1(X, start, stop, xt)
    elif n_features == 2:
        _few_2(X, start, stop, xt)
    elif n_features == 3:
        _few_3(X, start, stop, xt)
    elif n_features == 4:
        _few_4(X, start, stop, xt)
    elif n_features == 5:
        _few_5(X, start, stop, xt)
    elif n_features == 6:
        _few_6(X, start, stop, xt)
    else:
        _few_7(X, start, stop, xt)


@kernel()
def transpose_features_from(X, start, i0, first, xt):
    """The features d >= first of the 8 columns i0 ... i0 + 7 of ``transpose_tile``
    (a constant trip count over the rows, unrolled)."""
    for d in range(first, X.shape[1]):
        for q in range(8):
            xt[d, i0 + q] = X[start + i0 + q, d]


@kernel()
def transpose_rows_from(X, start, stop, first, xt):
    """The columns i >= first of ``transpose_tile``, one row at a time."""
    for i in range(first, xt.shape[1]):
        if i < stop - start:
            for d in range(X.shape[1]):
                xt[d, i] = X[start + i, d]
        else:
            for d in range(X.shape[1]):
                xt[d, i] = 0.0


@kernel()
def copy_rows(X, start, rows, xt, n_features):
    """xt[d, c] = X[start + rows[c], d] for the columns c < len(rows) (rows int64) and
    the features d < n_features.

    Square blocks of ``block_lanes`` rows and features at a time
    (``transpose_block``, or ``transpose_block_loops`` where the target does not use
    the register kernels), the features and rows left over one by one.  Copied value
    by value the rows took as long in float32 as in float64.
    """
    n_rows = rows.shape[0]
    n_columns = xt.shape[1]
    lanes = block_lanes(X)
    n_grouped = n_rows - n_rows % lanes
    blocked_features = n_features - n_features % lanes
    flat_x = X.reshape(-1)
    flat_xt = xt.reshape(-1)
    offsets = empty(lanes, np.int64)
    for c0 in range(0, n_grouped, lanes):
        for q in range(lanes):
            offsets[q] = (start + rows[c0 + q]) * X.shape[1]
        for d0 in range(0, blocked_features, lanes):
            if REGISTER_KERNELS:
                transpose_block(flat_x, offsets, flat_xt, d0 * n_columns + c0, n_columns)
            else:
                transpose_block_loops(flat_x, offsets, flat_xt, d0 * n_columns + c0, n_columns)
            for q in range(lanes):
                offsets[q] += lanes
        for d in range(blocked_features, n_features):  # offsets[q] is at blocked_features
            for q in range(lanes):
                xt[d, c0 + q] = flat_x[offsets[q] + (d - blocked_features)]
    for c in range(n_grouped, n_rows):
        for d in range(n_features):
            xt[d, c] = X[start + rows[c], d]
