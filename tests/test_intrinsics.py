"""The register kernels (Numba intrinsics that write LLVM IR) against the plain Numba
loops beside them, and the target module that sizes them.

Each intrinsic and its loop take the same arguments; where they add in the same order
they agree bit for bit (pattern products, transposition), elsewhere within the rounding
of their dtype (sums formed in another order, or multiply-adds fused in one and not
the other).  Both run on every target, whichever of them the target selects.
"""

import numba
import numpy as np
import pytest
from llvmlite import ir
from numpy.testing import assert_allclose, assert_array_equal

from fastem._kernels import full_log_prob, nearest_scores, outer_moments, pattern_product, target, transpose
from fastem._kernels.vector_ir import declare_intrinsic, type_suffix

from conftest import call_compiled

DTYPES = [np.float32, np.float64]
IDS = ["float32", "float64"]


# -- the target -------------------------------------------------------------------------
def test_target_is_the_one_numba_compiles_for():
    from numba.core.registry import cpu_target

    _, cpu_name, features = cpu_target.target_context.codegen().magic_tuple()
    assert (target.CPU_NAME, target.CPU_FEATURES) == (cpu_name, features)
    assert target.VECTOR_BYTES in (16, 32, 64)
    assert target.VECTOR_REGISTERS in (16, 32)
    assert target.REGISTER_KERNELS == target.uses_register_kernels(target.VECTOR_BYTES, target.HAS_FMA)
    assert str(8 * target.VECTOR_BYTES) in target.describe()


def test_features_and_assembly_give_the_same_target():
    """The two ways of reading a target agree: the feature string (Numba's usual full
    list) and the assembly LLVM emits for it."""
    triple = numba.core.codegen.ll.get_process_triple()
    if not triple.startswith("x86_64"):
        pytest.skip("feature strings are read on x86-64 only")
    for cpu_name, features in [
        (target.CPU_NAME, target.CPU_FEATURES),
        ("generic", "+avx,+avx2,-avx512f,+fma"),
        ("generic", "-avx,-avx2,-avx512f,-fma"),
        ("generic", "+avx,+avx2,+avx512f,+fma"),
    ]:
        from_features = target.from_features(features)
        if from_features is None:
            continue
        assert target.decide(target.probe_assembly(cpu_name, features), triple) == from_features


@pytest.mark.parametrize(
    "features, expected",
    [
        ("+avx,+avx2,+avx512f,+fma,+sse2", (64, 32, True)),
        ("+avx,+avx2,-avx512f,+fma", (32, 16, True)),
        ("+avx,-avx2,-avx512f,-fma", (32, 16, False)),
        ("-avx,-avx512f,-fma,+sse2", (16, 16, False)),
        ("", None),  # the CPU name decides: the assembly is read
        ("+avx2,+fma", None),
    ],
)
def test_target_from_features(features, expected):
    assert target.from_features(features) == expected


def test_target_from_assembly():
    assert target.decide("vaddps %zmm0, %zmm0, %zmm0\nvfmadd213ss %xmm2, %xmm1, %xmm0", "x86_64") == (64, 32, True)
    assert target.decide("vaddps %ymm0, %ymm0, %ymm0\nvfmadd213ss %xmm2, %xmm1, %xmm0", "x86_64") == (32, 16, True)
    assert target.decide("addps %xmm1, %xmm1\nmovabsq $fmaf, %rax\njmpq *%rax", "x86_64") == (16, 16, False)
    assert target.decide("fadd v0.4s, v0.4s, v0.4s\nfmadd s0, s0, s1, s2", "aarch64") == (16, 32, True)


def test_register_kernels_are_selected_where_they_pay():
    assert target.uses_register_kernels(64, True) and target.uses_register_kernels(32, True)
    assert target.uses_register_kernels(16, False)  # x86-64's baseline (SSE2, no FMA): measured faster too
    assert not target.uses_register_kernels(8, False)


def test_intrinsic_names_come_from_llvmlite_types():
    module = ir.Module()
    vector = ir.VectorType(ir.FloatType(), 8)
    assert type_suffix(vector) == "v8f32"
    assert type_suffix(ir.VectorType(ir.DoubleType(), 4)) == "v4f64"
    assert type_suffix(vector.as_pointer()) == "p0"
    fmuladd = declare_intrinsic(module, "llvm.fmuladd", [vector], ir.FunctionType(vector, [vector] * 3))
    assert fmuladd.name == "llvm.fmuladd.v8f32"
    assert declare_intrinsic(module, "llvm.fmuladd", [vector], ir.FunctionType(vector, [vector] * 3)) is fmuladd
    mask = ir.VectorType(ir.IntType(1), 8)
    pointer = vector.as_pointer()
    masked = declare_intrinsic(
        module, "llvm.masked.load", [vector, pointer], ir.FunctionType(vector, [pointer, ir.IntType(32), mask, vector])
    )
    assert masked.name == "llvm.masked.load.v8f32.p0"


def test_multiply_adds_never_call_libm():
    """``llvm.fmuladd`` is a multiply and an add where the target has no FMA (the
    ``llvm.fma`` it replaced was a call to libm's fmaf per lane there)."""
    fold = nearest_scores._scores_of(4)

    @numba.njit(cache=False)
    def scores(xt, centres, bias, best, second, label):
        fold(xt, centres, bias, 0, best, second, label)

    n = nearest_scores.BLOCK_ROWS
    args = (
        np.ones((3, n), np.float32), np.ones((4, 3), np.float32), np.zeros(4, np.float32),
        np.full(n, -np.inf, np.float32), np.full(n, -np.inf, np.float32), np.zeros(n, np.int32),
    )
    scores(*args)
    assert_array_equal(args[3], 3.0)
    (assembly,) = scores.inspect_asm().values()
    assert "fmaf" not in assembly and "fma@" not in assembly


# -- k-means' scores ----------------------------------------------------------------------
@pytest.mark.parametrize("n_components", [2, 4, 6, 8, 14, 64])  # every group size, and leftovers
@pytest.mark.parametrize("n_features, n_blocks", [(1, 1), (5, 3), (36, 8)])
def test_tile_scores_registers_match_loops(n_components, n_features, n_blocks):
    rng = np.random.default_rng(10 * n_components + n_features)
    n_rows = n_blocks * nearest_scores.BLOCK_ROWS
    xt = rng.normal(size=(n_features, n_rows)).astype(np.float32)
    centres = rng.normal(size=(n_components, n_features)).astype(np.float32)
    bias = rng.normal(size=n_components).astype(np.float32)
    bias[-1] = -np.inf if n_components > 2 else bias[-1]  # a padding component
    results = {}
    for name in ("tile_scores_registers", "tile_scores_loops", "tile_scores"):
        best = np.full(n_rows, np.nan, np.float32)
        second = np.full(n_rows, np.nan, np.float32)
        label = np.full(n_rows, -1, np.int32)
        call_compiled(getattr(nearest_scores, name), xt, centres, bias, best, second, label)
        results[name] = best, second, label
    (best, second, label), (best_l, second_l, label_l) = results["tile_scores_registers"], results["tile_scores_loops"]
    # Sums of up to 36 float32 products of size ~1, in the same order, fused or not.
    assert_allclose(best, best_l, atol=2e-5)
    assert_allclose(second, second_l, atol=2e-5)
    clear = best_l - second_l > 1e-4
    assert clear.mean() > 0.5
    assert_array_equal(label[clear], label_l[clear])
    selected = "tile_scores_registers" if target.REGISTER_KERNELS else "tile_scores_loops"
    for a, b in zip(results["tile_scores"], results[selected]):
        assert_array_equal(a, b)


# -- full-covariance log-densities ------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("n_padded", [4, 12, 32, 36, 68])  # group leftovers of four
@pytest.mark.parametrize("n_vectors", [1, 2, 3, 5])  # leftover vectors of rows
def test_full_log_prob_registers_match_loops(dtype, n_padded, n_vectors):
    rng = np.random.default_rng(n_padded + n_vectors)
    lanes = target.VECTOR_BYTES // np.dtype(dtype).itemsize
    n_rows, n_components = n_vectors * lanes, 3
    xt = rng.normal(size=(n_padded, n_rows)).astype(dtype)
    means = rng.normal(size=(n_components, n_padded)).astype(dtype)
    factors = np.tril(rng.normal(size=(n_components, n_padded, n_padded)) / np.sqrt(n_padded)).astype(dtype)
    log_norm = rng.normal(size=n_components)
    registers = np.full((n_components, n_rows), np.nan, dtype)
    loops = np.full_like(registers, np.nan)

    call_compiled(full_log_prob.log_prob_t, xt, means, factors, log_norm, registers)
    call_compiled(full_log_prob.log_prob_t_loops, xt, means, factors, log_norm, loops)

    # Sums of n_padded squares (each a sum of up to n_padded products) in the same order:
    # they differ by the rounding of each step, a few units of the dtype's epsilon of
    # the sum of squares.
    eps = np.finfo(dtype).eps
    assert_allclose(registers, loops, rtol=0, atol=8 * n_padded * eps * np.abs(loops).max())


# -- moments of listed rows as outer products -------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("n_features", [1, 5, 16, 33, 40])
@pytest.mark.parametrize("count", [1, 63, 130])  # within one buffer, and over several
def test_deferred_moments_registers_match_loops(dtype, n_features, count):
    rng = np.random.default_rng(n_features + count)
    X = rng.normal(size=(300, n_features)).astype(dtype)
    start = 7
    rows = np.sort(rng.choice(280, size=count, replace=False)).astype(np.int32)
    weights = rng.uniform(0.1, 1.0, size=count).astype(dtype)
    mean = np.zeros(n_features + 8, dtype)
    mean[:n_features] = rng.normal(size=n_features)
    out = {}
    for name in ("deferred_moments_registers", "deferred_moments_loops", "deferred_moments"):
        buffers = call_compiled(outer_moments.outer_buffers, n_features, X)
        sx = np.full(n_features, 0.5)
        acc = np.full((n_features, n_features), 0.25)
        call_compiled(getattr(outer_moments, name), X, start, mean, rows, weights, count, *buffers, sx, acc)
        out[name] = sx, acc
    (sx, acc), (sx_l, acc_l) = out["deferred_moments_registers"], out["deferred_moments_loops"]
    upper = np.triu_indices(n_features)
    # Sums of up to 130 products of size ~1 in X's dtype, in another order.
    tolerance = 4 * count * np.finfo(dtype).eps * 4
    assert_allclose(sx, sx_l, rtol=0, atol=tolerance)
    assert_allclose(acc[upper], acc_l[upper], rtol=0, atol=tolerance * 4)
    assert_array_equal(np.tril(acc, -1), np.tril(acc_l, -1))  # the lower triangle is left alone
    selected = "deferred_moments_registers" if target.REGISTER_KERNELS else "deferred_moments_loops"
    assert_array_equal(out["deferred_moments"][0], out[selected][0])
    assert_array_equal(out["deferred_moments"][1], out[selected][1])


# -- pattern products -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
@pytest.mark.parametrize("n_columns", [3, 8, 9, 16, 33, 70])
@pytest.mark.parametrize("n_src", [50, 700])  # 700 rows: packed blocks of columns
def test_pattern_product_registers_match_loops_bitwise(dtype, n_columns, n_src):
    rng = np.random.default_rng(n_columns + n_src)
    src = rng.normal(size=(n_src, n_columns)).astype(dtype)
    counts = rng.integers(0, 24, 12)
    counts[0] = 23
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = rng.integers(0, n_src, indptr[-1]).astype(np.int32)
    for row_start, row_stop in [(0, 12), (4, 9)]:
        for column, width in [(0, n_columns), (1, n_columns - 1), (n_columns // 2, (n_columns + 1) // 2)]:
            dst = rng.normal(size=(row_stop - row_start, n_columns)).astype(dtype)
            out = {}
            for name in ("add_pattern_product_registers", "add_pattern_product_loops", "add_pattern_product"):
                out[name] = dst.copy()
                call_compiled(
                    getattr(pattern_product, name), out[name], indptr, indices, row_start, row_stop, src, column, width
                )
            assert_array_equal(out["add_pattern_product_registers"], out["add_pattern_product_loops"])
            assert_array_equal(out["add_pattern_product"], out["add_pattern_product_loops"])


# -- transposition ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=IDS)
def test_transpose_block_matches_loops_bitwise(dtype):
    lanes = transpose.BLOCK_BYTES // np.dtype(dtype).itemsize
    rng = np.random.default_rng(4)
    src = rng.normal(size=30 * lanes).astype(dtype)
    offsets = rng.choice(src.size - lanes, size=lanes, replace=False).astype(np.int64)
    registers = np.full(5 + 2 * lanes * lanes, -1.0, dtype=dtype)
    loops = registers.copy()

    numba.njit(lambda s, o, d: transpose.transpose_block(s, o, d, 5, 2 * lanes))(src, offsets, registers)
    call_compiled(transpose.transpose_block_loops, src, offsets, loops, 5, 2 * lanes)

    assert_array_equal(registers, loops)
    assert np.count_nonzero(loops != -1.0) == lanes * lanes


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_power_of_two_matches_its_plain_version(dtype):
    from numba import njit

    from fastem._kernels.weights import power_of_two, power_of_two_plain

    @njit
    def powers(exponents, out):
        for i in range(exponents.shape[0]):
            out[i] = power_of_two(exponents[i])

    exponents = np.arange(-64, 1).astype(dtype)
    out = np.empty_like(exponents)
    powers(exponents, out)
    expected = np.array([call_compiled(power_of_two_plain, e) for e in exponents]).astype(dtype)
    assert_array_equal(out, expected)  # exact: powers of two
    assert_array_equal(expected, np.ldexp(1.0, np.arange(-64, 1)).astype(dtype))
