"""Missing values (NaN) in GaussianMixture with ``missing="em"``.

Expected values come from a plain-NumPy EM with missing values written here, row by row
(the observed marginal log-density, responsibilities, each row's expected ``x`` and
``x x^T`` under the conditional mean and covariance of its missing entries, the
M-step), never from fastem's internals.  The problems are small (300 rows, 3 features,
2 or 3 components) so that the tests share compiled kernels.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp

from fastem import ConvergenceWarning, GaussianMixture
from fastem._data import ArraySource
from fastem._families.gaussian_missing import _patterns
from fastem._init import without_nan

N_SAMPLES, N_FEATURES = 300, 3
REG_COVAR = 1e-6
EMPTY_COUNT = 10 * np.finfo(np.float64).eps  # what fastem adds to every count
COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")

# fastem against the reference, float64: parameters and objectives after each of the
# first iterations agree within 1e-9 relative (measured: 4e-14).
RTOL = 1e-9
# float32 data has its densities and moments computed in float32 (measured: 1.6e-6).
RTOL_FLOAT32 = 1e-5


# -- data ------------------------------------------------------------------------------
def blobs(seed=0, n_samples=N_SAMPLES, n_components=3, fraction=0.25):
    """Rows of overlapping correlated blobs, the same rows with about ``fraction`` of the
    entries NaN (rows 0-19 kept complete, no row wholly NaN) and sample weights in
    [0.2, 3) with every 7th weight 0."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [3.0, 0.5, 1.0], [0.0, 3.0, -1.5]])[:n_components]
    mixing = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [-0.4, 0.3, 1.1]])
    classes = rng.integers(n_components, size=n_samples)
    X = centres[classes] + rng.standard_normal((n_samples, N_FEATURES)) @ mixing.T
    missing = rng.uniform(size=X.shape) < fraction
    missing[:20] = False
    empty = missing.all(axis=1)
    missing[empty, rng.integers(N_FEATURES, size=empty.sum())] = False
    X_missing = np.where(missing, np.nan, X)
    weights = rng.uniform(0.2, 3.0, n_samples)
    weights[5::7] = 0.0
    return np.ascontiguousarray(X), np.ascontiguousarray(X_missing), weights


def start(covariance_type, X, n_components=3):
    """weights_init / means_init / precisions_init shared by a fit and the reference."""
    spread = np.nanvar(X, axis=0)
    precisions = {
        "full": np.stack([np.diag(1.0 / spread)] * n_components),
        "tied": np.diag(1.0 / spread),
        "diag": np.stack([1.0 / spread] * n_components),
        "spherical": np.full(n_components, 1.0 / spread.mean()),
    }[covariance_type]
    weights = np.arange(1.0, n_components + 1)
    return dict(weights_init=weights / weights.sum(), means_init=X[:n_components].copy(), precisions_init=precisions)


def fit_quietly(model, *args, **kwargs):
    """``model.fit``, ignoring the ConvergenceWarning of a run cut at ``max_iter``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(*args, **kwargs)


# -- the plain NumPy reference -------------------------------------------------------------
def as_matrices(covariances, covariance_type, n_components, n_features):
    """Every component's covariance as a (D, D) matrix: (K, D, D)."""
    if covariance_type == "full":
        return np.array(covariances, dtype=np.float64)
    if covariance_type == "tied":
        return np.stack([covariances] * n_components)
    if covariance_type == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def weighted_log_prob(X, weights, means, covariances):
    """log pi_k + log N(x_o | mu_o, Sigma_oo) of each row's observed entries, (N, K)."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(weights)))
    for n, x in enumerate(X):
        o = ~np.isnan(x)
        for k in range(len(weights)):
            sigma = covariances[k][np.ix_(o, o)]
            d = x[o] - means[k][o]
            _, logdet = np.linalg.slogdet(sigma)
            distance = d @ np.linalg.solve(sigma, d)
            out[n, k] = np.log(weights[k]) - 0.5 * (o.sum() * np.log(2 * np.pi) + logdet + distance)
    return out


def conditional(x, mean, covariance):
    """E[x | x_o] (D,) and Cov[x | x_o] (D, D): the observed entries as they are, the
    missing ones ``mu_m + S_mo S_oo^-1 (x_o - mu_o)`` with covariance
    ``S_mm - S_mo S_oo^-1 S_om``."""
    m = np.isnan(x)
    o = ~m
    expected, spread = x.copy(), np.zeros((len(x), len(x)))
    if m.any():
        gain = covariance[np.ix_(m, o)] @ np.linalg.inv(covariance[np.ix_(o, o)])
        expected[m] = mean[m] + gain @ (x[o] - mean[o])
        spread[np.ix_(m, m)] = covariance[np.ix_(m, m)] - gain @ covariance[np.ix_(o, m)]
    return expected, spread


def reference_estep(X, sample_weight, weights, means, covariances, hard=False, labels=None):
    """(nk, sum r E[x], sum r E[x x^T], log-likelihood, weight) of the rows, row by row."""
    X = np.asarray(X, dtype=np.float64)
    n_components, n_features = means.shape
    wlp = weighted_log_prob(X, weights, means, covariances)
    if hard:
        best = wlp.argmax(axis=1)
        resp, log_prob = np.eye(n_components)[best], wlp.max(axis=1)
    else:
        log_prob = logsumexp(wlp, axis=1)
        resp = np.exp(wlp - log_prob[:, None])
    if labels is not None:
        known = labels >= 0
        resp[known] = np.eye(n_components)[labels[known]]
        log_prob[known] = wlp[known, labels[known]]
    nk, sx = np.zeros(n_components), np.zeros((n_components, n_features))
    sxx = np.zeros((n_components, n_features, n_features))
    for n, x in enumerate(X):
        for k in range(n_components):
            w = sample_weight[n] * resp[n, k]
            expected, spread = conditional(x, means[k], covariances[k])
            nk[k] += w
            sx[k] += w * expected
            sxx[k] += w * (np.outer(expected, expected) + spread)
    return nk, sx, sxx, sample_weight @ log_prob, sample_weight.sum()


def reference_m_step(nk, sx, sxx, covariance_type):
    """ML weights, means and covariances (in the type's shape, + REG_COVAR)."""
    counts = nk + EMPTY_COUNT
    means = sx / counts[:, None]
    scatter = sxx / counts[:, None, None] - means[:, :, None] * means[:, None, :]
    eye = np.eye(means.shape[1])
    if covariance_type == "full":
        covariances = scatter + REG_COVAR * eye
    elif covariance_type == "tied":
        covariances = np.einsum("k,kde->de", counts, scatter) / counts.sum() + REG_COVAR * eye
    elif covariance_type == "diag":
        covariances = np.diagonal(scatter, axis1=1, axis2=2) + REG_COVAR
    else:
        covariances = np.diagonal(scatter, axis1=1, axis2=2).mean(axis=1) + REG_COVAR
    return counts / counts.sum(), means, covariances


def reference_em(X, sample_weight, covariance_type, init, n_iter, hard=False, labels=None):
    """EM with missing values from ``init`` (the fit's *_init): the parameters after each
    iteration and the objective entering each."""
    weights, means = init["weights_init"], init["means_init"]
    precisions = init["precisions_init"]
    covariances = np.linalg.inv(precisions) if covariance_type in ("full", "tied") else 1.0 / precisions
    n_components, n_features = means.shape
    history, objectives = [], []
    for _ in range(n_iter):
        matrices = as_matrices(covariances, covariance_type, n_components, n_features)
        nk, sx, sxx, loglik, weight = reference_estep(X, sample_weight, weights, means, matrices, hard, labels)
        objectives.append(loglik / weight)
        weights, means, covariances = reference_m_step(nk, sx, sxx, covariance_type)
        history.append((weights, means, covariances))
    return history, objectives


def fitted_matrices(model):
    return as_matrices(model.covariances_, model.covariance_type, *model.means_.shape)


def reference_impute(X, weights, means, covariances):
    """Each NaN replaced by sum_k r_k E[x_m | x_o, k], row by row."""
    wlp = weighted_log_prob(X, weights, means, covariances)
    resp = np.exp(wlp - logsumexp(wlp, axis=1, keepdims=True))
    out = np.array(X, dtype=np.float64)
    for n, x in enumerate(out):
        out[n] = sum(resp[n, k] * conditional(x, means[k], covariances[k])[0] for k in range(len(weights)))
    return out


# -- EM against the reference, iteration by iteration ---------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
def test_em_matches_reference_iteration_by_iteration(covariance_type, weighted):
    _, X, sample_weight = blobs()
    weights = sample_weight if weighted else None
    init = start(covariance_type, X)
    n_iter = 4
    history, objectives = reference_em(X, sample_weight if weighted else np.ones(len(X)), covariance_type, init, n_iter)
    for it in range(1, n_iter + 1):
        model = GaussianMixture(3, covariance_type=covariance_type, missing="em", max_iter=it, tol=0.0, **init)
        fit_quietly(model, X, sample_weight=weights)
        ref_weights, ref_means, ref_covariances = history[it - 1]
        assert_allclose(model.weights_, ref_weights, rtol=RTOL)
        assert_allclose(model.means_, ref_means, rtol=RTOL, atol=1e-12)
        assert_allclose(model.covariances_, ref_covariances, rtol=RTOL, atol=1e-12)
        assert_allclose(model.lower_bounds_, objectives[:it], rtol=RTOL)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_float32_matches_reference(covariance_type):
    _, X, sample_weight = blobs()
    X32 = X.astype(np.float32)
    init = start(covariance_type, X)
    history, objectives = reference_em(X32.astype(np.float64), sample_weight, covariance_type, init, 3)
    model = GaussianMixture(3, covariance_type=covariance_type, missing="em", max_iter=3, tol=0.0, **init)
    fit_quietly(model, X32, sample_weight=sample_weight)
    ref_weights, ref_means, ref_covariances = history[-1]
    assert_allclose(model.weights_, ref_weights, rtol=RTOL_FLOAT32)
    assert_allclose(model.means_, ref_means, rtol=RTOL_FLOAT32, atol=1e-6)
    assert_allclose(model.covariances_, ref_covariances, rtol=RTOL_FLOAT32, atol=1e-6)
    assert_allclose(model.lower_bounds_, objectives, rtol=RTOL_FLOAT32)
    assert model.impute(X32).dtype == np.float32


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_hard_em_matches_reference(covariance_type):
    # each row goes wholly to the component of its best observed-data density, and its
    # missing entries enter as that component's conditional expectation
    _, X, sample_weight = blobs()
    init = start(covariance_type, X)
    history, objectives = reference_em(X, sample_weight, covariance_type, init, 3, hard=True)
    model = GaussianMixture(
        3, covariance_type=covariance_type, missing="em", algorithm="hard", max_iter=3, tol=0.0, **init
    )
    fit_quietly(model, X, sample_weight=sample_weight)
    assert_allclose(model.means_, history[-1][1], rtol=RTOL)
    assert_allclose(model.covariances_, history[-1][2], rtol=RTOL, atol=1e-12)
    assert_allclose(model.lower_bounds_, objectives[: len(model.lower_bounds_)], rtol=RTOL)


def test_known_labels_match_reference():
    _, X, sample_weight = blobs()
    labels = np.full(len(X), -1)
    labels[::4] = np.arange(len(X))[::4] % 3
    init = start("full", X)
    history, objectives = reference_em(X, sample_weight, "full", init, 3, labels=labels)
    model = GaussianMixture(3, missing="em", max_iter=3, tol=0.0, **init)
    fit_quietly(model, X, sample_weight=sample_weight, known_labels=labels)
    assert_allclose(model.means_, history[-1][1], rtol=RTOL)
    assert_allclose(model.covariances_, history[-1][2], rtol=RTOL, atol=1e-12)
    assert_allclose(model.lower_bounds_, objectives, rtol=RTOL)


# -- the objective ---------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("algorithm", ["em", "hard"])
def test_observed_log_likelihood_never_decreases(covariance_type, algorithm):
    _, X, sample_weight = blobs(seed=1)
    model = GaussianMixture(
        3, covariance_type=covariance_type, missing="em", algorithm=algorithm, max_iter=40, tol=0.0, random_state=0
    )
    fit_quietly(model, X, sample_weight=sample_weight)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


@pytest.mark.parametrize("options", [dict(algorithm="generalized", gem_step="ecm"), dict(accelerate="squarem"),
                                     dict(algorithm="generalized")])
def test_generalized_and_accelerated_em_never_decrease(options):
    _, X, _ = blobs(seed=2)
    model = GaussianMixture(3, missing="em", max_iter=15, tol=0.0, random_state=0, **options)
    fit_quietly(model, X)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:])), np.diff(bounds).min()


def test_monte_carlo_em_runs_and_is_reproducible():
    _, X, _ = blobs()
    fits = [
        fit_quietly(GaussianMixture(3, missing="em", algorithm="monte_carlo", mc_samples=4, max_iter=5,
                                    random_state=0), X)
        for _ in range(2)
    ]
    assert np.isfinite(fits[0].lower_bound_)
    assert_array_equal(fits[0].means_, fits[1].means_)


# -- the fitted model on NaN --------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_posterior_methods_match_reference(covariance_type):
    _, X, _ = blobs()
    model = GaussianMixture(3, covariance_type=covariance_type, missing="em", random_state=0).fit(X)
    wlp = weighted_log_prob(X, model.weights_, model.means_, fitted_matrices(model))
    log_prob = logsumexp(wlp, axis=1)
    assert_allclose(model.estimate_weighted_log_prob(X), wlp, rtol=1e-12)
    assert_allclose(model.score_samples(X), log_prob, rtol=1e-12)
    assert_allclose(model.predict_proba(X), np.exp(wlp - log_prob[:, None]), rtol=1e-10, atol=1e-14)
    assert_array_equal(model.predict(X), wlp.argmax(axis=1))
    assert_allclose(model.score(X), log_prob.mean(), rtol=1e-12)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_impute_matches_reference(covariance_type):
    complete, X, _ = blobs()
    model = GaussianMixture(3, covariance_type=covariance_type, missing="em", random_state=0).fit(X)
    before = X.copy()
    imputed = model.impute(X)
    assert_array_equal(X, before)  # X is not written to
    expected = reference_impute(X, model.weights_, model.means_, fitted_matrices(model))
    assert_allclose(imputed, expected, rtol=1e-12)
    observed = ~np.isnan(X)
    assert_array_equal(imputed[observed], X[observed])
    assert_array_equal(model.impute(complete), complete)


def test_impute_takes_nan_whatever_missing_is():
    complete, X, _ = blobs()
    model = GaussianMixture(3, random_state=0).fit(complete)  # missing="raise"
    expected = reference_impute(X, model.weights_, model.means_, fitted_matrices(model))
    assert_allclose(model.impute(X), expected, rtol=1e-12)


# -- data without NaN, other sources, threads --------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_without_nan_the_fit_is_bitwise_missing_raise(covariance_type):
    complete, _, sample_weight = blobs()
    fits = [
        GaussianMixture(3, covariance_type=covariance_type, missing=missing, random_state=0).fit(
            complete, sample_weight=sample_weight
        )
        for missing in ("raise", "em")
    ]
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_", "lower_bounds_"):
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name))
    assert_array_equal(fits[0].score_samples(complete), fits[1].score_samples(complete))
    assert_array_equal(fits[0].predict_proba(complete), fits[1].predict_proba(complete))


@pytest.mark.parametrize("source", ["memory", "chunks"])
def test_without_nan_a_map_fit_is_bitwise_missing_raise(source):
    # the prior's data defaults take one pass of a one-component E-step: with missing="em"
    # it runs under another covariance, which cannot change weights that are all 1
    complete, _, _ = blobs()
    fits = []
    for missing in ("raise", "em"):
        model = GaussianMixture(3, prior="conjugate", missing=missing, random_state=0)
        if source == "memory":
            fits.append(model.fit(complete))
        else:
            fits.append(model.fit_chunks(lambda: (complete[i:i + 70] for i in range(0, len(complete), 70))))
    assert_array_equal(fits[0].mean_prior_, fits[1].mean_prior_)
    assert_array_equal(fits[0].covariance_prior_, fits[1].covariance_prior_)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)


def test_map_fit_with_missing_values_never_decreases():
    _, X, _ = blobs()
    model = fit_quietly(GaussianMixture(3, prior="conjugate", missing="em", max_iter=30, tol=0.0, random_state=0), X)
    bounds = np.array(model.lower_bounds_)
    assert np.all(np.diff(bounds) >= -1e-12 * np.abs(bounds[1:]))
    assert np.isfinite(model.covariance_prior_).all()
    assert_allclose(model.mean_prior_, np.nanmean(X, axis=0), atol=0.2)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_chunks_and_memmap_equal_in_memory(covariance_type, tmp_path):
    _, X, sample_weight = blobs()
    init = start(covariance_type, X)
    settings = dict(covariance_type=covariance_type, missing="em", max_iter=5, tol=0.0, **init)
    in_memory = fit_quietly(GaussianMixture(3, **settings), X, sample_weight=sample_weight)
    path = tmp_path / "X.npy"
    np.save(path, X)
    memmapped = fit_quietly(GaussianMixture(3, **settings), np.load(path, mmap_mode="r"), sample_weight=sample_weight)
    chunked = GaussianMixture(3, **settings)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        chunked.fit_chunks(lambda: ((X[i:i + 70], sample_weight[i:i + 70]) for i in range(0, len(X), 70)))
    for other in (memmapped, chunked):
        assert_allclose(other.means_, in_memory.means_, rtol=1e-12)
        assert_allclose(other.covariances_, in_memory.covariances_, rtol=1e-12, atol=1e-15)
        assert_allclose(other.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)


def test_dask_equals_in_memory():
    da = pytest.importorskip("dask.array")
    _, X, _ = blobs()
    init = start("full", X)
    settings = dict(missing="em", max_iter=4, tol=0.0, **init)
    in_memory = fit_quietly(GaussianMixture(3, **settings), X)
    distributed = fit_quietly(GaussianMixture(3, **settings), da.from_array(X, chunks=(100, 3)))
    assert_allclose(distributed.means_, in_memory.means_, rtol=1e-12)
    assert_allclose(distributed.lower_bounds_, in_memory.lower_bounds_, rtol=1e-12)


def test_data_driven_start_and_partial_fit_take_nan():
    _, X, _ = blobs()
    for init_params in ("kmeans", "k-means++", "random", "random_from_data", "split"):
        model = GaussianMixture(3, missing="em", init_params=init_params, random_state=0).fit(X)
        assert np.isfinite(model.lower_bound_)
    online = GaussianMixture(3, missing="em", random_state=0)
    for i in range(0, len(X), 100):
        online.partial_fit(X[i:i + 100])
    assert np.isfinite(online.means_).all()


def test_results_do_not_depend_on_thread_count():
    _, X, _ = blobs()
    fits = [GaussianMixture(3, missing="em", random_state=0, n_threads=n).fit(X) for n in (1, 2)]
    assert_array_equal(fits[0].means_, fits[1].means_)
    assert_array_equal(fits[0].lower_bounds_, fits[1].lower_bounds_)


def test_start_uses_complete_rows_or_column_means():
    X = np.array([[1.0, 2.0], [np.nan, 4.0], [5.0, 6.0], [7.0, np.nan]])
    sample = ArraySource(X, np.array([1.0, 1.0, 1.0, 3.0]))
    complete = without_nan(sample, 2)
    assert_array_equal(complete.X, X[[0, 2]])
    assert_array_equal(complete.sample_weight, [1.0, 1.0])
    # fewer complete rows than components: each NaN becomes its column's weighted mean
    filled = without_nan(sample, 3)
    assert_array_equal(filled.X, [[1.0, 2.0], [27.0 / 5, 4.0], [5.0, 6.0], [7.0, 4.0]])
    whole = ArraySource(X[[0, 2]])
    assert without_nan(whole, 2) is whole


def test_rows_are_grouped_by_pattern_at_any_width():
    rng = np.random.default_rng(0)
    for n_features in (3, 20, 70):  # bits of a uint16, of an int64, packed bytes
        missing = rng.uniform(size=(500, n_features)) < 0.3
        missing[:, 0] &= rng.uniform(size=500) < 0.2  # a few patterns repeat
        missing[:200, 1:] = missing[0, 1:]
        missing[missing.all(axis=1), 0] = False
        seen = []
        position = 1000
        for first, rows, mask in _patterns(missing, 1000):
            assert first == position
            position += rows.size
            assert (missing[rows] == mask).all() and (np.diff(rows) > 0).all()
            seen.append(rows)
        assert_array_equal(np.sort(np.concatenate(seen)), np.arange(500))
        assert len(seen) == len(np.unique(missing, axis=0))


def test_saved_model_keeps_missing(tmp_path):
    from fastem import load

    _, X, _ = blobs()
    model = GaussianMixture(3, missing="em", random_state=0).fit(X)
    model.save(tmp_path / "model.npz")
    loaded = load(tmp_path / "model.npz")
    assert loaded.missing == "em"
    assert_array_equal(loaded.impute(X), model.impute(X))
    assert_array_equal(loaded.score_samples(X), model.score_samples(X))


# -- errors ------------------------------------------------------------------------------------
def test_nan_with_missing_raise_keeps_todays_message():
    complete, _, _ = blobs()
    X = complete.copy()
    X[1, 2] = X[4, 0] = np.nan
    msg = "X contains 2 non-finite value(s) (NaN or inf; first at row 1, column 2); remove or impute them."
    with pytest.raises(ValueError, match=re.escape(msg)):
        GaussianMixture(2).fit(X)
    model = GaussianMixture(2, random_state=0).fit(complete)
    with pytest.raises(ValueError, match=re.escape(msg)):
        model.score_samples(X)


def test_row_with_every_feature_missing_is_rejected():
    _, X, _ = blobs()
    X = X.copy()
    X[3] = np.nan
    msg = "X row 3 has every feature missing; drop it or give at least one value."
    with pytest.raises(ValueError, match=re.escape(msg)):
        GaussianMixture(2, missing="em").fit(X)
    model = GaussianMixture(2, missing="em", random_state=0).fit(X[4:])
    for method in (model.score_samples, model.predict, model.impute):
        with pytest.raises(ValueError, match=re.escape(msg)):
            method(X)
    chunk_msg = "chunk 1: X row 3 has every feature missing; drop it or give at least one value."
    with pytest.raises(ValueError, match=re.escape(chunk_msg)):
        GaussianMixture(2, missing="em").fit_chunks(lambda: iter([X[4:], X]))


def test_bad_missing_option_and_inf():
    _, X, _ = blobs()
    msg = "The 'missing' parameter of GaussianMixture must be one of 'raise', 'em'. Got 'bogus' instead."
    with pytest.raises(ValueError, match=re.escape(msg)):
        GaussianMixture(2, missing="bogus").fit(X)
    X = X.copy()
    X[7, 1] = np.inf
    msg = (
        "X contains 1 infinite value(s) (first at row 7, column 1); missing='em' takes NaN as a "
        "missing value, but inf is not one. Remove or replace them."
    )
    with pytest.raises(ValueError, match=re.escape(msg)):
        GaussianMixture(2, missing="em").fit(X)
