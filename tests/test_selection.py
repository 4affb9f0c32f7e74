"""select_model: a grid of Gaussian mixtures sharing passes over the data."""

import math
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

import fastem
from fastem.exceptions import ConvergenceWarning

GRID = dict(n_components=range(1, 4), covariance_types=("full", "spherical", "tied"))


def blobs(seed=0):
    rng = np.random.RandomState(seed)
    return np.vstack([rng.normal(size=(120, 2)) + c for c in ([0, 0], [6, 0], [0, 6])])


@pytest.fixture(autouse=True)
def quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def test_every_candidate_is_the_fit_it_would_be_alone():
    X = blobs()
    best, table = fastem.select_model(X, random_state=0, **GRID)
    assert len(table) == 9
    for row in table:
        alone = fastem.GaussianMixture(row["n_components"], covariance_type=row["covariance_type"],
                                       random_state=0).fit(X)
        model = row["model"]
        assert_array_equal(model.means_, alone.means_)
        assert_array_equal(model.covariances_, alone.covariances_)
        assert model.lower_bounds_ == alone.lower_bounds_
        assert row["n_iter"] == alone.n_iter_ and row["n_passes"] == alone.n_passes_
        assert_allclose(row["bic"], alone.bic(X), rtol=1e-10)
        assert_allclose(row["aic"], alone.aic(X), rtol=1e-10)
        assert_allclose(row["log_likelihood"], alone.score(X) * X.shape[0], rtol=1e-10)
        assert row["n_parameters"] == alone._n_parameters()
    assert best is min(table, key=lambda row: row["bic"])["model"]
    assert best.n_components == 3  # three well-separated blobs


def test_icl_is_bic_plus_twice_the_entropy_of_the_responsibilities():
    X = blobs(1)
    _, table = fastem.select_model(X, criterion="icl", random_state=0, **GRID)
    for row in table:
        resp = row["model"].predict_proba(X)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy = -np.nansum(np.where(resp > 0, resp * np.log(resp), 0.0))
        assert_allclose(row["icl"], row["bic"] + 2 * entropy, rtol=1e-8, atol=1e-6)
    assert table.criterion == "icl"


@pytest.mark.parametrize("criterion", ["aic", "icl"])
def test_the_best_model_has_the_lowest_criterion(criterion):
    X = blobs(2)
    best, table = fastem.select_model(X, criterion=criterion, random_state=0, **GRID)
    assert best is min(table, key=lambda row: row[criterion])["model"]


def test_a_memory_mapped_grid_reads_the_data_about_as_often_as_its_longest_fit(tmp_path):
    X = blobs(3)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    _, table = fastem.select_model(mapped, random_state=0, **GRID)
    longest = max(row["n_passes"] for row in table)
    separate = sum(row["n_passes"] for row in table)
    assert table.n_passes == longest + 1  # the shared E-steps, and the pass that scores every model
    assert table.n_passes < separate
    _, in_memory = fastem.select_model(X, random_state=0, **GRID)
    for row, other in zip(table, in_memory):
        assert_allclose(row["bic"], other["bic"], rtol=1e-10)


def test_a_dask_grid_equals_the_in_memory_one():
    da = pytest.importorskip("dask.array")
    import dask

    X = blobs(4)
    with dask.config.set(scheduler="synchronous"):
        _, distributed = fastem.select_model(da.from_array(X, chunks=(100, 2)), random_state=0, **GRID)
    _, in_memory = fastem.select_model(X, random_state=0, **GRID)
    for row, other in zip(distributed, in_memory):
        assert_allclose(row["model"].means_, other["model"].means_, rtol=1e-10)
        assert_allclose(row["bic"], other["bic"], rtol=1e-10)


def test_settings_reach_every_candidate_and_the_table_prints():
    X = blobs(5)
    _, table = fastem.select_model(X, n_components=[2, 3], covariance_types=["diag"], prior="conjugate",
                                   max_iter=50, random_state=0)
    assert all(row["model"].prior == "conjugate" and row["model"].max_iter == 50 for row in table)
    text = table.format()
    assert text.splitlines()[1].split()[:2] == ["2", "diag"]
    assert f"{table.n_passes} passes over the data" in text


def test_a_candidate_the_data_cannot_carry_is_reported_not_raised():
    X = blobs(6)[:4]
    _, table = fastem.select_model(X, n_components=[2, 6], covariance_types=["spherical"], random_state=0)
    assert table[0]["error"] is None and math.isfinite(table[0]["bic"])
    assert "n_components=6" in table[1]["error"] and math.isnan(table[1]["bic"])


def test_bad_settings():
    X = blobs()
    with pytest.raises(ValueError, match="The 'criterion' parameter of select_model must be one of 'bic', 'aic', 'icl'"):
        fastem.select_model(X, criterion="likelihood")
    with pytest.raises(ValueError, match="needs at least one number of components"):
        fastem.select_model(X, n_components=[])
    with pytest.raises(TypeError, match="takes n_components and covariance_types as the grid"):
        fastem.select_model(X, covariance_type="full")
    with pytest.raises(ValueError, match="covariance_type"):
        fastem.select_model(X, covariance_types=["ful"])


def test_the_select_command_prints_the_table(tmp_path):
    import subprocess
    import sys

    np.save(tmp_path / "X.npy", blobs(7))
    done = subprocess.run(
        [sys.executable, "-m", "fastem", "select", str(tmp_path / "X.npy"), "-k", "1-3", "--covariance", "full",
         "diag", "--out", str(tmp_path / "best.npz")],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sum(line.split()[:1] in (["1"], ["2"], ["3"]) for line in lines) == 6  # a row per candidate
    best = fastem.load(tmp_path / "best.npz")
    assert f"best: {best.n_components} components, {best.covariance_type} covariance" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "fastem", "select", str(tmp_path / "X.npy"), "-k", "x"],
                         capture_output=True, text=True, timeout=600)
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "python -m fastem select: -k takes a range such as 1-9 or a list such as 2,4,8; got 'x'."]
