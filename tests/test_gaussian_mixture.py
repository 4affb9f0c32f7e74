"""fastem.GaussianMixture: agreement with scikit-learn, EM's guarantees, recovery of known
mixtures, sample weights, float32, and the scikit-learn estimator protocol.

Bad input is tested in test_validation.py, the command line and model files in
test_cli.py.  Data sets are small (a few thousand rows at most) and every array is
float64 or float32 and C-contiguous, so that no test compiles a new kernel signature.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
from fastem import ComponentError, ConvergenceWarning, GaussianMixture, NotFittedError
from fastem._validation import check_data
from fastem._data import ArraySource

from conftest import same_start

COVARIANCE_TYPES = ["full", "diag"]
INIT_METHODS = ["kmeans", "k-means++", "random", "random_from_data", "split"]
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")


# -- data -------------------------------------------------------------------------------
def overlapping(seed, n_samples=900, n_features=3, n_components=3, dtype=np.float64):
    """Rows from a mixture whose components overlap, so EM keeps moving for many
    iterations (responsibilities are far from 0/1)."""
    rng = np.random.RandomState(seed)
    means = rng.normal(scale=1.5, size=(n_components, n_features))
    mixing = rng.normal(scale=0.5, size=(n_components, n_features, n_features)) + np.eye(n_features)
    labels = rng.randint(n_components, size=n_samples)
    noise = rng.standard_normal((n_samples, n_features))
    X = means[labels] + np.einsum("nij,nj->ni", mixing[labels], noise)
    return np.ascontiguousarray(X, dtype=dtype)


TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
TRUE_COVARIANCES = {
    "full": np.array(
        [[[1.0, 0.5], [0.5, 1.0]], [[2.0, -0.6], [-0.6, 0.5]], [[0.6, 0.0], [0.0, 1.5]]]
    ),
    "diag": np.array([[1.0, 0.4], [2.0, 0.5], [0.6, 1.5]]),
}


def separated(covariance_type, n_samples=2000, seed=0):
    """Rows from three well-separated Gaussians (TRUE_* above) and their labels."""
    rng = np.random.RandomState(seed)
    labels = rng.choice(3, size=n_samples, p=TRUE_WEIGHTS)
    covariances = TRUE_COVARIANCES[covariance_type]
    if covariance_type == "diag":
        covariances = np.stack([np.diag(c) for c in covariances])
    factors = np.linalg.cholesky(covariances)
    noise = rng.standard_normal((n_samples, 2))
    X = TRUE_MEANS[labels] + np.einsum("nij,nj->ni", factors[labels], noise)
    return np.ascontiguousarray(X), labels


def match_components(means, reference_means):
    """Index of the fitted component closest to each reference mean (a permutation)."""
    order = np.array([np.argmin(((means - m) ** 2).sum(axis=1)) for m in reference_means])
    assert sorted(order) == list(range(len(reference_means))), "two truths matched one component"
    return order


def fit_quietly(estimator, X, **fit_params):
    """Fit when hitting max_iter is intended (tol=0): the warning is expected, and checked."""
    if isinstance(estimator, GaussianMixture):
        warning = ConvergenceWarning
    else:
        warning = SklearnConvergenceWarning
    with pytest.warns(warning, match="did not converge"):
        return estimator.fit(X, **fit_params)


# -- scikit-learn agreement -------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_same_start_matches_sklearn(covariance_type):
    X = overlapping(0)
    settings = dict(n_components=3, covariance_type=covariance_type, tol=0, max_iter=20,
                    **same_start(X, 3, covariance_type))
    ours = fit_quietly(GaussianMixture(**settings), X)
    theirs = fit_quietly(SklearnGaussianMixture(**settings), X)

    # EM really moved: the means travelled and the bound still rises at iteration 20.
    assert np.abs(ours.means_ - settings["means_init"]).max() > 0.3
    assert ours.lower_bounds_[-1] - ours.lower_bounds_[-2] > 1e-6
    assert len(ours.lower_bounds_) == len(theirs.lower_bounds_) == 20
    for name in FITTED:
        assert getattr(ours, name).dtype == np.float64
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-6, atol=1e-12,
                        err_msg=name)
    assert_allclose(ours.lower_bounds_, theirs.lower_bounds_, rtol=1e-6)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-6)
    assert ours.n_iter_ == theirs.n_iter_ == 20
    assert not ours.converged_ and not theirs.converged_


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_scores_and_criteria_match_sklearn_on_the_same_parameters(covariance_type):
    X, _ = separated(covariance_type, n_samples=600, seed=1)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    sk = SklearnGaussianMixture(3, covariance_type=covariance_type)
    for name in FITTED + ("n_features_in_", "converged_", "n_iter_", "lower_bound_"):
        setattr(sk, name, getattr(gm, name))

    # Held-out rows, some far from every component (log-densities around -1e3).
    X_test, _ = separated(covariance_type, n_samples=300, seed=2)
    X_test = np.ascontiguousarray(np.vstack([X_test, [[40.0, -30.0], [-25.0, 60.0]]]))
    assert_allclose(gm.score_samples(X_test), sk.score_samples(X_test), rtol=1e-10)
    assert_allclose(gm.predict_proba(X_test), sk.predict_proba(X_test), rtol=1e-8, atol=1e-12)
    assert_array_equal(gm.predict(X_test), sk.predict(X_test))
    assert_allclose(gm.score(X_test), sk.score(X_test), rtol=1e-10)
    assert_allclose(gm.bic(X_test), sk.bic(X_test), rtol=1e-10)
    assert_allclose(gm.aic(X_test), sk.aic(X_test), rtol=1e-10)
    assert gm.score_samples(X_test)[-1] < -100  # the far rows really were far


def test_diag_sample_matches_sklearn_draw_for_draw():
    # scikit-learn draws diag samples as mean + z * sqrt(variance) from one RandomState,
    # component by component; so does fastem.
    X, _ = separated("diag", n_samples=600)
    gm = GaussianMixture(3, covariance_type="diag", random_state=3).fit(X)
    sk = SklearnGaussianMixture(3, covariance_type="diag", random_state=3)
    for name in FITTED + ("n_features_in_",):
        setattr(sk, name, getattr(gm, name))
    ours, theirs = gm.sample(500), sk.sample(500)
    assert_allclose(ours[0], theirs[0], rtol=1e-12)
    assert_array_equal(ours[1], theirs[1])


# -- EM's guarantee ---------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lower_bound_never_decreases(covariance_type, dtype, weighted, seed):
    X = overlapping(seed, dtype=dtype)
    weights = np.random.RandomState(seed + 10).uniform(0.1, 3.0, X.shape[0]) if weighted else None
    gm = GaussianMixture(4, covariance_type=covariance_type, init_params="random", tol=1e-9,
                         max_iter=100, random_state=seed)
    with warnings.catch_warnings():  # converging or not is beside the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=weights)
    bounds = np.array(gm.lower_bounds_)
    assert len(bounds) == gm.n_iter_ >= 20
    # float64: rounding only.  float32: log-densities are evaluated in float32; the
    # largest decrease measured over these cases was 1.2e-7 (about 3 float32 ulps of |bound|).
    slack = (1e-12 if dtype == np.float64 else 2e-6) * max(1.0, abs(bounds).max())
    steps = np.diff(bounds)
    decreases = np.flatnonzero(steps < -slack)
    assert not decreases.size, f"bound decreased at iterations {decreases}: {steps[decreases]}"
    assert bounds[-1] - bounds[0] > 0.05  # EM made real progress, so the check means something
    assert gm.lower_bound_ == bounds[-1]
    # The fitted parameters come from one more M-step: at least as good as the last bound.
    assert gm.score(X, sample_weight=weights) >= bounds[-1] - slack


# -- recovery, n_init, warm start -------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("init_params", INIT_METHODS)
def test_recovers_a_well_separated_mixture(covariance_type, init_params):
    X, labels = separated(covariance_type)
    # "random" starts every component near the global mean and "random_from_data" can
    # seed two components in one cluster; like scikit-learn's, those starts need several
    # tries and a small tol.  The same settings are used for every method.
    gm = GaussianMixture(3, covariance_type=covariance_type, init_params=init_params, n_init=4,
                         tol=1e-6, max_iter=500, random_state=0).fit(X)
    assert gm.converged_
    order = match_components(gm.means_, TRUE_MEANS)
    weights, means, covariances = gm.weights_[order], gm.means_[order], gm.covariances_[order]

    # With clusters this far apart (> 8 standard deviations) the maximum-likelihood fit
    # is the sample statistics of the generating labels (np.cov with bias=True is the
    # MLE) up to the stopping tolerance: measured differences were below 6e-6.
    for k in range(3):
        rows = X[labels == k]
        assert_allclose(weights[k], len(rows) / len(X), atol=1e-4)
        assert_allclose(means[k], rows.mean(axis=0), atol=1e-3)
        sample_cov = np.cov(rows.T, bias=True)
        expected = sample_cov if covariance_type == "full" else np.diag(sample_cov)
        assert_allclose(covariances[k], expected, atol=1e-3)
    # ...and both are close to the truth (several standard errors at these sizes).
    assert_allclose(weights, TRUE_WEIGHTS, atol=0.04)
    assert_allclose(means, TRUE_MEANS, atol=0.2)
    assert_allclose(covariances, TRUE_COVARIANCES[covariance_type], atol=0.5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_n_init_keeps_the_best_of_its_starts(covariance_type):
    # Starts are drawn one after the other from one RandomState, so separate fits that
    # share a RandomState instance replay exactly the starts of one n_init=4 fit.
    X, _ = separated(covariance_type, n_samples=1000, seed=3)
    settings = dict(n_components=3, covariance_type=covariance_type, init_params="random_from_data")
    shared = np.random.RandomState(5)
    singles = [GaussianMixture(**settings, random_state=shared).fit(X) for _ in range(4)]
    best = GaussianMixture(**settings, n_init=4, random_state=np.random.RandomState(5)).fit(X)

    bounds = [single.lower_bound_ for single in singles]
    assert max(bounds) - min(bounds) > 0.1, "the starts should end in different optima"
    winner = singles[int(np.argmax(bounds))]
    assert best.lower_bound_ == max(bounds)
    assert best.lower_bounds_ == winner.lower_bounds_
    for name in FITTED:
        assert_array_equal(getattr(best, name), getattr(winner, name))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_from_the_fitted_parameters(covariance_type):
    X = overlapping(4)
    start = same_start(X, 3, covariance_type)
    gm = GaussianMixture(3, covariance_type=covariance_type, tol=0, max_iter=6, warm_start=True,
                         **start)
    first = list(fit_quietly(gm, X).lower_bounds_)
    second = list(fit_quietly(gm, X).lower_bounds_)
    assert second[0] >= first[-1]
    assert gm.n_iter_ == 6

    # Six plus six warm iterations are the same EM path as twelve in one go.
    straight = fit_quietly(GaussianMixture(3, covariance_type=covariance_type, tol=0, max_iter=12,
                                           **start), X)
    assert_allclose(first + second, straight.lower_bounds_, rtol=1e-12)
    for name in FITTED:
        assert_allclose(getattr(gm, name), getattr(straight, name), rtol=1e-10, atol=1e-13)


def test_without_warm_start_a_second_fit_starts_over():
    X = overlapping(4)
    gm = GaussianMixture(3, tol=0, max_iter=6, random_state=0)
    first = list(fit_quietly(gm, X).lower_bounds_)
    second = list(fit_quietly(gm, X).lower_bounds_)
    assert first == second


# -- sample weights ---------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_integer_sample_weights_equal_repeated_rows(covariance_type):
    X = overlapping(5)
    counts = np.random.RandomState(0).randint(0, 4, X.shape[0])  # zeros drop rows
    settings = dict(n_components=3, covariance_type=covariance_type, tol=0, max_iter=25,
                    **same_start(X, 3, covariance_type))
    weighted = fit_quietly(GaussianMixture(**settings), X, sample_weight=counts)
    repeated = fit_quietly(GaussianMixture(**settings), np.repeat(X, counts, axis=0))
    # Only the summation order differs; measured differences were below 3e-14.
    for name in FITTED:
        assert_allclose(getattr(weighted, name), getattr(repeated, name), rtol=1e-11, atol=1e-12,
                        err_msg=name)
    assert_allclose(weighted.lower_bounds_, repeated.lower_bounds_, rtol=1e-11)
    # The weights mattered: the unweighted fit from the same start ends elsewhere.
    unweighted = fit_quietly(GaussianMixture(**settings), X)
    assert np.abs(unweighted.means_ - weighted.means_).max() > 1e-2


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_unit_sample_weights_equal_no_weights(covariance_type):
    X = overlapping(6)
    settings = dict(n_components=3, covariance_type=covariance_type, random_state=0)
    plain = GaussianMixture(**settings).fit(X)
    ones = GaussianMixture(**settings).fit(X, sample_weight=np.ones(X.shape[0]))
    scalar = GaussianMixture(**settings).fit(X, sample_weight=1)
    for other in (ones, scalar):
        for name in FITTED:
            assert_allclose(getattr(other, name), getattr(plain, name), rtol=1e-13, atol=1e-15)
        assert_allclose(other.lower_bounds_, plain.lower_bounds_, rtol=1e-13)


def test_weighted_score_is_the_weighted_mean_log_likelihood():
    X = overlapping(7)
    weights = np.random.RandomState(1).uniform(0, 2, X.shape[0])
    gm = GaussianMixture(2, random_state=0).fit(X)
    log_prob = gm.score_samples(X)
    assert_allclose(gm.score(X, sample_weight=weights), (weights @ log_prob) / weights.sum(),
                    rtol=1e-12)
    assert_allclose(gm.score(X), log_prob.mean(), rtol=1e-12)


# -- float32 ----------------------------------------------------------------------------
def test_float32_input_is_used_in_place(monkeypatch):
    X32 = overlapping(8, dtype=np.float32)
    assert check_data(X32) is X32
    X64 = X32.astype(np.float64)
    assert check_data(X64) is X64
    # fit hands the user's array itself to the data source the kernels read.
    seen = []

    class RecordingSource(ArraySource):
        def __init__(self, X, *args, **kwargs):
            seen.append(X)
            super().__init__(X, *args, **kwargs)

    monkeypatch.setattr(fastem.mixture._mixture, "ArraySource", RecordingSource)
    monkeypatch.setattr(fastem._data, "ArraySource", RecordingSource)
    gm = GaussianMixture(2, random_state=0).fit(X32)
    gm.predict(X32)
    assert len(seen) == 2 and all(X is X32 for X in seen)
    # Other layouts and dtypes are converted once (to C-contiguous float64 for integers).
    converted = check_data(np.asfortranarray(X32))
    assert converted.dtype == np.float32 and converted.flags.c_contiguous
    assert check_data(np.arange(6).reshape(3, 2)).dtype == np.float64


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_float32_fit_is_close_to_float64_fit(covariance_type):
    X32 = overlapping(9, dtype=np.float32)
    X64 = X32.astype(np.float64)  # exactly the same numbers
    before = X32.copy()
    settings = dict(n_components=3, covariance_type=covariance_type, tol=0, max_iter=30,
                    **same_start(X64, 3, covariance_type))
    single = fit_quietly(GaussianMixture(**settings), X32)
    double = fit_quietly(GaussianMixture(**settings), X64)
    assert_array_equal(X32, before)
    assert X32.dtype == np.float32
    # Largest differences measured after 30 iterations: 1.4e-6 absolute (covariances; host
    # AVX2 and haswell, 6.3e-7 on generic x86-64), within atol + rtol * |value| >= 2e-6.
    for name in ("weights_", "means_", "covariances_"):
        assert getattr(single, name).dtype == np.float64
        assert_allclose(getattr(single, name), getattr(double, name), rtol=1e-5, atol=2e-6,
                        err_msg=name)
    assert_allclose(single.lower_bounds_, double.lower_bounds_, rtol=1e-6)
    # Predictions on float32 data use the same model: the fitted one's scores of the float32
    # rows and of the same rows in float64 differ only by float32 arithmetic (measured: 1.1e-5
    # absolute, 1.2e-6 relative on host AVX2 and haswell, 7.4e-6 on generic x86-64); the two
    # fits' models differ more (up to 1.1e-4 in score on generic), bounded above.
    assert_allclose(single.score_samples(X32), single.score_samples(X64), rtol=1e-5, atol=1e-5)


# -- fitted model -----------------------------------------------------------------------
def test_fit_leaves_user_arrays_alone_and_does_not_alias_them():
    X = overlapping(10)
    weights = np.random.RandomState(0).uniform(0.5, 1.5, X.shape[0])
    start = same_start(X, 3, "full")
    copies = [a.copy() for a in (X, weights, *start.values())]
    gm = GaussianMixture(3, **start).fit(X, sample_weight=weights)
    for original, copy in zip((X, weights, *start.values()), copies):
        assert_array_equal(original, copy)
    assert gm.means_init is start["means_init"]  # parameters are stored as given
    for name in FITTED:
        for array in (X, weights, *start.values()):
            assert not np.shares_memory(getattr(gm, name), array)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_fitted_attributes_are_consistent(covariance_type):
    X, _ = separated(covariance_type, n_samples=500)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    assert gm.n_features_in_ == 2
    assert gm.weights_.shape == (3,) and gm.means_.shape == (3, 2)
    shape = (3, 2, 2) if covariance_type == "full" else (3, 2)
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(gm, name).shape == shape
    assert_allclose(gm.weights_.sum(), 1.0, rtol=1e-12)
    if covariance_type == "full":
        identity = np.broadcast_to(np.eye(2), shape)
        assert_allclose(gm.precisions_ @ gm.covariances_, identity, atol=1e-10)
        U = gm.precisions_cholesky_
        assert_allclose(np.tril(U, -1), 0)  # upper triangular, as in scikit-learn
        assert_allclose(U @ U.transpose(0, 2, 1), gm.precisions_, rtol=1e-12)
    else:
        assert_allclose(gm.precisions_ * gm.covariances_, 1.0, rtol=1e-12)
        assert_allclose(gm.precisions_cholesky_**2, gm.precisions_, rtol=1e-12)
    assert gm.converged_ and gm.n_iter_ == len(gm.lower_bounds_)
    assert abs(gm.lower_bounds_[-1] - gm.lower_bounds_[-2]) < gm.tol

    proba = gm.predict_proba(X)
    assert proba.shape == (500, 3)
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_array_equal(gm.predict(X), proba.argmax(axis=1))
    assert_array_equal(gm.fit_predict(X), gm.predict(X))


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_sample_has_the_model_moments(covariance_type):
    X, _ = separated(covariance_type, n_samples=600)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0).fit(X)
    n = 6000
    samples, labels = gm.sample(n)
    assert samples.shape == (n, 2) and samples.dtype == np.float64
    assert labels.shape == (n,) and labels.dtype.kind == "i"
    assert set(np.unique(labels)) == {0, 1, 2}
    assert (np.diff(labels) >= 0).all()  # grouped by component, as in scikit-learn

    covariances = gm.covariances_ if covariance_type == "full" else np.stack(
        [np.diag(c) for c in gm.covariances_])
    for k in range(3):
        rows = samples[labels == k]
        m = len(rows)
        w = gm.weights_[k]
        assert abs(m / n - w) < 5 * np.sqrt(w * (1 - w) / n)
        std = np.sqrt(np.diag(covariances[k]))
        assert (np.abs(rows.mean(axis=0) - gm.means_[k]) < 5 * std / np.sqrt(m)).all()
        # Standard error of a sample covariance entry: sqrt((S_ii S_jj + S_ij^2) / m).
        cov_se = np.sqrt((np.outer(std**2, std**2) + covariances[k] ** 2) / m)
        assert (np.abs(np.cov(rows.T, bias=True) - covariances[k]) < 5 * cov_se).all()

    # Seeded by random_state: the same draws every call, other draws for another seed.
    again = gm.sample(n)
    assert_array_equal(again[0], samples)
    other = clone(gm).set_params(random_state=1).fit(X).sample(n)[0]
    assert not np.array_equal(other, samples)


def test_component_collapse_names_the_component():
    # Ten copies of one point, far from a cloud: component 1 gets exactly those points,
    # so its covariance is exactly zero.
    rng = np.random.RandomState(0)
    X = np.ascontiguousarray(np.vstack([rng.standard_normal((200, 2)), np.full((10, 2), 50.0)]))
    for covariance_type in COVARIANCE_TYPES:
        start = dict(weights_init=[0.9, 0.1], means_init=[[0.0, 0.0], [50.0, 50.0]])
        if covariance_type == "full":
            start["precisions_init"] = np.stack([np.eye(2)] * 2)
        else:
            start["precisions_init"] = np.ones((2, 2))
        gm = GaussianMixture(2, covariance_type=covariance_type, reg_covar=0, **start)
        message = (
            "Component 1 has a covariance that is not positive definite (the component "
            "collapsed onto too few distinct points). Increase reg_covar (now 0), lower "
            "n_components, or rescale the data."
        )
        with pytest.raises(ComponentError, match=re.escape(message)):
            gm.fit(X)
        assert not hasattr(gm, "means_")
        # reg_covar is the remedy the message offers: with it the fit succeeds and the
        # collapsed component keeps exactly reg_covar as its variance.
        gm.set_params(reg_covar=1e-6).fit(X)
        variances = gm.covariances_[1] if covariance_type == "diag" else np.diag(gm.covariances_[1])
        assert_allclose(variances, 1e-6, rtol=1e-6)
    assert issubclass(ComponentError, ValueError)


def test_collapse_during_data_driven_initialisation():
    rng = np.random.RandomState(1)
    X = np.ascontiguousarray(np.vstack([rng.standard_normal((200, 2)), np.full((10, 2), 50.0)]))
    gm = GaussianMixture(2, covariance_type="diag", reg_covar=0, random_state=0)
    message = r"^Component [01] has a covariance that is not positive definite"
    with pytest.raises(ComponentError, match=message):
        gm.fit(X)
    with pytest.raises(NotFittedError):
        gm.predict(X)


def test_max_iter_reached_warns_with_the_settings():
    X = overlapping(11)
    gm = GaussianMixture(3, tol=0, max_iter=3, random_state=0)
    message = (
        "Best performing initialization did not converge. Try different init parameters, or "
        "increase max_iter, tol, or check for degenerate data. (max_iter=3, tol=0)"
    )
    with pytest.warns(ConvergenceWarning, match=re.escape(message)):
        gm.fit(X)
    assert not gm.converged_ and gm.n_iter_ == 3
    assert issubclass(ConvergenceWarning, UserWarning)


# -- scikit-learn estimator protocol ----------------------------------------------------
def test_parameters_match_sklearn():
    ours, theirs = GaussianMixture().get_params(), SklearnGaussianMixture().get_params()
    extras = {"n_threads", "algorithm", "mc_samples", "gem_step", "accelerate", "learning_decay", "fixed_params"}
    extras |= {"missing"}
    # MAP-EM's prior takes BayesianGaussianMixture's names
    extras |= {"prior", "weight_concentration_prior", "mean_precision_prior", "mean_prior",
               "degrees_of_freedom_prior", "covariance_prior"}
    assert set(ours) == set(theirs) | extras
    assert {name: ours[name] for name in theirs} == theirs
    assert ours["n_threads"] is None


def test_get_params_set_params_and_clone():
    means_init = np.zeros((2, 3))
    gm = GaussianMixture(2, covariance_type="diag", means_init=means_init, n_threads=1)
    params = gm.get_params()
    assert params["n_components"] == 2 and params["covariance_type"] == "diag"
    assert params["means_init"] is means_init

    assert gm.set_params(tol=1e-2, max_iter=70) is gm
    assert (gm.tol, gm.max_iter) == (1e-2, 70)
    valid = sorted(params)
    message = (
        "Invalid parameter 'colour' for estimator GaussianMixture. "
        f"Valid parameters are: {valid!r}."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        gm.set_params(colour="red")
    assert "colour" not in vars(gm)

    X = overlapping(12)
    gm.set_params(means_init=None).fit(X)
    copy = clone(gm)
    assert type(copy) is GaussianMixture
    assert copy.get_params() == gm.get_params()
    assert not [name for name in vars(copy) if name.endswith("_")]
    with pytest.raises(NotFittedError):
        copy.predict(X)
    assert repr(copy) == (
        "GaussianMixture(covariance_type='diag', max_iter=70, n_components=2, n_threads=1, "
        "tol=0.01)"
    )


def test_not_fitted_error_is_sklearn_compatible():
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    gm = GaussianMixture()
    for method in ("predict", "predict_proba", "score_samples", "score", "bic", "aic"):
        with pytest.raises(SklearnNotFittedError):
            getattr(gm, method)(np.zeros((3, 2)))
        with pytest.raises(NotFittedError, match="This GaussianMixture instance is not fitted yet"):
            getattr(gm, method)(np.zeros((3, 2)))
    with pytest.raises(NotFittedError):
        gm.sample(3)


def test_pipeline_with_standard_scaler():
    X, _ = separated("full", n_samples=600, seed=4)
    X = np.ascontiguousarray(X * [1.0, 100.0] + [5.0, -300.0])
    pipeline = make_pipeline(StandardScaler(), GaussianMixture(3, random_state=0)).fit(X)
    scaled = StandardScaler().fit_transform(X)
    alone = GaussianMixture(3, random_state=0).fit(scaled)
    assert_array_equal(pipeline.predict(X), alone.predict(scaled))
    assert_allclose(pipeline.score(X), alone.score(scaled), rtol=1e-12)
    assert_allclose(pipeline.predict_proba(X), alone.predict_proba(scaled), rtol=1e-12, atol=1e-15)


def test_grid_search_over_n_components_uses_the_mean_log_likelihood():
    X, _ = separated("full", n_samples=600, seed=5)
    folds = KFold(3, shuffle=True, random_state=0)
    search = GridSearchCV(GaussianMixture(random_state=0), {"n_components": [1, 2, 3]}, cv=folds)
    search.fit(X)
    assert search.best_params_ == {"n_components": 3}
    for n_components, mean_score in zip([1, 2, 3], search.cv_results_["mean_test_score"]):
        scores = [
            GaussianMixture(n_components, random_state=0).fit(X[train]).score(X[test])
            for train, test in folds.split(X)
        ]
        assert_allclose(mean_score, np.mean(scores), rtol=1e-12)
    assert search.best_estimator_.n_components == 3


# scikit-learn warns, while building the list of checks, that GaussianMixture does not
# derive from sklearn.base.BaseEstimator: by design, scikit-learn is not a runtime
# dependency of fastem (fastem.mixture._base implements the protocol itself).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Estimator GaussianMixture does not inherit from",
                            category=UserWarning)
    _sklearn_checks = parametrize_with_checks(
        [
            GaussianMixture(random_state=0),
            GaussianMixture(2, covariance_type="diag", max_iter=200, random_state=0),
        ],
        expected_failed_checks=lambda estimator: {} if estimator.n_components == 1 else {
            "check_sample_weight_equivalence_on_dense_data": (
                "The data-driven start draws rows at random, and the same draws pick other "
                "rows from weighted data than from repeated (and reshuffled) data, so with two "
                "components the two fits start apart and, on the check's 15 rows in 30 "
                "dimensions, end in different local optima. "
                "test_integer_sample_weights_equal_repeated_rows checks the equivalence "
                "from a shared start."
            ),
        },
    )
    # scikit-learn 1.7 hands pytest its checks as a generator, which pytest 9 deprecates
    # and which would warn (as above) only at collection, outside this block: a list.
    _sklearn_checks = pytest.mark.parametrize(
        _sklearn_checks.args[0], list(_sklearn_checks.args[1]), **_sklearn_checks.kwargs)


@_sklearn_checks
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
