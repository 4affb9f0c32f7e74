"""Sampled (Monte-Carlo) and hard E-step modes of the Gaussian kernel against plain Python.

The random draws are reimplemented here from their specification, in plain Python with
integers masked to 64 bits: splitmix64 (``mix64``, the per-chunk ``stream_start`` and
``next_uniform``), the inversion binomial sampler (blocks of at most 512 trials, the same
floating-point operations in the same order) and the multinomial row draw as a chain of
conditional binomials.  The MODE_SAMPLE statistics are then rebuilt row by row in chunk
order and compared with the kernel; the hard-mode fingerprint is rebuilt from the
reference labels.

Every tolerance below was measured (x86-64, 2 threads, numba 0.68, numpy 2.4) on this
file's data and, where it says so, on 40 other seeds of the same problems.
"""

import math

import numba
import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fastem._kernels._jit import CHUNK_ROWS, MODE_HARD, MODE_SAMPLE, MODE_SOFT
from fastem._kernels.weights import binomial, draw_row, mix64, next_uniform, stream_start
from fastem._families.gaussian import GaussianFamily, GaussianParams

import reference
from conftest import assert_relative_close, call_compiled, make_problem, make_sample_weight, n_threads

# "full-padded" has a number of features that the full-covariance kernel pads.
COVARIANCE_TYPES = ["full", "full-padded", "diag"]
PADDED_FEATURES = 35
DTYPES = [np.float32, np.float64]
REG_COVAR = 1e-6

# Small data over three chunks (the last one partial): 2500 rows, D = 2, K = 3.
N_SAMPLES, N_FEATURES, N_COMPONENTS = 2 * CHUNK_ROWS + 452, 2, 3
DATA_SEED = 7
DRAW_SEED = 1234

# Kernel vs reference for moments computed from the same weights (as in test_kernels.py:
# float32 densities and moments are formed in float32).  Measured on this data for the
# sampled statistics: float32 sx 2.4e-07, sxx 1.4e-08; float64 sx 1.8e-15, sxx 1.7e-15.
RTOL = {np.float32: 1e-5, np.float64: 5e-14}

needs_two_threads = pytest.mark.skipif(
    numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads"
)


# -- plain-Python reference of the generator and the samplers -----------------------------
MASK64 = 2**64 - 1
GOLDEN = 0x9E3779B97F4A7C15
BLOCK = 512
# A component whose weighted log-density is more than 53 ln 2 below the row's best gets
# weight 0 (fastem/_kernels/weights.py); the draws are taken from those weights, so a
# tiny positive weight here would call one more binomial and shift the stream.
CUTOFF = 53 * math.log(2.0)


def py_mix64(z):
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def py_stream_start(seed, chunk):
    return py_mix64(py_mix64(seed) + chunk * GOLDEN)


class PyStream:
    """A splitmix64 stream: the state advances by the golden gamma, then is mixed."""

    def __init__(self, state):
        self.state = state

    def uniform(self):
        self.state = (self.state + GOLDEN) & MASK64
        return float(py_mix64(self.state) >> 11) * 2.0**-53


def py_power(a, n):
    """``a ** n`` for an integer ``n`` as Numba computes it: by repeated squaring."""
    result = 1.0
    while n:
        if n & 1:
            result *= a
        n >>= 1
        a *= a
    return result


def py_binomial(n, p, stream):
    """Binomial(n, p) by inversion over blocks of at most 512 trials, counting the rarer
    outcome (one uniform per block)."""
    rare = min(p, 1.0 - p)
    odds = rare / (1.0 - rare)
    successes = 0
    left = n
    while left > 0:
        block = min(left, BLOCK)
        term = py_power(1.0 - rare, block)
        u = stream.uniform()
        x = 0
        while u > term and x < block:
            u -= term
            term *= (block - x) / (x + 1.0) * odds
            x += 1
        successes += x
        left -= block
    return successes if rare == p else n - successes


def py_draw_row(weights, n_draws, stream):
    """Counts of ``n_draws`` labels drawn from ``weights``: component k takes a
    Binomial(remaining, w_k / mass of k and after); the last positive one (or one whose
    weight reaches the remaining mass) takes what is left."""
    positive = [k for k, w in enumerate(weights) if w > 0.0]
    last = positive[-1] if positive else -1
    counts = [0] * len(weights)
    remaining = n_draws
    mass = 1.0
    for k, w in enumerate(weights):
        w = float(w)
        if remaining == 0 or w == 0.0:
            continue
        if k == last or w >= mass:
            count = remaining
        else:
            count = py_binomial(remaining, w / mass, stream)
        mass -= w
        remaining -= count
        counts[k] = count
    return counts


def reference_counts(resp, seed, n_draws):
    """(N, K) int64 label counts per row: the chunk starting at row r draws from
    ``stream_start(seed, r)``, its rows in order."""
    n_rows = resp.shape[0]
    counts = np.zeros(resp.shape, dtype=np.int64)
    for chunk in range((n_rows + CHUNK_ROWS - 1) // CHUNK_ROWS):
        stream = PyStream(py_stream_start(seed, chunk * CHUNK_ROWS))
        for row in range(chunk * CHUNK_ROWS, min(n_rows, (chunk + 1) * CHUNK_ROWS)):
            counts[row] = py_draw_row(resp[row], n_draws, stream)
    return counts


def reference_resp(X, params):
    """Posterior from the reference's log-densities (own log-sum-exp), with weights of
    components more than CUTOFF below the row's best set to 0."""
    wlp = reference.weighted_log_prob(X, params.weights, params.means, params.precisions_cholesky)
    gap = wlp - wlp.max(axis=1, keepdims=True)
    resp = np.where(gap > -CUTOFF, np.exp(np.maximum(gap, -CUTOFF)), 0.0)
    return resp / resp.sum(axis=1, keepdims=True)


def reference_fingerprint(labels, n_components, sample_weight=None):
    """Sum over rows n of positive weight, modulo 2**64, of mix64(n * K + label_n)
    (global row indices)."""
    hashes = (
        py_mix64(row * n_components + int(label))
        for row, label in enumerate(labels)
        if sample_weight is None or sample_weight[row] > 0
    )
    return sum(hashes) & MASK64


def covariance_of(kernel_name):
    return kernel_name.removesuffix("-padded")


def problem(kernel_name, dtype, n_samples=N_SAMPLES, seed=DATA_SEED):
    n_features = PADDED_FEATURES if kernel_name.endswith("-padded") else N_FEATURES
    covariance_type = covariance_of(kernel_name)
    # Means spread as far apart as with N_FEATURES, so that posteriors still overlap.
    spread = 2.0 * math.sqrt(N_FEATURES / n_features)
    X, params = make_problem(seed, n_samples, n_features, N_COMPONENTS, covariance_type, dtype,
                             mean_spread=spread)
    return X, params, GaussianFamily(covariance_type, REG_COVAR)


def uint64_state(value):
    return np.array([value], dtype=np.uint64)


# -- the generator and the samplers in isolation --------------------------------------------
def test_generator_matches_python_splitmix64():
    for z in [0, 1, 2, 2**32 - 1, 2**63, 2**64 - 1, 0x0123456789ABCDEF]:
        assert int(call_compiled(mix64, np.uint64(z))) == py_mix64(z)
    for seed in [0, 1, 42, 2**63 - 1]:
        for chunk in [0, 1, 2, 1000]:
            assert int(call_compiled(stream_start, seed, chunk)) == py_stream_start(seed, chunk)
    # Chunks of one seed start apart: the first uniforms of 100 chunks are all distinct.
    firsts = {PyStream(py_stream_start(3, c)).uniform() for c in range(100)}
    assert len(firsts) == 100

    state = uint64_state(call_compiled(stream_start, 5, 2))
    stream = PyStream(py_stream_start(5, 2))
    uniforms = [call_compiled(next_uniform, state) for _ in range(2000)]
    assert uniforms == [stream.uniform() for _ in range(2000)]
    assert int(state[0]) == stream.state
    assert 0.0 <= min(uniforms) and max(uniforms) < 1.0


@pytest.mark.parametrize("n", [1, 2, 7, 511, 512, 513, 600, 1024, 1500])
def test_binomial_matches_python_inversion(n):
    for p in [1e-3, 0.05, 0.3, 0.5, 0.7, 0.95, 1 - 1e-3]:
        start = call_compiled(stream_start, n, int(p * 1000))
        state = uint64_state(start)
        stream = PyStream(int(start))
        for _ in range(50):
            got = call_compiled(binomial, n, p, state)
            assert got == py_binomial(n, p, stream), (n, p)
            assert 0 <= got <= n
        assert int(state[0]) == stream.state
        # One uniform per block of at most 512 trials, whatever the draw.
        assert stream.state == (int(start) + 50 * math.ceil(n / BLOCK) * GOLDEN) & MASK64


WEIGHT_ROWS = [
    [1.0],
    [0.2, 0.3, 0.5],
    [0.7, 0.2, 0.1, 0.0],  # the last positive component is not the last one
    [0.0, 1.0, 0.0],
    [0.0, 0.0, 0.0],  # a row with no positive weight (all -inf log-densities)
    [0.999, 1e-4, 9e-4],
    [0.5, 0.25, 0.125, 0.125],
    [1e-12, 0.4, 0.6 - 1e-12],
    # 1 - 0.6 rounds to 0.4: component 1 reaches the remaining mass and takes every draw
    # left without a binomial (no uniform used), although component 2 is positive.
    [0.6, 0.4, 1e-17],
]


@pytest.mark.parametrize("n_draws", [1, 7, 600, 1500])
def test_draw_row_matches_python(n_draws):
    state = uint64_state(call_compiled(stream_start, 11, n_draws))
    stream = PyStream(int(state[0]))
    for repeat in range(20):
        for row in WEIGHT_ROWS:
            weights = np.array(row)
            call_compiled(draw_row, weights, n_draws, state)
            counts = py_draw_row(row, n_draws, stream)
            assert_array_equal(weights, np.array(counts) * (1.0 / n_draws), err_msg=str(row))
            assert sum(counts) == (n_draws if any(row) else 0)
            assert int(state[0]) == stream.state


@pytest.mark.parametrize("n, p", [(1, 0.3), (10, 0.3), (40, 0.8), (600, 0.7), (1500, 0.02),
                                  (2000, 0.5), (5000, 0.93)])
def test_binomial_mean_and_variance(n, p):
    draws = 20_000
    state = uint64_state(call_compiled(stream_start, 2024, n))
    x = np.array([call_compiled(binomial, n, p, state) for _ in range(draws)], dtype=np.float64)

    assert x.min() >= 0 and x.max() <= n
    # Mean: standard error sigma / sqrt(M).  Sample variance: standard error
    # sigma^2 sqrt((2 + excess kurtosis) / M), the binomial's excess kurtosis being
    # (1 - 6 p (1 - p)) / (n p (1 - p)).  5 standard errors: a false alarm has
    # probability < 1e-6 (the draws are fixed by the seed anyway).
    variance = n * p * (1 - p)
    assert abs(x.mean() - n * p) <= 5 * math.sqrt(variance / draws)
    excess = (1 - 6 * p * (1 - p)) / variance
    assert abs(x.var(ddof=1) - variance) <= 5 * variance * math.sqrt((2 + excess) / draws)


# -- MODE_SAMPLE E-step ------------------------------------------------------------------
@pytest.mark.parametrize("n_draws", [1, 7, 600])  # 600 > 512: two binomial blocks
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sampled_estep_matches_python_draws(covariance_type, dtype, weighted, n_draws):
    X, params, family = problem(covariance_type, dtype)
    sample_weight = make_sample_weight(DATA_SEED, N_SAMPLES) if weighted else None

    stats = family.estep(X, sample_weight, params, MODE_SAMPLE, DRAW_SEED, n_draws)

    # The posterior the kernel draws from (posterior() runs the same log-densities and
    # normalisation) agrees with the reference up to rounding (measured: float32 2.7e-07,
    # float64 5.6e-16 absolute).
    kernel_resp = family.posterior(X, params, resp=True)[0]
    expected_resp = reference_resp(X, params)
    assert np.abs(kernel_resp - expected_resp).max() <= RTOL[dtype]
    counts = reference_counts(kernel_resp, DRAW_SEED, n_draws)
    assert_array_equal(counts.sum(axis=1), n_draws)
    if dtype == np.float64:
        # Where the posteriors agree, the draws from the independent reference posterior
        # are the same.  They need not be in general: which binomials a row calls (and so
        # how far the chunk's stream advances) can hinge on the last ulp of a posterior,
        # e.g. when a tail weight below the ulp of the remaining mass turns "w >= mass"
        # true; every later row of the chunk then draws differently.  Measured over 40
        # seeds x {full, diag}: 3/80 problems (n_draws=1) to 4/80 (n_draws=600) in
        # float64; 4-6/80 in float32, whose posteriors differ by ~2e-7 and can also move
        # a uniform across a CDF boundary; 0 on this file's data in both dtypes.  Float32
        # is therefore checked against draws from the kernel's own posterior only.
        assert_array_equal(reference_counts(expected_resp, DRAW_SEED, n_draws), counts,
                           err_msg="draws from the reference posterior differ")

    w = np.ones(N_SAMPLES) if sample_weight is None else sample_weight
    expected_nk, expected_sx, expected_sxx = reference.moments(
        X, counts * (1.0 / n_draws), w, stats.shift, covariance_of(covariance_type)
    )
    if weighted:
        # One changed label moves nk by >= 0.1 / 600 (zero-weight rows aside) out of
        # ~1000: 1e-7 relative; the kernel's sums differ from NumPy's by rounding only
        # (measured 3.8e-16).
        assert_relative_close(stats.nk, expected_nk, 1e-13, "nk")
    else:
        # Exact counts: nk * n_draws is within rounding (measured 1.2e-10) of the
        # integer number of labels per component.
        label_counts = np.round(stats.nk * n_draws).astype(np.int64)
        assert_array_equal(label_counts, counts.sum(axis=0))
        assert np.abs(stats.nk * n_draws - label_counts).max() <= 1e-8
    assert_relative_close(stats.sx, expected_sx, RTOL[dtype], "sx")
    assert_relative_close(stats.sxx, expected_sxx, RTOL[dtype], "sxx")
    assert stats.fingerprint == 0


@needs_two_threads
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sampled_estep_is_reproducible_and_thread_independent(covariance_type, dtype):
    n_samples = 3 * CHUNK_ROWS + 100
    X, params, family = problem(covariance_type, dtype, n_samples, seed=5)
    sample_weight = make_sample_weight(5, n_samples)

    runs = []
    for k, seed in [(1, 77), (2, 77), (2, 77), (1, 78)]:
        with n_threads(k):
            runs.append(family.estep(X, sample_weight, params, MODE_SAMPLE, seed, 7))
    one, two, again, other = runs

    for name in ("nk", "sx", "sxx"):
        assert_array_equal(getattr(two, name), getattr(one, name))  # bitwise
        assert_array_equal(getattr(again, name), getattr(one, name))
    assert (one.loglik, one.weight) == (two.loglik, two.weight) == (again.loglik, again.weight)
    # Another seed draws other labels (over 3172 rows of 7 draws each, equal statistics
    # would be a coincidence).
    assert not np.array_equal(other.nk, one.nk)
    assert not np.array_equal(other.sx, one.sx)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_many_draws_approach_the_soft_statistics(covariance_type):
    n_draws = 4096  # a power of two: the frequencies count / n_draws and their sums are exact
    X, params, family = problem(covariance_type, np.float64)

    sampled = family.estep(X, None, params, MODE_SAMPLE, 99, n_draws)
    soft = family.estep(X, None, params, MODE_SOFT)

    # Every row's counts sum to n_draws: the frequencies sum to exactly one per row.
    assert sampled.nk.sum() == N_SAMPLES
    assert_array_equal(sampled.nk * n_draws, np.round(sampled.nk * n_draws))
    # Row n's count for component k is Binomial(n_draws, r_nk), independent over rows, so
    # sampled nk_k has mean soft nk_k and variance sum_n r_nk (1 - r_nk) / n_draws; sx_kd
    # the same with weights (x_nd - mu_kd)^2.  Allow 5 standard errors (measured
    # max |z|: full 1.2, diag 1.8).  The standard errors are ~0.3 on nk ~ 800, so a
    # sampler biased by 0.2% of nk (1.6, ~6 SE) fails.
    resp = family.posterior(X, params, resp=True)[0]
    spread = resp * (1 - resp) / n_draws
    nk_se = np.sqrt(spread.sum(axis=0))
    diff = X[:, None, :] - sampled.shift[None, :, :]  # (N, K, D)
    sx_se = np.sqrt(np.einsum("nk,nkd->kd", spread, diff**2))
    assert np.all(np.abs(sampled.nk - soft.nk) <= 5 * nk_se), (sampled.nk - soft.nk) / nk_se
    assert np.all(np.abs(sampled.sx - soft.sx) <= 5 * sx_se), (sampled.sx - soft.sx) / sx_se
    # The standard errors are small: the bound is not vacuous.
    assert nk_se.max() < 1e-3 * soft.nk.min()


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sampled_loglik_is_the_soft_loglik(covariance_type, dtype, weighted):
    X, params, family = problem(covariance_type, dtype)
    sample_weight = make_sample_weight(DATA_SEED, N_SAMPLES) if weighted else None

    soft = family.estep(X, sample_weight, params, MODE_SOFT)
    sampled = [family.estep(X, sample_weight, params, MODE_SAMPLE, seed, n_draws)
               for seed, n_draws in [(1, 1), (2, 600)]]

    # The objective is computed from the posterior before the draws: the same numbers in
    # the same order, hence bitwise equal (not merely close).
    for stats in sampled:
        assert stats.loglik == soft.loglik
        assert stats.weight == soft.weight
    assert soft.loglik != family.estep(X, sample_weight, params, MODE_HARD).loglik


# -- MODE_HARD fingerprint -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_fingerprint_matches_reference(covariance_type, dtype):
    X, params, family = problem(covariance_type, dtype)
    sample_weight = make_sample_weight(DATA_SEED, N_SAMPLES)
    _, _, labels = reference.posterior(X, params.weights, params.means, params.precisions_cholesky)
    expected = reference_fingerprint(labels, N_COMPONENTS)

    # Hashes use global row indices (rows of later chunks are offset); rows of weight 0
    # do not enter (they move no statistic, so their label cannot matter).
    assert family.estep(X, None, params, MODE_HARD).fingerprint == expected
    sample_weight[::5] = 0.0
    weighted = reference_fingerprint(labels, N_COMPONENTS, sample_weight)
    assert weighted != expected
    assert family.estep(X, sample_weight, params, MODE_HARD).fingerprint == weighted
    assert family.estep(X, None, params, MODE_SOFT).fingerprint == 0

    # Move one row onto another component's mean: only its label and hash change.
    row = 1500
    old, new = int(labels[row]), (int(labels[row]) + 1) % N_COMPONENTS
    X_moved = X.copy()
    X_moved[row] = params.means[new]
    moved_labels = reference.posterior(X_moved, params.weights, params.means,
                                       params.precisions_cholesky)[2]
    assert moved_labels[row] == new
    assert_array_equal(np.delete(moved_labels, row), np.delete(labels, row))
    moved = family.estep(X_moved, None, params, MODE_HARD).fingerprint
    assert moved != expected
    assert moved == (expected - py_mix64(row * N_COMPONENTS + old)
                     + py_mix64(row * N_COMPONENTS + new)) & MASK64

    # Moving a mean changes several labels; the fingerprint follows the new assignment.
    step = np.zeros_like(params.means)
    step[0, 0] = 0.5
    shifted = GaussianParams(params.weights, params.means + step,
                             params.covariances, params.precisions_cholesky)
    shifted_labels = reference.posterior(X, shifted.weights, shifted.means,
                                         shifted.precisions_cholesky)[2]
    assert np.count_nonzero(shifted_labels != labels) > 0
    assert (family.estep(X, None, shifted, MODE_HARD).fingerprint
            == reference_fingerprint(shifted_labels, N_COMPONENTS))


@needs_two_threads
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_fingerprint_does_not_depend_on_thread_count(covariance_type):
    n_samples = 3 * CHUNK_ROWS + 100
    X, params, family = problem(covariance_type, np.float32, n_samples, seed=5)

    prints = []
    for k in (1, 2):
        with n_threads(k):
            prints.append(family.estep(X, None, params, MODE_HARD).fingerprint)

    assert prints[0] == prints[1] != 0
    labels = family.posterior(X, params, label=True)[2]
    assert prints[0] == reference_fingerprint(labels, N_COMPONENTS)


@pytest.mark.parametrize("mode", [MODE_SAMPLE, MODE_HARD], ids=["sampled", "hard"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_blocks_with_their_offsets_reproduce_one_pass(covariance_type, mode):
    # A chunked or Dask source runs the kernel per block with first_row = the block's
    # offset.  With block boundaries on kernel chunks, every chunk draws from the same
    # stream as in one pass, so the summed statistics are the one-pass statistics up to
    # the order of the additions; the assignment hash is exactly the one-pass hash.
    X, params, family = problem(covariance_type, np.float64, 3 * CHUNK_ROWS + 100, seed=5)
    sample_weight = make_sample_weight(5, X.shape[0])
    whole = family.estep(X, sample_weight, params, mode, DRAW_SEED, 5)
    bounds = [0, CHUNK_ROWS, 3 * CHUNK_ROWS, X.shape[0]]
    parts = [
        family.estep(X[a:b], sample_weight[a:b], params, mode, DRAW_SEED, 5, first_row=a)
        for a, b in zip(bounds[:-1], bounds[1:])
    ]
    summed = parts[0] + parts[1] + parts[2]
    for name in ("nk", "sx", "sxx"):
        assert_relative_close(getattr(summed, name), getattr(whole, name), 1e-13, name)
    assert summed.fingerprint == whole.fingerprint
    # Without the offsets the blocks would reuse the first chunks' streams and hashes.
    unshifted = sum(
        (family.estep(X[a:b], sample_weight[a:b], params, mode, DRAW_SEED, 5)
         for a, b in zip(bounds[1:-1], bounds[2:])),
        parts[0],
    )
    if mode == MODE_HARD:
        assert unshifted.fingerprint != whole.fingerprint
    else:
        assert not np.allclose(unshifted.nk, whole.nk, rtol=1e-12)
