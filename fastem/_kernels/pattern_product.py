"""Products of a 0/1 matrix, held as its pattern (CSR without values), and a dense one.

A binary row's log-densities are a sum of table rows, one per one of the row (see
bernoulli.py): ``logp = pattern @ table``.  Written as loops over components, each
such sum keeps its accumulator in memory -- the compiler cannot tell that the table
and the accumulator never overlap, so every update loads and stores it again, behind
runtime alias checks.  ``add_pattern_product`` holds up to four vectors of a row's
accumulator in registers across the row's ones and stores them once;
``add_pattern_product_loops`` forms the same sums by plain loops (the tests' reference,
and the path where the register kernels are not used: ``target.REGISTER_KERNELS``).

Its additions do not depend on how the columns are split into blocks: every column of
a row gets four interleaved sums over the row's ones (one per position modulo four,
so that no single chain waits on the adder's latency), combined pairwise and then
added to the output.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .arrays import empty, zeros
from .target import REGISTER_KERNELS, VECTOR_BYTES, VECTOR_REGISTERS
from .vector_ir import INDEX, Vectors, as_index

# Interleaved sums per column.
GROUP = 4
# Vectors of a row's accumulator held in registers at once: GROUP sums each, and the
# vectors loaded (32 registers: 4, 16 registers: 3).
MAX_VECTORS = 4 if VECTOR_REGISTERS >= 32 else 3
# Bytes of src's columns that one block of columns reads (half of a 32 KiB first-level
# data cache): where src's columns are larger, they are taken in narrower blocks, each
# over all the rows, so that src's rows come from the first-level cache, not the
# second; where not even one vector's column fits, blocks would not help.
SRC_BLOCK_BYTES = 16384


def _pattern_product_of(n_vectors):
    """``add_pattern_product`` for column blocks of ``n_vectors`` vectors."""

    @intrinsic
    def pattern_product_block(typingctx, dst, indptr, indices, row_start, row_stop, src, column, src_column, width):
        arrays = (dst, indptr, indices, src)
        if not (
            all(isinstance(a, types.Array) and a.layout == "C" for a in arrays)
            and dst.ndim == 2 and src.ndim == 2
            and isinstance(dst.dtype, types.Float) and src.dtype == dst.dtype
            and isinstance(indptr.dtype, types.Integer) and isinstance(indices.dtype, types.Integer)
        ):
            return None

        def codegen(context, builder, signature, args):
            dst_array, indptr_array, indices_array, src_array = (
                context.make_array(signature.args[i])(context, builder, args[i]) for i in (0, 1, 2, 5)
            )
            vectors = Vectors(context, builder, signature.args[5].dtype)
            vector = vectors.type
            lanes = vectors.lanes
            index = INDEX

            def load_index(array, typ, position):
                return as_index(context, builder, builder.load(builder.gep(array.data, [position])), typ.dtype)

            row_start_, row_stop_, column_, src_column_, width_ = (
                as_index(context, builder, args[i], signature.args[i]) for i in (3, 4, 6, 7, 8)
            )
            dst_stride = cgutils.unpack_tuple(builder, dst_array.shape)[1]
            src_stride = cgutils.unpack_tuple(builder, src_array.shape)[1]
            # Vector v covers columns offsets[v] ... offsets[v] + lanes - 1 of the block
            # (dst's from column on, src's from src_column on); the last one ends at
            # width and may overlap the one before: its overlapping lanes get the same
            # additions in the same order, so both store the same values.
            last = builder.sub(width_, ir.Constant(index, lanes))
            offsets = []
            for v in range(n_vectors):
                first = ir.Constant(index, v * lanes)
                below = builder.icmp_signed("<", first, last)
                offsets.append(builder.select(below, first, last))

            def src_vectors(j):
                base = builder.add(builder.mul(load_index(indices_array, signature.args[2], j), src_stride), src_column_)
                return [
                    vectors.load(src_array, builder.add(base, offset))
                    for offset in offsets
                ]

            zero = ir.Constant(vector, [0.0] * lanes)
            sums = [[cgutils.alloca_once(builder, vector) for _ in offsets] for _ in range(GROUP)]
            with cgutils.for_range(builder, row_stop_, start=row_start_) as rows:
                row = rows.index
                start = load_index(indptr_array, signature.args[1], row)
                stop = load_index(indptr_array, signature.args[1], builder.add(row, ir.Constant(index, 1)))
                for group in sums:
                    for slot in group:
                        builder.store(zero, slot)
                n_groups = builder.sdiv(builder.sub(stop, start), ir.Constant(index, GROUP))
                grouped_stop = builder.add(start, builder.mul(n_groups, ir.Constant(index, GROUP)))
                with cgutils.for_range(builder, n_groups) as loop:
                    j = builder.add(start, builder.mul(loop.index, ir.Constant(index, GROUP)))
                    for g in range(GROUP):
                        values = src_vectors(builder.add(j, ir.Constant(index, g)))
                        for value, slot in zip(values, sums[g]):
                            builder.store(builder.fadd(builder.load(slot), value), slot)
                with cgutils.for_range(builder, stop, start=grouped_stop) as loop:
                    for value, slot in zip(src_vectors(loop.index), sums[0]):
                        builder.store(builder.fadd(builder.load(slot), value), slot)
                # Every total is formed before any is stored: an overlapping last
                # vector must read the output as it was.
                dst_row = builder.add(builder.mul(builder.sub(row, row_start_), dst_stride), column_)
                totals = []
                for v, offset in enumerate(offsets):
                    pair_a = builder.fadd(builder.load(sums[0][v]), builder.load(sums[1][v]))
                    pair_b = builder.fadd(builder.load(sums[2][v]), builder.load(sums[3][v]))
                    position = builder.add(dst_row, offset)
                    totals.append((position, builder.fadd(vectors.load(dst_array, position), builder.fadd(pair_a, pair_b))))
                for position, total in totals:
                    vectors.store(total, dst_array, position)
            return context.get_dummy_value()

        return types.none(dst, indptr, indices, row_start, row_stop, src, column, src_column, width), codegen

    return pattern_product_block


_pattern_product_1 = _pattern_product_of(1)
_pattern_product_2 = _pattern_product_of(2)
_pattern_product_3 = _pattern_product_of(3)
_pattern_product_4 = _pattern_product_of(4)


@kernel()
def block_width(n_columns, column, block, lanes):
    """Columns of the block that starts at ``column``: ``block`` of them, but never
    leaving a remainder narrower than a vector (``lanes``), which joins this block."""
    width = min(block, n_columns - column)
    rest = n_columns - column - width
    if 0 < rest < lanes:
        width = width - (lanes - rest) if width > lanes else width + rest
    return width


@kernel()
def add_pattern_product(dst, indptr, indices, row_start, row_stop, src, column, width):
    """dst[i, k] += sum of src[indices[j], k] over j in indptr[r]:indptr[r + 1], where
    r = row_start + i, for r in row_start:row_stop and k in column:column + width.

    dst : (row_stop - row_start, K) and src : (M, K), C-contiguous, one floating dtype;
    indptr, indices : 1-D integers (a CSR pattern whose columns index src's rows).  No
    bounds checks: the caller guarantees that every listed row and column exists.
    Computed by ``add_pattern_product_registers`` where the target uses the register
    kernels, else by ``add_pattern_product_loops``: the same additions in the same
    order, so the same result bit for bit.
    """
    if REGISTER_KERNELS:
        add_pattern_product_registers(dst, indptr, indices, row_start, row_stop, src, column, width)
    else:
        add_pattern_product_loops(dst, indptr, indices, row_start, row_stop, src, column, width)


@kernel(reassociate=False)  # Numba gives the intrinsic's additions this kernel's flags
def add_pattern_product_registers(dst, indptr, indices, row_start, row_stop, src, column, width):
    """``add_pattern_product`` with the sums in vector registers (blocks of columns of
    at least one vector; narrower ones by ``add_pattern_product_loops``)."""
    lanes = VECTOR_BYTES // dst.itemsize
    if width < lanes:
        add_pattern_product_loops(dst, indptr, indices, row_start, row_stop, src, column, width)
        return
    n_src = src.shape[0]
    vectors = SRC_BLOCK_BYTES // (VECTOR_BYTES * max(1, n_src))
    if vectors == 0:  # not even one vector's column fits: no block gains
        vectors = MAX_VECTORS
    vectors = min(vectors, MAX_VECTORS)
    # A block narrower than the columns is read from a packed copy of src: src's rows
    # lie K values apart, and rows a power of two apart share few cache sets.
    packed = width > vectors * lanes and n_src * VECTOR_BYTES <= SRC_BLOCK_BYTES
    buffer = empty(n_src * (vectors * lanes + lanes) if packed else 0, src.dtype)
    stop_column = column + width
    while column < stop_column:
        part = block_width(stop_column, column, vectors * lanes, lanes)
        block = src
        src_column = column
        if packed:
            block = buffer[: n_src * part].reshape((n_src, part))
            for m in range(n_src):
                for k in range(part):
                    block[m, k] = src[m, column + k]
            src_column = 0
        n_vectors = (part + lanes - 1) // lanes
        if n_vectors == 4:
            _pattern_product_4(dst, indptr, indices, row_start, row_stop, block, column, src_column, part)
        elif n_vectors == 3:
            _pattern_product_3(dst, indptr, indices, row_start, row_stop, block, column, src_column, part)
        elif n_vectors == 2:
            _pattern_product_2(dst, indptr, indices, row_start, row_stop, block, column, src_column, part)
        else:
            _pattern_product_1(dst, indptr, indices, row_start, row_stop, block, column, src_column, part)
        column += part


@kernel(reassociate=False)  # the additions in the order written, as the registers' sums
def add_pattern_product_loops(dst, indptr, indices, row_start, row_stop, src, column, width):
    """``add_pattern_product`` by plain loops, column by column: the same arguments, and
    the same additions in the same order and precision as the registers' sums.  Both
    are compiled without reassociation, which would let LLVM reorder them (Numba puts a
    kernel's fast-math flags on its intrinsics' instructions too): with it, columns
    summed here and the same columns summed in registers differed in the last bit."""
    zero = zeros(1, dst.dtype)[0]
    for row in range(row_start, row_stop):
        start = indptr[row]
        stop = indptr[row + 1]
        for k in range(column, column + width):
            s0 = s1 = s2 = s3 = zero
            j = start
            while j + GROUP <= stop:
                s0 += src[indices[j], k]
                s1 += src[indices[j + 1], k]
                s2 += src[indices[j + 2], k]
                s3 += src[indices[j + 3], k]
                j += GROUP
            while j < stop:
                s0 += src[indices[j], k]
                j += 1
            dst[row - row_start, k] += (s0 + s1) + (s2 + s3)
