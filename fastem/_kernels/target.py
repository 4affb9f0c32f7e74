"""The machine the kernels are compiled for, decided once: vector width, vector
registers, fused multiply-adds, and whether the register kernels are used.

Numba compiles for the CPU that ``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES`` name, or
else for the host (``numba.core.codegen``: the name from LLVM's host CPU, the features
from LLVM's host features, less AVX where ``NUMBA_ENABLE_AVX`` is off).  This module
takes the same (name, features).  Where the features name the flags that matter (the
host's list does) they decide; otherwise, as for a CPU name given without features
(``NUMBA_CPU_NAME=generic``: x86-64's baseline), LLVM is asked: a few lines of IR are
compiled for that target machine and the assembly is read.

Numba's on-disk cache is keyed by the CPU name and features, so constants derived here
at import time always match the cached code that was compiled with them.

Constants
---------
CPU_NAME, CPU_FEATURES : the target as Numba passes it to LLVM.
VECTOR_BYTES : bytes of one vector register: 64 (AVX-512F), 32 (AVX, AVX2) or 16
    (SSE2, NEON and anything else).
VECTOR_REGISTERS : vector registers the register kernels may plan with: 32 with AVX-512
    (zmm0-31) and on AArch64, 16 otherwise.
HAS_FMA : whether a fused multiply-add is one instruction (else ``llvm.fmuladd`` stays
    a multiply and an add).
REGISTER_KERNELS : whether the hand-written vector kernels (Numba intrinsics) are used;
    where not, each module's plain loop beside its intrinsic runs instead.
"""

import re

import llvmlite.binding as ll
from numba.core import codegen as _codegen
from numba.core import config

# A few lines of IR whose assembly shows the target's vector width and whether a
# fused multiply-add is an instruction or a call to libm's fmaf.  No pointers: LLVM 14
# (numba 0.57) spells them typed, later versions opaque.
_PROBE = """
define <16 x float> @fastem_probe_width(<16 x float> %v) {
  %w = fadd <16 x float> %v, %v
  ret <16 x float> %w
}

declare float @llvm.fma.f32(float, float, float)

define float @fastem_probe_fma(float %a, float %b, float %c) {
  %r = call float @llvm.fma.f32(float %a, float %b, float %c)
  ret float %r
}
"""


def compile_target():
    """(CPU name, CPU features) exactly as Numba's JIT codegen passes them to LLVM."""
    name = config.CPU_NAME if config.CPU_NAME is not None else ll.get_host_cpu_name()
    features = config.CPU_FEATURES if config.CPU_FEATURES is not None else _codegen.get_host_cpu_features()
    return name, features


def probe_assembly(cpu_name, features):
    """The assembly LLVM emits for ``_PROBE`` on (cpu_name, features) of this process's
    architecture."""
    _codegen.initialize_llvm()
    target = ll.Target.from_triple(ll.get_process_triple())
    machine = target.create_target_machine(cpu=cpu_name, features=features, opt=2)
    module = ll.parse_assembly(_PROBE)
    module.triple = machine.triple
    module.verify()
    return machine.emit_assembly(module)


def from_features(features):
    """(VECTOR_BYTES, VECTOR_REGISTERS, HAS_FMA) read from an x86 feature string that
    names avx512f, avx and fma each (Numba passes the host's full list), else None."""
    flags = {}
    for flag in features.split(","):
        if flag[:1] in "+-" and len(flag) > 1:
            flags[flag[1:]] = flag[0] == "+"
    if not {"avx512f", "avx", "fma"} <= flags.keys():
        return None
    if flags["avx512f"]:
        return 64, 32, flags["fma"]
    return (32 if flags["avx"] else 16), 16, flags["fma"]


def decide(assembly, triple):
    """(VECTOR_BYTES, VECTOR_REGISTERS, HAS_FMA) from the probe's assembly."""
    x86 = triple.startswith(("x86_64", "i386", "i686"))
    aarch64 = triple.startswith(("aarch64", "arm64"))
    if x86 and re.search(r"\bzmm\d", assembly):
        vector_bytes, registers = 64, 32
    elif x86 and re.search(r"\bymm\d", assembly):
        vector_bytes, registers = 32, 16
    else:
        vector_bytes, registers = 16, 32 if aarch64 else 16
    # A call to libm, direct or (large code model) through a register.
    calls_libm = re.search(r"\bfmaf\b", assembly) is not None
    return vector_bytes, registers, not calls_libm


def uses_register_kernels(vector_bytes, has_fma):
    """Whether the register kernels are used on a target with vectors of
    ``vector_bytes`` and (or without) FMA.  They paid on every target measured, x86-64's
    baseline too (SSE2, no FMA: CONTRIBUTING.md, "Targets"); a target without vector
    registers of at least 16 bytes runs the plain loops."""
    return vector_bytes >= 16


def target_of(cpu_name, features, triple):
    """(VECTOR_BYTES, VECTOR_REGISTERS, HAS_FMA) of a target: from its feature string
    where that names every flag that matters (no LLVM call, the usual case), else from
    the assembly LLVM emits for it."""
    if triple.startswith("x86_64"):
        decided = from_features(features)
        if decided is not None:
            return decided
    return decide(probe_assembly(cpu_name, features), triple)


CPU_NAME, CPU_FEATURES = compile_target()
VECTOR_BYTES, VECTOR_REGISTERS, HAS_FMA = target_of(CPU_NAME, CPU_FEATURES, ll.get_process_triple())
REGISTER_KERNELS = uses_register_kernels(VECTOR_BYTES, HAS_FMA)


def describe():
    """One line naming the target, for benchmark headers and bug reports."""
    return (
        f"{CPU_NAME}: {8 * VECTOR_BYTES}-bit vectors, {VECTOR_REGISTERS} registers, "
        f"{'' if HAS_FMA else 'no '}FMA, {'register kernels' if REGISTER_KERNELS else 'plain loops'}"
    )
