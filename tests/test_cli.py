"""Model files (``save`` / ``fastem.load``) and the command line (``python -m fastem``)."""

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

import fastem
from fastem import GaussianMixture, NotFittedError
from fastem._cli import build_parser, main, program_name

REPO_ROOT = Path(__file__).resolve().parents[1]
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
SCALARS = ("converged_", "n_iter_", "lower_bound_", "n_features_in_")


def blobs(seed=0, n_per_blob=100):
    rng = np.random.RandomState(seed)
    centres = [(0.0, 0.0), (8.0, 0.0), (0.0, 8.0)]
    X = np.vstack([rng.standard_normal((n_per_blob, 2)) + c for c in centres])
    return np.ascontiguousarray(X)


# -- save / load ------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_save_load_round_trip(tmp_path, covariance_type):
    X = blobs()
    gm = GaussianMixture(3, covariance_type=covariance_type, tol=1e-4, random_state=7, n_threads=1)
    gm.fit(X)
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = fastem.load(path)

    assert type(loaded) is GaussianMixture
    assert loaded.get_params() == gm.get_params()
    for name in FITTED:
        value = getattr(loaded, name)
        assert value.dtype == np.float64
        assert_array_equal(value, getattr(gm, name))
    for name in SCALARS:
        assert getattr(loaded, name) == getattr(gm, name)
        assert type(getattr(loaded, name)) is type(getattr(gm, name)), name
    assert loaded.lower_bounds_ == gm.lower_bounds_ and isinstance(loaded.lower_bounds_, list)

    X_new = blobs(seed=1)
    assert_array_equal(loaded.predict(X_new), gm.predict(X_new))
    assert_array_equal(loaded.predict_proba(X_new), gm.predict_proba(X_new))
    assert_array_equal(loaded.score_samples(X_new), gm.score_samples(X_new))
    assert loaded.bic(X_new) == gm.bic(X_new)
    assert_array_equal(loaded.sample(50)[0], gm.sample(50)[0])  # random_state travels

    # An ordinary .npz that NumPy reads without pickles (loading never executes code).
    with np.load(path, allow_pickle=False) as archive:
        header = json.loads(str(archive["header"]))
        assert header["class"] == "GaussianMixture"
        assert_array_equal(archive["means_"], gm.means_)


def test_save_load_keeps_array_parameters_and_drops_random_state_objects(tmp_path):
    X = blobs()
    start = dict(weights_init=np.array([0.2, 0.3, 0.5]), means_init=X[[0, 100, 200]].copy())
    gm = GaussianMixture(3, covariance_type="diag", random_state=np.random.RandomState(0), **start)
    gm.fit(X)
    path = tmp_path / "model.npz"
    gm.save(path)
    loaded = fastem.load(path)
    assert_array_equal(loaded.weights_init, start["weights_init"])
    assert_array_equal(loaded.means_init, start["means_init"])
    assert loaded.precisions_init is None
    assert loaded.random_state is None  # documented: a RandomState instance is not saved
    assert_array_equal(loaded.predict(X), gm.predict(X))
    # The loaded estimator can be fitted again, and a warm start continues from the file.
    loaded.set_params(warm_start=True, tol=1e-8, max_iter=200).fit(X)
    assert loaded.lower_bounds_[0] >= gm.lower_bound_


def test_save_needs_a_fitted_estimator(tmp_path):
    with pytest.raises(NotFittedError, match="This GaussianMixture instance is not fitted yet"):
        GaussianMixture().save(tmp_path / "model.npz")
    assert not (tmp_path / "model.npz").exists()


def test_save_writes_exactly_the_given_path(tmp_path):
    gm = GaussianMixture(3, random_state=0).fit(blobs())
    path = tmp_path / "model"  # no .npz suffix: the file must still be where we said
    gm.save(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]
    assert_array_equal(fastem.load(path).means_, gm.means_)


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, means_=np.zeros((2, 2)))
    message = f"{path} is not a fastem model file (no header)."
    with pytest.raises(ValueError, match=re.escape(message)):
        fastem.load(path)


# -- command line -----------------------------------------------------------------------
def run_fastem(*args, cwd):
    path = [str(REPO_ROOT)] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(path))
    return subprocess.run(
        [sys.executable, "-m", "fastem", *map(str, args)],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.parametrize("suffix", ["npy", "csv"])
def test_cli_fit_writes_a_model(tmp_path, suffix):
    X = blobs()
    data = tmp_path / f"data.{suffix}"
    if suffix == "npy":
        np.save(data, X)
    else:  # a header line, as spreadsheets write it
        np.savetxt(data, X, delimiter=",", header="x,y", comments="", fmt="%.17g")
    result = run_fastem("fit", data.name, "-k", 3, "--covariance", "diag", "--out", "model.npz",
                        cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert f"fastem fit: data.{suffix}, 300 x 2; fitting 3 components (diag covariance)" in out
    assert re.search(r"^  iteration +1  log-likelihood ", out, re.MULTILINE), out
    assert "Initialization converged" in out
    assert "fit time:" in out and "model written to model.npz" in out

    model = fastem.load(tmp_path / "model.npz")
    assert model.covariance_type == "diag" and model.n_components == 3
    # The command line fits what the same settings fit in Python (seed 0 by default).
    expected = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    np.testing.assert_allclose(model.means_, expected.means_, rtol=1e-12)
    assert_array_equal(model.predict(X), expected.predict(X))


def test_cli_demo_reports_the_fit_time(tmp_path):
    result = run_fastem("demo", "--n-samples", 5000, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "fastem demo: 5000 x 4 generated samples from 5 Gaussians" in result.stdout
    assert re.search(r"^fit time: \d+\.\d{3} s", result.stdout, re.MULTILINE), result.stdout
    assert len(re.findall(r"^  component \d: weight", result.stdout, re.MULTILINE)) == 5


def test_cli_rejects_an_unknown_file_type(tmp_path):
    (tmp_path / "data.txt").write_text("1,2\n3,4\n")
    result = run_fastem("fit", "data.txt", "-k", 2, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "python -m fastem fit: data.txt must be a .npy or .csv file.\n"


def test_cli_names_itself_as_started_and_prints_its_version(tmp_path):
    result = run_fastem("fit", "missing.csv", "-k", 2, cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "python -m fastem fit: missing.csv: No such file or directory\n"
    result = run_fastem("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout == f"fastem {fastem.__version__}\n"


@pytest.mark.parametrize("argv0, name", [
    ("/usr/local/bin/fastem", "fastem"),  # the console script
    ("C:\\env\\Scripts\\fastem.exe" if os.sep == "\\" else "/env/bin/fastem.exe", "fastem"),
    (str(REPO_ROOT / "fastem" / "__main__.py"), "python -m fastem"),
])
def test_program_name_follows_how_it_was_started(argv0, name):
    assert program_name(argv0) == name


def run_in_process(capsys, *args):
    """(exit status, stdout, stderr) of the command line run in this process."""
    status = main([str(a) for a in args], prog="fastem")
    out, err = capsys.readouterr()
    return status, out, err


def write(path, text):
    path.write_text(text)
    return path.name


@pytest.mark.parametrize("text, options, message", [
    ("x,y\n1,2\n3,abc\n", ["--header"], "data.csv, row 3, column 2: 'abc' is not a number"),
    ("1,2\n3,abc\n", ["--no-header"], "data.csv, row 2, column 2: 'abc' is not a number"),
    ("x,y\n1,2\n3,4\n", ["--no-header"], "data.csv, row 1, column 1: 'x' is not a number"),
    ("1,2\n3,\n5,6\n", [], "data.csv, row 2, column 2: the cell is empty"),
    ("1,2\n\n3, ,4\n", [], "data.csv, row 3, column 2: the cell is empty"),
    ("1,2\n3,4,5\n", [], "data.csv, row 2: 3 columns, the rows above have 2"),
    ("", [], "data.csv: no rows of data (the file is empty)"),
    ("x,y\n", ["--header"], "data.csv: no rows of data below the header"),
    ("1,2\n3,4\n5,6\n", ["-k", 0],
     "The 'n_components' parameter of GaussianMixture must be an int in the range [1, inf). Got 0 instead."),
    ("1,2\n3,4\n5,6\n", ["--out", "no-such-folder/model.npz"],
     "no-such-folder/model.npz: no folder no-such-folder"),
    ("1,2\n3,4\nnan,6\n", ["-k", 1], "X contains 1 non-finite value(s) (NaN or inf; first at row 2, column 0)"),
])
def test_cli_user_mistakes_are_one_line(tmp_path, monkeypatch, capsys, text, options, message):
    monkeypatch.chdir(tmp_path)
    name = write(tmp_path / "data.csv", text)
    args = ["fit", name, *(["-k", 2] if "-k" not in options else []), *options]
    status, _, err = run_in_process(capsys, *args)
    assert status == 2
    assert err.count("\n") == 1 and err.startswith(f"fastem fit: {message}"), err


def test_cli_missing_and_unreadable_files_are_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status, _, err = run_in_process(capsys, "fit", "missing.npy", "-k", 2)
    assert (status, err) == (2, "fastem fit: missing.npy: No such file or directory\n")
    (tmp_path / "folder.csv").mkdir()
    status, _, err = run_in_process(capsys, "fit", "folder.csv", "-k", 2)
    assert status == 2 and err.startswith("fastem fit: folder.csv: ") and err.count("\n") == 1
    (tmp_path / "text.npy").write_text("1,2\n")
    status, _, err = run_in_process(capsys, "fit", "text.npy", "-k", 2)
    assert status == 2 and err.startswith("fastem fit: text.npy: not a NumPy array file") and err.count("\n") == 1
    np.save(tmp_path / "row.npy", np.arange(4.0))
    status, _, err = run_in_process(capsys, "fit", "row.npy", "-k", 2)
    assert (status, err) == (2, "fastem fit: row.npy: an array of shape (4,); fastem fits a 2-D array, "
                                "one row per sample.\n")


@pytest.mark.parametrize("header, options, notice, rows", [
    ("e,E1", [], True, 4),               # letters that also occur in numbers (1e5): a header
    ("x,y", [], True, 4),
    ("1,2", ["--header"], False, 4),     # numbers, skipped as asked
    ("1,2", [], False, 5),               # numbers, read as data
    ("1,2", ["--no-header"], False, 5),
])
def test_cli_csv_header(tmp_path, monkeypatch, capsys, header, options, notice, rows):
    monkeypatch.chdir(tmp_path)
    name = write(tmp_path / "data.csv", header + "\n0,0\n0,1\n5,5\n5,6\n")
    status, out, err = run_in_process(capsys, "fit", name, "-k", 1, *options)
    assert status == 0, err
    assert f"fastem fit: data.csv, {rows} x 2; fitting 1 components" in out
    expected = "data.csv: first row read as a header (use --no-header to read it as data)\n"
    assert err == (expected if notice else "")


def test_cli_help_describes_every_option():
    parser = build_parser("fastem")
    top = parser.format_help()
    assert "``" not in top and "fastem demo" not in top  # plain text, not the module docstring
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert sorted(commands.choices) == ["bench", "demo", "fit", "select", "warmup"]
    for name, command in commands.choices.items():
        for action in command._actions:
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
    for name in ("demo", "fit"):
        covariance = next(a for a in commands.choices[name]._actions if "--covariance" in a.option_strings)
        assert covariance.choices == ["full", "tied", "diag", "spherical"]
