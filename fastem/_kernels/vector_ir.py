"""The LLVM IR that fastem's register kernels (Numba intrinsics) share.

Each intrinsic works on vectors of BLOCK_BYTES (64 bytes: an AVX-512 register, which
LLVM splits where the machine's are narrower) of one float dtype.  ``Vectors`` emits
their index constants, splats, loads (masked ones too) and stores from array data, and fused
multiply-adds; ``as_index`` casts an integer argument to the int64 of the indexing.
"""

from llvmlite import ir
from numba import types
from numba.core import cgutils

from .transpose import BLOCK_BYTES

INDEX = ir.IntType(64)
INT32 = ir.IntType(32)


def as_index(context, builder, value, value_type):
    """An integer argument of an intrinsic as int64."""
    return context.cast(builder, value, value_type, types.int64)


class Vectors:
    """IR helpers for vectors of BLOCK_BYTES of ``dtype`` (a Numba float type)."""

    def __init__(self, context, builder, dtype):
        self.builder = builder
        self.itemsize = dtype.bitwidth // 8
        self.lanes = BLOCK_BYTES // self.itemsize
        self.type = ir.VectorType(context.get_data_type(dtype), self.lanes)
        self.int_type = ir.VectorType(INT32, self.lanes)
        self._fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(self.type, [self.type] * 3), f"llvm.fma.v{self.lanes}f{dtype.bitwidth}"
        )

    @staticmethod
    def index(value):
        """An int64 constant."""
        return ir.Constant(INDEX, value)

    def splat(self, value, vector_type=None):
        """A vector (of ``vector_type``, by default the float one) with ``value`` in every lane."""
        vector_type = self.type if vector_type is None else vector_type
        undefined = ir.Constant(vector_type, ir.Undefined)
        head = self.builder.insert_element(undefined, value, ir.Constant(INT32, 0))
        return self.builder.shuffle_vector(head, undefined, ir.Constant(self.int_type, [0] * self.lanes))

    def at(self, array, position, vector_type=None):
        """A pointer to the vector of ``array``'s data (a Numba array struct) from element ``position``."""
        vector_type = self.type if vector_type is None else vector_type
        return self.builder.bitcast(self.builder.gep(array.data, [position]), vector_type.as_pointer())

    def load(self, array, position, vector_type=None):
        """The vector at ``position``, aligned only to its elements."""
        return self.builder.load(self.at(array, position, vector_type), align=self.itemsize)

    def masked_load(self, array, position, mask):
        """The vector at ``position`` with the lanes where ``mask`` (a vector of i1) is
        false read as 0, from memory not touched."""
        pointer = self.at(array, position)
        mask_type = ir.VectorType(ir.IntType(1), self.lanes)
        function = cgutils.get_or_insert_function(
            self.builder.module,
            ir.FunctionType(self.type, [pointer.type, INT32, mask_type, self.type]),
            f"llvm.masked.load.v{self.lanes}f{8 * self.itemsize}.p0",
        )
        zero = ir.Constant(self.type, [0.0] * self.lanes)
        return self.builder.call(function, [pointer, ir.Constant(INT32, self.itemsize), mask, zero])

    def store(self, value, array, position, vector_type=None):
        self.builder.store(value, self.at(array, position, vector_type), align=self.itemsize)

    def fma(self, a, b, c):
        """a * b + c, rounded once."""
        return self.builder.call(self._fma, [a, b, c])
