"""Drop-in details: fastem's warnings caught by scikit-learn's filters, feature names."""

import json
import os
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
