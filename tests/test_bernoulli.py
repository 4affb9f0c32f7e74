"""fastem.BernoulliMixture and the Bernoulli family against a plain-NumPy reference.

The reference below is written from the formulas (dense float64 arrays, one matrix
product per E-step) and does not use fastem: the E-step statistics (nk, sx, loglik,
weight), the MAP M-step under a Beta(alpha, beta) prior, the objective and an EM loop.
Kernel errors are measured as ``max|fastem - reference| / max|reference|`` over a whole
array (``relative_error``), as in test_kernels.py.  Tolerances were measured (x86-64,
2 threads) on this file's data and set about 10x or more above the worst value seen;
the comments give the measured value.

Fits run on one thread (``n_threads=1``) unless the number of threads is the point.
"""

import re
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import call_compiled, make_sample_weight, n_threads
from numpy.testing import assert_allclose, assert_array_equal
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score

from fastem import BernoulliMixture, ConvergenceWarning, NotFittedError
from fastem._kernels._jit import CHUNK_ROWS, MODE_HARD, MODE_SAMPLE, MODE_SOFT
from fastem._kernels.weights import EXP_CUTOFF
from fastem._kernels.bernoulli import (
    TILE_ROWS, TILE_COLUMNS, pattern_is_cheaper, per_component, scatter_cost,
)
from fastem._validation import check_binary_data
from fastem._families.bernoulli import BernoulliFamily, BernoulliParams

MODES = {"soft": MODE_SOFT, "hard": MODE_HARD}
DTYPES = [bool, np.uint8, np.int64, np.float32, np.float64]

# Kernel vs reference, worst over nk, sx, loglik and the posterior outputs; measured on
# the data of test_estep_matches_reference and 15 other seeds (soft and hard, weighted or
# not): nk 4.5e-15, sx 2.0e-15, loglik 1.3e-15, resp 3.2e-15, log_prob 1.1e-15.
RTOL = 1e-13

# The reference clips probabilities as fastem documents it does.
FLOOR = 1e-12
NK_EPS = 10.0 * np.finfo(np.float64).eps


# -- plain-NumPy reference ----------------------------------------------------------------
def ref_log_prob(X, weights, probabilities):
    """``log pi_k + sum_d x_d log p_kd + (1 - x_d) log(1 - p_kd)``, shape (N, K)."""
    X = np.asarray(X, dtype=np.float64)
    p = np.clip(np.asarray(probabilities, dtype=np.float64), FLOOR, 1.0 - FLOOR)
    return X @ np.log(p).T + (1.0 - X) @ np.log(1.0 - p).T + np.log(weights)


def ref_logsumexp(a):
    top = a.max(axis=1)
    return top + np.log(np.exp(a - top[:, None]).sum(axis=1))


def ref_posterior(X, weights, probabilities):
    """(resp, log_prob, label)."""
    lp = ref_log_prob(X, weights, probabilities)
    log_prob = ref_logsumexp(lp)
    return np.exp(lp - log_prob[:, None]), log_prob, lp.argmax(axis=1)


def ref_estep(X, sample_weight, weights, probabilities, mode="soft"):
    """dict(nk, sx, loglik, weight): sums over rows of w r, w r x, w log-lik, w."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    lp = ref_log_prob(X, weights, probabilities)
    if mode == "soft":
        row_loglik = ref_logsumexp(lp)
        resp = np.exp(lp - row_loglik[:, None])
    else:
        label = lp.argmax(axis=1)
        row_loglik = lp[np.arange(X.shape[0]), label]
        resp = np.zeros_like(lp)
        resp[np.arange(X.shape[0]), label] = 1.0
    wr = resp * w[:, None]
    return dict(nk=wr.sum(axis=0), sx=wr.T @ X, loglik=float(w @ row_loglik), weight=float(w.sum()))


def ref_log_prior(probabilities, alpha, beta):
    p = np.clip(probabilities, FLOOR, 1.0 - FLOOR)
    return float((alpha - 1.0) * np.log(p).sum() + (beta - 1.0) * np.log(1.0 - p).sum())


def ref_mstep(nk, sx, alpha, beta):
    """MAP under Beta(alpha, beta): (weights, probabilities)."""
    weights = (nk + NK_EPS) / (nk + NK_EPS).sum()
    probabilities = (sx + alpha - 1.0) / (nk + alpha + beta - 2.0)[:, None]
    return weights, probabilities


def ref_em(X, sample_weight, weights, probabilities, alpha, beta, n_iter, mode="soft"):
    """``n_iter`` EM iterations; returns (objective history, weights, probabilities)."""
    history = []
    for _ in range(n_iter):
        s = ref_estep(X, sample_weight, weights, probabilities, mode)
        history.append((s["loglik"] + ref_log_prior(probabilities, alpha, beta)) / s["weight"])
        weights, probabilities = ref_mstep(s["nk"], s["sx"], alpha, beta)
    return np.array(history), weights, probabilities


def relative_error(actual, desired):
    actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    scale = np.abs(desired).max()
    return float(np.abs(actual - desired).max() / (scale if scale > 0 else 1.0))


# -- data ---------------------------------------------------------------------------------
def random_params(seed, n_components, n_features, low=0.05, high=0.95):
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 1.5, n_components)
    return weights / weights.sum(), rng.uniform(low, high, (n_components, n_features))


def bernoulli_problem(seed, n_samples, n_components, n_features, low=0.05, high=0.95):
    """Rows drawn from a random Bernoulli mixture: (X float64 0/1, labels, weights, probabilities)."""
    weights, probabilities = random_params(seed, n_components, n_features, low, high)
    rng = np.random.default_rng(seed + 1000)
    labels = rng.choice(n_components, size=n_samples, p=weights)
    X = (rng.uniform(size=(n_samples, n_features)) < probabilities[labels]).astype(np.float64)
    return X, labels, weights, probabilities


def separated_problem(seed, n_samples, n_features):
    """Three well-separated components (probabilities near 0.15 or 0.85, weights 0.5,
    0.3, 0.2): (X float64 0/1, labels, weights, probabilities)."""
    rng = np.random.default_rng(seed)
    weights = np.array([0.5, 0.3, 0.2])
    probabilities = (np.where(rng.uniform(size=(3, n_features)) < 0.5, 0.15, 0.85)
                     + rng.uniform(-0.1, 0.1, (3, n_features)))
    labels = rng.choice(3, size=n_samples, p=weights)
    X = (rng.uniform(size=(n_samples, n_features)) < probabilities[labels]).astype(np.float64)
    return X, labels, weights, probabilities


def messy_csr(X, seed):
    """A non-canonical CSR equal to ``X``: explicit zeros, ones split into duplicates that
    sum to 1 (0.5 + 0.5, 0.25 + 0.75, 1 + 0), unsorted column indices within rows."""
    rng = np.random.default_rng(seed)
    data, indices, indptr = [], [], [0]
    for row in X:
        entries = []
        for d, value in enumerate(row):
            if value:
                kind = rng.integers(4)
                if kind == 0:
                    entries.append((d, 1.0))
                elif kind == 1:
                    entries += [(d, 0.5), (d, 0.5)]
                elif kind == 2:
                    entries += [(d, 0.25), (d, 0.75)]
                else:
                    entries += [(d, 1.0), (d, 0.0)]
            elif rng.uniform() < 0.2:
                entries.append((d, 0.0))
        order = rng.permutation(len(entries))
        for i in order:
            indices.append(entries[i][0])
            data.append(entries[i][1])
        indptr.append(len(indices))
    matrix = sp.csr_matrix((np.array(data), np.array(indices, dtype=np.int32), np.array(indptr)), shape=X.shape)
    assert not matrix.has_canonical_format
    return matrix


def _arrays(matrix):
    if matrix.format == "coo":
        return matrix.data, matrix.row, matrix.col
    return matrix.data, matrix.indices, matrix.indptr


def snapshot(matrix):
    """Copies of a sparse matrix's arrays, its shape and nnz."""
    return [a.copy() for a in _arrays(matrix)], matrix.shape, matrix.nnz


def assert_unchanged(matrix, before):
    arrays, shape, nnz = before
    assert matrix.shape == shape and matrix.nnz == nnz
    for now, then in zip(_arrays(matrix), arrays):
        assert now.dtype == then.dtype
        assert_array_equal(now, then)


def fit_quietly(model, X, **kwargs):
    """Fit while catching the ConvergenceWarning expected at tol=0."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(X, **kwargs)


# -- 1. the E-step kernel and posterior against the reference ------------------------------
# The three ways the kernel adds a tile's weights to the moments (see _kernels/bernoulli.py),
# each with data and parameters that send every tile there under soft weights: K and D
# odd (K = 9 float64 components take two overlapping vectors in the pattern products,
# K = 33 blocks of 32 and 1, joined), three chunks, the last one partial.
MOMENT_ROUTES = {
    # dense enough for tile columns, posteriors spread over all 9 components
    "tile-columns": dict(seed=1, n_components=9, n_features=41, low=0.3, high=0.9, params_range=(0.4, 0.6)),
    # the same spread posteriors, too few ones for tile columns
    "vector-scatter": dict(seed=1, n_components=9, n_features=41, low=0.005, high=0.06, params_range=(0.02, 0.06)),
    # well-separated components: most posteriors sit on one component
    "per-component": dict(seed=8, n_components=33, n_features=201, low=0.02, high=0.98, params_range=None),
}


def route_problem(route, n_samples):
    """(X, weights, probabilities) of MOMENT_ROUTES[route] at ``n_samples`` rows."""
    setting = MOMENT_ROUTES[route]
    n_components, n_features = setting["n_components"], setting["n_features"]
    X, _, weights, probabilities = bernoulli_problem(
        setting["seed"], n_samples, n_components, n_features, setting["low"], setting["high"]
    )
    if setting["params_range"] is not None:  # not the generating parameters
        weights, probabilities = random_params(2, n_components, n_features, *setting["params_range"])
    return X, weights, probabilities


def moment_route(X, weights, probabilities):
    """The route every tile of X takes under soft weights, from the kernel's own cost
    rules applied to the reference posteriors (None if the tiles disagree)."""
    lp = ref_log_prob(X, weights, probabilities)
    n_nonzero = (lp - lp.max(axis=1, keepdims=True) > -EXP_CUTOFF).sum(axis=1)
    n_ones = X.sum(axis=1).astype(np.int64)
    n_components, n_features = probabilities.shape
    routes = set()
    by_columns = X.mean() >= TILE_COLUMNS
    for chunk_start in range(0, X.shape[0], CHUNK_ROWS):
        chunk = slice(chunk_start, min(chunk_start + CHUNK_ROWS, X.shape[0]))
        for tile_start in range(chunk.start, chunk.stop, TILE_ROWS):
            tile = range(tile_start, min(tile_start + TILE_ROWS, chunk.stop))
            cost = sum(call_compiled(scatter_cost, n_ones[i], n_nonzero[i], n_components) for i in tile)
            if by_columns and call_compiled(pattern_is_cheaper, cost, len(tile), n_ones[tile].sum(), n_components):
                routes.add("tile-columns")
            else:
                vector = [not call_compiled(per_component, n_nonzero[i], n_components) for i in tile]
                routes.add("vector-scatter" if all(vector) else "per-component" if not any(vector) else "mixed")
    return routes.pop() if len(routes) == 1 else None


@pytest.mark.parametrize("mode", list(MODES) + ["sample"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("source", ["dense", "csr"])
@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
@pytest.mark.parametrize("route", list(MOMENT_ROUTES))
def test_estep_matches_reference(mode, weighted, source, dtype, route):
    n_samples = 2 * CHUNK_ROWS + 301
    X, weights, probabilities = route_problem(route, n_samples)
    n_components = probabilities.shape[0]
    assert moment_route(X, weights, probabilities) == route
    Xd = X.astype(dtype)
    rows = check_binary_data(sp.csr_matrix(Xd) if source == "csr" else Xd)
    sample_weight = make_sample_weight(3, n_samples) if weighted else None
    family = BernoulliFamily(alpha=1.5, beta=2.0)
    params = BernoulliParams(weights, probabilities)
    if mode == "sample":
        # Draws are not the reference's, but their counts are: nk sums whole sample
        # weights per label drawn, and sx == nk wherever every row has a one.
        stats = family.estep(rows, sample_weight, params, MODE_SAMPLE, seed=5, n_draws=3)
        w = np.ones(n_samples) if sample_weight is None else sample_weight
        assert_allclose(stats.nk.sum(), w.sum(), rtol=1e-13)
        assert np.all(stats.sx <= stats.nk[:, None] * (1 + 1e-15))
        expected = ref_estep(X, sample_weight, weights, probabilities)
        assert_allclose(stats.loglik, expected["loglik"], rtol=RTOL)
        return
    stats = family.estep(rows, sample_weight, params, MODES[mode])
    expected = ref_estep(X, sample_weight, weights, probabilities, mode)
    assert relative_error(stats.nk, expected["nk"]) < RTOL
    assert relative_error(stats.sx, expected["sx"]) < RTOL
    assert_allclose(stats.loglik, expected["loglik"], rtol=RTOL)
    assert_allclose(stats.weight, expected["weight"], rtol=1e-14)
    if mode == "hard":  # hard counts are sums of whole weights
        labels = ref_log_prob(X, weights, probabilities).argmax(axis=1)
        w = np.ones(n_samples) if sample_weight is None else sample_weight
        assert_allclose(stats.nk, np.bincount(labels, weights=w, minlength=n_components), rtol=1e-14)


@pytest.mark.parametrize("n_components, n_features", [(40, 41), (24, 300)])
def test_estep_by_tile_columns_in_column_blocks_matches_reference(n_components, n_features):
    """Tile-column moments with K = 40 (blocks of 16 weights read from packed copies)
    and log-densities from a 300-row table (too large for column blocks), against the
    reference, weighted, and the posterior likewise."""
    n_samples = 700
    X, _, _, _ = bernoulli_problem(1, n_samples, n_components, n_features, 0.3, 0.9)
    weights, probabilities = random_params(2, n_components, n_features, 0.4, 0.6)
    assert moment_route(X, weights, probabilities) == "tile-columns"
    sample_weight = make_sample_weight(3, n_samples)
    family = BernoulliFamily()
    params = BernoulliParams(weights, probabilities)
    stats = family.estep(check_binary_data(sp.csr_matrix(X)), sample_weight, params)
    expected = ref_estep(X, sample_weight, weights, probabilities)
    assert relative_error(stats.nk, expected["nk"]) < RTOL
    assert relative_error(stats.sx, expected["sx"]) < RTOL
    assert_allclose(stats.loglik, expected["loglik"], rtol=RTOL)
    _, log_prob, _, _ = family.posterior(check_binary_data(X), params, log_prob=True)
    lp = ref_log_prob(X, weights, probabilities)
    top = lp.max(axis=1)
    assert_allclose(log_prob, top + np.log(np.exp(lp - top[:, None]).sum(axis=1)), rtol=1e-12)


def test_moments_exact_where_a_feature_is_always_one():
    """Every route adds a row's weight to nk and to sx[:, d] alike, so a feature that
    is 1 in every row has sx == nk bit for bit (its maximum-likelihood probability is
    exactly 1)."""
    n_samples = 2 * CHUNK_ROWS + 301
    for route in MOMENT_ROUTES:
        X, weights, probabilities = route_problem(route, n_samples)
        X[:, 3] = 1.0
        assert moment_route(X, weights, probabilities) == route
        stats = BernoulliFamily().estep(check_binary_data(X), make_sample_weight(4, n_samples),
                                        BernoulliParams(weights, probabilities))
        assert_array_equal(stats.sx[:, 3], stats.nk, err_msg=route)


@pytest.mark.parametrize("n_components, n_features", [(1, 7), (3, 1), (1, 1)])
@pytest.mark.parametrize("mode", list(MODES))
def test_estep_edge_shapes(n_components, n_features, mode):
    n_samples = CHUNK_ROWS + 5
    X, _, _, _ = bernoulli_problem(4, n_samples, n_components, n_features)
    weights, probabilities = random_params(5, n_components, n_features)
    sample_weight = make_sample_weight(6, n_samples)
    family = BernoulliFamily()
    for rows in (check_binary_data(X), check_binary_data(sp.csr_matrix(X))):
        stats = family.estep(rows, sample_weight, BernoulliParams(weights, probabilities), MODES[mode])
        expected = ref_estep(X, sample_weight, weights, probabilities, mode)
        assert relative_error(stats.nk, expected["nk"]) < RTOL
        assert relative_error(stats.sx, expected["sx"]) < RTOL
        assert_allclose(stats.loglik, expected["loglik"], rtol=RTOL)
        resp, log_prob, label, _ = family.posterior(rows, BernoulliParams(weights, probabilities), True, True, True)
        ref_resp, ref_lp, ref_label = ref_posterior(X, weights, probabilities)
        assert relative_error(resp, ref_resp) < RTOL
        assert relative_error(log_prob, ref_lp) < RTOL
        assert_array_equal(label, ref_label)


@pytest.mark.parametrize("source", ["dense", "csr"])
def test_posterior_matches_reference(source):
    X, _, _, _ = bernoulli_problem(7, 2 * CHUNK_ROWS + 10, 5, 20)
    weights, probabilities = random_params(8, 5, 20, 0.2, 0.8)  # overlapping: resp not all 0/1
    rows = check_binary_data(sp.csr_matrix(X) if source == "csr" else X.astype(np.uint8))
    params = BernoulliParams(weights, probabilities)
    family = BernoulliFamily()
    resp, log_prob, label, weighted = family.posterior(
        rows, params, resp=True, log_prob=True, label=True, weighted_log_prob=True
    )
    ref_resp, ref_lp, ref_label = ref_posterior(X, weights, probabilities)
    assert relative_error(resp, ref_resp) < RTOL
    assert_allclose(log_prob, ref_lp, rtol=RTOL)
    assert_array_equal(label, ref_label)
    assert relative_error(weighted, ref_log_prob(X, weights, probabilities)) < RTOL
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-14)
    assert 0.05 < ref_resp.max(axis=1).min()  # the data really is ambiguous somewhere
    assert ref_resp.max(axis=1).min() < 0.9
    # unrequested outputs are None; requested ones alone are the same numbers
    only = family.posterior(rows, params, log_prob=True)
    assert only[0] is None and only[2] is None and only[3] is None
    assert_array_equal(only[1], log_prob)
    assert_array_equal(family.posterior(rows, params, weighted_log_prob=True)[3], weighted)


def test_estep_does_not_depend_on_threads_and_sampled_mode():
    X, _, weights, probabilities = bernoulli_problem(9, 5 * CHUNK_ROWS + 7, 3, 10)
    rows = check_binary_data(X)
    params = BernoulliParams(weights, probabilities)
    family = BernoulliFamily()
    sample_weight = make_sample_weight(10, X.shape[0])
    for mode, draws in [(MODE_SOFT, 0), (MODE_HARD, 0), (MODE_SAMPLE, 3)]:
        with n_threads(1):
            one = family.estep(rows, sample_weight, params, mode, 11, draws)
        with n_threads(2):
            two = family.estep(rows, sample_weight, params, mode, 11, draws)
        assert_array_equal(one.nk, two.nk)
        assert_array_equal(one.sx, two.sx)
        assert one.loglik == two.loglik and one.fingerprint == two.fingerprint
    # sampled weights: the loglik is the exact one; counts are frequencies of draws
    sampled = family.estep(rows, sample_weight, params, MODE_SAMPLE, 11, 3)
    exact = ref_estep(X, sample_weight, weights, probabilities)
    assert_allclose(sampled.loglik, exact["loglik"], rtol=RTOL)
    assert_allclose(sampled.nk.sum(), sample_weight.sum(), rtol=1e-13)
    assert_allclose(sampled.nk, exact["nk"], rtol=0.05)
    with pytest.raises(ValueError, match=re.escape("n_draws must be at least 1 for sampled weights; got 0.")):
        family.estep(rows, None, params, MODE_SAMPLE, 0, 0)


def test_m_step_objective_and_log_prior_match_reference():
    X, _, weights, probabilities = bernoulli_problem(12, 900, 3, 8)
    rows = check_binary_data(X)
    sample_weight = make_sample_weight(13, 900)
    for alpha, beta in [(1.01, 1.01), (2.0, 3.5), (1.0, 1.0)]:
        family = BernoulliFamily(alpha, beta)
        params = BernoulliParams(weights, probabilities)
        stats = family.estep(rows, sample_weight, params)
        expected = ref_estep(X, sample_weight, weights, probabilities)
        ref_w, ref_p = ref_mstep(expected["nk"], expected["sx"], alpha, beta)
        new = family.m_step(stats)
        assert_allclose(new.weights, ref_w, rtol=1e-13)
        assert relative_error(new.probabilities, ref_p) < 1e-13
        assert_allclose(family.log_prior(params), ref_log_prior(probabilities, alpha, beta), rtol=1e-13)
        assert_allclose(
            family.objective(stats, params),
            (expected["loglik"] + ref_log_prior(probabilities, alpha, beta)) / expected["weight"],
            rtol=1e-13,
        )
        # conditional M-steps keep the other group
        only_w = family.m_step(stats, params, ("weights",))
        assert_array_equal(only_w.probabilities, probabilities)
        assert_allclose(only_w.weights, ref_w, rtol=1e-13)
        only_p = family.m_step(stats, params, ("probabilities",))
        assert_array_equal(only_p.weights, weights)


# -- 2. dense and sparse input give the same fit ------------------------------------------
def test_dense_and_sparse_fits_agree_and_user_matrix_untouched():
    X, _, _, _ = bernoulli_problem(20, 1500, 3, 12)
    weights0, probabilities0 = random_params(21, 3, 12, 0.3, 0.7)
    settings = dict(n_components=3, weights_init=weights0, probabilities_init=probabilities0,
                    tol=0.0, max_iter=15, n_threads=1)
    dense = fit_quietly(BernoulliMixture(**settings), X.astype(np.uint8))
    inputs = {
        "float64": X,
        "bool": X.astype(bool),
        "csr": sp.csr_matrix(X),
        "csr_array": sp.csr_array(X),
        "csc": sp.csc_matrix(X),
        "coo": sp.coo_matrix(X),
        "messy csr": messy_csr(X, 22),
    }
    for name, data in inputs.items():
        before = snapshot(data) if sp.issparse(data) else None
        model = fit_quietly(BernoulliMixture(**settings), data)
        if before is not None:
            assert_unchanged(data, before)
        assert_allclose(model.lower_bounds_, dense.lower_bounds_, rtol=1e-12, atol=0, err_msg=name)
        assert_allclose(model.probabilities_, dense.probabilities_, rtol=1e-12, atol=1e-15, err_msg=name)
        assert_allclose(model.weights_, dense.weights_, rtol=1e-12, err_msg=name)
        assert_allclose(model.score_samples(data), dense.score_samples(X), rtol=1e-12, err_msg=name)
        assert_array_equal(model.predict(data), dense.predict(X), err_msg=name)
    messy = inputs["messy csr"]
    assert not messy.has_canonical_format  # still the user's messy matrix
    # the fit is the reference EM from the same start
    history, ref_w, ref_p = ref_em(X, None, weights0, probabilities0, 1.01, 1.01, 15)
    assert_allclose(dense.lower_bounds_, history, rtol=1e-12)
    assert relative_error(dense.probabilities_, ref_p) < 1e-10
    assert_allclose(dense.weights_, ref_w, rtol=1e-10)


def test_user_inputs_are_not_modified():
    X, _, _, _ = bernoulli_problem(23, 300, 2, 6)
    matrix = messy_csr(X, 24)
    before = snapshot(matrix)
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(matrix)
    model.predict(matrix), model.score(matrix), model.predict_proba(matrix)
    assert_unchanged(matrix, before)
    dense = X.copy()
    model.fit(dense)
    assert_array_equal(dense, X)
    # initial values are copied, not aliased
    w0, p0 = np.array([0.5, 0.5]), np.full((2, 6), 0.5)
    p0[0, :3] = 0.2
    model = BernoulliMixture(2, weights_init=w0, probabilities_init=p0, n_threads=1).fit(X)
    assert_array_equal(w0, [0.5, 0.5])
    assert p0[1, 0] == 0.5 and p0[0, 0] == 0.2
    assert model.probabilities_ is not p0


# -- 3. parameter recovery -----------------------------------------------------------------
def test_parameter_recovery():
    X, labels, weights, probabilities = separated_problem(30, 5000, 30)
    model = BernoulliMixture(3, n_init=2, random_state=0, n_threads=1).fit(X)
    assert model.converged_
    distance = np.abs(model.probabilities_[:, None, :] - probabilities[None]).sum(axis=2)
    fitted, true = linear_sum_assignment(distance)
    order = fitted[np.argsort(true)]
    assert_allclose(model.weights_[order], weights, atol=0.03)
    assert np.abs(model.probabilities_[order] - probabilities).max() < 0.06
    # the components are well separated: the fit is the empirical per-class frequency
    empirical = np.stack([X[labels == k].mean(axis=0) for k in range(3)])
    assert np.abs(model.probabilities_[order] - empirical).max() < 0.01
    assert adjusted_rand_score(labels, model.predict(X)) > 0.99
    # and it classifies as the true mixture does
    bayes = ref_posterior(X, weights, probabilities)[2]
    assert np.mean(order[bayes] == model.predict(X)) > 0.998


# -- 4. real data: binarised digits --------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    return (load_digits().data > 7)


@pytest.fixture(scope="module")
def digits_start():
    weights, probabilities = random_params(40, 10, 64, 0.25, 0.75)
    return weights, probabilities


def test_digits_matches_reference_em(digits, digits_start):
    weights0, probabilities0 = digits_start
    model = BernoulliMixture(10, weights_init=weights0, probabilities_init=probabilities0,
                             tol=0.0, max_iter=30, n_threads=1)
    with pytest.warns(ConvergenceWarning, match=r"did not converge\. .*\(max_iter=30, "):
        model.fit(digits)
    history, ref_w, ref_p = ref_em(digits, None, weights0, probabilities0, 1.01, 1.01, 30)
    assert model.n_iter_ == 30 and not model.converged_
    # measured after 30 iterations: lower_bounds_ 3.3e-15, probabilities 4.7e-14 (relative
    # to the largest), weights 5.1e-14 (element-wise)
    assert_allclose(model.lower_bounds_, history, rtol=1e-13)
    assert model.lower_bound_ == model.lower_bounds_[-1]
    assert relative_error(model.probabilities_, ref_p) < 1e-12
    assert_allclose(model.weights_, ref_w, rtol=1e-12)
    # score is the mean log-likelihood (without the prior) at the fitted parameters
    assert_allclose(model.score(digits), ref_posterior(digits, ref_w, ref_p)[1].mean(), rtol=1e-12)
    one = BernoulliMixture(1, n_threads=1).fit(digits)
    assert model.score(digits) > one.score(digits) + 3.0  # measured margin: 5.85 nats
    # one component: the MAP frequencies, in one iteration
    counts = digits.sum(axis=0)
    assert_allclose(one.probabilities_[0], (counts + 0.01) / (digits.shape[0] + 0.02), rtol=1e-12)


@pytest.mark.parametrize(
    "variant",
    [
        dict(algorithm="em"),
        dict(algorithm="generalized", gem_step="overrelaxed"),
        dict(algorithm="generalized", gem_step="ecm"),
        dict(algorithm="em", accelerate="squarem"),
        dict(algorithm="generalized", gem_step="ecm", accelerate="squarem"),
        dict(algorithm="hard"),
    ],
    ids=lambda v: "-".join(str(x) for x in v.values()),
)
def test_digits_objective_never_decreases(digits, digits_start, variant):
    weights0, probabilities0 = digits_start
    model = BernoulliMixture(10, weights_init=weights0, probabilities_init=probabilities0,
                             tol=1e-10, max_iter=60, n_threads=1, **variant)
    fit_quietly(model, digits)
    bounds = np.array(model.lower_bounds_)
    assert len(bounds) >= 5
    assert np.all(np.isfinite(bounds))
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()
    assert np.all((model.probabilities_ > 0) & (model.probabilities_ < 1))
    assert_allclose(model.weights_.sum(), 1.0, rtol=1e-14)
    if variant["algorithm"] != "hard":  # all reach a real improvement over the start
        assert bounds[-1] > bounds[0] + 5.0


def test_digits_hard_em_matches_reference(digits, digits_start):
    weights0, probabilities0 = digits_start
    model = BernoulliMixture(10, weights_init=weights0, probabilities_init=probabilities0,
                             algorithm="hard", tol=0.0, max_iter=8, n_threads=1)
    fit_quietly(model, digits)
    n = len(model.lower_bounds_)
    history, ref_w, ref_p = ref_em(digits, None, weights0, probabilities0, 1.01, 1.01, n, mode="hard")
    assert_allclose(model.lower_bounds_, history, rtol=1e-12)
    if not model.converged_:
        assert relative_error(model.probabilities_, ref_p) < 1e-12


def test_monte_carlo_reproducible_across_threads(digits, digits_start):
    weights0, probabilities0 = digits_start
    fits = []
    for threads in (1, 2):
        model = BernoulliMixture(10, weights_init=weights0, probabilities_init=probabilities0,
                                 algorithm="monte_carlo", mc_samples=2, tol=0.0, max_iter=10,
                                 random_state=3, n_threads=threads)
        fits.append(fit_quietly(model, digits))
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)
    assert_array_equal(fits[0].probabilities_, fits[1].probabilities_)
    assert_array_equal(fits[0].weights_, fits[1].weights_)
    assert fits[0].lower_bound_ == max(fits[0].lower_bounds_)  # keeps the best iterate
    assert fits[0].lower_bounds_[-1] > fits[0].lower_bounds_[0] + 5.0
    # the first objective is the exact one at the start
    history, _, _ = ref_em(digits, None, weights0, probabilities0, 1.01, 1.01, 1)
    assert_allclose(fits[0].lower_bounds_[0], history[0], rtol=1e-12)
    other = BernoulliMixture(10, weights_init=weights0, probabilities_init=probabilities0,
                             algorithm="monte_carlo", mc_samples=2, tol=0.0, max_iter=10,
                             random_state=4, n_threads=1)
    assert fit_quietly(other, digits).lower_bounds_[1:] != fits[0].lower_bounds_[1:]


# -- 5. the prior: maximum likelihood and smoothing ----------------------------------------
def degenerate_data():
    """Column 0 always 0, column 1 always 1, the rest random; also an all-zero row."""
    X, _, _, _ = bernoulli_problem(50, 400, 2, 6)
    X[:, 0] = 0.0
    X[:, 1] = 1.0
    return X


def test_maximum_likelihood_with_probabilities_exactly_0_and_1():
    X = degenerate_data()
    weights0, probabilities0 = random_params(51, 2, 6, 0.3, 0.7)
    with np.errstate(all="raise"):
        model = fit_quietly(BernoulliMixture(2, alpha=1.0, beta=1.0, weights_init=weights0,
                                             probabilities_init=probabilities0, tol=0.0,
                                             max_iter=20, n_threads=1), X)
    assert np.all(model.probabilities_[:, 0] == 0.0)
    assert np.all(model.probabilities_[:, 1] == 1.0)
    assert np.all(np.isfinite(model.lower_bounds_))
    history, ref_w, ref_p = ref_em(X, None, weights0, probabilities0, 1.0, 1.0, 20)
    assert_allclose(model.lower_bounds_, history, rtol=1e-12)
    assert relative_error(model.probabilities_, ref_p) < 1e-10
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12 * np.abs(model.lower_bounds_[1:]))
    for method in (model.score_samples, model.predict_proba):
        assert np.all(np.isfinite(method(X)))
    # plain ML M-step: sx / nk
    rows = check_binary_data(X)
    family = BernoulliFamily(1.0, 1.0)
    stats = family.estep(rows, None, BernoulliParams(model.weights_, model.probabilities_))
    new = family.m_step(stats)
    assert_allclose(new.probabilities, stats.sx / stats.nk[:, None], rtol=1e-15)
    assert family.log_prior(new) == 0.0
    # probabilities exactly 0 and 1 in the E-step give finite statistics (the 1e-12 floor)
    params = BernoulliParams(np.array([0.5, 0.5]), np.array([[0.0, 1.0, 0.5, 0.5, 0.5, 0.5],
                                                             [1.0, 0.0, 0.5, 0.5, 0.5, 0.5]]))
    stats = family.estep(rows, None, params)
    expected = ref_estep(X, None, params.weights, params.probabilities)
    assert np.isfinite(stats.loglik)
    assert_allclose(stats.loglik, expected["loglik"], rtol=1e-13)
    assert relative_error(stats.sx, expected["sx"]) < RTOL


def test_default_prior_keeps_probabilities_inside():
    X = degenerate_data()
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(X)
    p = model.probabilities_
    assert np.all((p > 0) & (p < 1))
    nk = model.weights_ * X.shape[0]  # approximately
    assert_allclose(p[:, 0], 0.01 / (nk + 0.02), rtol=1e-6)
    assert_allclose(p[:, 1], (nk + 0.01) / (nk + 0.02), rtol=1e-6)
    # the objective includes the log prior, score does not
    ll = ref_posterior(X, model.weights_, p)[1].mean()
    assert_allclose(model.score(X), ll, rtol=1e-12)
    stronger = BernoulliMixture(2, alpha=3.0, beta=3.0, random_state=0, n_threads=1).fit(X)
    assert np.all(stronger.probabilities_[:, 0] > p[:, 0])


# -- 6. bad input --------------------------------------------------------------------------
def binary_message(where, value):
    return re.escape(f"X must hold only 0 and 1 (binary data); X[{where}] = {value}. "
                     "Binarise it first (e.g. X > threshold).")


def test_non_binary_values_raise_naming_the_first_one():
    X = np.zeros((5, 4))
    X[1, 0] = 1.0
    X[2, 3] = 0.5
    X[4, 1] = 2.0
    model = BernoulliMixture(2)
    with pytest.raises(ValueError, match=binary_message("2, 3", 0.5)):
        model.fit(X)
    with pytest.raises(ValueError, match=binary_message("2, 3", 0.5)):
        model.fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match=binary_message("2, 3", 0.5)):
        model.fit(sp.csc_matrix(X))
    Xi = np.zeros((5, 4), dtype=np.int64)
    Xi[3, 2] = -1
    with pytest.raises(ValueError, match=binary_message("3, 2", -1)):
        model.fit(Xi)
    # duplicates summing to 2
    bad = sp.csr_matrix((np.array([1.0, 1.0, 1.0]), np.array([1, 1, 0]), np.array([0, 2, 3, 3])), shape=(3, 2))
    with pytest.raises(ValueError, match=binary_message("0, 1", 2.0)):
        model.fit(bad)
    assert bad.nnz == 3 and not bad.has_canonical_format  # untouched


def test_nan_and_shape_errors():
    X = np.zeros((5, 4))
    X[1, 2] = np.nan
    X[3, 0] = np.inf
    model = BernoulliMixture(2)
    with pytest.raises(ValueError, match=re.escape(
            "X contains 2 non-finite value(s) (NaN or inf; first at row 1, column 2); remove or impute them.")):
        model.fit(X)
    with pytest.raises(ValueError, match=binary_message("1, 2", "nan")):
        model.fit(sp.csr_matrix(X))
    with pytest.raises(ValueError, match=re.escape(
            "X must be a 2-D array of shape (n_samples, n_features); got a 1-D array of shape (5,).")):
        model.fit(np.ones(5))
    with pytest.raises(TypeError, match=re.escape("X has dtype <U1; binary data must be bool or numeric 0/1.")):
        model.fit(np.array([["a", "b"], ["c", "d"]]))
    with pytest.raises(ValueError, match=re.escape(
            "Found array with 1 sample(s) (shape=(1, 4)) while a minimum of 2 is required.")):
        model.fit(np.ones((1, 4)))
    with pytest.raises(ValueError, match=re.escape(
            "X has 3 samples but n_components=4; a mixture needs at least as many samples as components.")):
        BernoulliMixture(4).fit(np.ones((3, 4)))


def test_wrong_number_of_features_at_predict():
    X, _, _, _ = bernoulli_problem(60, 100, 2, 6)
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(X)
    message = re.escape("X has 5 features, but BernoulliMixture is expecting 6 features as input.")
    for method in (model.predict, model.predict_proba, model.score_samples, model.score):
        with pytest.raises(ValueError, match=message):
            method(X[:, :5])
        with pytest.raises(ValueError, match=message):
            method(sp.csr_matrix(X[:, :5]))


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(alpha=0.5), "The 'alpha' parameter of BernoulliMixture must be a float in the range [1.0, inf). Got 0.5 instead."),
        (dict(beta=0.99), "The 'beta' parameter of BernoulliMixture must be a float in the range [1.0, inf). Got 0.99 instead."),
        (dict(alpha="1"), "The 'alpha' parameter of BernoulliMixture must be a float in the range [1.0, inf). Got '1' instead."),
        (dict(init_params="k-means++"),
         "The 'init_params' parameter of BernoulliMixture must be one of 'kmeans', 'random', "
         "'random_from_data', 'split'. Got 'k-means++' instead."),
        (dict(probabilities_init=np.full((2, 4), 0.5) - np.eye(2, 4) * 0.6),
         "probabilities_init must lie in [0, 1]; got min -0.1, max 0.5."),
        (dict(probabilities_init=np.full((2, 4), 1.5)),
         "probabilities_init must lie in [0, 1]; got min 1.5, max 1.5."),
        (dict(probabilities_init=np.full((2, 3), 0.5)),
         "probabilities_init must have shape (n_components, n_features) = (2, 4); got shape (2, 3)."),
        (dict(probabilities_init=np.full(4, 0.5)),
         "probabilities_init must have shape (n_components, n_features) = (2, 4); got shape (4,)."),
        (dict(weights_init=[0.5, 0.4]), "weights_init must sum to 1; got sum 0.9."),
        (dict(weights_init=[0.5, 0.3, 0.2]),
         "weights_init must have shape (n_components,) = (2,); got shape (3,)."),
        (dict(weights_init=[1.5, -0.5]), "weights_init must lie in [0, 1]; got min -0.5, max 1.5."),
    ],
)
def test_bad_settings_raise_and_leave_unfitted(settings, message):
    X = np.array([[0, 1, 1, 0], [1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 1]] * 5)
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(X)
    assert hasattr(model, "probabilities_")
    model.set_params(**settings)
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit(X)
    for name in ("probabilities_", "weights_", "lower_bounds_", "n_features_in_", "converged_"):
        assert not hasattr(model, name), name
    with pytest.raises(NotFittedError):
        model.predict(X)


def test_failed_fit_on_bad_data_leaves_unfitted():
    X, _, _, _ = bernoulli_problem(61, 50, 2, 4)
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(X)
    bad = X.copy()
    bad[7, 1] = 3
    with pytest.raises(ValueError, match=binary_message("7, 1", 3.0)):
        model.fit(bad)
    assert not hasattr(model, "probabilities_")
    with pytest.raises(NotFittedError):
        model.score(X)


def test_empty_rows_and_all_zero_data_are_allowed():
    X, _, _, _ = bernoulli_problem(62, 300, 2, 5)
    X[::3] = 0.0
    weights0, probabilities0 = random_params(63, 2, 5, 0.3, 0.7)
    for data in (X, sp.csr_matrix(X)):
        model = fit_quietly(BernoulliMixture(2, weights_init=weights0, probabilities_init=probabilities0,
                                             tol=0.0, max_iter=10, n_threads=1), data)
        history, ref_w, ref_p = ref_em(X, None, weights0, probabilities0, 1.01, 1.01, 10)
        assert_allclose(model.lower_bounds_, history, rtol=1e-12)
        zero_row = np.log((model.weights_ * np.prod(1 - model.probabilities_, axis=1)).sum())
        assert_allclose(model.score_samples(data)[::3], zero_row, rtol=1e-12)
    zeros = np.zeros((20, 3))
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(zeros)
    assert np.all(np.isfinite(model.lower_bounds_))
    full = int(np.argmax(model.weights_))
    assert_allclose(model.weights_[full], 1.0, rtol=1e-12)
    assert_allclose(model.probabilities_[full], 0.01 / 20.02, rtol=1e-12)
    # the other component got no row (identical rows all go to the first on ties): its
    # probabilities are the prior's mode, 1/2, and its weight is the 10 eps floor
    assert_allclose(model.probabilities_[1 - full], 0.5, rtol=1e-12)
    assert model.weights_[1 - full] < 1e-12
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(sp.csr_matrix(zeros))
    assert model.probabilities_.shape == (2, 3)


# -- 7. the estimator's methods ------------------------------------------------------------
def test_methods_match_reference():
    X, _, _, _ = bernoulli_problem(70, 1200, 3, 15, 0.15, 0.85)
    model = BernoulliMixture(3, random_state=0, n_threads=1).fit(X)
    w, p = model.weights_, model.probabilities_
    ref_resp, ref_lp, ref_label = ref_posterior(X, w, p)
    for data in (X, X.astype(bool), sp.csr_matrix(X)):
        assert_array_equal(model.predict(data), ref_label)
        assert relative_error(model.predict_proba(data), ref_resp) < RTOL
        assert_allclose(model.score_samples(data), ref_lp, rtol=RTOL)
        assert_allclose(model.score(data), ref_lp.mean(), rtol=RTOL)
        n_parameters = 3 * 15 + 2
        assert_allclose(model.bic(data), -2 * ref_lp.sum() + n_parameters * np.log(1200), rtol=RTOL)
        assert_allclose(model.aic(data), -2 * ref_lp.sum() + 2 * n_parameters, rtol=RTOL)
    sample_weight = make_sample_weight(71, 1200)
    assert_allclose(model.score(X, sample_weight=sample_weight),
                    ref_lp @ sample_weight / sample_weight.sum(), rtol=RTOL)
    assert_array_equal(model.fit_predict(X), model.predict(X))


def test_sample():
    weights = np.array([0.2, 0.5, 0.3])
    probabilities = np.array([[0.1, 0.9, 0.5, 0.0], [0.8, 0.2, 0.5, 1.0], [0.5, 0.5, 0.05, 0.3]])
    X = np.array([[0, 1, 0, 1], [1, 0, 1, 0], [1, 1, 0, 0]] * 4)
    model = fit_quietly(BernoulliMixture(3, weights_init=weights, probabilities_init=probabilities,
                                         max_iter=0, random_state=5, n_threads=1), X)
    assert_array_equal(model.probabilities_, probabilities)  # max_iter=0 keeps the start
    samples, labels = model.sample(20000)
    assert samples.shape == (20000, 4) and labels.shape == (20000,)
    assert set(np.unique(samples)) <= {0.0, 1.0}
    assert set(np.unique(labels)) == {0, 1, 2}
    assert_allclose(np.bincount(labels) / 20000, weights, atol=0.015)
    for k in range(3):
        assert np.abs(samples[labels == k].mean(axis=0) - probabilities[k]).max() < 0.04
    assert np.all(samples[labels == 0, 3] == 0) and np.all(samples[labels == 1, 3] == 1)
    again, again_labels = model.sample(20000)
    assert_array_equal(again, samples)  # seeded by random_state
    assert_array_equal(again_labels, labels)
    one, _ = model.sample()
    assert one.shape == (1, 4)
    with pytest.raises(ValueError):
        model.sample(0)


def test_sample_weight_equals_repeated_rows():
    X, _, _, _ = bernoulli_problem(72, 400, 2, 8)
    counts = np.random.default_rng(73).integers(0, 4, 400)
    counts[0] = 1
    weights0, probabilities0 = random_params(74, 2, 8, 0.3, 0.7)
    settings = dict(weights_init=weights0, probabilities_init=probabilities0, tol=0.0, max_iter=15, n_threads=1)
    weighted = fit_quietly(BernoulliMixture(2, **settings), X, sample_weight=counts.astype(float))
    repeated = fit_quietly(BernoulliMixture(2, **settings), np.repeat(X, counts, axis=0))
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-12)
    assert_allclose(weighted.probabilities_, repeated.probabilities_, rtol=1e-10)
    history, _, ref_p = ref_em(X, counts.astype(float), weights0, probabilities0, 1.01, 1.01, 15)
    assert_allclose(weighted.lower_bounds_, history, rtol=1e-12)
    assert relative_error(weighted.probabilities_, ref_p) < 1e-10


@pytest.mark.parametrize("init_params", ["kmeans", "random", "random_from_data", "split"])
def test_init_methods_run_and_are_reproducible(init_params):
    X, labels, _, _ = separated_problem(75, 1500, 20)
    fits = [BernoulliMixture(3, init_params=init_params, random_state=1, n_threads=1, max_iter=200).fit(X)
            for _ in range(2)]
    assert_array_equal(fits[0].probabilities_, fits[1].probabilities_)
    p = fits[0].probabilities_
    assert np.all((p > 0) & (p < 1)) and fits[0].converged_
    assert adjusted_rand_score(labels, fits[0].predict(X)) > 0.9


def test_get_params_clone_and_warm_start():
    model = BernoulliMixture(4, alpha=2.0, beta=1.5, tol=1e-4, init_params="random", random_state=7)
    params = model.get_params()
    assert params["alpha"] == 2.0 and params["beta"] == 1.5 and params["n_components"] == 4
    assert params["probabilities_init"] is None and params["init_params"] == "random"
    copy = clone(model)
    assert copy.get_params() == params and copy is not model
    X, _, _, _ = bernoulli_problem(76, 600, 2, 10)
    model.set_params(n_components=2, n_threads=1)
    model.fit(X)
    cloned = clone(model)
    assert not hasattr(cloned, "probabilities_")
    # warm start continues from the fitted parameters: one more iteration = the next EM step
    warm = BernoulliMixture(2, alpha=2.0, beta=1.5, tol=0.0, max_iter=1, warm_start=True, n_threads=1,
                            weights_init=model.weights_, probabilities_init=model.probabilities_)
    fit_quietly(warm, X)
    start_w, start_p = warm.weights_.copy(), warm.probabilities_.copy()
    fit_quietly(warm, X)
    history, ref_w, ref_p = ref_em(X, None, start_w, start_p, 2.0, 1.5, 1)
    assert_allclose(warm.lower_bounds_, history, rtol=1e-12)
    assert relative_error(warm.probabilities_, ref_p) < 1e-12


def test_predict_single_rows():
    X, _, _, _ = bernoulli_problem(77, 200, 2, 5)
    model = BernoulliMixture(2, random_state=0, n_threads=1).fit(X)
    ref_resp, ref_lp, ref_label = ref_posterior(X[:1], model.weights_, model.probabilities_)
    for row in (X[:1], X[:1].astype(bool), sp.csr_matrix(X[:1])):
        assert_array_equal(model.predict(row), ref_label)
        assert_allclose(model.predict_proba(row), ref_resp, rtol=RTOL, atol=1e-300)
        assert_allclose(model.score_samples(row), ref_lp, rtol=RTOL)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_zero_initial_weight_emits_no_runtime_warning(accelerate):
    # A component given weight 0 starts empty; the fit must stay finite and quiet.
    X, _, _, _ = bernoulli_problem(78, 200, 2, 5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted = BernoulliMixture(
            2, weights_init=[0.0, 1.0], random_state=0, n_threads=1, accelerate=accelerate
        ).fit(X)
    assert np.isfinite(fitted.lower_bounds_).all() and np.isfinite(fitted.probabilities_).all()
