"""Drop-in details: fastem's warnings caught by scikit-learn's filters, feature names."""

import json
import os
import re
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

import fastem
from fastem import (
    BayesianGaussianMixture,
    BayesianLinearRegression,
    BernoulliMixture,
    ConvergenceWarning,
    GaussianMixture,
    KMeans,
)
from fastem.exceptions import convergence_warning_category

from conftest import Frame

REPO_ROOT = Path(__file__).resolve().parents[1]


def blobs(seed=0, n_per_blob=40, n_features=2, dtype=np.float64):
    rng = np.random.default_rng(seed)
    centres = 6.0 * np.eye(3, n_features)
    X = np.vstack([rng.standard_normal((n_per_blob, n_features)) + c for c in centres])
    return np.ascontiguousarray(X, dtype=dtype)


def regression(seed=0, n_samples=60, n_features=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n_samples, n_features))
    return X, X @ np.arange(1.0, n_features + 1) + 0.3 * rng.normal(size=n_samples)


# -- ConvergenceWarning ---------------------------------------------------------------
def _unconverged_fits():
    """Each estimator with a fit that warns ConvergenceWarning."""
    X = blobs()
    binary = (X > 0).astype(np.float64)
    duplicates = np.repeat(X[:2], 30, axis=0)  # two distinct points for three clusters
    X_reg, y = regression()
    return {
        "GaussianMixture": lambda: GaussianMixture(3, tol=0, max_iter=2, random_state=0).fit(X),
        "BernoulliMixture": lambda: BernoulliMixture(2, tol=0, max_iter=2, random_state=0).fit(binary),
        "BayesianGaussianMixture": lambda: BayesianGaussianMixture(
            n_components=3, tol=0, max_iter=2, random_state=0).fit(X),
        "KMeans": lambda: KMeans(3, random_state=0).fit(duplicates),
        "BayesianLinearRegression": lambda: BayesianLinearRegression(max_iter=1, tol=0).fit(X_reg, y),
    }


ESTIMATORS = list(_unconverged_fits())


@pytest.mark.parametrize("name", ESTIMATORS)
def test_convergence_warning_is_sklearn_s_and_fastem_s(name):
    fit = _unconverged_fits()[name]
    with pytest.warns(SklearnConvergenceWarning) as record:
        fit()
    with pytest.warns(ConvergenceWarning):
        fit()
    with pytest.warns(fastem.ConvergenceWarning):
        fit()
    category = record[0].category
    assert issubclass(category, ConvergenceWarning) and issubclass(category, SklearnConvergenceWarning)
    assert issubclass(category, UserWarning)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_sklearn_filters_act_on_fastem_s_convergence_warning(name):
    fit = _unconverged_fits()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("error", SklearnConvergenceWarning)
        with pytest.raises(SklearnConvergenceWarning):
            fit()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.simplefilter("ignore", SklearnConvergenceWarning)
        fit()  # silenced by scikit-learn's class alone


def test_the_category_is_one_class():
    assert convergence_warning_category() is convergence_warning_category()
    assert convergence_warning_category().__name__ == "ConvergenceWarning"


def test_without_sklearn_loaded_the_category_is_fastem_s_and_sklearn_stays_unloaded():
    code = textwrap.dedent("""
        import json, sys, warnings
        import numpy as np
        import fastem
        from fastem.exceptions import convergence_warning_category
        X = np.random.default_rng(0).normal(size=(40, 3))
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            fastem.BayesianLinearRegression(max_iter=1, tol=0).fit(X, X[:, 0])
        print(json.dumps(dict(
            plain=convergence_warning_category() is fastem.ConvergenceWarning,
            warned=[w.category is fastem.ConvergenceWarning for w in record],
            sklearn=sorted(name for name in sys.modules if name.split(".")[0] == "sklearn"),
        )))
    """)
    path = [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))  # this checkout's fastem
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == dict(plain=True, warned=[True], sklearn=[])


# -- feature names ------------------------------------------------------------------
NAMES = ["alpha", "beta", "gamma"]


def _named_cases():
    """name -> (estimator, fit arguments after X, X, [predict-side methods taking X])."""
    X = blobs(n_features=3)
    binary = (X > 1).astype(np.float64)
    X_reg, y = regression()
    mixture = ["predict", "predict_proba", "score_samples", "score", "estimate_weighted_log_prob"]
    return {
        "GaussianMixture": (GaussianMixture(3, random_state=0), (), X, mixture + ["bic", "aic"]),
        "BernoulliMixture": (BernoulliMixture(2, random_state=0), (), binary, mixture + ["bic", "aic"]),
        "BayesianGaussianMixture": (BayesianGaussianMixture(n_components=3, random_state=0, max_iter=500),
                                    (), X, mixture),
        "KMeans": (KMeans(3, random_state=0), (), X, ["predict", "transform", "score"]),
        "BayesianLinearRegression": (BayesianLinearRegression(), (y,), X_reg, ["predict", "score"]),
    }


def _call(estimator, method, X):
    if isinstance(estimator, BayesianLinearRegression) and method == "score":
        return estimator.score(X, np.asarray(X) @ estimator.coef_ + 1.0)
    return getattr(estimator, method)(X)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_a_frame_s_column_names_become_feature_names_in_(name):
    estimator, args, X, methods = _named_cases()[name]
    estimator.fit(Frame(X, NAMES), *args)
    names = estimator.feature_names_in_
    assert isinstance(names, np.ndarray) and names.dtype == object
    assert names.tolist() == NAMES and all(type(n) is str for n in names)
    assert estimator.n_features_in_ == 3
    for method in methods:  # the same names: no warning (warnings are errors here)
        _call(estimator, method, Frame(X, NAMES))
    estimator.fit(X, *args)  # a fit on an array forgets the names
    assert not hasattr(estimator, "feature_names_in_")


@pytest.mark.parametrize("name", ESTIMATORS)
def test_names_given_on_one_side_only_warn_as_sklearn_does(name):
    estimator, args, X, methods = _named_cases()[name]
    estimator.fit(Frame(X, NAMES), *args)
    message = f"X does not have valid feature names, but {name} was fitted with feature names"
    for method in methods:
        with pytest.warns(UserWarning, match=f"^{message}$") as record:
            _call(estimator, method, X)
        assert record[0].filename == __file__  # points at the caller, not into fastem

    estimator.fit(X, *args)
    message = f"X has feature names, but {name} was fitted without feature names"
    for method in methods:
        with pytest.warns(UserWarning, match=f"^{message}$"):
            _call(estimator, method, Frame(X, NAMES))


@pytest.mark.parametrize("name", ESTIMATORS)
def test_other_names_raise_sklearn_s_message(name):
    estimator, args, X, methods = _named_cases()[name]
    estimator.fit(Frame(X, NAMES), *args)
    cases = {
        ("alpha", "beta", "delta"): (
            "The feature names should match those that were passed during fit.\n"
            "Feature names unseen at fit time:\n- delta\n"
            "Feature names seen at fit time, yet now missing:\n- gamma\n"
        ),
        ("beta", "alpha", "gamma"): (
            "The feature names should match those that were passed during fit.\n"
            "Feature names must be in the same order as they were in fit.\n"
        ),
    }
    for columns, message in cases.items():
        for method in methods:
            with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
                _call(estimator, method, Frame(X, columns))


def test_long_lists_of_names_are_cut_at_five():
    X = blobs(n_features=8)
    gm = GaussianMixture(2, covariance_type="diag", random_state=0).fit(Frame(X, [f"x{i}" for i in range(8)]))
    message = (
        "The feature names should match those that were passed during fit.\n"
        "Feature names unseen at fit time:\n- y0\n- y1\n- y2\n- y3\n- y4\n- ...\n"
        "Feature names seen at fit time, yet now missing:\n- x0\n- x1\n- x2\n- x3\n- x4\n- ...\n"
    )
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        gm.predict(Frame(X, [f"y{i}" for i in range(8)]))


def test_names_that_are_not_all_strings():
    X = blobs(n_features=3)
    gm = GaussianMixture(2, random_state=0).fit(Frame(X, [0, 1, 2]))  # like a frame's default columns
    assert not hasattr(gm, "feature_names_in_")
    gm.predict(Frame(X, [0, 1, 2]))
    message = (
        "Feature names are only supported if all input features have string names, but your input "
        "has ['int', 'str'] as feature name / column name types. If you want feature names to be "
        "stored and validated, you must convert them all to strings, by using "
        "X.columns = X.columns.astype(str) for example. Otherwise you can remove feature / column "
        "names from your input data, or convert them all to a non-string data type."
    )
    with pytest.raises(TypeError, match=f"^{re.escape(message)}$"):
        gm.fit(Frame(X, ["a", 1, "c"]))
    assert not hasattr(gm, "means_")  # a fit that raises leaves the estimator unfitted


def test_partial_fit_sets_names_first_then_checks_them():
    X = blobs(n_features=3)
    gm = GaussianMixture(3, random_state=0).partial_fit(Frame(X[:60], NAMES))
    assert gm.feature_names_in_.tolist() == NAMES
    gm.partial_fit(Frame(X[60:], NAMES))
    assert gm.feature_names_in_.tolist() == NAMES and gm.n_steps_ == 2
    with pytest.raises(ValueError, match="Feature names unseen at fit time"):
        gm.partial_fit(Frame(X[60:], ["alpha", "beta", "delta"]))
    assert gm.n_steps_ == 2  # the bad chunk changed nothing
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        gm.partial_fit(X[60:])


def test_chunks_have_no_names():
    X = blobs(n_features=3)
    gm = GaussianMixture(3, random_state=0).fit(Frame(X, NAMES))
    gm.fit_chunks(lambda: [X[:60], X[60:]])
    assert not hasattr(gm, "feature_names_in_")


def test_real_pandas_frames_behave_as_in_sklearn():
    pd = pytest.importorskip("pandas")
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    X = blobs(n_features=3)
    frame = pd.DataFrame(X, columns=NAMES)
    ours = GaussianMixture(3, random_state=0).fit(frame)
    theirs = SklearnGaussianMixture(3, random_state=0).fit(frame)
    assert ours.feature_names_in_.tolist() == theirs.feature_names_in_.tolist()
    assert ours.feature_names_in_.dtype == theirs.feature_names_in_.dtype
    other = pd.DataFrame(X, columns=["alpha", "beta", "delta"])
    with pytest.raises(ValueError) as expected:
        theirs.predict(other)
    with pytest.raises(ValueError, match=f"^{re.escape(str(expected.value))}$"):
        ours.predict(other)
