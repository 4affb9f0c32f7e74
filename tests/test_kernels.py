"""The Numba kernels (through ``GaussianFamily``) against the plain-NumPy reference.

Errors are measured as ``max|kernel - reference| / max|reference|`` over a whole array
(``relative_error``): sx and resp have entries near zero that an element-wise rtol would
judge by their own tiny size.  Every tolerance was measured (x86-64, 2 threads, numba 0.68,
numpy 2.4) on this file's data and on 40 other seeds of the same problems, and set about
10x above the worst value seen; the comments give "this data / 40 seeds".
"""

import re

import numba
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import multivariate_normal

from fastem._kernels import target, threads
from fastem._kernels._jit import CHUNK_ROWS, MODE_HARD, MODE_SOFT
from fastem._kernels.gaussian import accumulate_gaussian
from fastem._kernels.gaussian_tile import DIAG_TILE_BYTES, FULL_TILE_BYTES, MAX_TILE_ROW_BYTES
from fastem._kernels.linalg import cholesky_lower, inverse_transpose_lower
from fastem._kernels.seeding import squared_distances
from fastem.exceptions import ComponentError
from fastem._families.gaussian import GaussianFamily, GaussianParams
from fastem._stats import GaussianStats

import reference
from conftest import assert_relative_close, call_compiled, make_problem, make_sample_weight, n_threads

# The shortest tile in use: diagonal covariances, float64.
TILE_ROWS = DIAG_TILE_BYTES // 8

COVARIANCE_TYPES = ["full", "diag"]
DTYPES = [np.float32, np.float64]
MODES = {"soft": MODE_SOFT, "hard": MODE_HARD}
REG_COVAR = 1e-6

# Kernel vs the float64 reference (float32: from the same float32 data; the kernel rounds
# means and precision factors to float32 and computes the densities in float32).
# Worst over the estep statistics and the posterior outputs (sx is the worst of them):
#   float32: sx 1.1e-06 / 1.2e-06 (resp 2.9e-07 / 5.0e-07, log_prob 1.2e-07 / 1.6e-07)
#   float64: sx 2.1e-15 / 6.1e-15 (resp 1.0e-15 / 2.8e-15, log_prob 2.6e-16 / 3.9e-16)
RTOL = {np.float32: 1e-5, np.float64: 5e-14}

# (n_samples, n_features, n_components), chosen around the fixed row partition.
SHAPES = [
    pytest.param(1, 1, 1, id="N1-D1-K1"),
    pytest.param(7, 1, 3, id="D1"),
    pytest.param(TILE_ROWS + 1, 5, 1, id="K1-tile+1"),
    pytest.param(CHUNK_ROWS - TILE_ROWS + 7, 3, 4, id="under-one-chunk"),  # 903 rows
    pytest.param(2 * CHUNK_ROWS + 3 * TILE_ROWS + 5, 4, 3, id="three-chunks"),  # 2437 rows
    # Full covariances: tiles of MAX_TILE_ROW_BYTES per feature (600 = two float64
    # tiles and a part, one float32 tile and a part), features padded to a multiple of
    # four (35), and with many features tiles cut to FULL_TILE_BYTES (130: 112 float64
    # rows).
    pytest.param(600, 32, 2, id="D32"),
    pytest.param(CHUNK_ROWS + 300, 35, 3, id="D35-padded"),
    pytest.param(400, 130, 2, id="D130-short-tiles"),
]
assert FULL_TILE_BYTES // (132 * 8) < MAX_TILE_ROW_BYTES // 8


def seed_of(n_samples, n_features, n_components):
    return n_samples + 100 * n_features + 10_000 * n_components


def reference_estep(X, sample_weight, params, mode, shift=None):
    return reference.estep(
        X, sample_weight, params.weights, params.means, params.precisions_cholesky, mode, shift
    )


def as_gaussian_stats(stats):
    return GaussianStats(*stats)


# -- the reference itself ----------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_reference_log_density_matches_scipy(covariance_type):
    X, params = make_problem(37, 50, 3, 2, covariance_type)

    got = reference.weighted_log_prob(X, params.weights, params.means, params.precisions_cholesky)

    for k in range(2):
        cov = params.covariances[k]
        cov = cov if covariance_type == "full" else np.diag(cov)
        expected = np.log(params.weights[k]) + multivariate_normal(params.means[k], cov).logpdf(X)
        assert_allclose(got[:, k], expected, rtol=1e-12)


# -- E-step and per-point outputs against the reference ---------------------------------
@pytest.mark.parametrize("n_samples, n_features, n_components", SHAPES)
@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_estep_matches_reference(covariance_type, dtype, weighted, mode,
                                 n_samples, n_features, n_components):
    seed = seed_of(n_samples, n_features, n_components)
    X, params = make_problem(seed, n_samples, n_features, n_components, covariance_type, dtype)
    sample_weight = make_sample_weight(seed, n_samples) if weighted else None
    family = GaussianFamily(covariance_type, REG_COVAR)

    stats = family.estep(X, sample_weight, params, MODES[mode])

    # The moments are about the means the kernel ran with: rounded to X's dtype.
    assert_array_equal(stats.shift, params.means.astype(dtype).astype(np.float64))
    expected = reference_estep(X, sample_weight, params, mode, shift=stats.shift)
    rtol = RTOL[dtype]
    for name in ("nk", "sx", "sxx", "loglik"):
        assert_relative_close(getattr(stats, name), getattr(expected, name), rtol, name)
    # The kernel sums the weights in row order, NumPy pairwise: equal up to rounding
    # (measured 1 ulp); unit weights sum exactly to the row count.
    if weighted:
        assert stats.weight == pytest.approx(expected.weight, rel=1e-14)
    else:
        assert stats.weight == n_samples
    if covariance_type == "full":
        assert_array_equal(stats.sxx, stats.sxx.transpose(0, 2, 1))
    # Unweighted hard weights are 0/1: the counts are integers and exact (the smallest gap
    # between a point's two best components in this data is 4.0e-3, far above rounding).
    if mode == "hard" and not weighted:
        assert_array_equal(stats.nk, expected.nk)


# Unit diagonal precisions under hard weights (k-means) take gaussian_nearest's path:
# expanded distances about the mean of the centres in float32 lanes, 128-row tiles.
@pytest.mark.parametrize("n_samples, n_features, n_components", [
    pytest.param(1, 1, 1, id="N1-D1-K1"),
    pytest.param(300, 5, 3, id="tile+part"),  # D and K off the 4- and 2-blocks
    pytest.param(2 * CHUNK_ROWS + 77, 8, 8, id="three-chunks"),
])
@pytest.mark.parametrize("offset", [0.0, 1e4], ids=["at-0", "offset-1e4"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_unit_precision_hard_estep_matches_reference(dtype, weighted, offset, n_samples, n_features,
                                                     n_components):
    seed = seed_of(n_samples, n_features, n_components)
    X, problem_params = make_problem(seed, n_samples, n_features, n_components, "diag", dtype,
                                     offset=offset)
    family = GaussianFamily("diag", REG_COVAR)
    params = family.identity_params(problem_params.means)
    weights = np.linspace(1.0, 2.0, n_components)  # unequal mixing weights move the argmax
    params = GaussianParams(weights / weights.sum(), params.means, params.covariances,
                            params.precisions_cholesky)
    sample_weight = make_sample_weight(seed, n_samples) if weighted else None

    stats = family.estep(X, sample_weight, params, MODE_HARD)

    # The kernel runs with the means rounded to X's dtype; so does the reference here.
    rounded = GaussianParams(params.weights, stats.shift, params.covariances, params.precisions_cholesky)
    expected = reference_estep(X, sample_weight, rounded, "hard", shift=stats.shift)
    _, _, labels = reference.posterior(X, params.weights, stats.shift, params.precisions_cholesky)
    # Assignments equal the reference's exactly (smallest gap between a row's two best
    # scores here: far above the rounding of the expanded form).
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    assert_allclose(stats.nk, np.bincount(labels, weights=w, minlength=n_components), rtol=1e-14)
    # Moments are formed about each mean, exactly as in the other kernels.
    rtol = RTOL[dtype]
    for name in ("sx", "sxx"):
        assert_relative_close(getattr(stats, name), getattr(expected, name), rtol, name)
    # The classification log-likelihood comes from each row's distance to its chosen
    # mean, so an offset costs nothing (measured: at most 1.9e-8 relative in float32,
    # 1.7e-15 in float64).
    assert stats.loglik == pytest.approx(expected.loglik, rel=rtol)
    # Precisions just off 1 (representable in float32) take the ordinary diagonal kernel.
    near_unit = 1.0 - 2.0**-20
    ordinary = GaussianParams(params.weights, params.means, params.covariances / near_unit**2,
                              params.precisions_cholesky * near_unit)
    assert family.estep(X, sample_weight, ordinary, MODE_HARD).fingerprint == stats.fingerprint


def near_tie_rows(rng, means, n_samples, gap):
    """Rows on the bisector of two random centres, moved ``gap`` of the way towards one
    of them, plus noise along the bisector: the two centres' squared distances differ
    by about 2 * gap * |m_a - m_b|^2."""
    n_components, n_features = means.shape
    a = rng.integers(n_components, size=n_samples)
    b = (a + rng.integers(1, n_components, size=n_samples)) % n_components
    step = means[b] - means[a]
    noise = rng.normal(size=(n_samples, n_features))
    noise -= step * ((noise * step).sum(1) / (step * step).sum(1))[:, None]
    sign = rng.choice([-1.0, 1.0], size=n_samples)
    return (means[a] + means[b]) / 2 + noise + (gap * sign)[:, None] * step


# float64 data is scored in float32 lanes and a row is rescored in float64 unless its
# two best float32 scores are provably apart: the labels are those of float64.
# (At 3e18 the float32 scores overflow: measured to mislabel rows without the range check.)
@pytest.mark.parametrize("scale", [1.0, 3e18, 1e-30], ids=["unit", "float32-overflow", "float32-underflow"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_unit_precision_hard_labels_of_float64_data_are_exact(weighted, scale):
    rng = np.random.default_rng(11)
    n_samples, n_features, n_components = 3 * TILE_ROWS + 5, 6, 5
    means = 4.0 * rng.normal(size=(n_components, n_features))
    X = near_tie_rows(rng, means, n_samples, 1e-9)
    X, means = X * scale, means * scale
    family = GaussianFamily("diag", REG_COVAR)
    params = family.identity_params(means)
    sample_weight = make_sample_weight(5, n_samples) if weighted else None

    stats = family.estep(X, sample_weight, params, MODE_HARD)

    # Direct squared distances in float64 resolve gaps of 1e-9 at any scale.
    distances = ((X[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
    labels = distances.argmin(axis=1)
    w = np.ones(n_samples) if sample_weight is None else sample_weight
    assert_allclose(stats.nk, np.bincount(labels, weights=w, minlength=n_components), rtol=1e-14)
    squares = distances[np.arange(n_samples), labels]
    log_norm = np.log(params.weights[0]) - 0.5 * n_features * np.log(2 * np.pi)
    assert stats.loglik == pytest.approx((w * (log_norm - 0.5 * squares)).sum(), rel=1e-14)
    if scale == 1.0:
        # The data needs the rescoring: float32 scores alone pick another centre for
        # many rows.
        origin = means.mean(axis=0)
        centres = (means - origin).astype(np.float32)
        lanes = (X - origin).astype(np.float32) @ centres.T - 0.5 * (centres * centres).sum(axis=1)
        assert (lanes.argmax(axis=1) != labels).sum() > n_samples // 10


@pytest.mark.parametrize("n_samples, n_features, n_components", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_posterior_matches_reference(covariance_type, dtype, n_samples, n_features, n_components):
    seed = seed_of(n_samples, n_features, n_components)
    X, params = make_problem(seed, n_samples, n_features, n_components, covariance_type, dtype)
    family = GaussianFamily(covariance_type, REG_COVAR)

    resp, log_prob, label, weighted = family.posterior(
        X, params, resp=True, log_prob=True, label=True, weighted_log_prob=True
    )

    expected_resp, expected_log_prob, expected_label = reference.posterior(
        X, params.weights, params.means, params.precisions_cholesky
    )
    rtol = RTOL[dtype]
    assert_relative_close(resp, expected_resp, rtol, "resp")
    assert_relative_close(log_prob, expected_log_prob, rtol, "log_prob")
    assert label.dtype == np.int64
    assert_array_equal(label, expected_label)
    expected_weighted = reference.weighted_log_prob(X, params.weights, params.means, params.precisions_cholesky)
    assert weighted.dtype == np.float64
    assert_relative_close(weighted, expected_weighted, rtol, "weighted_log_prob")

    # Asking for one output fills it exactly as asking for all of them does.
    assert_array_equal(family.posterior(X, params, resp=True)[0], resp)
    assert_array_equal(family.posterior(X, params, log_prob=True)[1], log_prob)
    assert_array_equal(family.posterior(X, params, label=True)[2], label)
    assert_array_equal(family.posterior(X, params, weighted_log_prob=True)[3], weighted)
    assert family.posterior(X, params, label=True)[:2] == (None, None)
    assert family.posterior(X, params, label=True)[3] is None


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_hard_mode_gives_ties_to_the_first_component(covariance_type):
    X, params = make_problem(3, 300, 2, 2, covariance_type)
    # Component 2 is an exact copy of component 0.
    twice = GaussianParams(
        *(np.concatenate([a, a[:1]]) for a in (params.weights, params.means,
                                                params.covariances, params.precisions_cholesky))
    )
    family = GaussianFamily(covariance_type, REG_COVAR)

    stats = family.estep(X, None, twice, MODE_HARD)
    resp, _, label, _ = family.posterior(X, twice, resp=True, label=True)

    assert stats.nk[2] == 0.0 and stats.nk[0] > 0
    assert not np.any(stats.sx[2]) and not np.any(stats.sxx[2])
    assert 0 < np.count_nonzero(label == 0) < 300 and not np.any(label == 2)
    assert_array_equal(resp[:, 2], resp[:, 0])


def shared_point(params, gap=10.0):
    """A point between means 0 and 1 whose weighted log-density under component 0 is
    ``gap`` above component 1's (bisection along the segment between the means): its
    posterior on component 1 is about exp(-gap), small enough that rounding of the
    log-densities hardly moves it, far above the exp cutoff."""
    def excess(t):
        point = params.means[0] + t * (params.means[1] - params.means[0])
        logp = reference.weighted_log_prob(point[None], params.weights, params.means, params.precisions_cholesky)
        return logp[0, 0] - logp[0, 1] - gap, point

    low, high = 0.0, 1.0  # excess(0) > 0 > excess(1)
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if excess(middle)[0] > 0 else (low, middle)
    return excess(low)[1]


@pytest.mark.parametrize("n_features, n_components", [(3, 4), (20, 8)], ids=["D3-K4", "D20-K8"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_soft_estep_with_separated_components_matches_reference(covariance_type, dtype, weighted,
                                                                 n_features, n_components):
    # Components 40 apart: nearly every row's posterior is exactly one-hot (the other
    # terms fall below the exp cutoff), so each component's moments skip most rows (the
    # diagonal kernel lists each component's rows for the chunk); a few rows between two
    # components still share their weight.
    # Full covariances gather such sparse rows for their moments: per tile at D = 3,
    # once per chunk at D = 20 (DEFERRED_FEATURES), where about 1/8 of a tile's rows is
    # few enough to be gathered in either dtype.
    from fastem._kernels.gaussian_tile import DEFERRED_FEATURES, gather_is_cheaper

    if n_features >= DEFERRED_FEATURES:
        assert call_compiled(gather_is_cheaper, TILE_ROWS // 6, TILE_ROWS, n_features, np.dtype(dtype).itemsize)
    n_samples = CHUNK_ROWS + 3 * TILE_ROWS + 5
    X, params = make_problem(21, n_samples, n_features, n_components, covariance_type, dtype)
    params = GaussianParams(params.weights, params.means * 20.0, params.covariances,
                            params.precisions_cholesky)
    labels = np.random.default_rng(21).integers(n_components, size=n_samples)
    X = (X - X.mean(axis=0) + params.means[labels]).astype(dtype)
    X[::97] = shared_point(params).astype(dtype)  # rows that components 0 and 1 share
    sample_weight = make_sample_weight(21, n_samples) if weighted else None
    family = GaussianFamily(covariance_type, REG_COVAR)

    stats = family.estep(X, sample_weight, params)
    expected = reference_estep(X, sample_weight, params, "soft", shift=stats.shift)
    resp = reference.posterior(X, params.weights, params.means, params.precisions_cholesky)[0]
    one_hot = np.count_nonzero(resp > 1e-300, axis=1) == 1
    assert 0.9 < one_hot.mean() < 1.0  # both paths are exercised
    for name in ("nk", "sx", "sxx", "loglik"):
        assert_relative_close(getattr(stats, name), getattr(expected, name), RTOL[dtype], name)


# -- properties of the partition --------------------------------------------------------
@pytest.mark.parametrize("split", [CHUNK_ROWS, CHUNK_ROWS + TILE_ROWS // 2 + 3],
                         ids=["at-chunk", "mid-tile"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_statistics_of_two_parts_add_up(covariance_type, dtype, split):
    n_samples = 2 * CHUNK_ROWS + 3 * TILE_ROWS + 5
    X, params = make_problem(11, n_samples, 3, 3, covariance_type, dtype)
    sample_weight = make_sample_weight(11, n_samples)
    family = GaussianFamily(covariance_type, REG_COVAR)

    whole = family.estep(X, sample_weight, params)
    parts = (family.estep(X[:split], sample_weight[:split], params)
             + family.estep(X[split:], sample_weight[split:], params))

    # float64: only the order of the float64 sums differs (measured 8.5e-16 / 2.4e-15
    # for sx).  float32: a tile's moments are summed in float32 before they enter the
    # float64 accumulators, so a split inside a tile regroups float32 sums (measured
    # 4.2e-8 for sx); nk, loglik and weight are float64 throughout.
    moment_rtol = 2e-14 if dtype == np.float64 else 1e-6
    for name in ("nk", "sx", "sxx", "loglik", "weight"):
        rtol = moment_rtol if name in ("sx", "sxx") else 2e-14
        assert_relative_close(getattr(parts, name), getattr(whole, name), rtol, name)
    assert_array_equal(parts.shift, whole.shift)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_statistics_are_accumulated_in_float64(covariance_type):
    # 300k float32 rows: summed in float32 alone, the statistics would drift by about
    # N * 2**-24 relative (1e-2 here); with float32 products formed per tile and float64
    # accumulation across tiles, the error stays at the float32 rounding of one tile.
    n_samples = 300_000
    X, params = make_problem(13, n_samples, 3, 3, covariance_type, np.float32)
    family = GaussianFamily(covariance_type, REG_COVAR)
    stats = family.estep(X, None, params)
    expected = reference_estep(X.astype(np.float64), None, params, "soft", shift=stats.shift)
    assert_relative_close(stats.nk, expected.nk, 1e-6, "nk")
    assert_relative_close(stats.sxx, expected.sxx, 1e-5, "sxx")
    # sx about the means nearly cancels: compare it on the scale of its terms,
    # sqrt(nk * second moment) per component and feature.
    second = expected.sxx if covariance_type == "diag" else np.diagonal(expected.sxx, axis1=1, axis2=2)
    scale = np.sqrt(expected.nk[:, None] * second)
    assert np.abs(stats.sx - expected.sx).max() <= 1e-5 * scale.min()


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("mode", ["soft", "hard"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_results_do_not_depend_on_thread_count(covariance_type, dtype, mode):
    n_samples = 3 * CHUNK_ROWS + 100
    X, params = make_problem(5, n_samples, 3, 4, covariance_type, dtype)
    sample_weight = make_sample_weight(5, n_samples)
    family = GaussianFamily(covariance_type, REG_COVAR)

    results = []
    for k in (1, 2):
        with n_threads(k):
            stats = family.estep(X, sample_weight, params, MODES[mode])
            outputs = family.posterior(X, params, resp=True, log_prob=True, label=True)
        results.append((stats, outputs))
    (one, one_outputs), (two, two_outputs) = results

    for name in ("nk", "sx", "sxx"):
        assert_array_equal(getattr(one, name), getattr(two, name))  # bitwise
    assert one.loglik == two.loglik
    for a, b in zip(one_outputs, two_outputs):
        assert_array_equal(a, b)


def test_groups_of_partial_statistics_do_not_change_the_result(monkeypatch):
    # 103 KiB of partial statistics per chunk (D = 40, K = 8): 1 MiB of partials holds
    # a few chunks at once, so the data is reduced in several groups, whose size may
    # follow the number of threads; chunks are added in order whatever the groups are.
    monkeypatch.setattr(threads, "PARTIAL_BYTES", 2**20)
    n_features, n_components = 40, 8
    n_samples = 12 * CHUNK_ROWS + 77
    X, params = make_problem(6, n_samples, n_features, n_components, "full", mean_spread=0.5)
    family = GaussianFamily("full", REG_COVAR)
    means, factors, log_norm = family._kernel_args(params, X.dtype)
    floats = n_components * (1 + n_features + n_features**2) + 1
    assert 1 < threads.PARTIAL_BYTES // (8 * floats) < 12  # several groups
    results = []
    for min_group in (1, 5, 12, 13):
        out = GaussianStats.zeros(means, "full")
        no_labels = np.empty(0, dtype=np.int64)
        totals = accumulate_gaussian(X, np.empty(0), no_labels, means, factors, log_norm, MODE_SOFT, 0, 0, 0,
                                     out.nk, out.sx, out.sxx, min_group)
        results.append((totals, out.nk, out.sx, out.sxx))
    for totals, nk, sx, sxx in results[1:]:
        assert totals == results[0][0]
        for got, first in zip((nk, sx, sxx), results[0][1:]):
            assert_array_equal(got, first)  # bitwise


# -- M-step -------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_far_from_the_origin(covariance_type):
    offset = 1e6
    X, params = make_problem(7, 1500, 3, 3, covariance_type)
    X_far, params_far = make_problem(7, 1500, 3, 3, covariance_type, offset=offset)
    assert_array_equal(params_far.means, params.means + offset)
    family = GaussianFamily(covariance_type, REG_COVAR)

    near = family.m_step(family.estep(X, None, params))
    far = family.m_step(family.estep(X_far, None, params_far))

    # X + 1e6 is itself rounded (by up to 6e-11), so the two problems differ slightly.
    # Measured: covariances 1.5e-11 / 3.1e-11, weights 7.3e-12 / 2.3e-11 relative, means
    # 8.4e-11 absolute (40 seeds).  Moments about the origin would be off by ~1e-3 here.
    assert_relative_close(far.covariances, near.covariances, 3e-10, "covariances")
    assert_allclose(far.means - offset, near.means, rtol=0, atol=1e-9)
    assert_relative_close(far.weights, near.weights, 3e-10, "weights")


@pytest.mark.parametrize("case", ["soft", "soft-weighted", "hard-empty-component"])
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_m_step_matches_reference(covariance_type, case):
    X, params = make_problem(13, 500, 3, 3, covariance_type)
    mode = "hard" if case.startswith("hard") else "soft"
    if case == "hard-empty-component":  # no point has component 1 as its best
        params = GaussianParams(params.weights, params.means + [[0], [100], [0]],
                                params.covariances, params.precisions_cholesky)
    sample_weight = make_sample_weight(13, 500) if case == "soft-weighted" else None
    stats = reference_estep(X, sample_weight, params, mode)
    resp, _ = reference.point_weights(X, params.weights, params.means,
                                      params.precisions_cholesky, mode)
    if case == "hard-empty-component":
        assert stats.nk[1] == 0.0

    got = GaussianFamily(covariance_type, REG_COVAR).m_step(as_gaussian_stats(stats))
    expected = reference.m_step(X, resp, sample_weight, params.means, REG_COVAR, covariance_type)

    # Moments vs two passes over the data: measured 1.2e-15 / 2.6e-15.
    for name in expected._fields:
        assert_relative_close(getattr(got, name), getattr(expected, name), 3e-14, name)
    if case == "hard-empty-component":  # keeps its mean, gets reg_covar as covariance
        assert_array_equal(got.means[1], params.means[1])
        assert_array_equal(got.covariances[1], expected.covariances[1])


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_em_iterations_match_reference_em(covariance_type):
    X, params = make_problem(17, 800, 2, 3, covariance_type)
    sample_weight = make_sample_weight(17, 800)
    start = GaussianParams(params.weights[::-1].copy(), params.means + 0.5, params.covariances,
                           params.precisions_cholesky)
    family = GaussianFamily(covariance_type, REG_COVAR)

    history, current = [], start
    for _ in range(6):
        stats = family.estep(X, sample_weight, current)
        history.append(stats.loglik / stats.weight)
        current = family.m_step(stats)
    expected, expected_history = reference.reference_em(
        X, start.weights, start.means, start.covariances, 6, REG_COVAR, sample_weight
    )

    # Measured after 6 iterations: parameters 1.3e-15 / 3.7e-15, history 8.7e-16 / 2.3e-15.
    assert_allclose(history, expected_history, rtol=3e-14)
    assert np.all(np.diff(history) >= 0)
    for name in expected._fields:
        assert_relative_close(getattr(current, name), getattr(expected, name), 5e-14, name)


# -- conversions and failures -----------------------------------------------------------
def random_spd(rng, n_components, n_features):
    a = rng.normal(size=(n_components, n_features, n_features))
    return a @ a.transpose(0, 2, 1) + 0.1 * np.eye(n_features)


@pytest.mark.parametrize("n_features", [1, 4])
def test_full_precisions_cholesky_from_precisions_round_trips(n_features):
    precisions = random_spd(np.random.default_rng(n_features), 3, n_features)
    family = GaussianFamily("full", REG_COVAR)

    upper = family.precisions_cholesky_from_precisions(precisions)

    assert upper.shape == precisions.shape and upper.flags.c_contiguous
    assert_array_equal(np.tril(upper, -1), 0.0)
    assert np.all(np.diagonal(upper, axis1=1, axis2=2) > 0)
    # Measured: U U^T 1.1e-16 / 2.2e-16; through an inverse 6.4e-15 / 6.4e-15.
    assert_relative_close(upper @ upper.transpose(0, 2, 1), precisions, 3e-15, "U U^T")
    assert_relative_close(family.covariances_from_precisions_cholesky(upper),
                          np.linalg.inv(precisions), 1e-13, "covariances")


def test_diag_precisions_cholesky_from_precisions_round_trips():
    variances = np.random.default_rng(0).uniform(0.1, 5.0, (3, 4))
    family = GaussianFamily("diag", REG_COVAR)

    factors = family.precisions_cholesky_from_precisions(1 / variances)

    # Measured 3.3e-16 / 3.3e-16.
    assert_allclose(factors**-2, variances, rtol=5e-15)
    assert_allclose(family.covariances_from_precisions_cholesky(factors), variances, rtol=5e-15)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_precisions_cholesky_from_covariances_matches_reference(covariance_type):
    _, params = make_problem(19, 1, 4, 3, covariance_type)
    family = GaussianFamily(covariance_type, REG_COVAR)

    got = family.precisions_cholesky_from_covariances(params.covariances)

    # Measured: factors 0 / 0, covariances 2.4e-16 / 3.7e-16.
    assert_relative_close(got, params.precisions_cholesky, 5e-15, "precisions_cholesky")
    assert_relative_close(family.covariances_from_precisions_cholesky(got),
                          params.covariances, 5e-15, "covariances")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_not_positive_definite_covariance_names_the_component(covariance_type):
    _, params = make_problem(23, 1, 2, 4, covariance_type)
    covariances = params.covariances.copy()
    if covariance_type == "full":  # eigenvalues -1 and 3; a zero matrix
        covariances[1], covariances[3] = [[1.0, 2.0], [2.0, 1.0]], 0.0
    else:
        covariances[1, 0], covariances[3] = -1.0, 0.0
    family = GaussianFamily(covariance_type, 1e-6)

    msg = "Component 1 has a covariance that is not positive definite"
    with pytest.raises(ComponentError, match=re.escape(msg)) as info:
        family.precisions_cholesky_from_covariances(covariances)
    assert "Increase reg_covar (now 1e-06)" in str(info.value)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_empty_component_without_reg_covar_names_the_component(covariance_type):
    X, params = make_problem(29, 50, 3, 3, covariance_type)
    resp = np.full((50, 3), 0.5)
    resp[:, 2] = 0.0  # component 2 is empty: its covariance is exactly zero
    nk, sx, sxx = reference.moments(X, resp, None, params.means, covariance_type)
    stats = GaussianStats(nk, sx, sxx, params.means, loglik=0.0, weight=50.0)
    family = GaussianFamily(covariance_type, reg_covar=0.0)

    msg = "Component 2 has a covariance that is not positive definite"
    with pytest.raises(ComponentError, match=re.escape(msg)) as info:
        family.m_step(stats)
    assert "Increase reg_covar (now 0)" in str(info.value)


def test_not_positive_definite_precisions_init_names_the_component():
    precisions = random_spd(np.random.default_rng(0), 3, 2)
    precisions[1] = [[1.0, 2.0], [2.0, 1.0]]

    msg = "precisions_init[1] is not symmetric positive definite."
    with pytest.raises(ComponentError, match=re.escape(msg)):
        GaussianFamily("full", REG_COVAR).precisions_cholesky_from_precisions(precisions)


@pytest.mark.parametrize("n_features", [1, 3, 35, 130])
def test_cholesky_and_inverse_kernels_match_numpy(n_features):
    rng = np.random.default_rng(n_features)
    matrices = random_spd(rng, 4, n_features) / n_features + np.eye(n_features)
    # Only the lower triangle is read, as LAPACK's potrf reads it.
    noisy = matrices + np.triu(rng.normal(size=matrices.shape), 1)
    lower = np.empty_like(matrices)
    assert cholesky_lower(noisy, lower) == -1
    upper = np.empty_like(matrices)
    inverse_transpose_lower(lower, upper)

    assert_array_equal(np.triu(lower, 1), 0.0)
    assert_array_equal(np.tril(upper, -1), 0.0)
    # Measured at D = 130: factor 2.9e-16, inverse 4.0e-16 (numpy is not exact either).
    assert_relative_close(lower, np.linalg.cholesky(matrices), 5e-15, "cholesky")
    assert_relative_close(upper, np.linalg.inv(np.linalg.cholesky(matrices)).transpose(0, 2, 1),
                          5e-15, "inverse transpose")


def test_cholesky_kernel_reports_the_first_matrix_that_is_not_positive_definite():
    matrices = random_spd(np.random.default_rng(1), 5, 3)
    matrices[2, 1, 1] = -1.0
    matrices[4] = np.nan
    out = np.empty_like(matrices)
    assert cholesky_lower(matrices, out) == 2
    matrices[2] = np.eye(3)
    assert cholesky_lower(matrices, out) == 4
    matrices[4] = 0.0
    assert cholesky_lower(matrices, out) == 4


# -- k-means++ seeding ------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_squared_distances_match_numpy(dtype):
    n_samples = 2 * CHUNK_ROWS + 3 * TILE_ROWS + 5
    X, params = make_problem(31, n_samples, 3, 4, "diag", dtype)
    points = params.means
    out = np.empty((points.shape[0], n_samples))

    squared_distances(X, points, out)

    # The kernel upcasts X to float64: measured 4.3e-16 element-wise (40 seeds).
    expected = ((X.astype(np.float64)[None, :, :] - points[:, None, :]) ** 2).sum(axis=2)
    assert_allclose(out, expected, rtol=5e-15)


# float64 exp's error bound: its Horner steps are fused multiply-adds where the target
# has FMA.  Measured over the grid below and over 1e6 uniform draws: at most 2 ulp with
# FMA (AVX-512, AVX2), 3.0 without (NUMBA_CPU_NAME=generic).
EXP_ULP = 2.0 if target.HAS_FMA else 3.0


def test_exp_nonpositive_is_within_two_ulp_of_numpy():
    # Measured: at most 2 ulp over this grid (and over 1e6 uniform draws); 3 without FMA.
    from numba import njit

    from fastem._kernels.weights import EXP_CUTOFF, exp_nonpositive

    @njit
    def evaluate(x, out):
        for i in range(x.shape[0]):
            out[i] = exp_nonpositive(x[i])

    x = -np.linspace(0.0, EXP_CUTOFF, 200_001)[:-1]
    out = np.empty_like(x)
    evaluate(x, out)
    expected = np.exp(x)
    assert np.max(np.abs(out - expected) / np.spacing(expected)) <= EXP_ULP


def test_float32_exp_is_within_two_ulp_and_chosen_by_precision():
    # Measured over 2e6 points of the range: at most 0.92 float32 ulp with FMA (host AVX2,
    # haswell), 1.16 without (generic x86-64).
    from numba import njit

    from fastem._kernels.weights import EXP_CUTOFF, exp_gap

    @njit
    def evaluate(x, out):
        for i in range(x.shape[0]):
            out[i] = exp_gap(x[i])

    x = -np.linspace(0.0, EXP_CUTOFF, 200_001, dtype=np.float32)[:-1]
    out = np.empty_like(x)
    evaluate(x, out)
    assert out.dtype == np.float32
    expected = np.exp(x.astype(np.float64))
    ulp = np.spacing(expected.astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(out - expected) / ulp) <= 2.0
    # float64 arguments get the float64 exp: much closer than a float32 ulp (within
    # EXP_ULP float64 ulp, as test_exp_nonpositive_is_within_two_ulp_of_numpy measures).
    out64 = np.empty(x.shape)
    evaluate(x.astype(np.float64), out64)
    assert np.max(np.abs(out64 - expected) / np.spacing(expected)) <= EXP_ULP


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_log_total_is_within_three_ulp_of_numpy(dtype):
    # Measured over these points: at most 3.0 ulp (float64) and 2.7 (float32), the
    # largest just above 1, where log x is small.
    from numba import njit

    from fastem._kernels.weights import log_total

    @njit
    def evaluate(x, out):
        for i in range(x.shape[0]):
            out[i] = log_total(x[i])

    rng = np.random.default_rng(0)
    x = np.concatenate(
        [np.linspace(1.0, 3.0, 100_001), np.exp(rng.uniform(0.0, 44.0, 100_000)), [np.sqrt(2.0), 2.0**63]]
    ).astype(dtype)
    x = x[x > 1.0]  # log(1) is checked below, exactly
    out = np.empty_like(x)
    evaluate(x, out)
    assert out.dtype == dtype
    expected = np.log(x.astype(np.float64))
    ulp = np.spacing(expected.astype(dtype)).astype(np.float64)
    assert np.max(np.abs(out - expected) / ulp) <= 3.0
    ends = np.array([1.0, 0.0], dtype=dtype)
    evaluate(ends, ends)
    assert ends[0] == 0.0 and ends[1] == -np.inf  # a row with no finite density


def test_best_component_takes_the_first_of_equal_maxima():
    from fastem._kernels.weights import best_component

    rng = np.random.default_rng(0)
    for n_components in (1, 2, 7, 64, 65):
        logp = rng.normal(size=n_components)
        assert call_compiled(best_component, logp) == np.argmax(logp)
        logp[:] = -np.inf  # no finite density: the first component, as np.argmax
        assert call_compiled(best_component, logp) == 0
        if n_components > 2:
            logp = rng.normal(size=n_components)
            logp[[1, n_components - 1]] = logp.max() + 1.0
            assert call_compiled(best_component, logp) == 1


# -- full-covariance log-densities in vector registers ------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_padded", [32, 36, 68])  # whole blocks of 8 rows of L, and a last 4
def test_full_log_prob_matches_numpy(dtype, n_padded):
    from fastem._kernels.full_log_prob import log_prob_t

    rng = np.random.default_rng(n_padded)
    lanes = 64 // np.dtype(dtype).itemsize
    n_rows, n_features, n_components = 3 * lanes, n_padded - 3, 3  # pairs of vectors and one
    xt = np.zeros((n_padded, n_rows), dtype=dtype)
    xt[:n_features] = rng.normal(size=(n_features, n_rows))
    means = np.zeros((n_components, n_padded), dtype=dtype)
    means[:, :n_features] = rng.normal(size=(n_components, n_features))
    factors = np.zeros((n_components, n_padded, n_padded), dtype=dtype)
    for k in range(n_components):
        factors[k, :n_features, :n_features] = np.tril(rng.normal(size=(n_features, n_features))) * 0.2
    log_norm = rng.normal(size=n_components)
    inputs = [a.copy() for a in (xt, means, factors, log_norm)]
    logp_t = np.full((n_components, n_rows), np.nan, dtype=dtype)

    call_compiled(log_prob_t, xt, means, factors, log_norm, logp_t)

    centred = xt[None].astype(np.float64) - means[:, :, None]
    z = np.einsum("kjd,kdi->kji", factors.astype(np.float64), centred)
    expected = log_norm[:, None] - 0.5 * (z**2).sum(axis=1)
    assert_relative_close(logp_t, expected, RTOL[dtype], "logp_t")
    for before, after in zip(inputs, (xt, means, factors, log_norm)):
        assert_array_equal(before, after)


# -- diagonal moments of listed rows -----------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("float64_sums", [False, True], ids=["data-sums", "float64-sums"])  # diag / k-means
@pytest.mark.parametrize("n_features", [1, 5, 33])
def test_listed_moments_match_numpy(dtype, float64_sums, n_features):
    from fastem._kernels.gaussian_diag import SUMMED_ROWS, listed_moments

    rng = np.random.default_rng(n_features)
    start, n_listed = 3, 2 * SUMMED_ROWS + 37  # several part sums, a last one of 4 n + 1 rows
    X = rng.normal(size=(start + n_listed + 11, n_features)).astype(dtype)
    rows = np.sort(rng.choice(n_listed + 11, size=n_listed, replace=False)).astype(np.int32)
    sum_dtype = np.float64 if float64_sums else dtype
    weights = rng.uniform(0.1, 2.0, size=n_listed).astype(sum_dtype)
    mean = rng.normal(size=n_features).astype(dtype)
    sx = np.full(n_features, 0.5)
    acc = np.full(n_features, 0.25)
    inputs = [a.copy() for a in (X, rows, weights, mean)]

    work = np.empty((2, n_features), dtype=sum_dtype)
    call_compiled(listed_moments, X, start, mean, rows, weights, n_listed, sx, acc, work)

    centred = X[start + rows].astype(np.float64) - mean
    w = weights.astype(np.float64)[:, None]
    rtol = RTOL[np.float64] if float64_sums and dtype == np.float64 else RTOL[dtype]
    assert_relative_close(sx, 0.5 + (w * centred).sum(axis=0), rtol, "sx")
    assert_relative_close(acc, 0.25 + (w * centred**2).sum(axis=0), rtol, "acc")
    for before, after in zip(inputs, (X, rows, weights, mean)):
        assert_array_equal(before, after)


# -- deferred full-covariance moments as outer products ------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_features", [16, 35, 130])  # whole vectors; a partial vector and block
def test_deferred_moments_match_numpy(dtype, n_features):
    from fastem._kernels.outer_moments import BUFFER_ROWS, deferred_moments, outer_buffers

    rng = np.random.default_rng(n_features)
    n_rows, start = 3 * BUFFER_ROWS + 50, 7  # more listed rows than one buffer holds
    X = rng.normal(size=(start + n_rows + 5, n_features)).astype(dtype)
    mean = rng.normal(size=n_features + 2).astype(dtype)  # padded means, as the tiles pass them
    resp = np.where(rng.uniform(size=n_rows) < 0.8, rng.uniform(size=n_rows), 0.0).astype(dtype)
    listed = np.flatnonzero(resp).astype(np.int32)
    weights = resp[listed]
    buffers = call_compiled(outer_buffers, n_features, X)
    sx = np.full(n_features, 0.5)
    acc = np.full((n_features, n_features), 0.25)
    inputs = [a.copy() for a in (X, mean, listed, weights)]

    call_compiled(deferred_moments, X, start, mean, listed, weights, listed.size, *buffers, sx, acc)

    centred = X[start : start + n_rows].astype(np.float64) - mean[:n_features]
    weighted = resp[:, None] * centred
    upper = np.triu_indices(n_features)
    assert_relative_close(sx, 0.5 + weighted.sum(axis=0), RTOL[dtype], "sx")
    assert_relative_close(acc[upper], (0.25 + weighted.T @ centred)[upper], RTOL[dtype], "acc")
    assert_array_equal(np.tril(acc, -1), np.tril(np.full_like(acc, 0.25), -1))  # only the upper triangle
    for before, after in zip(inputs, (X, mean, listed, weights)):
        assert_array_equal(before, after)


# -- k-means' float32 scores in vector registers ------------------------------------------
@pytest.mark.parametrize("n_components", [2, 6, 14, 64])  # groups of 8, 4 and 2 components
@pytest.mark.parametrize("n_features, n_rows", [(4, 32), (36, 128)])
def test_nearest_tile_scores_match_numpy(n_components, n_features, n_rows):
    from fastem._kernels.nearest_scores import tile_scores

    rng = np.random.default_rng(n_components + n_features)
    xt = rng.normal(size=(n_features, n_rows)).astype(np.float32)
    centres = rng.normal(size=(n_components, n_features)).astype(np.float32)
    bias = rng.normal(size=n_components).astype(np.float32)
    if n_components > 2:
        bias[-1] = -np.inf  # a padding component never wins, nor is it the runner-up
        bias[0] = bias.max() + 1.0  # wins on some rows
        centres[1], bias[1] = centres[0], bias[0]  # components 0 and 1 always tie
    if n_components > 4:
        centres[3] = centres[2] + 0.01  # a close pair, not a tie
    inputs = [a.copy() for a in (xt, centres, bias)]
    best = np.full(n_rows, np.nan, dtype=np.float32)
    second = np.full(n_rows, np.nan, dtype=np.float32)
    label = np.full(n_rows, -1, dtype=np.int32)

    call_compiled(tile_scores, xt, centres, bias, best, second, label)

    scores = bias[:, None].astype(np.float64) + centres.astype(np.float64) @ xt.astype(np.float64)
    ordered = np.sort(scores, axis=0)
    # float32 products and sums of 36 terms of size ~1: within 1e-5 of the float64 ones.
    assert_allclose(best, ordered[-1], atol=1e-5)
    assert_allclose(second, ordered[-2], atol=1e-5)
    gap = ordered[-1] - ordered[-2]
    clear = gap > 1e-4
    assert clear.sum() > n_rows // 4
    assert_array_equal(label[clear], scores.argmax(axis=0)[clear])
    if n_components > 2:
        # Where 0 and 1 are the best, they tie exactly and the first one wins.
        tied = scores[0] == ordered[-1]
        assert tied.any()
        assert_array_equal(label[tied], 0)
        assert_array_equal(best[tied], second[tied])
        assert np.all(label != n_components - 1)
    for before, after in zip(inputs, (xt, centres, bias)):
        assert_array_equal(before, after)


# -- transposition in vector blocks -----------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_transpose_block_moves_each_block_row_to_a_column(dtype):
    from fastem._kernels.transpose import BLOCK_BYTES, transpose_block

    lanes = BLOCK_BYTES // np.dtype(dtype).itemsize
    rng = np.random.default_rng(3)
    src = rng.normal(size=40 * lanes).astype(dtype)
    offsets = rng.choice(src.size - lanes, size=lanes, replace=False).astype(np.int64)
    dst = np.full(7 + 3 * lanes * lanes, -1.0, dtype=dtype)
    before = src.copy()

    numba.njit(lambda s, o, d: transpose_block(s, o, d, 7, 3 * lanes))(src, offsets, dst)

    block = np.stack([src[o : o + lanes] for o in offsets])  # block row c from offsets[c]
    written = np.zeros(dst.size, dtype=bool)
    for r in range(lanes):
        assert_array_equal(dst[7 + 3 * lanes * r : 7 + 3 * lanes * r + lanes], block[:, r])
        written[7 + 3 * lanes * r : 7 + 3 * lanes * r + lanes] = True
    assert np.all(dst[~written] == -1.0)  # nothing else is written
    assert_array_equal(src, before)


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
# few (a kernel per count); narrow (8 x 8 blocks); whole blocks; blocks and leftovers
@pytest.mark.parametrize("n_features", [1, 3, 7, 20, 16, 35, 67])
@pytest.mark.parametrize("n_used", [1, 37, 64])
def test_transpose_tile_and_gather_columns_match_numpy(dtype, n_features, n_used):
    from fastem._kernels.gaussian_tile import gather_columns
    from fastem._kernels.transpose import transpose_tile

    rng = np.random.default_rng(n_features + n_used)
    X = rng.normal(size=(150, n_features)).astype(dtype)
    X.setflags(write=False)  # as a user's read-only array
    start, n_columns = 41, 64
    xt = np.full((n_features + 2, n_columns), -1.0, dtype=dtype)

    call_compiled(transpose_tile, X, start, start + n_used, xt)

    assert_array_equal(xt[:n_features, :n_used], X[start : start + n_used].T)
    assert np.all(xt[:n_features, n_used:] == 0.0)  # rows past stop
    assert np.all(xt[n_features:] == -1.0)  # padding features are never written

    rows = np.sort(rng.choice(100, size=n_used, replace=False)).astype(np.int64)
    mean = rng.normal(size=n_features + 2).astype(dtype)
    resp = rng.uniform(size=109).astype(dtype)
    xc = np.full_like(xt, -1.0)
    wx = np.full_like(xt, -1.0)

    call_compiled(gather_columns, X, start, rows, mean, resp, xc, wx)

    centred = (X[start + rows] - mean[:n_features]).T
    assert_array_equal(xc[:n_features, :n_used], centred)
    assert_array_equal(wx[:n_features, :n_used], resp[rows] * centred)
    assert np.all(xc[:, n_used:] == -1.0) and np.all(wx[:, n_used:] == -1.0)


# -- products of a 0/1 pattern and a dense matrix ---------------------------------------
def random_pattern(rng, n_rows, n_src, max_ones, index_dtype):
    """A CSR pattern (indptr int64, indices) of ``n_rows`` rows over ``n_src`` columns."""
    counts = rng.integers(0, max_ones + 1, n_rows)
    counts[0] = max_ones  # at least one long row (several groups of four ones)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    indices = rng.integers(0, n_src, indptr[-1]).astype(index_dtype)
    return indptr, indices


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("n_columns", [3, 8, 9, 16, 33, 70])  # scalar, one vector, overlaps, blocks
@pytest.mark.parametrize("n_src, index_dtype", [(50, np.uint8), (50, np.int64), (700, np.int32)])
def test_pattern_product_matches_numpy(dtype, n_columns, n_src, index_dtype):
    """add_pattern_product against NumPy, on read-only inputs, for row and column ranges
    (700 source rows exceed SRC_BLOCK_BYTES: the columns are read in packed blocks)."""
    from fastem._kernels.pattern_product import add_pattern_product

    rng = np.random.default_rng(n_columns + n_src)
    src = rng.normal(size=(n_src, n_columns)).astype(dtype)
    indptr, indices = random_pattern(rng, 12, n_src, 23, index_dtype)
    for array in (src, indptr, indices):
        array.setflags(write=False)
    tolerance = 1e-5 if dtype == np.float32 else 1e-13
    for row_start, row_stop in [(0, 12), (4, 9), (6, 6)]:
        for column, width in [(0, n_columns), (1, n_columns - 1), (n_columns // 2, (n_columns + 1) // 2)]:
            if width < 1:
                continue
            dst = rng.normal(size=(row_stop - row_start, n_columns)).astype(dtype)
            expected = dst.astype(np.float64)
            for i, row in enumerate(range(row_start, row_stop)):
                ones = indices[indptr[row] : indptr[row + 1]]
                expected[i, column : column + width] += src[ones, column : column + width].astype(np.float64).sum(axis=0)
            call_compiled(add_pattern_product, dst, indptr, indices, row_start, row_stop, src, column, width)
            assert_allclose(dst, expected, rtol=tolerance, atol=tolerance * np.abs(src).sum())
            outside = np.ones(n_columns, dtype=bool)
            outside[column : column + width] = False
            assert np.all(dst[:, outside] == expected[:, outside].astype(dtype))  # never written


@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_pattern_product_does_not_depend_on_column_blocks(dtype):
    """Column blocks of at least one vector get the same additions in the same order
    however the columns are split (the intrinsic's adds carry no fast-math flags), so
    they agree bit for bit; a piece narrower than a vector takes the scalar loop, which
    is compiled with reassociation, and agrees to rounding."""
    from fastem._kernels.pattern_product import add_pattern_product

    rng = np.random.default_rng(5)
    n_columns = 45
    src = rng.normal(size=(300, n_columns)).astype(dtype)
    indptr, indices = random_pattern(rng, 9, 300, 41, np.int32)
    at_once = np.zeros((9, n_columns), dtype=dtype)
    call_compiled(add_pattern_product, at_once, indptr, indices, 0, 9, src, 0, n_columns)
    # Per element, the sum of the magnitudes of its terms: rounding scales with it.
    magnitudes = np.stack([np.abs(src[indices[indptr[r]:indptr[r + 1]]]).sum(axis=0, dtype=np.float64)
                           for r in range(9)])
    for widths in ([16, 29], [20, 25], [45], [8, 9, 28], [1, 7, 37], [3, 42]):
        pieces = np.zeros_like(at_once)
        column = 0
        for width in widths:
            call_compiled(add_pattern_product, pieces, indptr, indices, 0, 9, src, column, width)
            column += width
        if min(widths) >= 16:  # a vector on every target (64 bytes of float32 at most)
            assert_array_equal(pieces, at_once, err_msg=str(widths))
        else:
            # Measured over 200 seeds: at most 1.22 eps times the magnitudes (float64 on
            # AVX2, host and haswell; 0 on generic and in float32), so 3 leaves margin.
            error = np.abs(pieces.astype(np.float64) - at_once)
            assert np.all(error <= 3 * np.finfo(dtype).eps * magnitudes), str(widths)


def test_tile_columns_list_each_tiles_rows_by_column():
    from fastem._kernels.bernoulli import TILE_COLUMNS, TILE_ROWS, tile_columns

    rng = np.random.default_rng(2)
    n_rows, n_features = 2 * TILE_ROWS + 37, 23
    X = rng.uniform(size=(n_rows, n_features)) < 0.4
    X[5] = False  # a row without ones
    X[:, 4] = False  # a feature no row has
    rows, columns = np.nonzero(X)
    indptr = np.concatenate([[0], np.cumsum(X.sum(axis=1))]).astype(np.int64)
    indices = columns.astype(np.int32)

    colptr, column_rows = tile_columns(indptr, indices, n_features)

    assert colptr.shape == (3, n_features + 2) and column_rows.shape == (X.sum() + n_rows,)
    assert colptr[0, 0] == 0 and colptr[-1, -1] == column_rows.size
    for tile in range(3):
        block = X[tile * TILE_ROWS : (tile + 1) * TILE_ROWS]
        block = np.hstack([block, np.ones((block.shape[0], 1), dtype=bool)])  # column D: every row
        if tile > 0:
            assert colptr[tile, 0] == colptr[tile - 1, -1]
        for d in range(n_features + 1):
            listed = column_rows[colptr[tile, d] : colptr[tile, d + 1]]
            assert_array_equal(listed, np.flatnonzero(block[:, d]))

    # Sparser than TILE_COLUMNS: no tiles (the moments scatter).
    sparse = X & (rng.uniform(size=X.shape) < 0.1)
    assert sparse.mean() < TILE_COLUMNS
    indptr = np.concatenate([[0], np.cumsum(sparse.sum(axis=1))]).astype(np.int64)
    colptr, column_rows = tile_columns(indptr, np.nonzero(sparse)[1].astype(np.int32), n_features)
    assert colptr.shape == (0, n_features + 2) and column_rows.shape == (0,)
