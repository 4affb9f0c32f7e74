"""How one row of weighted log-densities becomes weights over components.

Soft weights are the posterior (log-sum-exp with a vectorisable exp), hard weights put
the row wholly on its best component, and sampled weights are the frequencies of
``n_draws`` component labels drawn from the posterior.  The draws come from a
counter-based generator whose stream is fixed per chunk of rows, so they do not depend
on the number of threads.
"""

import math

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic, overload

from ._jit import MODE_HARD, MODE_SAMPLE, add_in_order, kernel
from .arrays import empty, full

# A component whose weighted log-density is this far below a row's best has a
# posterior below 2**-53 (half an ulp of the best term's 1.0): its exp is skipped and its
# weight is 0, so the row's sum of exps is low by less than K * 2**-53 relative, and the
# component's moments for that tile need not be formed at all.
EXP_CUTOFF = 53 * np.log(2.0)

_LN2_HI = 6.93147180369123816490e-01  # ln 2 split so that n * _LN2_HI is exact
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e00
_EXP_TAYLOR = tuple(1.0 / math.factorial(n) for n in range(12, -1, -1))  # 1/12!, ..., 1/0!


@intrinsic
def power_of_two(typingctx, n):
    """2**n for a float n holding an integer of -64 ... 0, from its bits: n plus the
    exponent bias, shifted into the exponent field (compiled code only).  Vectorises
    to an integer add and shift, where the six factors picked by the bits of -n that
    it replaces cost the soft weights of 1M rows, K = 32, a quarter of their time."""
    if not isinstance(n, types.Float):
        return None

    def codegen(context, builder, signature, args):
        width = n.bitwidth
        integer = ir.IntType(width)
        mantissa, bias = (52, 1023) if width == 64 else (23, 127)
        biased = builder.add(builder.fptosi(args[0], integer), ir.Constant(integer, bias))
        return builder.bitcast(builder.shl(biased, ir.Constant(integer, mantissa)), context.get_value_type(n))

    return n(n), codegen


@kernel()
def power_of_two_plain(n):
    """``power_of_two`` in plain code (the tests' reference): 2**n as a float64, exact
    for every n it takes (in float32 too)."""
    return math.ldexp(1.0, int(n))


@kernel(reassociate=False)
def exp_nonpositive(x):
    """exp(x) for -EXP_CUTOFF < x <= 0, within 2 ulp (3 on a target without FMA),
    in plain arithmetic.

    Numba has no vector exp, and a libm call per element keeps the loop scalar; this
    version inlines and vectorises.  x = n ln2 + r with |r| <= ln2 / 2; exp(r) by its
    Taylor series to r**12 (truncation below 2e-16); 2**n by ``power_of_two`` (n is
    clamped at -64, so that the select of a cut-off term, which computes this too, never
    converts an infinity).  Compiled without reassociation, which would undo the range
    reduction.
    """
    n = np.floor(x * _INV_LN2 + 0.5)
    n = n if n > -64.0 else -64.0
    r = (x - n * _LN2_HI) - n * _LN2_LO
    p = _EXP_TAYLOR[0]
    for c in _EXP_TAYLOR[1:]:
        p = p * r + c
    return p * power_of_two(n)


# float32: ln 2 split as in Cephes' expf (n * _LN2_HI_F32 is exact for |n| < 2**15).
_LN2_HI_F32 = np.float32(0.693359375)
_LN2_LO_F32 = np.float32(-2.12194440e-4)
_INV_LN2_F32 = np.float32(1.44269504)
_HALF_F32 = np.float32(0.5)
_MIN_EXPONENT_F32 = np.float32(-64.0)
_EXP_TAYLOR_F32 = tuple(np.float32(1.0 / math.factorial(n)) for n in range(7, -1, -1))  # 1/7!, ..., 1


@kernel(reassociate=False)
def exp_nonpositive_f32(x):
    """float32 ``exp_nonpositive``: the same reduction in float32 arithmetic, Taylor
    series to r**7 (truncation below 6e-9), within 2 float32 ulp; twice the lanes of
    the float64 version."""
    n = np.floor(x * _INV_LN2_F32 + _HALF_F32)
    n = n if n > _MIN_EXPONENT_F32 else _MIN_EXPONENT_F32
    r = (x - n * _LN2_HI_F32) - n * _LN2_LO_F32
    p = _EXP_TAYLOR_F32[0]
    for c in _EXP_TAYLOR_F32[1:]:
        p = p * r + c
    return p * power_of_two(n)


def exp_gap(x):
    """exp(x) for -EXP_CUTOFF < x <= 0 in x's own precision (compiled code only):
    ``exp_nonpositive_f32`` for float32, ``exp_nonpositive`` otherwise."""
    raise NotImplementedError("exp_gap runs in compiled code only")


@overload(exp_gap)
def _exp_gap(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        return lambda x: exp_nonpositive_f32(x)
    return lambda x: exp_nonpositive(x)


# log(t) for t in [sqrt(1/2), sqrt(2)] as 2 s (1 + s^2/3 + s^4/5 + ...), s = (t - 1) / (t + 1),
# |s| <= 0.1716: to s^18 (float64: the first term left out is below 2.3e-17 relative)
# or s^8 (float32: below 2e-9).  Coefficients from the highest power down.
_LOG_SERIES = tuple(1.0 / (2 * n + 1) for n in range(9, -1, -1))
_LOG_SERIES_F32 = tuple(np.float32(1.0 / (2 * n + 1)) for n in range(4, -1, -1))
_SQRT_2 = math.sqrt(2.0)


def log_total(x):
    """log(x) for x = 0 (-inf) or 1 <= x < 2**64, in x's own precision, in plain
    arithmetic that vectorises (compiled code only).  Such an x is a row's sum of exps
    relative to its best term, whose own exp is exactly 1.  Within 3 ulp (measured;
    the largest errors just above 1).  A libm log per row was scalar: 4 ms of the soft
    weights of 1M rows, K = 8 (one thread), now 1.1 ms."""
    raise NotImplementedError("log_total runs in compiled code only")


@overload(log_total)
def _log_total(x):
    if isinstance(x, types.Float) and x.bitwidth == 32:
        series, ln2_hi, ln2_lo, f = _LOG_SERIES_F32, _LN2_HI_F32, _LN2_LO_F32, np.float32
    else:
        series, ln2_hi, ln2_lo, f = _LOG_SERIES, _LN2_HI, _LN2_LO, np.float64
    one, half, sqrt_2, minus_inf = f(1.0), f(0.5), f(_SQRT_2), f(-np.inf)
    # x = 2**e t with t in [1, 2), e from its bits by halving steps (selects, no bit
    # casts), then t in [sqrt(1/2), sqrt(2)].
    steps = tuple((f(2.0**bit), f(2.0**-bit), f(bit)) for bit in (32, 16, 8, 4, 2, 1))

    def impl(x):
        t = x
        e = f(0.0)
        for step in steps:
            if t >= step[0]:
                t *= step[1]
                e += step[2]
        if t > sqrt_2:
            t *= half
            e += one
        s = (t - one) / (t + one)  # t - 1 is exact
        z = s * s
        p = series[0]
        for c in series[1:]:
            p = p * z + c
        log_t = (s + s) * p
        return (e * ln2_hi + (e * ln2_lo + log_t)) if x > 0.0 else minus_inf

    return impl


@kernel(no_nan=True)
def best_component(logp):
    """Index of the largest entry of a row (the first one on ties).

    Two vectorised passes, the largest value and then the smallest index holding it,
    instead of one scalar scan with a branch per entry (3x faster at K = 64).  Log-
    densities are never NaN (-inf at worst), which the max reduction relies on; should
    one be, the index is still in range.
    """
    n_components = logp.shape[0]
    top = logp[0]
    for k in range(1, n_components):
        v = logp[k]
        top = v if v > top else top
    best = n_components
    for k in range(n_components):
        candidate = k if logp[k] == top else n_components
        best = candidate if candidate < best else best
    return best if best < n_components else 0


@kernel()
def normalise_row(logp, mode):
    """Turn one row of weighted log-densities into weights over components, in place.

    Returns the row's log-likelihood: log-sum-exp for soft weights, the largest term for
    hard ones (the classification log-likelihood).
    """
    n_components = logp.shape[0]
    best = best_component(logp)
    top = logp[best]
    if mode == MODE_HARD or top == -np.inf:
        for k in range(n_components):
            logp[k] = 0.0
        if top > -np.inf:
            logp[best] = 1.0
        return top
    total = 0.0
    for k in range(n_components):
        gap = logp[k] - top
        logp[k] = exp_nonpositive(gap) if gap > -EXP_CUTOFF else 0.0
        total += logp[k]
    inv = 1.0 / total
    for k in range(n_components):
        logp[k] *= inv
    return top + log_total(total)


@kernel()
def soft_weights_tile(logp_t, top, total, resp_t, log_prob, w):
    """Soft weights of a whole tile at once, from log-densities held components by rows:
    posteriors in ``resp_t`` (K, n), times the rows' weights ``w`` (n,) float64, and
    each row's log p(x) in ``log_prob`` (n,) float64.  For the posteriors themselves
    ``w`` is ones: a product by 1 is exact, and one compiled signature serves both
    uses where an optional ``w`` compiled two.  Every loop runs over the tile's rows,
    so each vectorises (``normalise_row`` does one row at a time,
    along components).  The weights join the rows' scales (w / sum of exps, in the
    log-densities' dtype), not a pass of their own: in float32 a product with float64
    weights converted every value there and back.

    Terms more than EXP_CUTOFF below a row's best are 0, as in ``normalise_row``; a row
    with no finite log-density gets weights 0 and log p = -inf.  ``top`` and ``total``
    (n,) are work arrays; all but ``log_prob`` and ``w`` in the log-densities' dtype,
    whose precision the exps use (float32: twice the lanes).
    """
    n_components, n_rows = logp_t.shape
    cutoff = logp_t.dtype.type(-EXP_CUTOFF)
    zero = logp_t.dtype.type(0.0)
    one = logp_t.dtype.type(1.0)
    for i in range(n_rows):  # (a loop: a slice copy compiles a broadcast check)
        top[i] = logp_t[0, i]
    for k in range(1, n_components):
        for i in range(n_rows):
            v = logp_t[k, i]
            top[i] = v if v > top[i] else top[i]
    total[:] = zero
    for k in range(n_components):
        for i in range(n_rows):
            gap = logp_t[k, i] - top[i]
            e = exp_gap(gap) if gap > cutoff else zero
            resp_t[k, i] = e
            total[i] += e
    for i in range(n_rows):
        log_prob[i] = np.float64(top[i]) + np.float64(log_total(total[i]))
        total[i] = type(one)(w[i]) / total[i] if total[i] > zero else zero  # now the row's scale
    for k in range(n_components):
        for i in range(n_rows):
            resp_t[k, i] *= total[i]


@kernel()
def tile_row_weights(sample_weight, tile_start, n_used, w, weight):
    """Fill ``w`` (n,) with the sample weights of a tile's rows (1 when
    ``sample_weight`` is empty; 0 for padding rows past ``n_used``); returns ``weight``
    plus theirs, added row by row."""
    weighted = sample_weight.shape[0] > 0
    for i in range(w.shape[0]):
        w[i] = 0.0 if i >= n_used else (sample_weight[tile_start + i] if weighted else 1.0)
    return add_in_order(weight, w, n_used)


@kernel()
def tile_weight_buffers(n_components, n_rows, X):
    """Work arrays of ``tile_weights`` and ``tile_posterior`` for tiles of ``n_rows``:
    (weights_t (K, n), top (n,), total (n,)) in X's dtype, (log_prob (n,), row (K,),
    ones (n,): the unit weights ``soft_weights_tile`` takes for plain posteriors)
    float64."""
    dtype = X.dtype
    return (
        empty((n_components, n_rows), dtype),
        empty(n_rows, dtype),
        empty(n_rows, dtype),
        empty(n_rows, np.float64),
        empty(n_components, np.float64),
        full(n_rows, 1.0, np.float64),
    )


@kernel()
def tile_weights(loglik, logp_t, w, n_used, mode, n_draws, state, top, total, log_prob, row, ones, nk, weights_t):
    """Soft or sampled weights of a tile, times the rows' sample weights, in
    ``weights_t`` (K, n) (padding rows past ``n_used`` get 0); returns ``loglik`` plus
    the tile's w_i log p(x_i), added row by row (as a row-by-row kernel adds them).

    Sampled weights are drawn row by row from the soft ones, so both modes report the
    same log-likelihood, bit for bit; their nk (draw frequencies times whole sample
    weights) is added to ``nk`` here from float64 values, exactly, while soft weights
    leave ``nk`` to the caller.  ``w``, ``log_prob`` and ``ones`` (n,) (the last all 1) and
    ``row`` (K,) are float64; the other arrays are in the log-densities' dtype.
    """
    n_components = logp_t.shape[0]
    if mode == MODE_SAMPLE:  # drawn from the posterior itself
        soft_weights_tile(logp_t, top, total, weights_t, log_prob, ones)
    else:  # padding rows have w = 0
        soft_weights_tile(logp_t, top, total, weights_t, log_prob, w)
    for i in range(n_used):
        log_prob[i] = w[i] * log_prob[i] if w[i] != 0.0 else 0.0
    loglik = add_in_order(loglik, log_prob, n_used)
    if mode == MODE_SAMPLE:
        for i in range(n_used):
            for k in range(n_components):
                row[k] = weights_t[k, i]
            draw_row(row, n_draws, state)
            for k in range(n_components):
                weights_t[k, i] = w[i] * row[k]
                nk[k] += w[i] * row[k]
        weights_t[:, n_used:] = 0.0  # padding rows drew nothing
    return loglik


@kernel()
def mask_known_labels(logp_t, known_labels, tile_start, n_used):
    """Put each labelled row of a tile wholly on its known component: its other
    components' weighted log-densities in ``logp_t`` (K, n) become -inf.

    Every weight mode then follows the label with no change of its own: the soft
    weight is the label's indicator, the hard argmax and the draws pick it, and the
    row's log-likelihood term is the complete-data one, log pi_k + log p(x | k).
    ``known_labels`` (int64) holds a component per row of the data, counted from the
    kernel's first row (-1: unknown; row ``tile_start + i`` is the tile's column i), or
    nothing, when there are no labels (a no-op: one compiled signature serves both).
    """
    if known_labels.shape[0] == 0:
        return
    minus_inf = logp_t.dtype.type(-np.inf)
    for i in range(n_used):
        label = known_labels[tile_start + i]
        if label < 0:
            continue
        for k in range(logp_t.shape[0]):
            if k != label:
                logp_t[k, i] = minus_inf


@kernel()
def tile_posterior(
    logp_t, n_used, first, top, total, weights_t, log_prob, row, ones, out_resp, out_log_prob, out_label,
    out_weighted_log_prob,
):
    """Per-row outputs of a tile's first ``n_used`` rows, whose log-densities are held
    components by rows, written from row ``first`` on: the weighted log-densities
    themselves (as float64), the best component, and the posterior and log p(x) from
    ``soft_weights_tile`` (so they equal the weights an E-step forms); each output is
    filled only when its length is not zero."""
    n_components = logp_t.shape[0]
    if out_weighted_log_prob.shape[0] > 0:
        for i in range(n_used):
            for k in range(n_components):
                out_weighted_log_prob[first + i, k] = logp_t[k, i]
    if out_label.shape[0] > 0:
        for i in range(n_used):
            for k in range(n_components):
                row[k] = logp_t[k, i]
            out_label[first + i] = best_component(row)
    if out_resp.shape[0] == 0 and out_log_prob.shape[0] == 0:
        return
    soft_weights_tile(logp_t, top, total, weights_t, log_prob, ones)
    for i in range(n_used):
        if out_log_prob.shape[0] > 0:
            out_log_prob[first + i] = log_prob[i]
        if out_resp.shape[0] > 0:
            for k in range(n_components):
                out_resp[first + i, k] = weights_t[k, i]


# splitmix64 (Steele, Lea & Flood 2014): a Weyl sequence passed through a 64-bit mixer.
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_SHIFT_1 = np.uint64(30)
_SHIFT_2 = np.uint64(27)
_SHIFT_3 = np.uint64(31)
_MANTISSA_SHIFT = np.uint64(11)
_INV_2_53 = 2.0**-53

# Draws of one binomial inversion: (1 - p)**n stays a normal number for p <= 1/2.
_BINOMIAL_BLOCK = 512


@kernel()
def mix64(z):
    """The splitmix64 finaliser: a bijection of uint64 that scatters nearby inputs."""
    z = (z ^ (z >> _SHIFT_1)) * _MIX_1
    z = (z ^ (z >> _SHIFT_2)) * _MIX_2
    return z ^ (z >> _SHIFT_3)


@kernel()
def stream_start(seed, first_row):
    """Generator state under ``seed`` for the chunk of rows that starts at row
    ``first_row`` of the data set (both non-negative ints)."""
    return mix64(mix64(np.uint64(seed)) + np.uint64(first_row) * _GOLDEN)


@kernel()
def next_uniform(state):
    """Advance ``state`` (a uint64 array of length 1); return a uniform in [0, 1)."""
    state[0] += _GOLDEN
    return np.float64(mix64(state[0]) >> _MANTISSA_SHIFT) * _INV_2_53


@kernel()
def binomial(n, p, state):
    """An exact Binomial(n, p) draw by inversion of the CDF, for 0 < p < 1.

    The search starts at 0 successes of the rarer outcome, so it takes about
    ``n * min(p, 1 - p) + 1`` steps; n is split into blocks so that the probability of
    0 successes never underflows.
    """
    rare = min(p, 1.0 - p)
    odds = rare / (1.0 - rare)
    successes = 0
    left = n
    while left > 0:
        block = min(left, _BINOMIAL_BLOCK)
        term = (1.0 - rare) ** block  # P(0 successes in the block)
        u = next_uniform(state)
        x = 0
        while u > term and x < block:
            u -= term
            term *= (block - x) / (x + 1.0) * odds
            x += 1
        successes += x
        left -= block
    return successes if rare == p else n - successes


@kernel()
def draw_row(weights, n_draws, state):
    """Replace a row of posterior weights by the frequencies of ``n_draws`` labels drawn
    from it (a multinomial draw, taken as a chain of conditional binomials)."""
    n_components = weights.shape[0]
    last = -1
    for k in range(n_components):
        if weights[k] > 0.0:
            last = k
    remaining = n_draws
    mass = 1.0  # posterior mass of components k and after
    inv_draws = 1.0 / n_draws
    for k in range(n_components):
        r = weights[k]
        if remaining == 0 or r == 0.0:
            weights[k] = 0.0
            continue
        if k == last or r >= mass:
            count = remaining
        else:
            count = binomial(remaining, r / mass, state)
        mass -= r
        remaining -= count
        weights[k] = count * inv_draws


@kernel()
def hard_row(logp, w, row):
    """Where a row goes under hard weights: (label, its term of the classification
    log-likelihood, its assignment hash).  The label is -1 and the hash 0 when the row
    goes nowhere (weight 0, or no component with a finite density)."""
    label = best_component(logp)
    term = logp[label]
    label, row_hash = hard_assignment(label, term, w, row, logp.shape[0])
    return label, term, row_hash


@kernel()
def hard_assignment(label, term, w, row, n_components):
    """(label, hash) of row ``row`` assigned to ``label`` with its best term ``term``:
    (-1, 0) when it goes nowhere (weight 0, or no component with a finite density)."""
    if w > 0.0 and term > -np.inf:
        return label, mix64(np.uint64(row * n_components + label))
    return -1, np.uint64(0)


@kernel()
def weigh_row(logp, mode, n_draws, state):
    """Turn one row of weighted log-densities into weights (soft, hard or sampled), in
    place; returns the row's log-likelihood (the largest term for hard weights)."""
    loglik = normalise_row(logp, mode)
    if mode == MODE_SAMPLE:
        draw_row(logp, n_draws, state)
    return loglik
