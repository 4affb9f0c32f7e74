"""The LLVM IR that fastem's register kernels (Numba intrinsics) share.

Each intrinsic works on vectors of ``target.VECTOR_BYTES`` (one vector register of the
compile target) of one float dtype.  ``Vectors`` emits their index constants, splats,
loads (masked ones too) and stores from array data, and multiply-adds
(``llvm.fmuladd``: fused where the target has FMA, a multiply and an add where it has
not -- ``llvm.fma`` would be a libm call per lane there); ``as_index`` casts an integer
argument to the int64 of the indexing.  Intrinsics are declared through llvmlite
(``declare_intrinsic``), their names built from llvmlite's types.
"""

from llvmlite import ir
from numba import types

from .target import VECTOR_BYTES

INDEX = ir.IntType(64)
INT32 = ir.IntType(32)


def as_index(context, builder, value, value_type):
    """An integer argument of an intrinsic as int64."""
    return context.cast(builder, value, value_type, types.int64)


def type_suffix(llvm_type):
    """The suffix an overloaded LLVM intrinsic's name takes for ``llvm_type``: llvmlite's
    own for scalars (``f32``, ``i1``), ``v<lanes><element>`` for vectors (which llvmlite
    does not name), and ``p<address space>`` for pointers, as LLVM names them since its
    pointers are opaque (LLVM 15) whether or not llvmlite's IR layer writes them typed."""
    if isinstance(llvm_type, ir.VectorType):
        return f"v{llvm_type.count}{type_suffix(llvm_type.element)}"
    if isinstance(llvm_type, ir.PointerType):
        return f"p{llvm_type.addrspace}"
    return llvm_type.intrinsic_name


def declare_intrinsic(module, name, overloaded, function_type):
    """The declaration (made once per module, by llvmlite) of LLVM intrinsic ``name``
    (e.g. "llvm.fmuladd") overloaded on the types ``overloaded``."""
    full_name = ".".join([name] + [type_suffix(t) for t in overloaded])
    return module.declare_intrinsic(full_name, fnty=function_type)


class Vectors:
    """IR helpers for vectors of VECTOR_BYTES of ``dtype`` (a Numba float type)."""

    def __init__(self, context, builder, dtype):
        self.builder = builder
        self.itemsize = dtype.bitwidth // 8
        self.lanes = VECTOR_BYTES // self.itemsize
        self.type = ir.VectorType(context.get_data_type(dtype), self.lanes)
        self.int_type = ir.VectorType(INT32, self.lanes)
        self._multiply_add = declare_intrinsic(
            builder.module, "llvm.fmuladd", [self.type], ir.FunctionType(self.type, [self.type] * 3)
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
        function = declare_intrinsic(
            self.builder.module,
            "llvm.masked.load",
            [self.type, pointer.type],
            ir.FunctionType(self.type, [pointer.type, INT32, mask_type, self.type]),
        )
        zero = ir.Constant(self.type, [0.0] * self.lanes)
        return self.builder.call(function, [pointer, ir.Constant(INT32, self.itemsize), mask, zero])

    def store(self, value, array, position, vector_type=None):
        self.builder.store(value, self.at(array, position, vector_type), align=self.itemsize)

    def multiply_add(self, a, b, c):
        """a * b + c: rounded once where the target has FMA, twice where it has not."""
        return self.builder.call(self._multiply_add, [a, b, c])
