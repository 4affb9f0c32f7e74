"""fastem.plot: what each picture draws, checked artist by artist."""

import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402
from matplotlib.patches import Ellipse  # noqa: E402

from fastem import BayesianGaussianMixture, BernoulliMixture, ConvergenceWarning, GaussianMixture  # noqa: E402
from fastem.plot import plot_convergence, plot_criterion, plot_mixture, plot_probabilities  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def blobs3d(seed=0, n_per_blob=80):
    """Three correlated blobs in 3 features, so that every 2-feature view has tilted ellipses."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0, 0.0], [7.0, 1.0, -3.0], [1.0, 8.0, 4.0]])
    blocks = []
    for c in centres:
        mixing = rng.normal(scale=0.6, size=(3, 3)) + np.eye(3)
        blocks.append(c + rng.standard_normal((n_per_blob, 3)) @ mixing.T)
    return np.ascontiguousarray(np.vstack(blocks))


def covariance_2x2(model, dims):
    """The component covariances on two features, read independently of fastem.plot."""
    i, j = dims
    K = len(model.weights_)
    c = model.covariances_
    out = np.empty((K, 2, 2))
    for k in range(K):
        if model.covariance_type == "full":
            full = c[k]
        elif model.covariance_type == "tied":
            full = c
        elif model.covariance_type == "diag":
            full = np.diag(c[k])
        else:
            full = c[k] * np.eye(model.means_.shape[1])
        out[k] = [[full[i, i], full[i, j]], [full[j, i], full[j, j]]]
    return out


def check_ellipses(ax, model, dims):
    ellipses = [p for p in ax.patches if isinstance(p, Ellipse)]
    K = len(model.weights_)
    assert len(ellipses) == 2 * K
    for k, cov in enumerate(covariance_2x2(model, dims)):
        values, vectors = np.linalg.eigh(cov)
        major, minor = values[1], values[0]
        for n_sigma, ellipse in zip((1, 2), ellipses[2 * k:2 * k + 2]):
            assert_allclose(ellipse.center, model.means_[k, list(dims)], rtol=1e-12)
            assert_allclose(ellipse.width, 2 * n_sigma * np.sqrt(major), rtol=1e-10)
            assert_allclose(ellipse.height, 2 * n_sigma * np.sqrt(minor), rtol=1e-10)
            if np.isclose(major, minor, rtol=1e-9):
                continue  # a circle: every direction is an eigenvector
            # The width's direction is the major eigenvector, up to its sign (180 degrees).
            angle = np.radians(ellipse.angle)
            direction = np.array([np.cos(angle), np.sin(angle)])
            assert_allclose(abs(direction @ vectors[:, 1]), 1.0, rtol=1e-10)
    # Weights appear in the legend, one entry per component.
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == [f"component {k} (w={w:.2f})" for k, w in enumerate(model.weights_)]


@pytest.mark.parametrize("covariance_type", ["full", "tied", "diag", "spherical"])
@pytest.mark.parametrize("dims", [(0, 1), (2, 0)])
def test_plot_mixture_ellipses_match_covariances(covariance_type, dims):
    X = blobs3d()
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=1).fit(X)
    ax = plot_mixture(gm, X, dims=dims)

    check_ellipses(ax, gm, dims)
    scatters = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert len(scatters) == 1
    assert_array_equal(scatters[0].get_offsets(), X[:, list(dims)])
    colours = scatters[0].get_facecolors()
    assert len(colours) == len(X)
    labels = gm.predict(X)
    assert len(np.unique(colours, axis=0)) == len(np.unique(labels))
    # Points of one component share one colour.
    for k in np.unique(labels):
        assert len(np.unique(colours[labels == k], axis=0)) == 1


def test_plot_mixture_bayesian_and_given_axes():
    X = blobs3d(seed=1)
    bgm = BayesianGaussianMixture(n_components=4, covariance_type="full", random_state=0, n_threads=1).fit(X)
    fig, ax = plt.subplots()
    assert plot_mixture(bgm, X, ax=ax, dims=(1, 2)) is ax
    check_ellipses(ax, bgm, (1, 2))
    colours = ax.collections[0].get_facecolors()
    assert len(np.unique(colours, axis=0)) == len(np.unique(bgm.predict(X)))


def test_plot_mixture_rejects_bad_dims():
    X = blobs3d()
    gm = GaussianMixture(3, random_state=0, n_threads=1).fit(X)
    with pytest.raises(ValueError, match=r"dims must be two feature indices in \[0, 3\); got \(0, 3\)\."):
        plot_mixture(gm, X, dims=(0, 3))


@pytest.mark.parametrize("max_iter, label", [(100, "converged"), (2, "stopped at max_iter")])
def test_plot_convergence_draws_lower_bounds(max_iter, label):
    X = blobs3d()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # expected at max_iter=2
        gm = GaussianMixture(3, max_iter=max_iter, tol=1e-6, random_state=0, n_threads=1).fit(X)
    assert gm.converged_ == (label == "converged")
    ax = plot_convergence(gm)
    curve, marker = ax.get_lines()
    n = len(gm.lower_bounds_)
    assert_array_equal(curve.get_xdata(), np.arange(1, n + 1))
    assert_array_equal(curve.get_ydata(), gm.lower_bounds_)
    assert_array_equal(marker.get_xdata(), [n])
    assert_array_equal(marker.get_ydata(), [gm.lower_bounds_[-1]])
    assert marker.get_label() == label


def criterion_table():
    rows = []
    for covariance_type, offset in [("full", 0.0), ("diag", 30.0), ("spherical", 55.0)]:
        for k in (3, 1, 2, 4):  # unsorted on purpose
            rows.append({"n_components": k, "covariance_type": covariance_type,
                         "bic": offset + (k - 2.5) ** 2, "aic": offset - k, "criterion": "bic"})
    return rows


def test_plot_criterion_one_line_per_covariance_type():
    table = criterion_table()
    ax = plot_criterion(table)
    lines = [line for line in ax.get_lines() if line.get_label() in ("full", "diag", "spherical")]
    assert [line.get_label() for line in lines] == ["full", "diag", "spherical"]
    for line in lines:
        rows = sorted((r for r in table if r["covariance_type"] == line.get_label()), key=lambda r: r["n_components"])
        assert_array_equal(line.get_xdata(), [r["n_components"] for r in rows])
        assert_array_equal(line.get_ydata(), [r["bic"] for r in rows])
    assert ax.get_ylabel() == "BIC"
    best = ax.get_lines()[-1]
    assert best.get_label() == "lowest BIC"
    assert list(best.get_ydata()) == [min(r["bic"] for r in table)]


def test_plot_criterion_pair_and_named_criterion():
    table = criterion_table()
    ax = plot_criterion((object(), iter(table)), criterion="aic")
    full = ax.get_lines()[0]
    assert_array_equal(full.get_ydata(), [-1.0, -2.0, -3.0, -4.0])
    assert ax.get_ylabel() == "AIC"
    with pytest.raises(ValueError, match=r"plot_criterion: row 0 has no 'icl'"):
        plot_criterion(table, criterion="icl")


def test_plot_probabilities_draws_each_component():
    rng = np.random.RandomState(0)
    prototypes = rng.rand(3, 12) < 0.5
    X = (prototypes[rng.randint(3, size=300)] ^ (rng.rand(300, 12) < 0.05)).astype(np.float64)
    bm = BernoulliMixture(3, random_state=0, n_threads=1).fit(X)
    axes = plot_probabilities(bm, (3, 4))
    assert len(axes) == 3
    for k, axis in enumerate(axes):
        images = [a for a in axis.get_children() if isinstance(a, AxesImage)]
        assert len(images) == 1
        assert_array_equal(images[0].get_array(), bm.probabilities_[k].reshape(3, 4))
        assert axis.get_title() == f"{k}: w={bm.weights_[k]:.2f}"
    with pytest.raises(ValueError, match=r"image_shape \(5, 5\) holds 25 values; the model has 12 features"):
        plot_probabilities(bm, (5, 5))


def test_import_fastem_does_not_import_matplotlib():
    code = "import sys, fastem; print('matplotlib' in sys.modules)"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT)] + sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_missing_matplotlib_names_the_extra():
    # A None entry in sys.modules makes "import matplotlib" raise ImportError.
    code = ("import sys; sys.modules['matplotlib'] = None\n"
            "try:\n    import fastem.plot\nexcept ImportError as e:\n    print(e)\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT)] + sys.path))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert 'pip install "fastem[plot]"' in out.stdout, out.stderr


def test_demo_plot_writes_png(tmp_path):
    path = tmp_path / "demo.png"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(REPO_ROOT)] + sys.path), MPLBACKEND="")
    env.pop("MPLBACKEND")
    env.pop("DISPLAY", None)
    out = subprocess.run(
        [sys.executable, "-m", "fastem", "demo", "--n-samples", "2000", "--n-init", "1", "--threads", "1",
         "--plot", str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert f"picture written to {path}" in out.stdout
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 10_000  # points and ellipses, not an empty canvas
