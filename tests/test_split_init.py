"""The "split" initialisation (fastem._init) against a plain-NumPy reference of the same
procedure, and the properties it promises.

The references below start from one component, split the component the documented rule
picks and run standard EM between splits with the NumPy EM of tests/reference.py (the
Gaussian) or the few lines of Bernoulli EM written here; they do not use fastem's
kernels.  Starts are read from a fit with ``max_iter=0``, which keeps the start.  Errors
are measured as ``max|fastem - reference| / max|reference|`` over a whole array
(``relative_error``); the tolerances' comments give the worst value measured (x86-64,
seeds 0-3 of the problems below unless they say otherwise), each tolerance about 10x
or more above it.

Fits run on one thread (``n_threads=1``) unless the number of threads is the point.
"""

import re
from types import SimpleNamespace

import numpy as np
import pytest
import reference
from conftest import make_problem, make_sample_weight
from numpy.testing import assert_allclose, assert_array_equal

from fastem import BernoulliMixture, GaussianMixture
from fastem import _init as init
from fastem._data import ArraySource
from fastem._families.gaussian import GaussianFamily, GaussianParams
from fastem._init import SPLIT_EM_ITERATIONS, SPLIT_POWER_STEPS, SPLIT_PROBABILITY_MARGIN

REG_COVAR = 1e-6

# Gaussian start against the reference.  float64: 2.1e-15 over a whole array and 8.8e-14
# for any one element, so the elementwise rtol=1e-8 holds with room.  float32 data is
# processed in float32 by the kernels: 1.0e-6 over a whole array.
FLOAT32_RTOL = 1e-5

# Bernoulli start against the reference: 1.3e-14 (seeds 0-7, blocks of 4096 and 64 rows).
BERNOULLI_RTOL = 1e-12


# -- plain-NumPy references -------------------------------------------------------------
def relative_error(actual, desired):
    actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    return float(np.abs(actual - desired).max() / np.abs(desired).max())


def signed(vector):
    """``vector`` with its largest-magnitude coordinate (the first of equal ones) positive."""
    return vector * np.sign(vector[np.argmax(np.abs(vector))])


def reference_gaussian_split(X, sample_weight, n_components, covariance_type):
    """(weights, means, covariances) of the splitting start, full or diag."""
    X = X.astype(np.float64)
    n_features = X.shape[1]
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    covariance = np.cov(X.T, aweights=w, bias=True).reshape(n_features, n_features)
    covariance += REG_COVAR * np.eye(n_features)
    weights = np.ones(1)
    means = np.average(X, axis=0, weights=w)[None, :]
    covariances = (covariance if covariance_type == "full" else np.diag(covariance))[None]
    while len(weights) < n_components:
        variances, axes = [], []
        for c in covariances:
            if covariance_type == "full":
                values, vectors = np.linalg.eigh(c)
                variance, axis = values[-1], vectors[:, -1]
            else:  # the eigenvectors of a diagonal matrix are the coordinate axes
                variance, axis = c.max(), np.eye(n_features)[np.argmax(c)]
            variances.append(variance)
            axes.append(signed(axis))
        k = np.argmax(weights * np.array(variances))
        step = np.sqrt(variances[k]) * axes[k]
        means = np.vstack([means, means[k] - step])
        means[k] += step
        weights = np.append(weights, weights[k] / 2)
        weights[k] /= 2
        covariances = np.concatenate([covariances, covariances[k:k + 1]])
        params, _ = reference.reference_em(
            X, weights, means, covariances, SPLIT_EM_ITERATIONS, REG_COVAR, sample_weight
        )
        weights, means, covariances = params.weights, params.means, params.covariances
    return weights, means, covariances


def bernoulli_posterior(X, weights, probabilities):
    log_prob = X @ np.log(probabilities).T + (1.0 - X) @ np.log1p(-probabilities).T + np.log(weights)
    log_prob -= log_prob.max(axis=1, keepdims=True)
    resp = np.exp(log_prob)
    return resp / resp.sum(axis=1, keepdims=True)


def bernoulli_m_step(X, w, resp, alpha, beta):
    nk = (w[:, None] * resp).sum(axis=0)
    sx = (w[:, None] * resp).T @ X
    counts = nk + 10 * np.finfo(np.float64).eps
    return counts / counts.sum(), (sx + alpha - 1.0) / (nk + alpha + beta - 2.0)[:, None]


def reference_bernoulli_split(X, sample_weight, n_components, alpha=1.01, beta=1.01):
    """(weights, probabilities) of the splitting start on dense 0/1 rows ``X``."""
    w = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    weights, probabilities = bernoulli_m_step(X, w, np.ones((X.shape[0], 1)), alpha, beta)
    while len(weights) < n_components:
        variances = probabilities * (1.0 - probabilities)
        k = np.argmax(weights * variances.sum(axis=1))
        r = w * bernoulli_posterior(X, weights, probabilities)[:, k]
        centred = X - probabilities[k]
        scatter = (centred * r[:, None]).T @ centred
        axis = np.sqrt(variances[k])
        for _ in range(SPLIT_POWER_STEPS):  # the power method, as documented
            axis = scatter @ axis
            axis /= np.linalg.norm(axis)
        step = np.sqrt(variances[k]) * signed(axis)
        low, high = SPLIT_PROBABILITY_MARGIN, 1.0 - SPLIT_PROBABILITY_MARGIN
        probabilities = np.vstack([probabilities, np.clip(probabilities[k] - step, low, high)])
        probabilities[k] = np.clip(probabilities[k] + step, low, high)
        weights = np.append(weights, weights[k] / 2)
        weights[k] /= 2
        for _ in range(SPLIT_EM_ITERATIONS):
            resp = bernoulli_posterior(X, weights, probabilities)
            weights, probabilities = bernoulli_m_step(X, w, resp, alpha, beta)
    return weights, probabilities


# -- data ---------------------------------------------------------------------------------
BLOB_MEANS = np.array([[0.0, 0.0, 0.0], [10.0, 0.0, 0.0], [0.0, 10.0, 0.0], [0.0, 0.0, 10.0]])


def blobs(seed, n_per_blob=75):
    """Four unit-variance blobs 10 apart (3 features) and their labels."""
    rng = np.random.default_rng(seed)
    labels = np.repeat(np.arange(len(BLOB_MEANS)), n_per_blob)
    return np.ascontiguousarray(BLOB_MEANS[labels] + rng.standard_normal((len(labels), 3))), labels


def binary_problem(seed, n_samples=400, n_features=12):
    """Rows of a 3-component Bernoulli mixture (probabilities 0.1 or 0.9), float64 0/1."""
    rng = np.random.default_rng(seed)
    probabilities = np.where(rng.uniform(size=(3, n_features)) < 0.5, 0.1, 0.9)
    labels = rng.choice(3, size=n_samples)
    return (rng.uniform(size=(n_samples, n_features)) < probabilities[labels]).astype(np.float64)


def split_start(X, n_components, sample_weight=None, **settings):
    """The fitted model of a ``max_iter=0`` fit: its parameters are the split start."""
    settings = dict(init_params="split", max_iter=0, n_threads=1) | settings
    return GaussianMixture(n_components, **settings).fit(X, sample_weight=sample_weight)


# -- the start equals the reference -------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_start_matches_reference(covariance_type, dtype, weighted):
    X, _ = make_problem(0, 300, 3, 4, covariance_type, dtype=dtype)
    sample_weight = make_sample_weight(0, 300) if weighted else None
    gm = split_start(X, 4, sample_weight, covariance_type=covariance_type)
    expected = reference_gaussian_split(X, sample_weight, 4, covariance_type)
    for name, value in zip(("weights_", "means_", "covariances_"), expected):
        if dtype == np.float64:
            assert_allclose(getattr(gm, name), value, rtol=1e-8, err_msg=name)
        else:
            assert relative_error(getattr(gm, name), value) < FLOAT32_RTOL, name


def test_whole_data_statistics_do_not_depend_on_the_block_size(monkeypatch):
    """Rows are summed a block at a time; many small blocks give the reference too."""
    X, _ = make_problem(1, 300, 3, 3, "full")
    sample_weight = make_sample_weight(1, 300)
    monkeypatch.setattr(init, "_RANDOM_BLOCK_ROWS", 64)
    gm = split_start(X, 3, sample_weight)
    for actual, expected in zip((gm.weights_, gm.means_, gm.covariances_),
                                reference_gaussian_split(X, sample_weight, 3, "full")):
        assert_allclose(actual, expected, rtol=1e-8)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("weighted", [False, True])
def test_one_component_is_the_data_mean_and_covariance(covariance_type, weighted):
    X, _ = make_problem(2, 200, 4, 2, covariance_type, offset=1e3)
    sample_weight = make_sample_weight(2, 200) if weighted else None
    gm = split_start(X, 1, sample_weight, covariance_type=covariance_type)
    covariance = np.cov(X.T, aweights=sample_weight, bias=True) + REG_COVAR * np.eye(4)
    assert_array_equal(gm.weights_, [1.0])
    # Measured: means 5.7e-16, covariances 5.9e-15 (data 1e3 from the origin).
    assert_allclose(gm.means_[0], np.average(X, axis=0, weights=sample_weight), rtol=1e-12)
    expected = covariance if covariance_type == "full" else np.diag(covariance)
    assert_allclose(gm.covariances_[0], expected, rtol=1e-12)


# -- determinism ----------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_start_is_deterministic_and_ignores_random_state(covariance_type):
    X, _ = make_problem(3, 300, 3, 4, covariance_type)
    starts = [split_start(X, 4, covariance_type=covariance_type, random_state=seed)
              for seed in (0, 0, 1, None)]
    starts.append(split_start(X, 4, covariance_type=covariance_type, n_threads=2))
    for other in starts[1:]:
        for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
            assert_array_equal(getattr(other, name), getattr(starts[0], name))  # bitwise


def test_principal_axes_sign_and_ties_do_not_depend_on_lapack():
    rotation = np.linalg.qr(np.random.default_rng(4).normal(size=(3, 3)))[0]
    matrix = rotation @ np.diag([1.0, 2.0, 5.0]) @ rotation.T
    covariances = np.stack([matrix, np.diag([2.0, 7.0, 7.0]), 3.0 * np.eye(3)])
    largest, axes = init.principal_axes(covariances)
    assert_allclose(largest, [5.0, 7.0, 3.0], rtol=1e-12)
    assert_allclose(axes[0], signed(rotation[:, 2]), atol=1e-12)
    assert_array_equal(axes[1:], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])  # the first of equal variances
    # The matrix flipped by a sign change of coordinates has the flipped axis, signed again.
    flip = np.diag([-1.0, 1.0, -1.0])
    _, flipped = init.principal_axes((flip @ matrix @ flip)[None])
    assert_allclose(flipped[0], signed(flip @ axes[0]), atol=1e-12)


# -- every covariance shape ----------------------------------------------------------------
def shaped_params(covariance_type):
    """Three components in 2 features, the middle one the heaviest, in each family shape."""
    matrices = np.array([[[1.0, 0.0], [0.0, 1.0]], [[4.0, 0.0], [0.0, 1.0]], [[2.0, 0.0], [0.0, 2.0]]])
    covariances = {
        "full": matrices,
        "diag": np.diagonal(matrices, axis1=1, axis2=2).copy(),
        "spherical": np.array([1.0, 4.0, 2.0]),
        "tied": matrices[1],
    }[covariance_type]
    means = np.array([[0.0, 0.0], [5.0, 5.0], [-5.0, 5.0]])
    return GaussianParams(np.array([0.2, 0.5, 0.3]), means, covariances, None, covariance_type)


@pytest.mark.parametrize("covariance_type, expected", [
    ("full", [[[1, 0], [0, 1]], [[4, 0], [0, 1]], [[2, 0], [0, 2]]]),
    ("diag", [[[1, 0], [0, 1]], [[4, 0], [0, 1]], [[2, 0], [0, 2]]]),
    ("spherical", [[[1, 0], [0, 1]], [[4, 0], [0, 4]], [[2, 0], [0, 2]]]),
    ("tied", [[[4, 0], [0, 1]]] * 3),
])
def test_full_covariances_of_every_shape(covariance_type, expected):
    assert_array_equal(init.full_covariances(covariance_type, shaped_params(covariance_type)), expected)


@pytest.mark.parametrize("covariance_type", ["full", "diag", "spherical", "tied"])
def test_split_keeps_the_family_shape(covariance_type):
    """Component 1 (weight 0.5, largest variance 4 along the first feature) is split."""
    params = shaped_params(covariance_type)
    family = SimpleNamespace(covariance_type=covariance_type,
                             precisions_cholesky_from_covariances=lambda covariances: 2.0 * covariances)
    split = init.split_component(family, params)
    assert_array_equal(split.weights, [0.2, 0.25, 0.3, 0.25])
    assert_array_equal(split.means, [[0.0, 0.0], [7.0, 5.0], [-5.0, 5.0], [3.0, 5.0]])
    if covariance_type == "tied":
        assert_array_equal(split.covariances, params.covariances)
    else:
        assert_array_equal(split.covariances, np.concatenate([params.covariances, params.covariances[1:2]]))
    assert_array_equal(split.precisions_cholesky, 2.0 * split.covariances)  # the family's, of these


# -- what the start is good for --------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_split_start_then_em_recovers_separated_blobs(covariance_type):
    X, labels = blobs(5)
    gm = GaussianMixture(4, covariance_type=covariance_type, init_params="split", n_threads=1).fit(X)
    assert gm.converged_
    order = [np.argmin(((gm.means_ - m) ** 2).sum(axis=1)) for m in BLOB_MEANS]
    assert sorted(order) == [0, 1, 2, 3]
    # The fit's means are the blobs' sample means (clusters 10 standard deviations apart;
    # measured 1.3e-9), within 0.08 of the truth; so are the start's, before any EM.
    sample_means = np.array([X[labels == k].mean(axis=0) for k in range(4)])
    assert_allclose(gm.means_[order], sample_means, atol=1e-6)
    assert_allclose(gm.means_[order], BLOB_MEANS, atol=0.3)
    start = split_start(X, 4, covariance_type=covariance_type)
    assert_allclose(start.means_[order], BLOB_MEANS, atol=0.3)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("data", ["one blob", "uniform", "blobs"])
def test_start_has_n_components_distinct_components(covariance_type, data):
    rng = np.random.default_rng(6)
    X = {
        "one blob": rng.standard_normal((300, 2)),
        "uniform": rng.uniform(size=(300, 3)),
        "blobs": blobs(6)[0],
    }[data]
    gm = split_start(X, 6, covariance_type=covariance_type)
    # Measured: weights at least 0.099, means at least 0.24 standard deviations apart.
    assert gm.means_.shape[0] == 6 and np.all(gm.weights_ > 0.01)
    gaps = np.linalg.norm(gm.means_[:, None] - gm.means_[None], axis=2)[np.triu_indices(6, 1)]
    assert gaps.min() > 0.05 * X.std()


def test_more_components_than_rows_is_an_error():
    X = np.arange(8.0).reshape(4, 2)
    message = "X has 4 samples but n_components=5; a mixture needs at least as many samples as components."
    with pytest.raises(ValueError, match=re.escape(message)):
        split_start(X, 5)
    family = GaussianFamily("full", REG_COVAR)
    with pytest.raises(ValueError, match=re.escape(message)):
        init.initial_params(ArraySource(X), family, 5, "split", np.random.RandomState(0))


# -- BernoulliMixture ---------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("block_rows", [4096, 64])
def test_bernoulli_start_matches_reference(weighted, block_rows, monkeypatch):
    monkeypatch.setattr(init, "_RANDOM_BLOCK_ROWS", block_rows)
    X = binary_problem(7)
    sample_weight = make_sample_weight(7, X.shape[0]) if weighted else None
    model = BernoulliMixture(4, init_params="split", max_iter=0, n_threads=1)
    model.fit(X, sample_weight=sample_weight)
    weights, probabilities = reference_bernoulli_split(X, sample_weight, 4)
    assert relative_error(model.weights_, weights) < BERNOULLI_RTOL
    assert relative_error(model.probabilities_, probabilities) < BERNOULLI_RTOL


def test_bernoulli_split_start_is_deterministic_and_recovers_the_components():
    X = binary_problem(8, n_samples=600)
    settings = dict(init_params="split", max_iter=0)
    starts = [BernoulliMixture(3, random_state=seed, n_threads=threads, **settings).fit(X)
              for seed, threads in ((0, 1), (1, 1), (0, 2))]
    for other in starts[1:]:
        assert_array_equal(other.probabilities_, starts[0].probabilities_)
        assert_array_equal(other.weights_, starts[0].weights_)
    # The generating probabilities are 0.1 or 0.9; the start alone already lies near them
    # (measured on seeds 8-11: every probability at least 0.33 from 1/2).
    assert np.all(np.abs(starts[0].probabilities_ - 0.5) > 0.25)
