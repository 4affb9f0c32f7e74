"""Spherical and tied covariances, and parameters held fixed.

The expected values come from scikit-learn's GaussianMixture run from the same start,
and from a plain-NumPy EM written here from the formulas (independent of fastem).
"""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.datasets import load_iris, load_wine
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

import fastem
from fastem.exceptions import ConvergenceWarning

CONSTRAINED = ("spherical", "tied")
ALL_TYPES = ("full", "tied", "diag", "spherical")


def blobs(seed=0, n_samples=300, n_features=3, n_components=3, dtype=np.float64):
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=4.0, size=(n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = centres[labels] + rng.normal(size=(n_samples, n_features)) @ np.diag(rng.uniform(0.5, 1.5, n_features))
    return X.astype(dtype)


def start_for(X, n_components, covariance_type):
    """A fixed start shared by two fits, in the type's shape of precisions."""
    spread = 1.0 / X.astype(np.float64).var(axis=0)
    precisions = {
        "full": np.stack([np.diag(spread)] * n_components),
        "tied": np.diag(spread),
        "diag": np.tile(spread, (n_components, 1)),
        "spherical": np.full(n_components, spread.mean()),
    }[covariance_type]
    weights = np.arange(1.0, n_components + 1)
    rows = np.linspace(0, X.shape[0] - 1, n_components).astype(int)
    return dict(
        weights_init=weights / weights.sum(),
        means_init=X[rows].astype(np.float64),
        precisions_init=precisions,
    )


# -- an independent reference ------------------------------------------------------------
def full_covariances(covariances, covariance_type, n_components, n_features):
    """Each component's covariance matrix, (K, D, D), from any type's shape."""
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.stack([covariances] * n_components)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def reference_log_resp(X, weights, means, covariances):
    """log pi_k + log N(x | mu_k, Sigma_k) with Sigma_k (K, D, D), by slogdet and solve."""
    n_features = X.shape[1]
    out = np.empty((X.shape[0], len(weights)))
    for k, (mean, cov) in enumerate(zip(means, covariances)):
        centred = X - mean
        maha = np.einsum("nd,nd->n", centred, np.linalg.solve(cov, centred.T).T)
        out[:, k] = np.log(weights[k]) - 0.5 * (n_features * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + maha)
    return out


def reference_em_step(X, sample_weight, weights, means, covariances, covariance_type, reg_covar):
    """One EM iteration: (log-likelihood at the given parameters, new parameters)."""
    X = X.astype(np.float64)
    n_components, n_features = means.shape
    log_prob = reference_log_resp(X, weights, means, full_covariances(covariances, covariance_type, *means.shape))
    top = log_prob.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(log_prob - top).sum(axis=1))
    resp = np.exp(log_prob - log_norm[:, None]) * sample_weight[:, None]
    nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
    new_means = resp.T @ X / nk[:, None]
    scatter = np.stack([(resp[:, k, None] * (X - new_means[k])).T @ (X - new_means[k]) for k in range(n_components)])
    if covariance_type == "full":
        new_cov = scatter / nk[:, None, None] + reg_covar * np.eye(n_features)
    elif covariance_type == "tied":
        new_cov = scatter.sum(axis=0) / nk.sum() + reg_covar * np.eye(n_features)
    elif covariance_type == "diag":
        new_cov = np.stack([np.diag(s) for s in scatter]) / nk[:, None] + reg_covar
    else:
        new_cov = np.array([np.trace(s) for s in scatter]) / (nk * n_features) + reg_covar
    loglik = float(sample_weight @ log_norm / sample_weight.sum())
    return loglik, (nk / nk.sum(), new_means, new_cov)


def reference_precisions(covariances, covariance_type):
    if covariance_type in ("full", "tied"):
        return np.linalg.inv(covariances)
    return 1.0 / covariances


# -- agreement with the references -------------------------------------------------------
@pytest.mark.parametrize("covariance_type", CONSTRAINED)
@pytest.mark.parametrize("load", [load_iris, load_wine], ids=["iris", "wine"])
def test_constrained_types_agree_with_sklearn_on_real_data(covariance_type, load):
    X = load().data
    if load is load_wine:
        X = (X - X.mean(axis=0)) / X.std(axis=0)  # wine's features span 5 orders of magnitude
    settings = dict(covariance_type=covariance_type, max_iter=25, tol=0.0, reg_covar=1e-6,
                    **start_for(X, 3, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SklearnConvergenceWarning, ConvergenceWarning))
        theirs = SklearnGaussianMixture(3, **settings).fit(X)
        ours = fastem.GaussianMixture(3, **settings).fit(X)
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(ours, name).shape == getattr(theirs, name).shape, name
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-6, atol=1e-9, err_msg=name)
    assert_allclose(ours.lower_bound_, theirs.lower_bound_, rtol=1e-9)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=1e-9)
    assert_allclose(ours.predict_proba(X), theirs.predict_proba(X), atol=1e-7)
    assert_allclose(ours.bic(X), theirs.bic(X), rtol=1e-9)
    assert_allclose(ours.aic(X), theirs.aic(X), rtol=1e-9)
    assert ours._n_parameters() == theirs._n_parameters()


@pytest.mark.parametrize("covariance_type", ALL_TYPES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_em_iterations_match_numpy_reference(covariance_type, dtype, weighted):
    X = blobs(dtype=dtype)
    sample_weight = np.random.RandomState(1).uniform(0.2, 3.0, X.shape[0]) if weighted else np.ones(X.shape[0])
    start = start_for(X, 3, covariance_type)
    weights, means = start["weights_init"], start["means_init"]
    covariances = reference_precisions(start["precisions_init"], covariance_type)  # inverse of the precisions
    expected_bounds = []
    for _ in range(4):
        loglik, (weights, means, covariances) = reference_em_step(
            X, sample_weight, weights, means, covariances, covariance_type, 1e-6
        )
        expected_bounds.append(loglik)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=4, tol=0.0, **start)
        model.fit(X, sample_weight=sample_weight if weighted else None)
    rtol = 1e-9 if dtype == np.float64 else 2e-4
    assert_allclose(model.lower_bounds_, expected_bounds, rtol=rtol)
    assert_allclose(model.weights_, weights, rtol=rtol)
    assert_allclose(model.means_, means, rtol=rtol, atol=rtol)
    assert_allclose(model.covariances_, covariances, rtol=rtol, atol=rtol * 1e-2)
    assert_allclose(model.precisions_, reference_precisions(covariances, covariance_type), rtol=rtol * 10)


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
def test_attribute_shapes_follow_sklearn(covariance_type):
    X = blobs(n_features=4, n_components=4)  # n_components == n_features: tied and diag shapes agree
    model = fastem.GaussianMixture(4, covariance_type=covariance_type, random_state=0).fit(X)
    expected = {"spherical": (4,), "tied": (4, 4)}[covariance_type]
    for name in ("covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).shape == expected
    assert model._fitted_family().covariance_type == covariance_type
    if covariance_type == "tied":
        upper = model.precisions_cholesky_
        assert_allclose(upper, np.triu(upper))
        assert_allclose(upper @ upper.T, np.linalg.inv(model.covariances_), rtol=1e-10)
    samples, labels = model.sample(2000)
    assert samples.shape == (2000, 4) and labels.shape == (2000,)


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
def test_bad_precisions_init_shape_names_the_type_shape(covariance_type):
    X = blobs()
    bad = np.ones((3, 3, 3))
    shape_text = {"spherical": "(n_components,) = (3,)", "tied": "(n_features, n_features) = (3, 3)"}
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, precisions_init=bad)
    with pytest.raises(ValueError, match=r"precisions_init must have shape " + shape_text[covariance_type].replace("(", r"\(").replace(")", r"\)")):
        model.fit(X)
    assert not hasattr(model, "means_")


# -- every variant and data source -------------------------------------------------------
VARIANTS = [
    dict(algorithm="em"),
    dict(algorithm="hard"),
    dict(algorithm="generalized", gem_step="ecm"),
    dict(algorithm="generalized", gem_step="overrelaxed"),
    dict(algorithm="em", accelerate="squarem"),
]


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_every_variant_never_decreases_its_objective(covariance_type, variant):
    X = blobs(seed=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=30, tol=1e-8, random_state=0,
                                       **variant).fit(X)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
def test_monte_carlo_and_online_em_run(covariance_type):
    X = blobs(seed=4)
    model = fastem.GaussianMixture(3, covariance_type=covariance_type, algorithm="monte_carlo", mc_samples=8,
                                   max_iter=20, random_state=0).fit(X)
    assert np.isfinite(model.lower_bound_)
    assert model.lower_bound_ == max(model.lower_bounds_)  # the best iterate is kept
    online = fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    for chunk in np.array_split(X, 5):
        online.partial_fit(chunk)
    assert online.covariances_.shape == model.covariances_.shape
    assert online.score(X) > model.score(X) - 0.5


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
def test_chunked_memmap_and_dask_fits_equal_the_in_memory_fit(covariance_type, tmp_path):
    X = blobs(seed=5, n_samples=600)
    settings = dict(covariance_type=covariance_type, max_iter=10, tol=0.0, **start_for(X, 3, covariance_type))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        in_memory = fastem.GaussianMixture(3, **settings).fit(X)
        chunked = fastem.GaussianMixture(3, **settings).fit_chunks(lambda: np.array_split(X, 7))
        np.save(tmp_path / "X.npy", X)
        mapped = fastem.GaussianMixture(3, **settings).fit(np.load(tmp_path / "X.npy", mmap_mode="r"))
        da = pytest.importorskip("dask.array")
        import dask

        with dask.config.set(scheduler="synchronous"):
            distributed = fastem.GaussianMixture(3, **settings).fit(da.from_array(X, chunks=(150, 3)))
    for other in (chunked, mapped, distributed):
        assert_allclose(other.covariances_, in_memory.covariances_, rtol=1e-10)
        assert_allclose(other.means_, in_memory.means_, rtol=1e-10)
        assert_allclose(other.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", CONSTRAINED)
def test_results_do_not_depend_on_the_thread_count(covariance_type):
    X = blobs(seed=6, n_samples=5000)
    fits = [
        fastem.GaussianMixture(3, covariance_type=covariance_type, random_state=0, n_threads=n).fit(X)
        for n in (1, 2)
    ]
    assert_array_equal(fits[0].covariances_, fits[1].covariances_)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)


def test_far_offset_data_keeps_its_tied_covariance():
    X = blobs(seed=7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        near = fastem.GaussianMixture(3, covariance_type="tied", max_iter=5, tol=0.0, **start_for(X, 3, "tied")).fit(X)
        shifted = start_for(X + 1e6, 3, "tied")
        far = fastem.GaussianMixture(3, covariance_type="tied", max_iter=5, tol=0.0, **shifted).fit(X + 1e6)
    assert_allclose(far.covariances_, near.covariances_, rtol=1e-6)


# -- parameters held fixed ---------------------------------------------------------------
@pytest.mark.parametrize("eps", [1.0, 0.01])
def test_hard_em_with_fixed_spherical_covariance_and_weights_is_kmeans(eps):
    X = blobs(seed=8, n_samples=400, n_components=4)
    centres = X[[0, 1, 2, 3]].astype(np.float64)
    model = fastem.GaussianMixture(
        4, covariance_type="spherical", algorithm="hard", max_iter=300, tol=0.0,
        weights_init=np.full(4, 0.25), means_init=centres, precisions_init=np.full(4, 1.0 / eps),
        fixed_params=("weights", "covariances"),
    ).fit(X)
    kmeans = fastem.KMeans(4, init=centres, n_init=1, tol=0.0, max_iter=300).fit(X)
    assert model.converged_
    assert_array_equal(model.predict(X), kmeans.labels_)
    assert_allclose(model.means_, kmeans.cluster_centers_, rtol=1e-12)
    assert_array_equal(model.weights_, np.full(4, 0.25))
    assert_array_equal(model.covariances_, np.full(4, eps))


@pytest.mark.parametrize("covariance_type", ALL_TYPES)
def test_fixed_means_stay_and_covariances_are_taken_about_them(covariance_type):
    X = blobs(seed=9)
    start = start_for(X, 3, covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=3, tol=0.0,
                                       fixed_params=["means"], **start).fit(X)
    assert_array_equal(model.means_, start["means_init"])
    # the reference M-step with the means held: scatter about the held means
    weights, means = start["weights_init"], start["means_init"]
    covariances = reference_precisions(start["precisions_init"], covariance_type)
    for _ in range(3):
        full = full_covariances(covariances, covariance_type, 3, 3)
        log_prob = reference_log_resp(X, weights, means, full)
        resp = np.exp(log_prob - log_prob.max(axis=1, keepdims=True))
        resp /= resp.sum(axis=1, keepdims=True)
        nk = resp.sum(axis=0) + 10 * np.finfo(float).eps
        scatter = np.stack([(resp[:, k, None] * (X - means[k])).T @ (X - means[k]) for k in range(3)])
        weights = nk / nk.sum()
        covariances = {
            "full": scatter / nk[:, None, None] + 1e-6 * np.eye(3),
            "tied": scatter.sum(axis=0) / nk.sum() + 1e-6 * np.eye(3),
            "diag": np.stack([np.diag(s) for s in scatter]) / nk[:, None] + 1e-6,
            "spherical": np.array([np.trace(s) for s in scatter]) / (3 * nk) + 1e-6,
        }[covariance_type]
    assert_allclose(model.weights_, weights, rtol=1e-10)
    assert_allclose(model.covariances_, covariances, rtol=1e-10)


@pytest.mark.parametrize("covariance_type", ALL_TYPES)
@pytest.mark.parametrize("variant", VARIANTS, ids=lambda v: "-".join(v.values()))
def test_fixed_covariances_are_held_exactly_by_every_variant(covariance_type, variant):
    X = blobs(seed=10)
    start = start_for(X, 3, covariance_type)
    held = reference_precisions(start["precisions_init"], covariance_type)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=8, tol=0.0,
                                       fixed_params=("covariances", "weights"), **start, **variant).fit(X)
        first = fastem.GaussianMixture(3, covariance_type=covariance_type, max_iter=1, tol=0.0,
                                       fixed_params=("covariances", "weights"), **start, **variant).fit(X)
    assert_array_equal(model.covariances_, first.covariances_)  # not moved by any iteration
    assert_allclose(model.covariances_, held, rtol=1e-12)  # and no reg_covar added
    assert_array_equal(model.weights_, start["weights_init"])
    assert not np.allclose(model.means_, start["means_init"])  # the free group did move


def test_bic_counts_only_free_parameters():
    X = blobs(seed=11)
    start = start_for(X, 3, "full")
    free = fastem.GaussianMixture(3, random_state=0, **start).fit(X)
    held = fastem.GaussianMixture(3, random_state=0, fixed_params=("means",), **start).fit(X)
    assert free._n_parameters() - held._n_parameters() == 3 * 3
    assert_allclose(held.bic(X), -2 * held.score(X) * 300 + held._n_parameters() * np.log(300))


@pytest.mark.parametrize(
    "fixed, message",
    [
        (("weights",), "fixed_params holds 'weights' but weights_init is None; give the values to hold in weights_init."),
        (("covariances",), "fixed_params holds 'covariances' but precisions_init is None; give the values to "
                           "hold in precisions_init."),
        (("mean",), "The 'fixed_params' parameter of GaussianMixture holds 'mean'; it may hold 'weights', "
                    "'means', 'covariances'."),
    ],
)
def test_fixed_params_errors(fixed, message):
    model = fastem.GaussianMixture(3, fixed_params=fixed, means_init=blobs()[:3])
    with pytest.raises(ValueError) as error:
        model.fit(blobs())
    assert str(error.value) == message
    assert not hasattr(model, "means_")


# -- the whitening kernel of tied covariances ---------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_whiten_kernel_matches_numpy(dtype, weighted):
    from fastem._kernels.whiten import whiten

    rng = np.random.RandomState(12)
    n_rows, n_features = 2500, 5  # chunks and tiles with ragged ends
    X = (rng.normal(size=(n_rows, n_features)) * 3 + 100).astype(dtype)
    weights = rng.uniform(0, 2, n_rows) if weighted else np.empty(0)
    lower = np.tril(rng.normal(size=(n_features, n_features))) + 3 * np.eye(n_features)
    centre = X.astype(np.float64).mean(axis=0)
    rows = np.empty_like(X)
    scatter = np.ones((n_features, n_features))  # whiten adds into it
    whiten(X, weights, centre, lower, rows, scatter)
    expected_rows = (X.astype(np.float64) - centre) @ lower.T
    w = weights if weighted else np.ones(n_rows)
    expected_scatter = 1.0 + (expected_rows * w[:, None]).T @ expected_rows
    assert_allclose(rows, expected_rows.astype(dtype), rtol=1e-12 if dtype == np.float64 else 1e-6, atol=1e-5)
    assert_allclose(scatter, expected_scatter, rtol=1e-12)
    assert_array_equal(scatter, scatter.T)
    with fastem._kernels._jit.limit_threads(1):
        again = np.ones((n_features, n_features))
        whiten(X, weights, centre, lower, np.empty_like(X), again)
    assert_array_equal(again, scatter)  # chunk order, whatever the threads
