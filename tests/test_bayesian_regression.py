"""BayesianLinearRegression: EM for the two precisions of Bayesian ridge regression.

Checked against an independent NumPy reference of the EM updates (the posterior by
inverting ``lambda I + alpha X^T W X`` from the rows themselves), against
scikit-learn's ``BayesianRidge`` (MacKay's updates) at the optimum, and for equality
across data sources.
"""

import math
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_diabetes, make_regression
from sklearn.linear_model import BayesianRidge
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem._data.chunked
import fastem._families.linear
from fastem import BayesianLinearRegression, ConvergenceWarning, NotFittedError
from fastem._families.linear import BayesianLinearFamily
from fastem._data import RowsWithTargets

# The per-iteration comparison with the reference (an eigendecomposition of the summed
# statistics against an inverse from the rows): largest relative error measured 1.4e-13
# (an entry of sigma_), 4e-14 on scores_.
REFERENCE_RTOL = 1e-10
# Against BayesianRidge, both run to tol 1e-10 / 1e-12: largest relative error measured
# 5e-11 (alpha_ and sigma_, weighted make_regression).
SKLEARN_RTOL = 1e-9
# On the flat evidence, EM stops where its steps are small rather than at the optimum:
# lambda_ 2.3e-7 from BayesianRidge's at tol 1e-10 (SQUAREM 1e-12).
FLAT_RTOL = 1e-6
# Data sources against the in-memory fit, the same statistics summed in other blocks:
# measured at most 1e-12 (float32 memmap); integer weights against repeated rows 2.3e-13.
SOURCE_RTOL = 1e-10
# scores_ may dip by rounding once converged: measured at most 7.5e-16 of the largest score.
SCORE_DIP = 1e-14


def random_problem(seed, n_samples=60, n_features=5, noise=0.5, offset=0.0, weighted=False):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features)) + offset
    coef = rng.normal(size=n_features)
    y = X @ coef + 2.0 + noise * rng.normal(size=n_samples)
    w = rng.uniform(0.2, 2.0, n_samples) if weighted else None
    if weighted:
        w[::7] = 0.0
    return X, y, w


def flat_problem():
    """40 rows, 30 weak weights in noise: the evidence is flat along lambda, and EM takes
    thousands of steps (5050 to tol 1e-10)."""
    rng = np.random.default_rng(3)
    X = rng.normal(size=(40, 30))
    y = X @ (0.1 * rng.normal(size=30)) + rng.normal(size=40)
    return X, y


def reference_em(X, y, w, fit_intercept, alpha, lam, n_steps):
    """Plain NumPy: ``n_steps`` EM updates from (alpha, lam); per iterate (lam, alpha, m,
    S, log evidence, x_mean)."""
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.float64)
    w = np.ones(len(y)) if w is None else np.asarray(w, dtype=np.float64)
    x_mean = np.average(X, axis=0, weights=w) if fit_intercept else np.zeros(X.shape[1])
    y_mean = np.average(y, weights=w) if fit_intercept else 0.0
    Xc, yc = X - x_mean, y - y_mean
    N, D = w.sum(), X.shape[1]
    A = Xc.T @ (w[:, None] * Xc)
    iterates = []
    for _ in range(n_steps + 1):
        S = np.linalg.inv(lam * np.eye(D) + alpha * A)
        m = alpha * S @ (Xc.T @ (w * yc))
        residual = w @ (yc - Xc @ m) ** 2
        evidence = 0.5 * (D * math.log(lam) + N * math.log(alpha) - alpha * residual - lam * m @ m
                          + np.linalg.slogdet(S)[1] - N * math.log(2 * math.pi))
        iterates.append(dict(lambda_=lam, alpha_=alpha, coef_=m, sigma_=S, score=evidence,
                             intercept_=y_mean - x_mean @ m, x_mean=x_mean))
        lam, alpha = D / (m @ m + np.trace(S)), N / (residual + np.trace(A @ S))
    return iterates


def fit_steps(n_steps, X, y, w=None, **settings):
    """A fit stopped after exactly ``n_steps`` EM steps (tol=0: it warns)."""
    model = BayesianLinearRegression(max_iter=n_steps, tol=0.0, **settings)
    with pytest.warns(ConvergenceWarning):
        return model.fit(X, y, sample_weight=w)


def assert_same_fit(fitted, expected, rtol):
    for name in ("coef_", "intercept_", "alpha_", "lambda_", "sigma_", "scores_"):
        assert_allclose(getattr(fitted, name), getattr(expected, name), rtol=rtol, err_msg=name)
    assert fitted.n_iter_ == expected.n_iter_


def assert_never_decreasing(scores):
    assert np.diff(scores).min() >= -SCORE_DIP * np.abs(scores).max(), np.diff(scores).min()


# -- the EM updates -------------------------------------------------------------------
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
def test_every_iteration_matches_the_reference(fit_intercept, weighted):
    X, y, w = random_problem(0, weighted=weighted, offset=3.0)
    iterates = reference_em(X, y, w, fit_intercept, alpha=0.5, lam=2.0, n_steps=12)
    for n_steps in (0, 1, 2, 12):
        if n_steps:
            model = fit_steps(n_steps, X, y, w, fit_intercept=fit_intercept, alpha_init=0.5, lambda_init=2.0)
        else:
            model = BayesianLinearRegression(max_iter=0, fit_intercept=fit_intercept, alpha_init=0.5,
                                             lambda_init=2.0).fit(X, y, sample_weight=w)
        expected = iterates[n_steps]
        assert model.n_iter_ == n_steps
        assert_allclose(model.scores_, [it["score"] for it in iterates[:n_steps + 1]], rtol=REFERENCE_RTOL)
        for name in ("lambda_", "alpha_", "coef_", "sigma_", "intercept_"):
            assert_allclose(getattr(model, name), expected[name], rtol=REFERENCE_RTOL, err_msg=name)
    assert_never_decreasing(model.scores_)


def test_predict_and_its_std_match_the_reference():
    X, y, w = random_problem(1, weighted=True, offset=-4.0)
    model = fit_steps(5, X, y, w, alpha_init=1.0, lambda_init=1.0)
    expected = reference_em(X, y, w, True, 1.0, 1.0, 5)[5]
    X_new = random_problem(2, n_samples=9, offset=-4.0)[0].astype(np.float32)
    mean, std = model.predict(X_new, return_std=True)
    centred = X_new.astype(np.float64) - expected["x_mean"]
    assert_allclose(mean, X_new.astype(np.float64) @ expected["coef_"] + expected["intercept_"], rtol=REFERENCE_RTOL)
    assert_allclose(std, np.sqrt(np.sum(centred @ expected["sigma_"] * centred, axis=1) + 1 / expected["alpha_"]),
                    rtol=REFERENCE_RTOL)
    assert_array_equal(model.predict(X_new), mean)
    assert mean.dtype == std.dtype == np.float64


def test_the_default_start_is_scikit_learns():
    X, y, w = random_problem(4, weighted=True)
    model = BayesianLinearRegression(max_iter=0).fit(X, y, sample_weight=w)
    variance = np.average((y - np.average(y, weights=w)) ** 2, weights=w)
    assert_allclose(model.alpha_, 1.0 / (variance + np.finfo(float).eps), rtol=1e-14)
    assert model.lambda_ == 1.0 and model.scores_.shape == (1,) and model.n_iter_ == 0


# -- the optimum is BayesianRidge's ---------------------------------------------------
def regression_data(name):
    if name == "diabetes":
        return load_diabetes(return_X_y=True)
    return make_regression(200, 20, n_informative=5, noise=10.0, bias=3.0, random_state=0)


def bayesian_ridge(**settings):
    return BayesianRidge(alpha_1=0.0, alpha_2=0.0, lambda_1=0.0, lambda_2=0.0, tol=1e-12, max_iter=100_000,
                         compute_score=True, **settings)


@pytest.mark.parametrize("data", ["diabetes", "make_regression"])
@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_reaches_bayesian_ridges_optimum(data, fit_intercept, weighted, accelerate):
    X, y = regression_data(data)
    w = np.random.default_rng(5).uniform(0.2, 3.0, len(y)) if weighted else None
    expected = bayesian_ridge(fit_intercept=fit_intercept).fit(X, y, sample_weight=w)
    model = BayesianLinearRegression(tol=1e-10, max_iter=100_000, fit_intercept=fit_intercept,
                                     accelerate=accelerate).fit(X, y, sample_weight=w)
    assert model.converged_
    for name in ("coef_", "alpha_", "lambda_", "sigma_", "intercept_"):
        assert_allclose(getattr(model, name), getattr(expected, name), rtol=SKLEARN_RTOL, err_msg=name)
    # The same evidence: BayesianRidge's last score is at its fitted precisions.
    assert_allclose(model.scores_[-1], expected.scores_[-1], rtol=SKLEARN_RTOL)
    assert_never_decreasing(model.scores_)
    mean, std = model.predict(X[:20], return_std=True)
    expected_mean, expected_std = expected.predict(X[:20], return_std=True)
    assert_allclose(mean, expected_mean, rtol=SKLEARN_RTOL)
    assert_allclose(std, expected_std, rtol=SKLEARN_RTOL)
    assert_allclose(model.score(X, y, w), expected.score(X, y, w), rtol=SKLEARN_RTOL)


def test_squarem_reaches_the_optimum_of_a_flat_evidence_in_far_fewer_steps(monkeypatch):
    X, y = flat_problem()
    steps = []
    m_step = BayesianLinearFamily.m_step
    monkeypatch.setattr(BayesianLinearFamily, "m_step", lambda self, *a: steps.append(1) or m_step(self, *a))
    fits, counts = {}, {}
    for accelerate in (None, "squarem"):
        steps.clear()
        fits[accelerate] = BayesianLinearRegression(tol=1e-10, max_iter=100_000, accelerate=accelerate).fit(X, y)
        counts[accelerate] = len(steps)  # applications of the EM map
        assert fits[accelerate].converged_
        assert_never_decreasing(fits[accelerate].scores_)
    # measured: EM 5050 steps; SQUAREM 48 cycles, 142 EM steps
    assert counts[None] == fits[None].n_iter_ > 3000
    assert counts["squarem"] < counts[None] / 20 and fits["squarem"].n_iter_ < 100
    expected = bayesian_ridge().fit(X, y)
    for accelerate, model in fits.items():
        for name in ("coef_", "alpha_", "lambda_"):
            assert_allclose(getattr(model, name), getattr(expected, name), rtol=FLAT_RTOL, err_msg=name)


def test_integer_weights_count_rows():
    X, y, _ = random_problem(6)
    counts = np.random.default_rng(6).integers(0, 4, len(y))
    weighted = BayesianLinearRegression(tol=1e-12, max_iter=10_000).fit(X, y, sample_weight=counts)
    repeated = BayesianLinearRegression(tol=1e-12, max_iter=10_000).fit(np.repeat(X, counts, axis=0),
                                                                      np.repeat(y, counts))
    for name in ("coef_", "intercept_", "alpha_", "lambda_", "sigma_", "scores_"):
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=SOURCE_RTOL, err_msg=name)


def test_default_tol_stops_and_max_iter_warns():
    X, y = regression_data("diabetes")
    model = BayesianLinearRegression().fit(X, y)
    assert model.converged_ and 10 < model.n_iter_ < 1000
    message = ("BayesianLinearRegression did not converge in max_iter=3 iterations (tol=0.001 on the summed "
               "change of coef_). Increase max_iter or tol, or use accelerate='squarem'.")
    with pytest.warns(ConvergenceWarning, match=re.escape(message)):
        model = BayesianLinearRegression(max_iter=3).fit(X, y)
    assert not model.converged_ and model.n_iter_ == 3 and model.scores_.shape == (4,)


# -- statistics and data --------------------------------------------------------------
def test_statistics_of_two_halves_add_up_far_from_the_origin(monkeypatch):
    # Moments about each block's own mean, combined pairwise: an offset of 1e6 loses
    # nothing (raw sums would have lost about 12 digits of the scatter).
    X, y, w = random_problem(7, n_samples=300, offset=1e6, weighted=True)
    family = BayesianLinearFamily()
    whole = family.estep(RowsWithTargets(X, y), w)
    halves = family.estep(RowsWithTargets(X[:140], y[:140]), w[:140]) + family.estep(
        RowsWithTargets(X[140:], y[140:]), w[140:])
    monkeypatch.setattr(fastem._families.linear, "BLOCK_BYTES", 8 * 6 * 50)  # blocks of 50 rows
    blocks = family.estep(RowsWithTargets(X, y), w)
    z = np.column_stack([X, y])
    mean = np.average(z, axis=0, weights=w)
    scatter = (z - mean).T @ (w[:, None] * (z - mean))
    for stats in (whole, halves, blocks):
        assert stats.weight == pytest.approx(w.sum(), rel=1e-15)
        assert_allclose(stats.mean, mean, rtol=1e-14)
        assert_allclose(stats.scatter, scatter, rtol=1e-10, atol=1e-10 * np.abs(scatter).max())


def test_float32_data_give_the_float64_fit_of_the_same_values():
    X, y, w = random_problem(8, n_samples=500, weighted=True)
    X32, y32 = X.astype(np.float32), y.astype(np.float32)
    fitted = BayesianLinearRegression(tol=1e-8).fit(X32, y32, sample_weight=w)
    expected = BayesianLinearRegression(tol=1e-8).fit(X32.astype(np.float64), y32.astype(np.float64),
                                                      sample_weight=w)
    assert_same_fit(fitted, expected, rtol=0)  # rows converted to float64 block by block: the same values
    assert fitted.coef_.dtype == np.float64


@pytest.fixture
def small_chunks(monkeypatch):
    """Memory-mapped chunks of 1024 rows, and statistics blocks of 300 rows."""
    monkeypatch.setattr(fastem._data.chunked, "MEMMAP_CHUNK_BYTES", 1)
    monkeypatch.setattr(fastem._families.linear, "BLOCK_BYTES", 8 * 7 * 300)


def big_problem(dtype=np.float64):
    X, y, w = random_problem(9, n_samples=3000, n_features=6, offset=10.0, weighted=True)
    return X.astype(dtype), y, w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weighted", [False, True])
def test_memmap_fit_equals_in_memory_fit(tmp_path, dtype, weighted):
    X, y, w = big_problem(dtype)
    w = w if weighted else None
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    expected = BayesianLinearRegression(accelerate="squarem").fit(X, y, sample_weight=w)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(fastem._data.chunked, "MEMMAP_CHUNK_BYTES", 1)  # chunks of 1024 rows
        fitted = BayesianLinearRegression(accelerate="squarem").fit(
            mapped, np.load(tmp_path / "y.npy", mmap_mode="r"), sample_weight=w)
    assert_same_fit(fitted, expected, SOURCE_RTOL)


@pytest.mark.parametrize("form", ["callable", "generator"])
def test_fit_chunks_equals_in_memory_fit(small_chunks, form):
    X, y, w = big_problem()
    edges = [0, 5, 900, 900, 2500, 3000]  # uneven, one empty

    def chunks():
        for start, stop in zip(edges[:-1], edges[1:]):
            # the empty chunk without weights: ChunkedSource rejects weights that sum to 0
            yield X[start:stop], y[start:stop], (w[start:stop] if stop > start else None)

    expected = BayesianLinearRegression().fit(X, y, sample_weight=w)
    fitted = BayesianLinearRegression().fit_chunks(chunks if form == "callable" else chunks())
    assert_same_fit(fitted, expected, SOURCE_RTOL)
    pairs = BayesianLinearRegression().fit_chunks(lambda: ((X[i:i + 700], y[i:i + 700]) for i in range(0, 3000, 700)))
    assert_same_fit(pairs, BayesianLinearRegression().fit(X, y), SOURCE_RTOL)


@pytest.mark.parametrize("weights", [None, "numpy", "dask"])
def test_dask_fit_equals_in_memory_fit(weights):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X, y, w = big_problem(np.float32)
    w = None if weights is None else w
    expected = BayesianLinearRegression().fit(X, y, sample_weight=w)
    dask_weights = da.from_array(w, chunks=1000) if weights == "dask" else w
    with dask.config.set(scheduler="synchronous"):
        fitted = BayesianLinearRegression().fit(
            da.from_array(X, chunks=(700, 3)), da.from_array(y, chunks=1100), sample_weight=dask_weights)
        numpy_y = BayesianLinearRegression().fit(da.from_array(X, chunks=(700, 6)), y, sample_weight=dask_weights)
    assert_same_fit(fitted, expected, SOURCE_RTOL)
    assert_same_fit(numpy_y, expected, SOURCE_RTOL)


def test_user_arrays_are_not_modified():
    X, y, w = random_problem(10, weighted=True)
    X, y = X.astype(np.float32), y.astype(np.float32)
    for array in (X, y, w):
        array.flags.writeable = False  # any write would raise
    BayesianLinearRegression().fit(X, y, sample_weight=w).predict(X, return_std=True)


# -- bad input ------------------------------------------------------------------------
X6 = np.arange(12.0).reshape(6, 2) ** 1.5
Y6 = np.array([1.0, 3.0, 2.0, 5.0, 4.0, 7.0])


def with_nan(array, index):
    array = array.copy()
    array[index] = np.nan
    return array


@pytest.mark.parametrize("args, error, message", [
    ((X6, Y6[:5]), ValueError, "y has 5 entries but X has 6 rows."),
    ((with_nan(X6, (2, 1)), Y6), ValueError,
     "X contains 1 non-finite value(s) (NaN or inf; first at row 2, column 1); remove or impute them."),
    ((X6, with_nan(Y6, 3)), ValueError,
     "y contains 1 non-finite value(s) (NaN or inf; first at row 3); remove or impute them."),
    ((X6[:, 0], Y6), ValueError,
     "X must be a 2-D array of shape (n_samples, n_features); got a 1-D array of shape (6,). Reshape your "
     "data either using X.reshape(-1, 1) if it has a single feature or X.reshape(1, -1) if it contains a "
     "single sample."),
    ((X6, Y6[:, None]), ValueError,
     "y must be a 1-D array of shape (n_samples,); got a 2-D array of shape (6, 1). Pass y.ravel() for a "
     "single target."),
    ((X6, np.array(list("abcdef"))), TypeError,
     "y has dtype <U1; a regression target must be numeric. Convert it with y.astype(np.float64)."),
    ((X6[:1], Y6[:1]), ValueError,
     "Found array with 1 sample(s) (shape=(1, 2)) while a minimum of 2 is required."),
])
def test_bad_data_raise_and_leave_the_estimator_unfitted(args, error, message):
    model = BayesianLinearRegression().fit(X6, Y6)
    with pytest.raises(error, match=re.escape(message)):
        model.fit(*args)
    assert not hasattr(model, "coef_")


@pytest.mark.parametrize("setting, message", [
    (dict(alpha_init=0.0),
     "The 'alpha_init' parameter of BayesianLinearRegression must be a float in the range (0.0, inf). Got 0.0 "
     "instead."),
    (dict(lambda_init=-1.0),
     "The 'lambda_init' parameter of BayesianLinearRegression must be a float in the range (0.0, inf). Got -1.0 "
     "instead."),
    (dict(accelerate="fast"),
     "The 'accelerate' parameter of BayesianLinearRegression must be None or 'squarem'; got 'fast'."),
    (dict(max_iter=-1),
     "The 'max_iter' parameter of BayesianLinearRegression must be an int in the range [0, inf). Got -1 instead."),
    (dict(fit_intercept="yes"),
     "The 'fit_intercept' parameter of BayesianLinearRegression must be a bool. Got 'yes' instead."),
])
def test_bad_settings_raise(setting, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        BayesianLinearRegression(**setting).fit(X6, Y6)


def test_bad_chunks_name_their_index():
    model = BayesianLinearRegression()
    with pytest.raises(ValueError, match=re.escape("chunk 1: y has 3 entries but X has 4 rows.")):
        model.fit_chunks([(X6[:2], Y6[:2]), (X6[2:], Y6[2:5])])
    message = "chunk 0: a chunk is a pair (X, y) or a triple (X, y, sample_weight); got ndarray."
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit_chunks([X6])
    with pytest.raises(TypeError, match=re.escape("fit_chunks takes an iterable of chunks, or a callable that "
                                                  "returns one; got int.")):
        model.fit_chunks(3)
    assert not hasattr(model, "coef_")


def test_bad_dask_input_is_named():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = da.from_array(np.repeat(X6, 100, axis=0), chunks=(250, 2))
    y = np.tile(Y6, 100)
    with pytest.raises(ValueError, match=re.escape("y has 599 entries but X has 600 rows.")):
        BayesianLinearRegression().fit(X, da.from_array(y[:-1]))
    with pytest.raises(ValueError, match=re.escape("y contains 1 non-finite value(s) (NaN or inf; first at row 300)")):
        BayesianLinearRegression().fit(X, with_nan(y, 300))  # a NumPy y is checked whole, before the pass
    with dask.config.set(scheduler="synchronous"), pytest.raises(
            ValueError, match=re.escape("chunk 1: y contains 1 non-finite value(s) (NaN or inf; first at row 50)")):
        BayesianLinearRegression().fit(X, da.from_array(with_nan(y, 300), chunks=100))


def test_predict_before_fit_raises():
    with pytest.raises(NotFittedError):
        BayesianLinearRegression().predict(X6)


# -- scikit-learn's protocol ----------------------------------------------------------
def test_clone_get_params_and_tags():
    from sklearn.base import clone, is_regressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = BayesianLinearRegression(tol=1e-6, accelerate="squarem", alpha_init=2.0)
    assert model.get_params() == dict(accelerate="squarem", alpha_init=2.0, fit_intercept=True, lambda_init=None,
                                      max_iter=1000, tol=1e-6, verbose=False)
    twin = clone(model)
    assert twin is not model and twin.get_params() == model.get_params()
    assert model.set_params(max_iter=50) is model and model.max_iter == 50
    assert is_regressor(model)
    assert repr(model) == "BayesianLinearRegression(accelerate='squarem', alpha_init=2.0, max_iter=50, tol=1e-06)"
    X, y = regression_data("diabetes")
    pipeline = make_pipeline(StandardScaler(), BayesianLinearRegression()).fit(X, y)
    assert pipeline.score(X, y) > 0.5
    assert not hasattr(clone(pipeline[-1]), "coef_")


# scikit-learn warns, while building the list of checks, that the estimator does not
# derive from sklearn.base.BaseEstimator: by design (see test_gaussian_mixture.py).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Estimator BayesianLinearRegression does not inherit from",
                            category=UserWarning)
    _sklearn_checks = parametrize_with_checks(
        [BayesianLinearRegression()],
        expected_failed_checks=lambda estimator: {
            "check_supervised_y_2d": (
                "A column-vector y raises a ValueError that says to pass y.ravel() (fastem rejects "
                "arrays of the wrong rank), where scikit-learn warns and ravels it."
            ),
        },
    )
    _sklearn_checks = pytest.mark.parametrize(
        _sklearn_checks.args[0], list(_sklearn_checks.args[1]), **_sklearn_checks.kwargs)


@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
