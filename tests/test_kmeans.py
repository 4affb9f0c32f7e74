"""fastem.KMeans: agreement with scikit-learn's Lloyd k-means and with a plain-NumPy
reference, the monotone inertia, seeding and n_init, empty clusters, the fitted model's
methods, thread independence, bad input and the scikit-learn estimator protocol.

Expected values come from ``sklearn.cluster.KMeans(algorithm="lloyd")`` or from
``reference_lloyd`` below, never from fastem.  Data sets are a few thousand rows at most,
float64 or float32 and C-contiguous.
"""

import itertools
import re
import warnings

import numba
import numpy as np
import pytest
from conftest import make_sample_weight
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.metrics import adjusted_rand_score
from sklearn.utils.estimator_checks import parametrize_with_checks

import fastem
from fastem import KMeans, NotFittedError

FITTED = ("cluster_centers_", "labels_", "inertia_", "n_iter_", "n_features_in_")


# -- data -------------------------------------------------------------------------------
def blobs(seed, n_samples, n_features, n_clusters, std, dtype=np.float64):
    """Isotropic blobs around centres drawn uniformly in [-10, 10]^D: with std 0.5 they
    are apart, with std 2.5 to 4 neighbouring blobs overlap and Lloyd's algorithm takes
    tens of iterations."""
    rng = np.random.RandomState(seed)
    centres = rng.uniform(-10.0, 10.0, (n_clusters, n_features))
    labels = rng.randint(n_clusters, size=n_samples)
    X = centres[labels] + std * rng.standard_normal((n_samples, n_features))
    return np.ascontiguousarray(X, dtype=dtype), labels


def grid_blobs(seed, n_samples, n_features, n_clusters, std=0.5, spacing=10.0):
    """Blobs on the points of a grid ``spacing`` apart (at least spacing / std standard
    deviations between any two centres) and the label of each row."""
    rng = np.random.RandomState(seed)
    corners = list(itertools.product(range(3), repeat=n_features))[:n_clusters]
    centres = spacing * np.array(corners, dtype=np.float64)
    labels = rng.randint(n_clusters, size=n_samples)
    X = centres[labels] + std * rng.standard_normal((n_samples, n_features))
    return np.ascontiguousarray(X), labels


def rows_as_init(X, n_clusters, seed):
    """``n_clusters`` distinct rows of X as float64 (exact for float32 X as well)."""
    rng = np.random.RandomState(seed)
    return X[rng.choice(X.shape[0], n_clusters, replace=False)].astype(np.float64)


# -- plain NumPy reference --------------------------------------------------------------
def squared_distances(X, centres):
    X = np.asarray(X, dtype=np.float64)
    return ((X[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)


def nearest(X, centres):
    """(labels, weighted squared distance of each row to its closest centre)."""
    d = squared_distances(X, centres)
    labels = d.argmin(axis=1)
    return labels, d[np.arange(len(labels)), labels]


def reference_lloyd(X, init, sample_weight=None, max_iter=300):
    """Lloyd's algorithm, written from its definition, in float64.

    Each iteration assigns every row to its closest centre and moves each centre to the
    weighted mean of its rows; it stops after the first iteration that leaves every
    assignment as it was (scikit-learn's "strict convergence") or after ``max_iter``.
    Returns (centres, labels, inertia, n_iter, history) where ``history[i]`` is the
    inertia of the centres after ``i + 1`` iterations.  Asserts that no cluster empties
    (the data it is used on never empties one).
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    centres = np.array(init, dtype=np.float64)
    previous = None
    history = []
    for iteration in range(1, max_iter + 1):
        labels, _ = nearest(X, centres)
        moved = centres.copy()
        for k in range(len(centres)):
            mine = labels == k
            assert w[mine].sum() > 0, "the reference does not handle empty clusters"
            moved[k] = (w[mine, None] * X[mine]).sum(axis=0) / w[mine].sum()
        centres = moved
        history.append(float(w @ nearest(X, centres)[1]))
        if previous is not None and np.array_equal(labels, previous):
            break
        previous = labels
    labels, closest = nearest(X, centres)
    return centres, labels, float(w @ closest), iteration, history


def same_partition(a, b):
    return adjusted_rand_score(a, b) == 1.0


# -- agreement with scikit-learn --------------------------------------------------------
AGREEMENT_PROBLEMS = {
    # name: (seed, n_samples, n_features, n_clusters, std)
    "separated-2d-k3": (0, 3000, 2, 3, 0.5),
    "overlapping-3d-k5": (1, 2500, 3, 5, 2.5),
    "overlapping-5d-k8": (2, 3000, 5, 8, 4.0),
}


@pytest.mark.parametrize("problem", sorted(AGREEMENT_PROBLEMS))
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_same_init_matches_sklearn_lloyd(problem, dtype, weighted, tol):
    seed, n_samples, n_features, n_clusters, std = AGREEMENT_PROBLEMS[problem]
    X, _ = blobs(seed, n_samples, n_features, n_clusters, std, dtype=dtype)
    init = rows_as_init(X, n_clusters, seed + 100)
    # Positive weights here; rows of weight 0 are tested on their own below.
    sample_weight = np.random.RandomState(seed).uniform(0.1, 3.0, n_samples) if weighted else None
    if weighted and dtype == np.float32:
        # scikit-learn casts sample_weight to X's dtype: give both the same numbers.
        sample_weight = sample_weight.astype(np.float32).astype(np.float64)
    settings = dict(n_clusters=n_clusters, init=init, n_init=1, tol=tol, max_iter=300)
    ours = KMeans(**settings).fit(X, sample_weight=sample_weight)
    theirs = SklearnKMeans(**settings, algorithm="lloyd").fit(X, sample_weight=sample_weight)

    assert ours.n_iter_ == theirs.n_iter_ > 2
    assert ours.n_iter_ < 300  # both converged (by the labels or by tol)
    assert_array_equal(ours.labels_, theirs.labels_)
    assert ours.cluster_centers_.dtype == np.float64
    assert ours.n_features_in_ == n_features
    if dtype == np.float64:
        # Largest differences measured over these cases: 7.5e-15 absolute (4.7e-15
        # relative) in the centres, 2.2e-15 relative in the inertia.
        assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-6, atol=1e-12)
        assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-6)
    else:
        # scikit-learn keeps the centres in float32 and accumulates in float32; fastem
        # computes distances in float32 but accumulates in float64.  Largest differences
        # measured: 3.2e-6 absolute on coordinates up to 20 (5.7e-6 with rows of weight
        # 0, below), 5.9e-7 relative in the inertia.
        assert theirs.cluster_centers_.dtype == np.float32
        assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-6, atol=1.5e-5)
        assert_allclose(ours.inertia_, theirs.inertia_, rtol=2e-6)
        # fastem's inertia is that of its own centres computed in float64 (within 1.1e-8
        # measured: its distances are taken in float32).
        _, closest = nearest(X, ours.cluster_centers_)
        w = np.ones(n_samples) if sample_weight is None else sample_weight
        assert_allclose(ours.inertia_, w @ closest, rtol=1e-7)


def zero_weight_problem(dtype=np.float64):
    """AGREEMENT_PROBLEMS["overlapping-3d-k5"] with every 7th row weighted 0 (for float32
    X, weights rounded to float32, as scikit-learn rounds them).  At iteration 19 only a
    row of weight 0 changes cluster, so the centres do not move."""
    seed, n_samples, n_features, n_clusters, std = AGREEMENT_PROBLEMS["overlapping-3d-k5"]
    X, _ = blobs(seed, n_samples, n_features, n_clusters, std, dtype=dtype)
    init = rows_as_init(X, n_clusters, seed + 100)
    sample_weight = make_sample_weight(seed, n_samples)
    if dtype == np.float32:
        sample_weight = sample_weight.astype(np.float32).astype(np.float64)
    return X, init, sample_weight


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("tol", [0.0, 1e-4])
def test_rows_of_weight_zero_match_sklearn(dtype, tol):
    X, init, sample_weight = zero_weight_problem(dtype)
    settings = dict(n_clusters=5, init=init, n_init=1, tol=tol)
    ours = KMeans(**settings).fit(X, sample_weight=sample_weight)
    theirs = SklearnKMeans(**settings, algorithm="lloyd").fit(X, sample_weight=sample_weight)
    # Rows of weight 0 are labelled like any other row, and pull on no centre.
    assert_array_equal(ours.labels_, theirs.labels_)
    atol = 1e-12 if dtype == np.float64 else 1.5e-5  # measured: 5.3e-15, 5.7e-6
    assert_allclose(ours.cluster_centers_, theirs.cluster_centers_, rtol=1e-6, atol=atol)
    assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-6)  # measured: 2.2e-7
    assert ours.n_iter_ == theirs.n_iter_


def test_rows_of_weight_zero_do_not_delay_convergence_with_tol_0():
    X, init, sample_weight = zero_weight_problem()
    settings = dict(n_clusters=5, init=init, n_init=1, tol=0)
    ours = KMeans(**settings).fit(X, sample_weight=sample_weight)
    theirs = SklearnKMeans(**settings, algorithm="lloyd").fit(X, sample_weight=sample_weight)
    assert theirs.n_iter_ == 19
    assert ours.n_iter_ == theirs.n_iter_


def test_tol_stops_earlier_and_by_scikit_learns_criterion():
    # Overlapping blobs converge slowly: tol=1e-4 must stop strictly before the labels
    # settle, at scikit-learn's iteration; tol=0 runs to strict convergence.
    X, _ = blobs(2, 3000, 5, 8, 4.0)
    init = rows_as_init(X, 8, 102)
    runs = {}
    for tol in (0.0, 1e-4, 1e-2):
        ours = KMeans(8, init=init, tol=tol).fit(X)
        theirs = SklearnKMeans(8, init=init, n_init=1, tol=tol, algorithm="lloyd").fit(X)
        assert ours.n_iter_ == theirs.n_iter_
        runs[tol] = ours.n_iter_
    assert runs[0.0] > runs[1e-4] > runs[1e-2]
    _, _, _, strict_n_iter, _ = reference_lloyd(X, init)
    assert runs[0.0] == strict_n_iter


# -- plain NumPy reference, monotone inertia --------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("seed, n_features, n_clusters", [(0, 2, 4), (1, 3, 6), (2, 5, 8)])
def test_matches_numpy_reference_on_separated_data(weighted, seed, n_features, n_clusters):
    X, _ = grid_blobs(seed, 2000, n_features, n_clusters)
    sample_weight = make_sample_weight(seed, len(X)) if weighted else None
    init = rows_as_init(X, n_clusters, seed)
    centres, labels, inertia, n_iter, _ = reference_lloyd(X, init, sample_weight)
    km = KMeans(n_clusters, init=init, tol=0).fit(X, sample_weight=sample_weight)
    assert_array_equal(km.labels_, labels)
    assert_allclose(km.cluster_centers_, centres, rtol=1e-10, atol=1e-12)
    assert_allclose(km.inertia_, inertia, rtol=1e-10)
    assert km.n_iter_ == n_iter


@pytest.mark.parametrize("weighted", [False, True])
def test_inertia_never_increases_and_follows_the_reference(weighted):
    # Overlapping blobs, so that Lloyd's algorithm runs for many iterations.  Fitting
    # with max_iter=i from the same start stops after i iterations.
    X, _ = blobs(3, 1500, 2, 6, 3.0)
    sample_weight = make_sample_weight(3, len(X)) if weighted else None
    init = rows_as_init(X, 6, 3)
    _, _, _, n_iter, history = reference_lloyd(X, init, sample_weight)
    assert n_iter >= 15
    inertias = []
    for i in range(1, n_iter + 1):
        km = KMeans(6, init=init, max_iter=i, tol=0).fit(X, sample_weight=sample_weight)
        assert km.n_iter_ == i
        inertias.append(km.inertia_)
    assert_allclose(inertias, history, rtol=1e-10)
    steps = np.diff(inertias)
    assert (steps <= 1e-12 * inertias[0]).all(), f"inertia increased: {steps.max()}"
    assert inertias[-1] < 0.95 * inertias[0]  # the run made real progress
    # Past convergence nothing moves.
    assert KMeans(6, init=init, max_iter=n_iter + 5, tol=0).fit(
        X, sample_weight=sample_weight).n_iter_ == n_iter


def test_integer_sample_weights_equal_repeated_rows():
    # From a shared start, weighting a row by an integer m is fitting it m times (tol=0:
    # scikit-learn's tol scales with the unweighted variance, which repetition changes).
    X, _ = blobs(4, 800, 3, 5, 2.5)
    weights = np.random.RandomState(4).randint(0, 4, len(X))
    repeated = np.ascontiguousarray(np.repeat(X, weights, axis=0))
    init = rows_as_init(X, 5, 4)
    weighted = KMeans(5, init=init, tol=0).fit(X, sample_weight=weights)
    plain = KMeans(5, init=init, tol=0).fit(repeated)
    assert weighted.n_iter_ == plain.n_iter_ > 3
    assert_allclose(weighted.cluster_centers_, plain.cluster_centers_, rtol=1e-12, atol=1e-13)
    assert_allclose(weighted.inertia_, plain.inertia_, rtol=1e-12)
    assert_array_equal(np.repeat(weighted.labels_, weights), plain.labels_)


# -- seeding and n_init -----------------------------------------------------------------
@pytest.mark.parametrize("init", ["k-means++", "random"])
@pytest.mark.parametrize("random_state", [0, 1, 2])
def test_seeding_reaches_sklearns_best_inertia_on_an_easy_problem(init, random_state):
    X, truth = grid_blobs(5, 3000, 3, 5, std=1.0, spacing=8.0)
    best = SklearnKMeans(5, n_init=10, random_state=0).fit(X).inertia_
    km = KMeans(5, init=init, random_state=random_state).fit(X)  # n_init="auto"
    assert km.inertia_ <= 1.02 * best
    assert same_partition(km.labels_, truth)
    # The same random_state gives the same fit.
    again = KMeans(5, init=init, random_state=random_state).fit(X)
    assert_array_equal(again.cluster_centers_, km.cluster_centers_)


@pytest.fixture
def starts(monkeypatch):
    """The starting centres of every Lloyd run a fit makes, in order."""
    seen = []
    real_lloyd = fastem.mixture._kmeans.lloyd

    def recording_lloyd(source, centres, *args, **kwargs):
        seen.append(np.array(centres))
        return real_lloyd(source, centres, *args, **kwargs)

    monkeypatch.setattr(fastem.mixture._kmeans, "lloyd", recording_lloyd)
    return seen


def test_random_init_draws_distinct_rows_by_sample_weight(starts):
    X, _ = blobs(6, 300, 2, 3, 1.0)
    sample_weight = np.zeros(len(X))
    chosen = [5, 50, 100, 150, 200, 250]
    sample_weight[chosen] = 1.0
    KMeans(6, init="random", n_init=4, random_state=0).fit(X, sample_weight=sample_weight)
    assert len(starts) == 4
    for centres in starts:  # only rows of positive weight, each once
        assert sorted(int(np.flatnonzero((X == c).all(axis=1))[0]) for c in centres) == chosen


class CountingInit:
    """A callable init (``init(X, n_clusters, random_state)``) that draws rows with the
    RandomState it is given and remembers every call."""

    def __init__(self):
        self.calls = []

    def __call__(self, X, n_clusters, random_state):
        assert isinstance(random_state, np.random.RandomState)
        centres = X[random_state.choice(X.shape[0], n_clusters, replace=False)]
        self.calls.append((X, n_clusters, centres.copy()))
        return centres


@pytest.mark.parametrize("init, n_init, runs", [
    ("k-means++", "auto", 1), ("random", "auto", 10), ("array", "auto", 1),
    ("callable", "auto", 10), ("k-means++", 3, 3), ("random", 2, 2), ("callable", 4, 4),
])
def test_n_init_auto_and_explicit(init, n_init, runs, starts):
    X, _ = blobs(7, 400, 2, 3, 2.0)
    if init == "array":
        init = rows_as_init(X, 3, 0)
    elif init == "callable":
        init = CountingInit()
    KMeans(3, init=init, n_init=n_init, random_state=0).fit(X)
    assert len(starts) == runs
    if isinstance(init, CountingInit):
        assert len(init.calls) == runs
        for data, n_clusters, _ in init.calls:
            assert data is X  # C-contiguous float64: handed over as it is
            assert n_clusters == 3


def test_n_init_keeps_the_run_with_the_lowest_inertia():
    # Overlapping blobs with several local optima; each start, fitted alone, gives the
    # candidates the n_init=6 fit must choose from.
    X, _ = blobs(8, 1500, 2, 6, 3.0)
    init = CountingInit()
    best = KMeans(6, init=init, n_init=6, random_state=0).fit(X)
    singles = [KMeans(6, init=centres).fit(X) for _, _, centres in init.calls]
    inertias = [s.inertia_ for s in singles]
    assert max(inertias) > 1.001 * min(inertias), "the starts should end in different optima"
    winner = singles[int(np.argmin(inertias))]
    assert best.inertia_ == min(inertias)
    assert best.n_iter_ == winner.n_iter_
    assert_array_equal(best.cluster_centers_, winner.cluster_centers_)
    assert_array_equal(best.labels_, winner.labels_)


def test_explicit_init_with_n_init_warns_and_runs_once(starts):
    X, _ = blobs(9, 300, 2, 3, 1.0)
    init = rows_as_init(X, 3, 0)
    message = (
        "Explicit initial center position passed: performing only one init in KMeans "
        "instead of n_init=3."
    )
    with pytest.warns(RuntimeWarning, match=f"^{re.escape(message)}$") as record:
        km = KMeans(3, init=init, n_init=3).fit(X)
    assert len(record) == 1
    assert len(starts) == 1
    assert_array_equal(starts[0], init)
    assert record[0].filename == __file__  # points at the caller of fit
    # scikit-learn says the same, and the single run is the n_init=1 run.
    with pytest.warns(RuntimeWarning, match=f"^{re.escape(message)}$"):
        SklearnKMeans(3, init=init, n_init=3).fit(X)
    once = KMeans(3, init=init, n_init=1).fit(X)
    assert_array_equal(km.cluster_centers_, once.cluster_centers_)
    # n_init="auto" (and n_init=1) with an array is silent (warnings are errors here).
    KMeans(3, init=init).fit(X)


# -- empty clusters ---------------------------------------------------------------------
def test_empty_cluster_is_reseeded_not_nan():
    # Four well-separated groups; the fourth start is far from every row, so its cluster
    # is empty after the first assignment.
    X, truth = grid_blobs(10, 2000, 2, 4)
    init = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [1000.0, 1000.0]])
    km = KMeans(4, init=init, tol=0).fit(X)
    assert np.isfinite(km.cluster_centers_).all()
    assert (np.bincount(km.labels_, minlength=4) > 0).all()
    assert_array_equal(km.labels_, km.predict(X))
    # The re-seeded centre lands in the group nobody had, so the groups are recovered
    # and every centre is its group's mean.
    assert same_partition(km.labels_, truth)
    for k in range(4):
        assert_allclose(km.cluster_centers_[k], X[km.labels_ == k].mean(axis=0), rtol=1e-10)
    labels, closest = nearest(X, km.cluster_centers_)
    assert_array_equal(km.labels_, labels)
    assert_allclose(km.inertia_, closest.sum(), rtol=1e-10)
    # scikit-learn (which re-seeds its own way) ends in the same partition.
    theirs = SklearnKMeans(4, init=init, n_init=1, tol=0).fit(X)
    assert same_partition(km.labels_, theirs.labels_)
    assert_allclose(km.inertia_, theirs.inertia_, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
def test_several_empty_clusters_and_monotone_inertia(weighted):
    # Two starts far away: both clusters are empty at once, and re-seeding must not
    # increase the inertia.
    X, _ = grid_blobs(11, 1500, 2, 6)
    sample_weight = make_sample_weight(11, len(X)) if weighted else None
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    init = np.vstack([X[:4], [[500.0, -500.0], [-800.0, 300.0]]])
    inertias = []
    for max_iter in range(1, 12):
        km = KMeans(6, init=init, max_iter=max_iter, tol=0).fit(X, sample_weight=sample_weight)
        assert np.isfinite(km.cluster_centers_).all()
        assert np.isfinite(km.inertia_)
        assert_array_equal(km.labels_, km.predict(X))
        inertias.append(km.inertia_)
    assert (np.diff(inertias) <= 1e-12 * inertias[0]).all(), inertias
    assert (np.bincount(km.labels_, weights=w, minlength=6) > 0).all()
    labels, closest = nearest(X, km.cluster_centers_)
    assert_array_equal(km.labels_, labels)
    assert_allclose(km.inertia_, w @ closest, rtol=1e-10)


def test_zero_weight_rows_are_never_reseeded_onto():
    # A far outlier of weight 0 is the farthest row from every centre; an empty cluster
    # must be re-seeded at a row that carries weight, or it would stay empty.
    rng = np.random.RandomState(12)
    X = np.ascontiguousarray(np.vstack([
        rng.normal(0.0, 0.3, (100, 2)), rng.normal(10.0, 0.3, (100, 2)), [[100.0, 100.0]],
    ]))
    sample_weight = np.ones(len(X))
    sample_weight[-1] = 0.0
    init = np.array([[0.0, 0.0], [10.0, 10.0], [-500.0, -500.0]])
    first = KMeans(3, init=init, max_iter=1, tol=0).fit(X, sample_weight=sample_weight)
    assert np.abs(first.cluster_centers_).max() < 12.0  # re-seeded at once inside a blob
    km = KMeans(3, init=init, tol=0).fit(X, sample_weight=sample_weight)
    assert np.abs(km.cluster_centers_).max() < 12.0
    assert (np.bincount(km.labels_, weights=sample_weight, minlength=3) > 0).all()
    # The row of weight 0 changes nothing: the fit is that of the other rows (tol=0, as
    # the tolerance scales with the unweighted variance, which the outlier changes).
    without = KMeans(3, init=init, tol=0).fit(X[:-1])
    assert km.n_iter_ == without.n_iter_
    assert_allclose(km.cluster_centers_, without.cluster_centers_, rtol=1e-12, atol=1e-14)
    assert_array_equal(km.labels_[:-1], without.labels_)
    assert_allclose(km.inertia_, without.inertia_, rtol=1e-12)


# -- the fitted model -------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_predict_transform_score_match_numpy(dtype):
    X, _ = blobs(13, 2000, 3, 5, 2.5, dtype=dtype)
    X_test, _ = blobs(14, 700, 3, 5, 3.5, dtype=dtype)
    sample_weight = make_sample_weight(13, len(X))
    test_weight = make_sample_weight(14, len(X_test))
    km = KMeans(5, random_state=0).fit(X, sample_weight=sample_weight)
    centres = km.cluster_centers_
    rtol = 1e-12 if dtype == np.float64 else 1e-5  # float32: the kernel's arithmetic

    expected_distances = np.sqrt(squared_distances(X_test, centres))
    transformed = km.transform(X_test)
    assert transformed.shape == (700, 5) and transformed.dtype == np.float64
    # transform upcasts each value to float64 before subtracting (either dtype).
    assert_allclose(transformed, expected_distances, rtol=1e-12)

    labels, closest = nearest(X_test, centres)
    predicted = km.predict(X_test)
    assert predicted.shape == (700,) and predicted.dtype.kind == "i"
    assert_array_equal(predicted, labels)
    assert_allclose(km.score(X_test), -closest.sum(), rtol=rtol)
    assert_allclose(km.score(X_test, sample_weight=test_weight), -(test_weight @ closest),
                    rtol=rtol)
    assert isinstance(km.score(X_test), float)

    # On the training data: labels_, inertia_ and the fit_* shortcuts.
    labels, closest = nearest(X, centres)
    assert_array_equal(km.labels_, labels)
    assert_array_equal(km.predict(X), labels)
    assert_allclose(km.inertia_, sample_weight @ closest, rtol=rtol)
    assert_allclose(km.score(X, sample_weight=sample_weight), -km.inertia_, rtol=rtol)
    assert_array_equal(clone(km).fit_predict(X, sample_weight=sample_weight), labels)
    assert_allclose(clone(km).fit_transform(X, sample_weight=sample_weight),
                    np.sqrt(squared_distances(X, centres)), rtol=1e-12)


def test_fitted_attributes_match_sklearns_types_and_shapes():
    X, _ = blobs(15, 500, 4, 3, 1.0)
    init = rows_as_init(X, 3, 0)
    ours = KMeans(3, init=init).fit(X)
    theirs = SklearnKMeans(3, init=init, n_init=1).fit(X)
    for name in FITTED:
        a, b = getattr(ours, name), getattr(theirs, name)
        assert np.shape(a) == np.shape(b), name
    assert ours.labels_.dtype.kind == "i"
    assert isinstance(ours.inertia_, float) and isinstance(ours.n_iter_, int)
    assert ours.n_features_in_ == 4


def test_parameters_match_sklearn():
    ours, theirs = KMeans().get_params(), SklearnKMeans().get_params()
    assert set(ours) == set(theirs) - {"algorithm", "copy_x"} | {"n_threads"}
    assert {name: ours[name] for name in ours if name != "n_threads"} == {
        name: theirs[name] for name in ours if name != "n_threads"}
    assert ours["n_threads"] is None
    km = KMeans(3, init="random", n_init=4, n_threads=1)
    assert repr(km) == "KMeans(init='random', n_clusters=3, n_init=4, n_threads=1)"
    assert clone(km).get_params() == km.get_params()


# -- threads, user arrays ---------------------------------------------------------------
@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_results_do_not_depend_on_n_threads(dtype):
    # 5000 rows: 5 chunks of the kernels' fixed partition, shared between threads.
    X, _ = blobs(16, 5000, 3, 6, 3.0, dtype=dtype)
    X_test, _ = blobs(17, 3000, 3, 6, 3.0, dtype=dtype)
    sample_weight = make_sample_weight(16, len(X))
    fits = [
        KMeans(6, n_init=2, random_state=0, n_threads=k).fit(X, sample_weight=sample_weight)
        for k in (1, 2)
    ]
    one, two = fits
    assert one.n_iter_ > 3
    assert_array_equal(one.cluster_centers_, two.cluster_centers_)
    assert_array_equal(one.labels_, two.labels_)
    assert one.inertia_ == two.inertia_ and one.n_iter_ == two.n_iter_
    assert_array_equal(one.predict(X_test), two.predict(X_test))
    assert_array_equal(one.transform(X_test), two.transform(X_test))
    assert one.score(X_test) == two.score(X_test)


def test_user_arrays_are_left_alone_and_not_aliased():
    X, _ = blobs(18, 1500, 3, 4, 2.0)
    X32 = X.astype(np.float32)
    init = rows_as_init(X, 4, 0)
    sample_weight = make_sample_weight(18, len(X))
    originals = [X, X32, init, sample_weight]
    copies = [a.copy() for a in originals]
    for data in (X, X32):
        km = KMeans(4, init=init).fit(data, sample_weight=sample_weight)
        km.predict(data), km.transform(data), km.score(data, sample_weight=sample_weight)
        assert km.init is init  # parameters are stored as given
        for original, copy in zip(originals, copies):
            assert_array_equal(original, copy)
        for name in ("cluster_centers_", "labels_"):
            for array in originals:
                assert not np.shares_memory(getattr(km, name), array)
    # A callable's returned rows (views of X) are copied too.
    km = KMeans(4, init=lambda X, k, random_state: X[:k], n_init=2).fit(X)
    assert_array_equal(X, copies[0])
    assert not np.shares_memory(km.cluster_centers_, X)


# -- bad input --------------------------------------------------------------------------
def small_data(n_samples=20, n_features=2, seed=0):
    return np.random.RandomState(seed).standard_normal((n_samples, n_features))


def assert_unfitted(km):
    leftovers = [name for name in vars(km) if name.endswith("_")]
    assert not leftovers, f"a failed fit left {leftovers}"
    with pytest.raises(NotFittedError):
        km.predict(small_data())


def with_nan():
    X = small_data()
    X[4, 1] = np.nan
    return X


BAD_FITS = {
    "n_clusters > n_samples": (
        dict(n_clusters=5), small_data(3), ValueError, "n_samples=3 should be >= n_clusters=5.",
    ),
    "init with too few centres": (
        dict(n_clusters=3, init=np.zeros((2, 2))), small_data(), ValueError,
        "The shape of the initial centers (2, 2) does not match the number of clusters 3.",
    ),
    "init with too many features": (
        dict(n_clusters=3, init=np.zeros((3, 4))), small_data(), ValueError,
        "The shape of the initial centers (3, 4) does not match the number of features of "
        "the data 2.",
    ),
    "callable init of the wrong shape": (
        dict(n_clusters=3, init=lambda X, k, random_state: X[:2], n_init=1), small_data(),
        ValueError,
        "The shape of the initial centers (2, 2) does not match the number of clusters 3.",
    ),
    "init bogus": (
        dict(n_clusters=3, init="bogus"), small_data(), ValueError,
        "The 'init' parameter of KMeans must be 'k-means++', 'random', a callable or an array "
        "of shape (n_clusters, n_features). Got 'bogus' instead.",
    ),
    "init with nan": (
        dict(n_clusters=2, init=np.array([[0.0, 0.0], [np.nan, 1.0]])), small_data(),
        ValueError, "init contains NaN or inf.",
    ),
    "n_init=0": (
        dict(n_clusters=2, n_init=0), small_data(), ValueError,
        "The 'n_init' parameter of KMeans must be an int in the range [1, inf). Got 0 instead.",
    ),
    "max_iter=0": (
        dict(n_clusters=2, max_iter=0), small_data(), ValueError,
        "The 'max_iter' parameter of KMeans must be an int in the range [1, inf). Got 0 "
        "instead.",
    ),
    "tol=-1": (
        dict(n_clusters=2, tol=-1), small_data(), ValueError,
        "The 'tol' parameter of KMeans must be a float in the range [0.0, inf). Got -1 "
        "instead.",
    ),
    "n_clusters=0": (
        dict(n_clusters=0), small_data(), ValueError,
        "The 'n_clusters' parameter of KMeans must be an int in the range [1, inf). Got 0 "
        "instead.",
    ),
    "nan in X": (
        dict(n_clusters=2), with_nan(), ValueError,
        "X contains 1 non-finite value(s) (NaN or inf; first at row 4, column 1); remove or "
        "impute them.",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FITS))
def test_bad_fit_raises_and_leaves_the_estimator_unfitted(case):
    params, X, error, message = BAD_FITS[case]
    arrays = [a for a in (X, params.get("init")) if isinstance(a, np.ndarray)]
    copies = [a.copy() for a in arrays]
    km = KMeans(**params)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        km.fit(X)
    for array, copy in zip(arrays, copies):
        assert_array_equal(array, copy)
    assert_unfitted(km)
    # A failed refit of a fitted estimator leaves it unfitted as well.
    good = KMeans(2, n_init=1, random_state=0).fit(small_data())
    good.set_params(**params)
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        good.fit(X)
    assert_unfitted(good)


@pytest.mark.parametrize("case", [
    "n_clusters > n_samples", "init with too few centres", "init with too many features",
])
def test_shared_messages_are_sklearns(case):
    params, X, error, message = BAD_FITS[case]
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        SklearnKMeans(**params, n_init=1).fit(X)


def test_bad_sample_weight():
    X = small_data()
    km = KMeans(2, random_state=0)
    with pytest.raises(ValueError, match=re.escape(
            "sample_weight must have shape (20,) to match X; got shape (19,).")):
        km.fit(X, sample_weight=np.ones(19))
    weights = np.ones(20)
    weights[6] = -1.0
    with pytest.raises(ValueError, match=re.escape(
            "sample_weight must be non-negative; sample_weight[6] = -1.0.")):
        km.fit(X, sample_weight=weights)
    weights = np.zeros(20)
    weights[:2] = 1.0
    with pytest.raises(ValueError, match=re.escape(
            "init='random' needs at least n_clusters=3 samples with a positive sample_weight; "
            "2 have one.")):
        KMeans(3, init="random", random_state=0).fit(X, sample_weight=weights)
    assert_unfitted(km)


def test_wrong_number_of_features_after_fit():
    km = KMeans(2, random_state=0).fit(small_data())
    message = "X has 3 features, but KMeans is expecting 2 features as input."
    for method in ("predict", "transform", "score"):
        with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
            getattr(km, method)(small_data(n_features=3))


def test_not_fitted_error():
    km = KMeans(2)
    message = (
        "This KMeans instance is not fitted yet. Call 'fit' with appropriate arguments before "
        "using this estimator."
    )
    for method in ("predict", "transform", "score"):
        with pytest.raises(NotFittedError, match=f"^{re.escape(message)}$") as info:
            getattr(km, method)(small_data())
        assert isinstance(info.value, (ValueError, AttributeError))
        assert isinstance(info.value, SklearnNotFittedError)
    assert issubclass(NotFittedError, ValueError) and issubclass(NotFittedError, AttributeError)


# -- scikit-learn estimator checks ------------------------------------------------------
# scikit-learn warns, while building the list of checks, that KMeans does not derive
# from sklearn.base.BaseEstimator: by design (fastem.mixture._base implements the
# protocol itself).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Estimator KMeans does not inherit from",
                            category=UserWarning)
    _sklearn_checks = parametrize_with_checks(
        [
            KMeans(n_clusters=2, n_init=2, random_state=0),
            KMeans(n_clusters=3, init="random", n_init=3, max_iter=5, tol=0, random_state=0),
        ],
        expected_failed_checks=lambda estimator: {
            "check_sample_weight_equivalence_on_dense_data": (
                "The seeding (k-means++ or random rows) draws row indices with probability "
                "proportional to sample_weight, and the same draws pick other rows from the "
                "weighted data than from the repeated (and reshuffled) data, so the two fits "
                "start apart and end in different local optima (scikit-learn's own KMeans "
                "expects this check to fail for the same reason). "
                "test_integer_sample_weights_equal_repeated_rows checks the equivalence from "
                "a shared start."
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


def test_random_init_draws_the_rows_scikit_learn_draws():
    # Same RandomState, same draws: init="random" starts where scikit-learn's does.
    X, _ = blobs(7, 2000, 3, 5, 2.0)
    for sample_weight in (None, np.random.RandomState(0).uniform(0.5, 2.0, len(X))):
        ours = KMeans(5, init="random", n_init=3, random_state=4).fit(X, sample_weight=sample_weight)
        theirs = SklearnKMeans(5, init="random", n_init=3, random_state=4, algorithm="lloyd").fit(
            X, sample_weight=sample_weight
        )
        assert_array_equal(ours.labels_, theirs.labels_)
        assert_allclose(ours.inertia_, theirs.inertia_, rtol=1e-10)


def test_fewer_distinct_points_than_clusters_warns():
    X = np.repeat([[0.0, 0.0], [5.0, 5.0], [10.0, 0.0]], 10, axis=0)
    message = (
        "Number of distinct clusters (3) found smaller than n_clusters (4). Possibly due to "
        "duplicate points in X."
    )
    with pytest.warns(fastem.ConvergenceWarning, match=re.escape(message)):
        fitted = KMeans(4, random_state=0).fit(X)
    assert np.isfinite(fitted.cluster_centers_).all()
