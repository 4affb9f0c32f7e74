"""Work arrays for the kernels, allocated without a compiled function per signature.

In compiled code ``np.empty`` and ``np.zeros`` are Numba overloads: every distinct
(shape type, dtype) they are called with is compiled as a function of its own, with
its own typing, lowering and LLVM passes, though each only allocates.  The kernels
call them with some fifty signatures, and those compiles were a tenth of a first
fit's compile time.  ``empty``, ``zeros``, ``full`` and ``arange`` here are
intrinsics instead: their few instructions are written straight into the caller, with
NumPy's result (a new C-contiguous array) and its errors (a negative dimension raises
``ValueError``).  They lean on two internals of Numba's array module, present
from Numba 0.57 to 0.68 at least.
"""

from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from numba.np.arrayobj import _empty_nd_impl, _parse_shape


def _array_type(shape, dtype):
    """The C-contiguous array type of an allocation, or None where ``shape`` is not an
    integer or a tuple of integers, or ``dtype`` not a scalar class or an array's dtype."""
    if isinstance(shape, types.Integer):
        ndim = 1
    elif isinstance(shape, types.BaseTuple) and all(isinstance(size, types.Integer) for size in shape):
        ndim = len(shape)
    else:
        return None
    if isinstance(dtype, types.DType):  # an array's .dtype
        element = dtype.dtype
    elif isinstance(dtype, types.NumberClass):  # np.float64, np.int32, ...
        element = dtype.instance_type
    else:
        return None
    return types.Array(element, ndim, "C")


def _allocate(context, builder, array_type, shape_type, shape):
    shapes = _parse_shape(context, builder, shape_type, shape)
    return _empty_nd_impl(context, builder, array_type, shapes)


def _codegen(array_type, zero_fill):
    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, array_type, signature.args[0], args[0])
        if zero_fill:
            cgutils.memset(builder, array.data, builder.mul(array.itemsize, array.nitems), 0)
        return array._getvalue()

    return codegen


def _store_each(builder, array, value_of):
    """array's i-th element (flat) = value_of(i), for every i."""
    with cgutils.for_range(builder, array.nitems) as loop:
        builder.store(value_of(loop.index), builder.gep(array.data, [loop.index]))


@intrinsic
def empty(typingctx, shape, dtype):
    """``np.empty(shape, dtype)`` in compiled code: shape an integer or a tuple of
    integers, dtype a NumPy scalar type (``np.float64``) or an array's ``.dtype``."""
    array_type = _array_type(shape, dtype)
    if array_type is None:
        return None
    return array_type(shape, dtype), _codegen(array_type, zero_fill=False)


@intrinsic
def zeros(typingctx, shape, dtype):
    """``np.zeros(shape, dtype)`` in compiled code (shape and dtype as ``empty`` takes them)."""
    array_type = _array_type(shape, dtype)
    if array_type is None:
        return None
    return array_type(shape, dtype), _codegen(array_type, zero_fill=True)


@intrinsic
def full(typingctx, shape, fill_value, dtype):
    """``np.full(shape, fill_value, dtype)`` in compiled code (shape and dtype as
    ``empty`` takes them; fill_value a number, cast to dtype)."""
    array_type = _array_type(shape, dtype)
    if array_type is None or not isinstance(fill_value, types.Number):
        return None

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, array_type, signature.args[0], args[0])
        value = context.cast(builder, args[1], signature.args[1], array_type.dtype)
        _store_each(builder, array, lambda index: value)
        return array._getvalue()

    return array_type(shape, fill_value, dtype), codegen


@intrinsic
def arange(typingctx, stop):
    """``np.arange(stop)`` in compiled code: the int64 values 0, 1, ..., stop - 1."""
    if not isinstance(stop, types.Integer):
        return None
    array_type = types.Array(types.int64, 1, "C")

    def codegen(context, builder, signature, args):
        array = _allocate(context, builder, array_type, signature.args[0], args[0])
        _store_each(builder, array, lambda index: index)
        return array._getvalue()

    return array_type(stop), codegen
