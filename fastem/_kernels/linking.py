"""How compiled-only kernels are compiled: as code to be linked, never to be run alone.

Numba turns every compiled function into machine code of its own, then links its LLVM
module into each caller, where it is inlined and turned into machine code again.  A
compiled-only kernel (``_jit.CompiledOnly``) only ever runs inside its callers, so its
own machine code is never executed.  ``LinkOnlyCompiler`` compiles such a kernel into a
``LinkOnlyLibrary``: the same optimised LLVM module, which callers link exactly as
before (so their machine code is unchanged), but nothing is handed to the JIT engine.
On disk the kernel is cached as that module's bitcode.

This leans on internals of Numba's code libraries.  Where a Numba version lacks one of
them, ``PIPELINE`` is Numba's own compiler: first runs are then slower, never wrong.
"""

from numba import _dynfunc
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import Compiler


class LinkOnlyLibrary(JITCodeLibrary):
    """A code library whose module is optimised as usual and then only linked into
    other libraries: it is never added to the JIT engine."""

    def _finalize_final_module(self):
        # Numba's own version adds the module to the engine, which then emits machine
        # code for it at the next finalisation; the bookkeeping before that stays.
        self._finalize_dynamic_globals()
        self._verify_declare_only_symbols()
        self._finalized = True

    def serialize_using_object_code(self):
        # There is no object code; the linkable module is what a caller needs.  Loaded
        # back, Numba makes it an ordinary library (machine code included): that
        # happens only where a later process compiles a new caller.
        return (self.name, "bitcode", self._get_module_for_linking().as_bitcode())


def _executable_without_code(library, fndesc, env):
    """The entry point Numba records for a compiled-only kernel: a function object
    with no code behind it (a Python call is refused before it, by ``CompiledOnly``),
    and no environment to set, since no module of this library is loaded."""
    return _dynfunc.make_function(
        fndesc.lookup_module(), fndesc.qualname.split(".")[-1],
        f"compiled-only kernel {fndesc.qualname}", 0, env, (library,),
    )


class LinkOnlyCompiler(Compiler):
    """Numba's standard pipeline, lowering into a ``LinkOnlyLibrary``."""

    def __init__(self, typingctx, targetctx, library, args, return_type, flags, locals):
        super().__init__(typingctx, targetctx, library, args, return_type, flags, locals)
        self.state.targetctx = self.state.targetctx.subtarget(get_executable=_executable_without_code)

    def compile_extra(self, func):
        if self.state.library is None:
            codegen = self.state.targetctx.codegen()
            self.state.library = LinkOnlyLibrary(codegen, func.__qualname__)
        return super().compile_extra(func)


# The code-library methods that LinkOnlyLibrary overrides or calls (Numba 0.57-0.68).
# (Numba's own get_pointer_to_function already answers 0 for it: no module in the engine.)
LIBRARY_HOOKS = (
    "_finalize_final_module", "_finalize_dynamic_globals", "_verify_declare_only_symbols",
    "_get_module_for_linking", "serialize_using_object_code",
)


def pipeline_for(library_class):
    """``LinkOnlyCompiler`` where ``library_class`` (Numba's JIT code library) has every
    method in LIBRARY_HOOKS, else Numba's standard ``Compiler``."""
    if all(callable(getattr(library_class, name, None)) for name in LIBRARY_HOOKS):
        return LinkOnlyCompiler
    return Compiler


# The pipeline ``_jit.kernel`` compiles compiled-only kernels with.
PIPELINE = pipeline_for(JITCodeLibrary)
