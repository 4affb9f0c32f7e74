"""Model files: every estimator saves and loads, exactly; files that are not models fail clearly."""

import json
import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastem
from fastem import (
    BayesianGaussianMixture,
    BayesianLinearRegression,
    BernoulliMixture,
    GaussianMixture,
    KMeans,
    NotFittedError,
)
from fastem._persistence import FORMAT_VERSION, MODEL_CLASSES

from conftest import Frame

# Round trips are about files, not convergence: short fits are fine.
pytestmark = pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")

COVARIANCE_TYPES = ["full", "tied", "diag", "spherical"]
DTYPES = [np.float32, np.float64]


def blobs(seed=0, n_per_blob=40, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    scales = np.array([[1.0, 0.5], [0.7, 1.2], [1.5, 1.0]])
    X = np.vstack([rng.standard_normal((n_per_blob, 2)) * s + c for c, s in zip(centres, scales)])
    return np.ascontiguousarray(X, dtype=dtype)


def regression(seed=0, n_samples=80, dtype=np.float64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, 3)) + 2.0
    y = X @ np.array([1.0, -2.0, 0.5]) + 0.3 + 0.2 * rng.normal(size=n_samples)
    return np.ascontiguousarray(X, dtype=dtype), y


def round_trip(estimator, tmp_path):
    path = tmp_path / "model.npz"
    estimator.save(path)
    return fastem.load(path)


def assert_same_value(loaded, saved, name):
    """Equal and of the same type, arrays bitwise with their dtype, containers item by item."""
    assert type(loaded) is type(saved), name
    if isinstance(saved, np.ndarray):
        assert loaded.dtype == saved.dtype and loaded.shape == saved.shape, name
        assert_array_equal(loaded, saved, err_msg=name)
    elif isinstance(saved, (list, tuple)):
        assert len(loaded) == len(saved), name
        for a, b in zip(loaded, saved):
            assert_same_value(a, b, name)
    elif isinstance(saved, float) and np.isnan(saved):
        assert np.isnan(loaded), name
    else:
        assert loaded == saved, name


def assert_same_model(loaded, saved):
    """The same class, parameters and fitted attributes (``_stepwise_``, online EM's
    running statistics, is not saved)."""
    assert type(loaded) is type(saved)
    saved_params, loaded_params = saved.get_params(), loaded.get_params()
    assert loaded_params.keys() == saved_params.keys()
    for name, value in saved_params.items():
        if isinstance(value, (np.random.RandomState, np.random.Generator)):
            assert loaded_params[name] is None
        else:
            assert_same_value(loaded_params[name], value, name)
    fitted = sorted(name for name in vars(saved) if name.endswith("_") and not name.startswith("_"))
    assert sorted(name for name in vars(loaded) if name.endswith("_")) == fitted
    for name in fitted:
        assert_same_value(getattr(loaded, name), getattr(saved, name), name)


def assert_same_outputs(loaded, saved, X):
    """Every method that uses the fitted model gives bitwise the same result."""
    if isinstance(saved, BayesianLinearRegression):
        assert_array_equal(loaded.predict(X), saved.predict(X))
        for a, b in zip(loaded.predict(X, return_std=True), saved.predict(X, return_std=True)):
            assert_array_equal(a, b)
        y = np.linspace(-1.0, 1.0, X.shape[0])
        assert loaded.score(X, y) == saved.score(X, y)
        return
    assert_array_equal(loaded.predict(X), saved.predict(X))
    assert loaded.score(X) == saved.score(X)
    if isinstance(saved, KMeans):
        assert_array_equal(loaded.transform(X), saved.transform(X))
        return
    assert_array_equal(loaded.predict_proba(X), saved.predict_proba(X))
    assert_array_equal(loaded.score_samples(X), saved.score_samples(X))
    assert_array_equal(loaded.estimate_weighted_log_prob(X), saved.estimate_weighted_log_prob(X))
    if not isinstance(saved, BayesianGaussianMixture):  # it has neither
        assert loaded.bic(X) == saved.bic(X) and loaded.aic(X) == saved.aic(X)
    if isinstance(saved.random_state, int):  # sample draws from random_state, which travels
        for a, b in zip(loaded.sample(20), saved.sample(20)):
            assert_array_equal(a, b)


# -- round trips ----------------------------------------------------------------------
@pytest.mark.parametrize("prior", [None, "conjugate"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_gaussian_mixture_round_trip(tmp_path, covariance_type, dtype, prior):
    X = blobs(dtype=dtype)
    gm = GaussianMixture(3, covariance_type=covariance_type, prior=prior, random_state=0, n_threads=1).fit(X)
    loaded = round_trip(gm, tmp_path)
    assert_same_model(loaded, gm)
    assert hasattr(loaded, "mean_prior_") == (prior is not None)
    assert_same_outputs(loaded, gm, blobs(seed=1, dtype=dtype))


@pytest.mark.parametrize("prior_type", ["dirichlet_process", "dirichlet_distribution"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_bayesian_gaussian_mixture_round_trip(tmp_path, covariance_type, dtype, prior_type):
    X = blobs(dtype=dtype)
    bgm = BayesianGaussianMixture(
        n_components=4, covariance_type=covariance_type, weight_concentration_prior_type=prior_type,
        random_state=0, n_threads=1,
    ).fit(X)
    loaded = round_trip(bgm, tmp_path)
    assert_same_model(loaded, bgm)
    # a Dirichlet process's sticks are a tuple of two arrays; tied: one float of degrees of freedom
    assert isinstance(loaded.weight_concentration_, tuple) == (prior_type == "dirichlet_process")
    assert isinstance(loaded.degrees_of_freedom_, float) == (covariance_type == "tied")
    assert_same_outputs(loaded, bgm, blobs(seed=1, dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_bernoulli_mixture_round_trip(tmp_path, dtype):
    X = (blobs() > 1.0).astype(dtype)
    bm = BernoulliMixture(2, random_state=0, n_threads=1).fit(np.hstack([X, X[::-1]]))
    loaded = round_trip(bm, tmp_path)
    assert_same_model(loaded, bm)
    X_new = (blobs(seed=1) > 1.0).astype(dtype)
    assert_same_outputs(loaded, bm, np.hstack([X_new, X_new[::-1]]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_kmeans_round_trip(tmp_path, dtype):
    km = KMeans(3, random_state=0, n_threads=1).fit(blobs(dtype=dtype))
    loaded = round_trip(km, tmp_path)
    assert_same_model(loaded, km)
    assert_same_outputs(loaded, km, blobs(seed=1, dtype=dtype))


@pytest.mark.parametrize("fit_intercept", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
def test_bayesian_linear_regression_round_trip(tmp_path, dtype, fit_intercept):
    X, y = regression(dtype=dtype)
    model = BayesianLinearRegression(fit_intercept=fit_intercept, accelerate="squarem").fit(X, y)
    loaded = round_trip(model, tmp_path)
    assert_same_model(loaded, model)
    assert_same_outputs(loaded, model, regression(seed=1, dtype=dtype)[0])


def test_every_registered_class_is_tested():
    assert sorted(MODEL_CLASSES) == sorted(
        ["GaussianMixture", "BayesianGaussianMixture", "BernoulliMixture", "KMeans", "BayesianLinearRegression"]
    )
    assert all(MODEL_CLASSES[name] is getattr(fastem, name) for name in MODEL_CLASSES)


def test_parameters_keep_their_types(tmp_path):
    X = blobs()
    gm = GaussianMixture(
        np.int64(3), covariance_type="diag", max_iter=np.int32(40), tol=np.float64(1e-4),
        weights_init=[0.2, 0.3, 0.5],                       # a list stays a list
        means_init=np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]]),
        precisions_init=[[1.0, 1.0], [1.0, 1.0], [1.0, 1.0]],
        fixed_params=("weights",), random_state=np.random.RandomState(0),
    ).fit(X)
    loaded = round_trip(gm, tmp_path)
    assert_same_model(loaded, gm)
    assert loaded.random_state is None  # documented: a RandomState is not saved
    assert type(loaded.n_components) is np.int64 and loaded.fixed_params == ("weights",)
    assert_same_outputs(loaded, gm, blobs(seed=1))
    gm.set_params(fixed_params={"weights", "means"})
    assert round_trip(gm, tmp_path).fixed_params == {"weights", "means"}


def test_kmeans_with_given_centres(tmp_path):
    centres = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    km = KMeans(3, init=centres, n_init=1).fit(blobs())
    loaded = round_trip(km, tmp_path)
    assert_same_model(loaded, km)


def test_a_callable_cannot_be_saved(tmp_path):
    def first_rows(X, n_clusters, random_state):
        return X[:n_clusters]

    km = KMeans(3, init=first_rows, n_init=1).fit(blobs())
    message = (
        "The 'init' parameter of KMeans holds a function, which a model file cannot hold (loading "
        "a model never runs code). Set it to a value of numbers, strings or arrays before save."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        km.save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_feature_names_and_online_steps_round_trip(tmp_path):
    X = blobs()
    gm = GaussianMixture(3, random_state=0).partial_fit(Frame(X[:60], ["a", "b"]))
    gm.partial_fit(Frame(X[60:], ["a", "b"]))
    loaded = round_trip(gm, tmp_path)
    assert_same_model(loaded, gm)
    assert loaded.feature_names_in_.dtype == object and loaded.feature_names_in_.tolist() == ["a", "b"]
    assert loaded.n_steps_ == 2
    assert_array_equal(loaded.predict(Frame(X, ["a", "b"])), gm.predict(Frame(X, ["a", "b"])))
    with pytest.raises(ValueError, match="Feature names must be in the same order"):
        loaded.predict(Frame(X, ["b", "a"]))

    X_reg, y = regression()
    model = BayesianLinearRegression().fit(Frame(X_reg, ["x", "y", "z"]), y)
    assert_same_model(round_trip(model, tmp_path), model)


@pytest.mark.parametrize("name", sorted(MODEL_CLASSES))
def test_saving_needs_a_fitted_estimator(tmp_path, name):
    with pytest.raises(NotFittedError, match=f"This {name} instance is not fitted yet"):
        MODEL_CLASSES[name]().save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_a_subclass_is_not_saved_as_its_parent(tmp_path):
    class MyMixture(GaussianMixture):
        pass

    model = MyMixture(2, random_state=0).fit(blobs())
    message = (
        "fastem cannot save a MyMixture: model files hold GaussianMixture, BayesianGaussianMixture, "
        "BernoulliMixture, KMeans, BayesianLinearRegression."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        model.save(tmp_path / "model.npz")


# -- files that are not models ----------------------------------------------------------
def one_line_error(path, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as error:
        fastem.load(path)
    assert "\n" not in str(error.value)


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.npz"
    GaussianMixture(2, random_state=0).fit(blobs()).save(path)
    return path


def rewrite_header(path, **changes):
    with np.load(path, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files}
    header = json.loads(str(entries.pop("header")))
    header.update(changes)
    with open(path, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **entries)


def test_a_newer_format_asks_for_an_upgrade(saved):
    rewrite_header(saved, format_version=FORMAT_VERSION + 1)
    one_line_error(
        saved,
        f"{saved} has model format version {FORMAT_VERSION + 1}; this fastem reads versions up to "
        f"{FORMAT_VERSION}. Upgrade fastem.",
    )


@pytest.mark.parametrize("keep", [0.0, 0.3, 0.9, 0.999])
def test_a_truncated_file(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[: int(len(data) * keep)])
    one_line_error(saved, f"{saved} is truncated or not a model file.")


def test_files_of_other_programs(tmp_path):
    plain = tmp_path / "plain.npz"
    np.savez(plain, means_=np.zeros((2, 2)))
    one_line_error(plain, f"{plain} is not a fastem model file (no header).")

    text = tmp_path / "notes.txt"
    text.write_text("means: 0 0\nweights: 1\n")
    one_line_error(text, f"{text} is not a fastem model file (not an .npz archive).")

    binary = tmp_path / "random.bin"
    binary.write_bytes(np.random.default_rng(0).bytes(4096))
    one_line_error(binary, f"{binary} is not a fastem model file (not an .npz archive).")

    array = tmp_path / "array.npy"
    np.save(array, np.zeros(3))
    one_line_error(array, f"{array} is not a fastem model file (not an .npz archive).")

    other_header = tmp_path / "other.npz"
    np.savez(other_header, header=np.array("created by another program"))
    one_line_error(other_header, f"{other_header} is not a fastem model file (unreadable header).")


def test_an_unknown_class(saved):
    rewrite_header(saved, **{"class": "GaussianProcess"})
    one_line_error(saved, f"{saved} holds an unknown model class 'GaussianProcess'.")


def test_a_file_that_lacks_an_entry(saved):
    with np.load(saved, allow_pickle=False) as archive:
        entries = {name: archive[name] for name in archive.files if name != "means_"}
    with open(saved, "wb") as handle:
        np.savez(handle, **entries)
    one_line_error(saved, f"{saved} is damaged: its header does not match its entries (KeyError('means_')).")


def test_a_missing_file_stays_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        fastem.load(tmp_path / "absent.npz")


# -- version 1 --------------------------------------------------------------------------
def save_version_1(gm, path):
    """What fastem wrote before format version 2 (GaussianMixture only)."""
    array_params = ("weights_init", "means_init", "precisions_init", "mean_prior", "covariance_prior")
    fitted_arrays = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "lower_bounds_")
    scalars = ("converged_", "n_iter_", "n_passes_", "lower_bound_", "n_features_in_")
    params = gm.get_params()
    arrays = {}
    for name in array_params:
        value = params.pop(name)
        if value is not None:
            arrays[f"param:{name}"] = np.asarray(value)
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None
    header = {
        "format_version": 1,
        "class": "GaussianMixture",
        "params": params,
        "fitted": {name: getattr(gm, name) for name in scalars},
    }
    arrays.update({name: np.asarray(getattr(gm, name)) for name in fitted_arrays})
    with open(path, "wb") as handle:
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_version_1_files_are_still_read(tmp_path, covariance_type):
    X = blobs()
    means_init = np.array([[0.0, 0.0], [6.0, 0.0], [0.0, 6.0]])
    gm = GaussianMixture(3, covariance_type=covariance_type, means_init=means_init, random_state=0).fit(X)
    path = tmp_path / "old.npz"
    save_version_1(gm, path)
    loaded = fastem.load(path)
    assert_same_model(loaded, gm)
    assert_same_outputs(loaded, gm, blobs(seed=1))
