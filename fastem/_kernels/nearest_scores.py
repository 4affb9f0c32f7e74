"""The best and second-best float32 score of each row of a transposed tile.

``tile_scores`` is the inner loop of k-means' assignment step (``gaussian_nearest``):
``score[k, i] = bias[k] + centres[k] . xt[:, i]`` for every component k and row i,
reduced to each row's largest score, the first component that has it, and the largest
score of the other components.

Written as loops (``tile_scores_loops``, kept as the tests' reference and as the path
where the register kernels are not used), each score lives in a work array that every
pass over the features loads and stores again.  Here a Numba ``@intrinsic`` holds the
scores of ROW_VECTORS vectors of rows and COMPONENTS components in vector registers
across all the features, one multiply-add per feature, component and vector; only the
running best, runner-up and label are loaded and stored, once per group of components.
The block is sized to the target's registers (``target``): with the scores, the row
vectors loaded and the coefficient, it must fit without spilling.
"""

import numpy as np
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ._jit import kernel
from .arrays import empty
from .target import REGISTER_KERNELS, VECTOR_BYTES, VECTOR_REGISTERS
from .vector_ir import INT32, Vectors, as_index

# float32 lanes of one vector register.
LANES = VECTOR_BYTES // 4
# Components whose scores are held at once, and the row vectors that share each load
# of a centre's coefficient: COMPONENTS * ROW_VECTORS scores, ROW_VECTORS rows and a
# coefficient in registers (32 registers: 8 x 2; 16 registers: 6 x 2).
COMPONENTS, ROW_VECTORS = (8, 2) if VECTOR_REGISTERS >= 32 else (6, 2)
# Rows of one register block: the tile's row count must be a multiple of it.
BLOCK_ROWS = LANES * ROW_VECTORS


def _scores_of(n_group):
    """An intrinsic that folds components ``k ... k + n_group - 1`` into every row's
    (best, second, label)."""

    @intrinsic
    def fold_components(typingctx, xt, centres, bias, k, best, second, label):
        arrays = (xt, centres, bias, best, second, label)
        if not (
            all(isinstance(a, types.Array) and a.layout == "C" for a in arrays)
            and xt.ndim == 2 and centres.ndim == 2
            and all(a.dtype == types.float32 for a in arrays[:5])
            and label.dtype == types.int32
            and isinstance(k, types.Integer)
        ):
            return None

        def codegen(context, builder, signature, args):
            xt_array, centres_array, bias_array, _, best_array, second_array, label_array = (
                None if i == 3 else context.make_array(signature.args[i])(context, builder, args[i])
                for i in range(7)
            )
            vectors = Vectors(context, builder, types.float32)
            constant = vectors.index
            first = as_index(context, builder, args[3], signature.args[3])
            n_features, n_rows = cgutils.unpack_tuple(builder, xt_array.shape)
            centre_stride = cgutils.unpack_tuple(builder, centres_array.shape)[1]
            components = [builder.add(first, constant(g)) for g in range(n_group)]
            biases = [vectors.splat(builder.load(builder.gep(bias_array.data, [k_]))) for k_ in components]
            labels = [vectors.splat(builder.trunc(k_, INT32), vectors.int_type) for k_ in components]
            centre_rows = [builder.mul(k_, centre_stride) for k_ in components]
            scores = [[cgutils.alloca_once(builder, vectors.type) for _ in range(ROW_VECTORS)] for _ in components]
            n_blocks = builder.udiv(n_rows, constant(BLOCK_ROWS))
            with cgutils.for_range(builder, n_blocks) as blocks:
                block_start = builder.mul(blocks.index, constant(BLOCK_ROWS))
                for g in range(n_group):
                    for slot in scores[g]:
                        builder.store(biases[g], slot)
                with cgutils.for_range(builder, n_features) as features:
                    d = features.index
                    row_start = builder.add(builder.mul(d, n_rows), block_start)
                    xs = [vectors.load(xt_array, builder.add(row_start, constant(r * LANES))) for r in range(ROW_VECTORS)]
                    for g in range(n_group):
                        coefficient = builder.load(builder.gep(centres_array.data, [builder.add(centre_rows[g], d)]))
                        coefficient = vectors.splat(coefficient)
                        for x, slot in zip(xs, scores[g]):
                            builder.store(vectors.multiply_add(coefficient, x, builder.load(slot)), slot)
                for r in range(ROW_VECTORS):
                    position = builder.add(block_start, constant(r * LANES))
                    top = vectors.load(best_array, position)
                    runner_up = vectors.load(second_array, position)
                    chosen = vectors.load(label_array, position, vectors.int_type)
                    # In component order, strictly greater wins: ties go to the first.
                    # The runner-up is the larger of itself and min(top, score).
                    for g in range(n_group):
                        score = builder.load(scores[g][r])
                        lower = builder.select(builder.fcmp_ordered("<", score, top), score, top)
                        runner_up = builder.select(builder.fcmp_ordered(">", lower, runner_up), lower, runner_up)
                        wins = builder.fcmp_ordered(">", score, top)
                        chosen = builder.select(wins, labels[g], chosen)
                        top = builder.select(wins, score, top)
                    vectors.store(top, best_array, position)
                    vectors.store(runner_up, second_array, position)
                    vectors.store(chosen, label_array, position, vectors.int_type)
            return context.get_dummy_value()

        return types.none(xt, centres, bias, k, best, second, label), codegen

    return fold_components


# Components per call: COMPONENTS while they last, then four and two (K is padded to
# even; COMPONENTS is even).
_fold_group = _scores_of(COMPONENTS)
_fold_4 = _scores_of(4)
_fold_2 = _scores_of(2)


@kernel()
def tile_scores(xt, centres, bias, best, second, label):
    """label[i] = the first k of largest score[k, i] = bias[k] + centres[k] . xt[:, i],
    best[i] that score, second[i] the largest score of the other components (equal to
    best[i] on a tie).

    xt : (D, n) with n a multiple of BLOCK_ROWS; centres (K, D) with K even; bias (K,),
    -inf for padding components; best and second (n,): all float32, C-contiguous.
    label : (n,) int32.  No bounds checks: the shapes are the caller's to keep.

    Computed by ``tile_scores_registers`` where the target uses the register kernels,
    else by ``tile_scores_loops``.
    """
    if REGISTER_KERNELS:
        tile_scores_registers(xt, centres, bias, best, second, label)
    else:
        tile_scores_loops(xt, centres, bias, best, second, label)


@kernel()
def tile_scores_registers(xt, centres, bias, best, second, label):
    """``tile_scores`` with the scores held in vector registers."""
    best[:] = -np.inf
    second[:] = -np.inf
    label[:] = 0
    n_components = bias.shape[0]
    k = 0
    while k + COMPONENTS <= n_components:
        _fold_group(xt, centres, bias, k, best, second, label)
        k += COMPONENTS
    if k + 4 <= n_components:
        _fold_4(xt, centres, bias, k, best, second, label)
        k += 4
    if k + 2 <= n_components:
        _fold_2(xt, centres, bias, k, best, second, label)


@kernel()
def tile_scores_loops(xt, centres, bias, best, second, label):
    """``tile_scores_registers`` as loops over the tile's rows (the same arguments and
    results: each score is bias[k] plus the products in feature order, multiply-adds
    fused as the target fuses them; ties go to the first component)."""
    n_features, n_rows = xt.shape
    best[:] = -np.inf
    second[:] = -np.inf
    label[:] = 0
    score = empty(n_rows, np.float32)
    for k in range(bias.shape[0]):
        score[:] = bias[k]
        for d in range(n_features):
            coefficient = centres[k, d]
            for i in range(n_rows):
                score[i] += coefficient * xt[d, i]
        for i in range(n_rows):
            value = score[i]
            top = best[i]
            lower = value if value < top else top
            second[i] = lower if lower > second[i] else second[i]
            wins = value > top
            label[i] = k if wins else label[i]
            best[i] = value if wins else top
