"""Bad input to fastem.GaussianMixture: each gets a ValueError/TypeError whose exact
message says what is wrong; the user's arrays are never modified and a failed fit
leaves the estimator unfitted."""

import re

import numpy as np
import pytest
import scipy.sparse
from numpy.testing import assert_array_equal

from fastem import GaussianMixture, NotFittedError

N_SAMPLES, N_FEATURES = 20, 2


def data(seed=0, n_samples=N_SAMPLES, n_features=N_FEATURES):
    rng = np.random.RandomState(seed)
    return rng.standard_normal((n_samples, n_features))


def with_values(values):
    """X with ``{(row, column): value}`` written into a copy of the standard data."""
    X = data()
    for where, value in values.items():
        X[where] = value
    return X


def good_init(covariance_type="full", n_components=3):
    precisions = np.stack([np.eye(N_FEATURES)] * n_components)
    if covariance_type == "diag":
        precisions = np.ones((n_components, N_FEATURES))
    return dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=data(seed=1, n_samples=n_components),
        precisions_init=precisions,
    )


def assert_unfitted(gm, X=None):
    leftovers = [name for name in vars(gm) if name.endswith("_")]
    assert not leftovers, f"a failed fit left {leftovers}"
    with pytest.raises(NotFittedError):
        gm.predict(data() if X is None else X)


def assert_fit_fails(gm, X, error, message, sample_weight=None):
    """Fit must raise ``error`` with exactly ``message``, touch none of the user's
    arrays, and leave ``gm`` unfitted."""
    arrays = [a for a in (X, sample_weight, gm.weights_init, gm.means_init, gm.precisions_init)
              if isinstance(a, np.ndarray)]
    copies = [a.copy() for a in arrays]
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        gm.fit(X, sample_weight=sample_weight)
    for array, copy in zip(arrays, copies):
        assert_array_equal(array, copy)
    assert_unfitted(gm)


# -- X ----------------------------------------------------------------------------------
_SPARSE = (
    "X is a scipy.sparse matrix; sparse input is not supported by GaussianMixture. "
    "Pass a dense array (X.toarray())."
)
BAD_X = {
    "nan": (
        with_values({(3, 1): np.nan}), ValueError,
        "X contains 1 non-finite value(s) (NaN or inf; first at row 3, column 1); "
        "remove or impute them.",
    ),
    "nan and inf": (
        with_values({(12, 0): np.inf, (5, 1): np.nan, (7, 0): -np.inf}), ValueError,
        "X contains 3 non-finite value(s) (NaN or inf; first at row 5, column 1); "
        "remove or impute them.",
    ),
    "1-D": (
        data()[:, 0].copy(), ValueError,
        "X must be a 2-D array of shape (n_samples, n_features); got a 1-D array of shape "
        "(20,). Reshape your data either using X.reshape(-1, 1) if it has a single feature "
        "or X.reshape(1, -1) if it contains a single sample.",
    ),
    "3-D": (
        data().reshape(10, 2, 2), ValueError,
        "X must be a 2-D array of shape (n_samples, n_features); got a 3-D array of shape "
        "(10, 2, 2).",
    ),
    "scalar": (
        np.float64(3.0), ValueError,
        "X must be a 2-D array of shape (n_samples, n_features); got a 0-D array of shape ().",
    ),
    "no features": (
        np.empty((20, 0)), ValueError,
        "Found array with 0 feature(s) (shape=(20, 0)) while a minimum of 1 is required.",
    ),
    "one sample": (
        data()[:1].copy(), ValueError,
        "Found array with 1 sample(s) (shape=(1, 2)) while a minimum of 2 is required.",
    ),
    "strings": (
        np.array([["1.0", "2.0"]] * 5), TypeError,
        "X has dtype <U3; fastem fits numeric data. Convert it with X.astype(np.float64).",
    ),
    "complex": (
        data().astype(np.complex128), ValueError,
        "Complex data not supported: X has dtype complex128.",
    ),
    "sparse matrix": (scipy.sparse.csr_matrix(data()), TypeError, _SPARSE),
    "sparse array": (scipy.sparse.csr_array(data()), TypeError, _SPARSE),
}


@pytest.mark.parametrize("case", BAD_X)
def test_bad_X_is_rejected(case):
    X, error, message = BAD_X[case]
    assert_fit_fails(GaussianMixture(), X, error, message)


def _float_error(value):
    """Python's own message for float(value), so the test does not depend on its wording."""
    with pytest.raises((TypeError, ValueError)) as info:
        float(value)
    return info.type, str(info.value)


@pytest.mark.parametrize("bad", [{"foo": "bar"}, "abc"], ids=["dict", "string"])
def test_object_array_with_a_non_number_is_rejected(bad):
    X = data().astype(object)
    X[4, 1] = bad
    error, reason = _float_error(bad)
    message = (
        f"X has dtype object and holds a value that is not a number ({reason}); "
        "fastem fits numeric data."
    )
    assert_fit_fails(GaussianMixture(), X, error, message)


def test_numeric_object_list_and_integer_X_are_converted():
    X = data()
    expected = GaussianMixture(random_state=0).fit(X).means_
    assert_array_equal(GaussianMixture(random_state=0).fit(X.astype(object)).means_, expected)
    assert_array_equal(GaussianMixture(random_state=0).fit(X.tolist()).means_, expected)
    counts = np.arange(40).reshape(20, 2) % 7
    assert_array_equal(GaussianMixture(random_state=0).fit(counts).means_,
                       GaussianMixture(random_state=0).fit(counts.astype(np.float64)).means_)


def test_fewer_samples_than_components():
    message = (
        "X has 20 samples but n_components=21; a mixture needs at least as many samples "
        "as components."
    )
    assert_fit_fails(GaussianMixture(21), data(), ValueError, message)


# -- sample_weight ----------------------------------------------------------------------
def _weights(index, value):
    weights = np.ones(N_SAMPLES)
    weights[index] = value
    return weights


BAD_WEIGHTS = {
    "negative": (
        _weights(3, -1.0), ValueError,
        "sample_weight must be non-negative; sample_weight[3] = -1.0.",
    ),
    "all zero": (
        np.zeros(N_SAMPLES), ValueError,
        "sample_weight sums to zero; at least one sample needs a positive weight.",
    ),
    "too short": (
        np.ones(N_SAMPLES - 1), ValueError,
        "sample_weight must have shape (20,) to match X; got shape (19,).",
    ),
    "2-D": (
        np.ones((N_SAMPLES, 1)), ValueError,
        "sample_weight must have shape (20,) to match X; got shape (20, 1).",
    ),
    "nan": (
        _weights(2, np.nan), ValueError,
        "sample_weight contains 1 non-finite value(s) (NaN or inf; first at row 2); "
        "remove or impute them.",
    ),
    "strings": (
        np.array(["1"] * N_SAMPLES), TypeError,
        "sample_weight has dtype <U1; it must be numeric.",
    ),
}


@pytest.mark.parametrize("case", BAD_WEIGHTS)
def test_bad_sample_weight_is_rejected(case):
    weights, error, message = BAD_WEIGHTS[case]
    assert_fit_fails(GaussianMixture(), data(), error, message, sample_weight=weights)


# -- *_init -----------------------------------------------------------------------------
def _init(covariance_type="full", **changes):
    init = good_init(covariance_type)
    init.update(changes)
    return init


_indefinite = np.stack([np.eye(2), [[1.0, 2.0], [2.0, 1.0]], np.eye(2)])
_asymmetric = np.stack([np.eye(2), np.eye(2), [[1.0, 0.5], [0.0, 1.0]]])
_zero_variance = np.array([[1.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
BAD_INIT = {
    "weights shape": (
        _init(weights_init=np.full(2, 0.5)), ValueError,
        "weights_init must have shape (n_components,) = (3,); got shape (2,).",
    ),
    "weights sum": (
        _init(weights_init=np.array([0.3, 0.3, 0.3])), ValueError,
        "weights_init must sum to 1; got sum 0.9.",
    ),
    "weights negative": (
        _init(weights_init=np.array([-0.1, 0.6, 0.5])), ValueError,
        "weights_init must lie in [0, 1]; got min -0.1, max 0.6.",
    ),
    "weights nan": (
        _init(weights_init=np.array([np.nan, 0.5, 0.5])), ValueError,
        "weights_init contains NaN or inf.",
    ),
    "means shape": (
        _init(means_init=np.zeros((3, 3))), ValueError,
        "means_init must have shape (n_components, n_features) = (3, 2); got shape (3, 3).",
    ),
    "means strings": (
        _init(means_init=np.array([["a", "b"]] * 3)), TypeError,
        "means_init has dtype <U1; it must be numeric.",
    ),
    "means inf": (
        _init(means_init=np.array([[0.0, np.inf], [1.0, 1.0], [2.0, 2.0]])), ValueError,
        "means_init contains NaN or inf.",
    ),
    "full precisions shape": (
        _init(precisions_init=np.ones((3, 2))), ValueError,
        "precisions_init must have shape (n_components, n_features, n_features) = (3, 2, 2); "
        "got shape (3, 2).",
    ),
    "full precisions not PD": (
        _init(precisions_init=_indefinite), ValueError,
        "precisions_init[1] is not symmetric positive definite.",
    ),
    "full precisions asymmetric": (
        _init(precisions_init=_asymmetric), ValueError,
        "precisions_init[2] is not symmetric.",
    ),
    "diag precisions shape": (
        _init("diag", precisions_init=np.ones((3, 2, 2))), ValueError,
        "precisions_init must have shape (n_components, n_features) = (3, 2); "
        "got shape (3, 2, 2).",
    ),
    "diag precisions not positive": (
        _init("diag", precisions_init=_zero_variance), ValueError,
        "precisions_init must be positive; component 1 has a value <= 0.",
    ),
}


@pytest.mark.parametrize("case", BAD_INIT)
def test_bad_init_is_rejected(case):
    init, error, message = BAD_INIT[case]
    covariance_type = "diag" if case.startswith("diag") else "full"
    gm = GaussianMixture(3, covariance_type=covariance_type, **init)
    assert_fit_fails(gm, data(), error, message)


# -- constructor parameters -------------------------------------------------------------
def _range(name, kind, interval, value):
    return (
        f"The '{name}' parameter of GaussianMixture must be {kind} in the range {interval}. "
        f"Got {value!r} instead."
    )


BAD_PARAMS = [
    (dict(n_components=0), _range("n_components", "an int", "[1, inf)", 0)),
    (dict(n_components=2.5), _range("n_components", "an int", "[1, inf)", 2.5)),
    (dict(n_components="3"), _range("n_components", "an int", "[1, inf)", "3")),
    (dict(n_components=True), _range("n_components", "an int", "[1, inf)", True)),
    (dict(tol=-1e-3), _range("tol", "a float", "[0.0, inf)", -1e-3)),
    (dict(tol=None), _range("tol", "a float", "[0.0, inf)", None)),
    (dict(reg_covar=-1.0), _range("reg_covar", "a float", "[0.0, inf)", -1.0)),
    (dict(max_iter=-1), _range("max_iter", "an int", "[0, inf)", -1)),
    (dict(max_iter=10.0), _range("max_iter", "an int", "[0, inf)", 10.0)),
    (dict(n_init=0), _range("n_init", "an int", "[1, inf)", 0)),
    (dict(verbose_interval=0), _range("verbose_interval", "an int", "[1, inf)", 0)),
    (dict(n_threads=0), _range("n_threads", "an int", "[1, inf)", 0)),
    (
        dict(covariance_type="ful"),
        "The 'covariance_type' parameter of GaussianMixture must be one of 'full', 'tied', 'diag', "
        "'spherical'. "
        "Got 'ful' instead.",
    ),
    (
        dict(init_params="kmeans++"),
        "The 'init_params' parameter of GaussianMixture must be one of 'kmeans', 'k-means++', "
        "'random', 'random_from_data', 'split'. Got 'kmeans++' instead.",
    ),
    (
        dict(random_state="seed"),
        "random_state must be None, an int or a numpy.random.RandomState; got 'seed'.",
    ),
]


@pytest.mark.parametrize("params, message", BAD_PARAMS, ids=[repr(p) for p, _ in BAD_PARAMS])
def test_bad_parameters_are_rejected_by_fit(params, message):
    gm = GaussianMixture(**params)
    assert_fit_fails(gm, data(), ValueError, message)
    [(name, value)] = params.items()
    assert gm.get_params()[name] is value  # fit does not rewrite constructor parameters


def test_numpy_integer_parameters_are_accepted():
    gm = GaussianMixture(np.int64(2), max_iter=np.int32(50), tol=np.float32(1e-3), random_state=0)
    assert gm.fit(data()).means_.shape == (2, 2)


# -- a fitted estimator -----------------------------------------------------------------
@pytest.fixture
def fitted():
    return GaussianMixture(2, random_state=0).fit(data())


@pytest.mark.parametrize("method", ["predict", "predict_proba", "score_samples", "score"])
def test_predicting_with_bad_X_is_rejected_and_keeps_the_fit(fitted, method):
    means = fitted.means_.copy()
    X_nan = with_values({(7, 0): np.nan})
    message = (
        "X contains 1 non-finite value(s) (NaN or inf; first at row 7, column 0); "
        "remove or impute them."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(fitted, method)(X_nan)
    assert np.isnan(X_nan[7, 0])
    message = "X has 3 features, but GaussianMixture is expecting 2 features as input."
    with pytest.raises(ValueError, match=re.escape(message)):
        getattr(fitted, method)(data(n_features=3))
    message = "X is a scipy.sparse matrix; sparse input is not supported by GaussianMixture."
    with pytest.raises(TypeError, match=re.escape(message)):
        getattr(fitted, method)(scipy.sparse.csr_matrix(data()))
    assert_array_equal(fitted.means_, means)
    assert fitted.predict(data()).shape == (N_SAMPLES,)


def test_a_failed_second_fit_leaves_the_estimator_unfitted(fitted):
    X_nan = with_values({(0, 0): np.nan})
    message = (
        "X contains 1 non-finite value(s) (NaN or inf; first at row 0, column 0); "
        "remove or impute them."
    )
    assert_fit_fails(fitted, X_nan, ValueError, message)


def test_warm_start_with_other_n_features_fails_and_unfits():
    gm = GaussianMixture(2, warm_start=True, random_state=0).fit(data())
    message = "X has 3 features, but GaussianMixture is expecting 2 features as input."
    assert_fit_fails(gm, data(n_features=3), ValueError, message)
    assert gm.fit(data(n_features=3)).n_features_in_ == 3  # now a fresh start


def test_failed_fit_from_bad_parameters_unfits_a_fitted_estimator(fitted):
    fitted.set_params(n_components=0)
    assert_fit_fails(fitted, data(), ValueError, _range("n_components", "an int", "[1, inf)", 0))


def test_bad_sample_count():
    gm = GaussianMixture(2, random_state=0).fit(data())
    message = (
        "The 'n_samples' parameter of GaussianMixture.sample must be an int in the range "
        "[1, inf). Got 0 instead."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        gm.sample(0)
