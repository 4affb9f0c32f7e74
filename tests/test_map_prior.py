"""MAP-EM under the conjugate prior of Fraley and Raftery (2007) (``prior="conjugate"``).

Every expected value comes from the plain-NumPy reference at the top of this file,
written from the formulas of the paper and independent of fastem: an E-step with sample
weights, the MAP M-step of each covariance type (and the conditional one of ECM), the
prior's defaults, and the prior's log-density from scipy's distributions (Dirichlet,
normal, inverse Wishart, inverse gamma).

1. one MAP-EM iteration from a given start equals the reference;
2. as the prior fades, the MAP step tends to maximum likelihood;
3. the default prior is built from the data's (weighted) mean and covariance;
4. the objective: log-likelihood plus log prior per unit weight, never decreasing, for
   every monotone variant; ``score`` stays the plain likelihood;
5. the prior keeps a component from collapsing;
6. chunked, memory-mapped and Dask data give the in-memory fit;
7. exact error messages, and a failed fit leaves the estimator unfitted;
8. the new parameters in get_params / set_params / clone.
"""

import re
import warnings

import numpy as np
import pytest
from conftest import assert_relative_close
from numpy.testing import assert_allclose, assert_array_equal
from scipy import stats

from fastem import GaussianMixture
from fastem.exceptions import ComponentError, ConvergenceWarning

# Most fits here stop at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::fastem.exceptions.ConvergenceWarning")

KINDS = ("full", "tied", "diag", "spherical")
PRIOR_NAMES = (
    "weight_concentration_prior",
    "mean_precision_prior",
    "mean_prior",
    "degrees_of_freedom_prior",
    "covariance_prior",
)
LOG_2PI = np.log(2.0 * np.pi)


# -- reference ---------------------------------------------------------------------------
def as_full(covariances, kind, n_components, n_features):
    """Any type's covariances as a (K, D, D) stack."""
    covariances = np.asarray(covariances, dtype=np.float64)
    if kind == "full":
        return covariances
    if kind == "tied":
        return np.repeat(covariances[None], n_components, axis=0)
    if kind == "diag":
        return np.stack([np.diag(c) for c in covariances])
    return np.stack([c * np.eye(n_features) for c in covariances])


def ref_log_joint(X, weights, means, full_covariances):
    """log(pi_k) + log N(x_n | mu_k, Sigma_k), (N, K), by Cholesky solves."""
    X = np.asarray(X, dtype=np.float64)
    out = np.empty((X.shape[0], len(weights)))
    for k, (mean, cov) in enumerate(zip(means, full_covariances)):
        chol = np.linalg.cholesky(cov)
        z = np.linalg.solve(chol, (X - mean).T)
        out[:, k] = (
            np.log(weights[k]) - 0.5 * X.shape[1] * LOG_2PI - np.log(np.diag(chol)).sum() - 0.5 * (z**2).sum(axis=0)
        )
    return out


def ref_estep(X, sample_weight, weights, means, covariances, kind, hard=False):
    """(responsibilities (N, K), weighted log-likelihood, total weight).  ``hard``: one-hot
    on the most probable component, and the classification log-likelihood."""
    n_components, n_features = np.shape(means)
    joint = ref_log_joint(X, weights, means, as_full(covariances, kind, n_components, n_features))
    w = np.ones(joint.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    if hard:
        best = joint.argmax(axis=1)
        resp = np.zeros_like(joint)
        resp[np.arange(joint.shape[0]), best] = 1.0
        return resp, float(w @ joint.max(axis=1)), float(w.sum())
    top = joint.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(joint - top).sum(axis=1))
    return np.exp(joint - log_norm[:, None]), float(w @ log_norm), float(w.sum())


def ref_map_step(X, sample_weight, resp, kind, prior, reg_covar, held=None):
    """The MAP M-step of the paper from responsibilities: (weights, means, covariances).

    ``held``: (weights, means) held (ECM's second conditional step); the covariances are
    then the mode given those means, with the scatter about them and
    ``kappa (mu_k - mu_p)(mu_k - mu_p)^T`` in place of ``W_k + B_k``.
    """
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    alpha, kappa, mu_p, nu, scale = (prior[name] for name in ("alpha", "kappa", "mu_p", "nu", "Lambda"))
    r = resp * w[:, None]
    n_samples, n_features = X.shape
    n_components = r.shape[1]
    nk = r.sum(axis=0)
    total = nk.sum()
    xbar = (r.T @ X) / nk[:, None]
    if held is None:
        weights = (nk + alpha - 1.0) / (total + n_components * (alpha - 1.0))
        means = (nk[:, None] * xbar + kappa * mu_p) / (nk + kappa)[:, None]
        spread = []
        for k in range(n_components):
            d = X - xbar[k]
            within = (r[:, k, None] * d).T @ d
            gap = xbar[k] - mu_p
            between = kappa * nk[k] / (nk[k] + kappa) * np.outer(gap, gap)
            spread.append(within + between)
    else:
        weights, means = held
        spread = []
        for k in range(n_components):
            d = X - means[k]
            gap = means[k] - mu_p
            spread.append((r[:, k, None] * d).T @ d + kappa * np.outer(gap, gap))
    spread = np.stack(spread)
    if kind == "full":
        covariances = (scale + spread) / (nu + nk + n_features + 2)[:, None, None] + reg_covar * np.eye(n_features)
    elif kind == "tied":
        covariances = (scale + spread.sum(axis=0)) / (nu + total + n_components + n_features + 1)
        covariances = covariances + reg_covar * np.eye(n_features)
    elif kind == "diag":
        diagonal = np.diagonal(spread, axis1=1, axis2=2)
        covariances = (scale + diagonal) / (nu + nk + 3)[:, None] + reg_covar
    else:
        traces = np.trace(spread, axis1=1, axis2=2)
        covariances = (scale + traces) / (nu + (nk + 1) * n_features + 2) + reg_covar
    return weights, means, covariances


def ref_log_prior(weights, means, covariances, kind, prior):
    """log p(weights, means, covariances) under the prior, from scipy's densities:
    Dirichlet, N(mu_p, Sigma_k / kappa) for each mean, inverse Wishart (full, tied) or an
    inverse gamma (shape nu / 2, scale Lambda / 2) for each variance (diag, spherical)."""
    alpha, kappa, mu_p, nu, scale = (prior[name] for name in ("alpha", "kappa", "mu_p", "nu", "Lambda"))
    n_components, n_features = np.shape(means)
    total = stats.dirichlet.logpdf(np.asarray(weights, dtype=np.float64), np.full(n_components, alpha))
    full = as_full(covariances, kind, n_components, n_features)
    for k in range(n_components):
        if kind in ("full", "tied"):
            total += stats.multivariate_normal.logpdf(means[k], mu_p, full[k] / kappa)
        else:
            variances = np.diagonal(full[k])
            total += stats.norm.logpdf(means[k], mu_p, np.sqrt(variances / kappa)).sum()
    if kind == "full":
        total += sum(stats.invwishart.logpdf(c, df=nu, scale=scale) for c in covariances)
    elif kind == "tied":
        total += stats.invwishart.logpdf(covariances, df=nu, scale=scale)
    else:  # each variance its own inverse gamma; spherical: one per component
        total += stats.invgamma.logpdf(covariances, 0.5 * nu, scale=0.5 * np.asarray(scale)).sum()
    return float(total)


def ref_objective(X, sample_weight, params, kind, prior, hard=False):
    """(log-likelihood + log prior) / total weight at ``params`` = (weights, means, covariances)."""
    _, loglik, weight = ref_estep(X, sample_weight, *params, kind, hard=hard)
    return (loglik + ref_log_prior(*params, kind, prior)) / weight


def ref_data_moments(X, sample_weight):
    """The weighted mean and the covariance over (total weight - 1)."""
    X = np.asarray(X, dtype=np.float64)
    w = np.ones(X.shape[0]) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    mean = w @ X / w.sum()
    d = X - mean
    return mean, (w[:, None] * d).T @ d / (w.sum() - 1.0)


def ref_default_prior(X, sample_weight, kind, n_components):
    """The paper's defaults: mu_p the data mean, kappa 0.01, nu D + 2, alpha 1 and Lambda
    from the data covariance S over K^(2/D)."""
    mean, cov = ref_data_moments(X, sample_weight)
    n_features = X.shape[1]
    scaled = cov / n_components ** (2.0 / n_features)
    scale = {
        "full": scaled,
        "tied": scaled,
        "diag": np.diag(scaled),
        "spherical": np.trace(scaled) / n_features,
    }[kind]
    return dict(alpha=1.0, kappa=0.01, mu_p=mean, nu=n_features + 2.0, Lambda=scale)


# -- problems ----------------------------------------------------------------------------
N_SAMPLES, N_FEATURES, N_COMPONENTS = 240, 3, 3


def make_data(seed=0, dtype=np.float64, n_samples=N_SAMPLES):
    """Three overlapping blobs in 3-D, offset from the origin."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [2.5, 0.5, -1.0], [-1.0, 2.5, 1.0]]) + 4.0
    labels = rng.integers(0, N_COMPONENTS, n_samples)
    spread = np.array([1.0, 0.7, 1.3])[labels, None]
    X = centres[labels] + spread * rng.standard_normal((n_samples, N_FEATURES))
    return np.ascontiguousarray(X, dtype=dtype)


def make_weights(n_samples=N_SAMPLES, seed=1):
    w = np.random.default_rng(seed).uniform(0.2, 3.0, n_samples)
    w[5::11] = 0.0
    return w


def start_params(X, kind, n_components=N_COMPONENTS):
    """A start (weights, means, covariances) in ``kind``'s shapes, away from the fit."""
    rng = np.random.default_rng(7)
    K, D = n_components, N_FEATURES
    weights = np.array([0.2, 0.3, 0.5])[-K:] / np.array([0.2, 0.3, 0.5])[-K:].sum()
    means = np.asarray(X[[0, 80, 160][:K]], dtype=np.float64) + 0.1
    a = rng.normal(size=(K, D, D))
    full = a @ a.transpose(0, 2, 1) / D + 0.5 * np.eye(D)
    covariances = {
        "full": full,
        "tied": full[0],
        "diag": rng.uniform(0.5, 2.0, (K, D)),
        "spherical": rng.uniform(0.5, 2.0, K),
    }[kind]
    return weights, means, covariances


def init_kwargs(params, kind):
    weights, means, covariances = params
    precisions = np.linalg.inv(covariances) if kind in ("full", "tied") else 1.0 / covariances
    return dict(weights_init=weights, means_init=means, precisions_init=precisions)


def user_prior(kind, n_features=N_FEATURES):
    """Prior parameters away from every default: (estimator kwargs, reference prior)."""
    scale_matrix = np.array([[1.5, 0.3, 0.1], [0.3, 1.0, -0.2], [0.1, -0.2, 0.8]])[:n_features, :n_features]
    scale = {
        "full": scale_matrix,
        "tied": scale_matrix,
        "diag": np.diag(scale_matrix).copy(),
        "spherical": 1.1,
    }[kind]
    mu_p = np.linspace(3.5, 4.5, n_features)
    kwargs = dict(
        weight_concentration_prior=2.5,
        mean_precision_prior=0.7,
        mean_prior=mu_p,
        degrees_of_freedom_prior=n_features + 1.5,
        covariance_prior=scale,
    )
    return kwargs, dict(alpha=2.5, kappa=0.7, mu_p=mu_p, nu=n_features + 1.5, Lambda=np.asarray(scale))


def fitted_params(gm):
    return gm.weights_, gm.means_, gm.covariances_


def assert_params_close(actual, expected, rtol, what=""):
    for name, a, e in zip(("weights", "means", "covariances"), actual, expected):
        assert_relative_close(a, e, rtol, f"{what} {name}")


# -- 1. one MAP-EM iteration ---------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("given", [True, False], ids=["user_prior", "default_prior"])
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_one_iteration_matches_reference(kind, given, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    start = start_params(X, kind)
    if given:
        kwargs, prior = user_prior(kind)
    else:
        kwargs, prior = {}, ref_default_prior(X, w, kind, N_COMPONENTS)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1, tol=0.0,
        **init_kwargs(start, kind), **kwargs,
    ).fit(X, sample_weight=w)

    resp, _, _ = ref_estep(X, w, *start, kind)
    expected = ref_map_step(X, w, resp, kind, prior, reg_covar=1e-6)
    assert gm.n_iter_ == 1
    assert_params_close(fitted_params(gm), expected, 1e-10, kind)
    # the objective of the start, which entered the one iteration
    assert gm.lower_bounds_ == [gm.lower_bound_]
    assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior), rtol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
def test_one_iteration_float32_matches_reference(kind):
    X = make_data(dtype=np.float32)
    w = make_weights()
    start = start_params(X, kind)
    kwargs, prior = user_prior(kind)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1, tol=0.0,
        **init_kwargs(start, kind), **kwargs,
    ).fit(X, sample_weight=w)
    resp, _, _ = ref_estep(X, w, *start, kind)
    expected = ref_map_step(X, w, resp, kind, prior, reg_covar=1e-6)
    assert_params_close(fitted_params(gm), expected, 1e-5, kind)
    assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior), rtol=1e-5)


@pytest.mark.parametrize("kind", KINDS)
def test_one_iteration_of_each_variant_matches_reference(kind):
    """Hard EM: the MAP step of the hard assignment, and the prior added to the
    classification log-likelihood.  ECM: weights and means, then the covariances about
    them after a second E-step.  Over-relaxed EM and SQUAREM start with a plain EM step."""
    X = make_data()
    w = make_weights()
    start = start_params(X, kind)
    kwargs, prior = user_prior(kind)

    def fit(**variant):
        return GaussianMixture(
            N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1, tol=0.0,
            **init_kwargs(start, kind), **kwargs, **variant,
        ).fit(X, sample_weight=w)

    resp, _, _ = ref_estep(X, w, *start, kind, hard=True)
    gm = fit(algorithm="hard")
    assert_params_close(fitted_params(gm), ref_map_step(X, w, resp, kind, prior, 1e-6), 1e-10, "hard")
    assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior, hard=True), rtol=1e-10)

    resp, _, _ = ref_estep(X, w, *start, kind)
    weights, means, _ = ref_map_step(X, w, resp, kind, prior, 1e-6)
    resp, _, _ = ref_estep(X, w, weights, means, start[2], kind)
    expected = ref_map_step(X, w, resp, kind, prior, 1e-6, held=(weights, means))
    gm = fit(algorithm="generalized", gem_step="ecm")
    assert_params_close(fitted_params(gm), expected, 1e-10, "ecm")
    assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior), rtol=1e-10)

    resp, _, _ = ref_estep(X, w, *start, kind)
    expected = ref_map_step(X, w, resp, kind, prior, 1e-6)
    for variant in (dict(algorithm="generalized"), dict(accelerate="squarem")):
        gm = fit(**variant)
        assert_params_close(fitted_params(gm), expected, 1e-10, str(variant))
        assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior), rtol=1e-10)


# -- 2. a fading prior -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_fading_prior_tends_to_maximum_likelihood(kind):
    """The covariance modes keep the prior's extra counts in their denominators (nu cannot
    go below D - 1 for full and tied), so they are compared with maximum likelihood after
    that count is taken out; alpha = 1 leaves the weights exactly at maximum likelihood."""
    X = make_data()
    w = make_weights()
    start = start_params(X, kind)
    common = dict(covariance_type=kind, max_iter=1, tol=0.0, reg_covar=0.0, **init_kwargs(start, kind))
    ml = GaussianMixture(N_COMPONENTS, **common).fit(X, sample_weight=w)
    nu = N_FEATURES - 1 + 1e-9 if kind in ("full", "tied") else 1e-9
    scale = {"full": 1e-12 * np.eye(N_FEATURES), "diag": np.full(N_FEATURES, 1e-12), "spherical": 1e-12}
    scale["tied"] = scale["full"]

    errors = []
    for kappa in (1e-4, 1e-8, 1e-12):
        gm = GaussianMixture(
            N_COMPONENTS, prior="conjugate", weight_concentration_prior=1.0, mean_precision_prior=kappa,
            degrees_of_freedom_prior=nu, covariance_prior=scale[kind], **common,
        ).fit(X, sample_weight=w)
        assert_array_equal(gm.weights_, ml.weights_)
        errors.append(np.abs(gm.means_ - ml.means_).max())
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 1e-10

    # gm: the faintest prior; its extra counts taken out of the denominators
    nk = ml.weights_ * w.sum()
    D, K, N = N_FEATURES, N_COMPONENTS, w.sum()
    ratio = {
        "full": ((nu + nk + D + 2) / nk)[:, None, None],
        "tied": (nu + N + K + D + 1) / N,
        "diag": ((nu + nk + 3) / nk)[:, None],
        "spherical": (nu + (nk + 1) * D + 2) / (nk * D),
    }[kind]
    assert_allclose(gm.covariances_ * ratio, ml.covariances_, rtol=1e-9)


# -- 3. the defaults -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
def test_default_prior_comes_from_the_data(kind, weighted):
    X = make_data()
    w = make_weights() if weighted else None
    start = start_params(X, kind)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1, **init_kwargs(start, kind)
    ).fit(X, sample_weight=w)
    K, D = N_COMPONENTS, N_FEATURES
    if weighted:
        mean = np.average(X, axis=0, weights=w)
        d = X - mean
        cov = (w[:, None] * d).T @ d / (w.sum() - 1.0)
    else:
        mean, cov = X.mean(axis=0), np.cov(X.T)
    scaled = cov / K ** (2.0 / D)
    expected = {"full": scaled, "tied": scaled, "diag": np.diag(scaled), "spherical": np.trace(scaled) / D}[kind]
    assert gm.weight_concentration_prior_ == 1.0
    assert gm.mean_precision_prior_ == 0.01
    assert gm.degrees_of_freedom_prior_ == D + 2
    assert_allclose(gm.mean_prior_, mean, rtol=1e-12)
    assert_allclose(gm.covariance_prior_, expected, rtol=1e-12)
    assert np.shape(gm.covariance_prior_) == np.shape(expected)
    if kind == "spherical":
        assert isinstance(gm.covariance_prior_, float)


def test_default_covariance_prior_with_integer_weights_is_numpy_cov():
    """An integer weight counts a row that many times: numpy's frequency-weighted
    covariance (divisor sum(w) - 1); the data covariance is taken about the data mean
    even when mean_prior is given."""
    X = make_data()
    w = np.random.default_rng(3).integers(0, 4, N_SAMPLES)
    start = start_params(X, "full")
    gm = GaussianMixture(
        N_COMPONENTS, prior="conjugate", mean_prior=np.zeros(N_FEATURES), max_iter=1, **init_kwargs(start, "full")
    ).fit(X, sample_weight=w.astype(np.float64))
    assert_array_equal(gm.mean_prior_, np.zeros(N_FEATURES))
    assert_allclose(gm.covariance_prior_, np.cov(X.T, fweights=w) / N_COMPONENTS ** (2.0 / N_FEATURES), rtol=1e-12)


def test_given_prior_is_kept_as_given():
    X = make_data()
    for kind in KINDS:
        kwargs, prior = user_prior(kind)
        gm = GaussianMixture(
            N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1,
            **init_kwargs(start_params(X, kind), kind), **kwargs,
        ).fit(X)
        assert gm.weight_concentration_prior_ == prior["alpha"]
        assert gm.mean_precision_prior_ == prior["kappa"]
        assert gm.degrees_of_freedom_prior_ == prior["nu"]
        assert_array_equal(gm.mean_prior_, prior["mu_p"])
        assert_array_equal(gm.covariance_prior_, prior["Lambda"])


# -- 4. the objective --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kind, n_components", [(kind, N_COMPONENTS) for kind in KINDS] + [("full", 2), ("tied", 2)]
)
def test_em_history_matches_reference_em(kind, n_components):
    """lower_bounds_[i] is the objective of the parameters entering iteration i; the fit
    holds the parameters after the last M-step; score, score_samples and bic stay the
    plain likelihood.  (Tied with as many components as features and with fewer: the two
    shapes of its factor.)"""
    X = make_data()
    w = make_weights()
    start = start_params(X, kind, n_components)
    kwargs, prior = user_prior(kind)
    n_iter = 6
    gm = GaussianMixture(
        n_components, covariance_type=kind, prior="conjugate", max_iter=n_iter, tol=0.0,
        **init_kwargs(start, kind), **kwargs,
    ).fit(X, sample_weight=w)

    params, history = start, []
    for _ in range(n_iter):
        history.append(ref_objective(X, w, params, kind, prior))
        resp, _, _ = ref_estep(X, w, *params, kind)
        params = ref_map_step(X, w, resp, kind, prior, 1e-6)
    assert_allclose(gm.lower_bounds_, history, rtol=1e-10)
    assert gm.lower_bound_ == gm.lower_bounds_[-1]
    assert_params_close(fitted_params(gm), params, 1e-9, kind)

    _, loglik, weight = ref_estep(X, w, *params, kind)
    assert_allclose(gm.score(X, sample_weight=w), loglik / weight, rtol=1e-10)
    _, loglik, _ = ref_estep(X, None, *params, kind)
    assert_allclose(gm.score(X), loglik / N_SAMPLES, rtol=1e-10)
    joint = ref_log_joint(X, params[0], params[1], as_full(params[2], kind, n_components, N_FEATURES))
    top = joint.max(axis=1)
    assert_allclose(gm.score_samples(X), top + np.log(np.exp(joint - top[:, None]).sum(axis=1)), rtol=1e-10)
    K, D = n_components, N_FEATURES
    covariance_count = {"full": K * D * (D + 1) // 2, "tied": D * (D + 1) // 2, "diag": K * D, "spherical": K}
    n_parameters = covariance_count[kind] + K - 1 + K * D
    assert_allclose(gm.bic(X), -2 * loglik + n_parameters * np.log(N_SAMPLES), rtol=1e-10)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fixed", ["means", "covariances"])
def test_fixed_parameters_with_the_prior(kind, fixed):
    """Held means: the covariances are the mode given them (about the held means); held
    covariances: the weights and means are their modes, the covariances stay as given
    (no reg_covar).  The log prior still counts every group."""
    X = make_data()
    w = make_weights()
    start = start_params(X, kind)
    kwargs, prior = user_prior(kind)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=1, tol=0.0, fixed_params=[fixed],
        **init_kwargs(start, kind), **kwargs,
    ).fit(X, sample_weight=w)
    resp, _, _ = ref_estep(X, w, *start, kind)
    weights, means, covariances = ref_map_step(X, w, resp, kind, prior, 1e-6)
    if fixed == "means":
        means = start[1]
        covariances = ref_map_step(X, w, resp, kind, prior, 1e-6, held=(weights, means))[2]
        assert_array_equal(gm.means_, start[1])
    else:
        covariances = start[2]
    assert_params_close(fitted_params(gm), (weights, means, covariances), 1e-10, f"fixed {fixed}")
    assert_allclose(gm.lower_bound_, ref_objective(X, w, start, kind, prior), rtol=1e-10)


VARIANTS = {
    "em": dict(),
    "hard": dict(algorithm="hard"),
    "ecm": dict(algorithm="generalized", gem_step="ecm"),
    "overrelaxed": dict(algorithm="generalized", gem_step="overrelaxed"),
    "squarem": dict(accelerate="squarem"),
    "squarem_ecm": dict(algorithm="generalized", gem_step="ecm", accelerate="squarem"),
}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_objective_never_decreases(kind, variant):
    """Every step of the monotone variants keeps or raises log-likelihood + log prior; the
    reported lower bound is that objective at the parameters entering the last iteration,
    so the objective at the returned parameters (one more ascent step) is not below it."""
    X = make_data()
    w = make_weights()
    start = start_params(X, kind)
    kwargs, prior = user_prior(kind)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=40, tol=0.0, reg_covar=0.0,
        **init_kwargs(start, kind), **kwargs, **VARIANTS[variant],
    ).fit(X, sample_weight=w)
    history = np.array(gm.lower_bounds_)
    assert len(history) >= 2
    steps = np.diff(history)
    assert (steps >= -1e-12 * np.abs(history[1:])).all(), f"objective fell by {-steps.min():.3g}"
    assert gm.lower_bound_ == history[-1]
    assert_allclose(history[0], ref_objective(X, w, start, kind, prior, hard=variant == "hard"), rtol=1e-10)
    final = ref_objective(X, w, fitted_params(gm), kind, prior, hard=variant == "hard")
    assert final >= gm.lower_bound_ - 1e-12 * abs(gm.lower_bound_)


# -- 5. no collapse ----------------------------------------------------------------------------
def collapsing_data():
    """A cloud of 150 points and, far from it, three points on a line parallel to an axis,
    each repeated 10 times: the component started on them has, under maximum likelihood,
    a singular covariance (full) or a zero variance (diag)."""
    rng = np.random.default_rng(5)
    cloud = rng.standard_normal((150, 2))
    line = np.repeat(np.array([[9.0, 8.0], [9.0, 9.0], [9.0, 10.0]]), 10, axis=0)
    return np.ascontiguousarray(np.vstack([cloud, line]))


def collapsing_start(kind):
    means = np.array([[-0.5, 0.0], [0.5, 0.0], [9.0, 9.0]])
    precisions = {
        "full": np.stack([np.eye(2)] * 3),
        "tied": np.eye(2),
        "diag": np.ones((3, 2)),
        "spherical": np.ones(3),
    }[kind]
    return dict(weights_init=np.array([0.4, 0.4, 0.2]), means_init=means, precisions_init=precisions)


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_maximum_likelihood_collapses_here(kind):
    X = collapsing_data()
    gm = GaussianMixture(3, covariance_type=kind, reg_covar=0.0, max_iter=50, **collapsing_start(kind))
    try:
        gm.fit(X)
    except ComponentError:
        return
    covariances = as_full(gm.covariances_, kind, 3, 2)
    assert np.linalg.eigvalsh(covariances).min() < 1e-10


@pytest.mark.parametrize("kind", KINDS)
def test_prior_keeps_components_from_collapsing(kind):
    """Every covariance mode is at least Lambda over its denominator with all the weight in
    one component, whatever the data: Sigma_k - Lambda / (nu + N + D + 2) is positive
    semi-definite (full; the other types likewise)."""
    X = collapsing_data()
    gm = GaussianMixture(
        3, covariance_type=kind, reg_covar=0.0, max_iter=50, prior="conjugate", **collapsing_start(kind)
    ).fit(X)
    N, K, D = X.shape[0], 3, 2
    nu, scale = gm.degrees_of_freedom_prior_, np.asarray(gm.covariance_prior_)
    floor = {
        "full": scale / (nu + N + D + 2),
        "tied": scale / (nu + N + K + D + 1),
        "diag": scale / (nu + N + 3),
        "spherical": scale / (nu + (N + 1) * D + 2),
    }[kind]
    if kind in ("full", "tied"):
        lowest = np.linalg.eigvalsh(gm.covariances_ - floor).min()
    else:
        lowest = (gm.covariances_ - floor).min()
    assert lowest >= -1e-12 * np.abs(scale).max()
    assert np.linalg.eigvalsh(as_full(gm.covariances_, kind, K, D)).min() > 1e-3
    assert np.isfinite(gm.lower_bounds_).all()


# -- 6. data sources ---------------------------------------------------------------------------
SOURCE_KINDS = ("full", "spherical")  # one of each moments type


def source_fit(kind, **kwargs):
    return GaussianMixture(
        N_COMPONENTS, covariance_type=kind, prior="conjugate", max_iter=4, tol=0.0, random_state=0, **kwargs
    )


def assert_same_fit(actual, desired):
    for name in ("weights_", "means_", "covariances_", "lower_bounds_") + tuple(n + "_" for n in PRIOR_NAMES):
        assert_allclose(getattr(actual, name), getattr(desired, name), rtol=1e-10, atol=0, err_msg=name)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_chunked_and_memmapped_data_give_the_in_memory_fit(kind, tmp_path):
    X = make_data()
    w = make_weights()
    desired = source_fit(kind).fit(X, sample_weight=w)

    def chunks():
        return ((X[i:i + 50], w[i:i + 50]) for i in range(0, N_SAMPLES, 50))

    assert_same_fit(source_fit(kind).fit_chunks(chunks), desired)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert_same_fit(source_fit(kind).fit(mapped, sample_weight=w), desired)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_dask_data_gives_the_in_memory_fit(kind):
    dask = pytest.importorskip("dask")
    import dask.array as da

    X = make_data()
    w = make_weights()
    desired = source_fit(kind).fit(X, sample_weight=w)
    with dask.config.set(scheduler="synchronous"):
        actual = source_fit(kind).fit(da.from_array(X, chunks=(70, N_FEATURES)), sample_weight=w)
    assert_same_fit(actual, desired)


@pytest.mark.parametrize("kind", ["full", "diag"])
def test_online_em_keeps_the_prior_of_its_first_chunk(kind):
    """partial_fit: the first chunk from a given start is one MAP-EM iteration on it, with
    the defaults taken from that chunk; later chunks keep that prior."""
    X = make_data()
    first, second = X[:120], X[120:]
    start = start_params(X, kind)
    gm = GaussianMixture(N_COMPONENTS, covariance_type=kind, prior="conjugate", **init_kwargs(start, kind))
    gm.partial_fit(first)
    prior = ref_default_prior(first, None, kind, N_COMPONENTS)
    resp, _, _ = ref_estep(first, None, *start, kind)
    assert_params_close(fitted_params(gm), ref_map_step(first, None, resp, kind, prior, 1e-6), 1e-10, "online")
    assert_allclose(gm.mean_prior_, prior["mu_p"], rtol=1e-12)
    assert_allclose(gm.covariance_prior_, prior["Lambda"], rtol=1e-12)
    gm.partial_fit(second)
    assert_allclose(gm.mean_prior_, prior["mu_p"], rtol=1e-12)
    assert_allclose(gm.covariance_prior_, prior["Lambda"], rtol=1e-12)
    assert gm.n_steps_ == 2


# -- 7. errors ---------------------------------------------------------------------------------
def error_cases():
    D = N_FEATURES
    eye = np.eye(D)
    asymmetric = eye.copy()
    asymmetric[0, 1] = 0.5
    indefinite = eye.copy()
    indefinite[2, 2] = -1.0
    cases = [
        ("full", dict(prior=None, mean_precision_prior=1.0),
         "mean_precision_prior is set but prior=None (maximum likelihood ignores it); set "
         "prior='conjugate' to use it, or leave mean_precision_prior=None."),
        ("full", dict(prior="bayes"),
         "The 'prior' parameter of GaussianMixture must be None or 'conjugate'. Got 'bayes' instead."),
        ("full", dict(prior="conjugate", weight_concentration_prior=0.5),
         "The 'weight_concentration_prior' parameter of GaussianMixture must be a float in the range "
         "[1.0, inf). Got 0.5 instead."),
        ("full", dict(prior="conjugate", mean_precision_prior=0),
         "The 'mean_precision_prior' parameter of GaussianMixture must be a float in the range "
         "(0.0, inf). Got 0 instead."),
        ("full", dict(prior="conjugate", degrees_of_freedom_prior=2.0),
         "degrees_of_freedom_prior must be greater than n_features - 1 = 2 for covariance_type='full' "
         "(an inverse-Wishart prior); got 2."),
        ("tied", dict(prior="conjugate", degrees_of_freedom_prior=1.5),
         "degrees_of_freedom_prior must be greater than n_features - 1 = 2 for covariance_type='tied' "
         "(an inverse-Wishart prior); got 1.5."),
        ("diag", dict(prior="conjugate", degrees_of_freedom_prior=0.0),
         "The 'degrees_of_freedom_prior' parameter of GaussianMixture must be a float in the range "
         "(0.0, inf). Got 0.0 instead."),
        ("full", dict(prior="conjugate", mean_prior=np.zeros(D + 1)),
         "mean_prior must have shape (n_features,) = (3,); got shape (4,)."),
        ("full", dict(prior="conjugate", covariance_prior=np.ones(D)),
         "covariance_prior must have shape (n_features, n_features) = (3, 3); got shape (3,)."),
        ("tied", dict(prior="conjugate", covariance_prior=np.eye(D + 1)),
         "covariance_prior must have shape (n_features, n_features) = (3, 3); got shape (4, 4)."),
        ("diag", dict(prior="conjugate", covariance_prior=eye),
         "covariance_prior must have shape (n_features,) = (3,); got shape (3, 3)."),
        ("spherical", dict(prior="conjugate", covariance_prior=np.ones(D)),
         "The 'covariance_prior' parameter of GaussianMixture must be a float in the range (0.0, inf). "
         "Got array([1., 1., 1.]) instead."),
        ("full", dict(prior="conjugate", covariance_prior=asymmetric), "covariance_prior is not symmetric."),
        ("tied", dict(prior="conjugate", covariance_prior=indefinite), "covariance_prior is not positive definite."),
        ("full", dict(prior="conjugate", covariance_prior=indefinite), "covariance_prior is not positive definite."),
        ("diag", dict(prior="conjugate", covariance_prior=np.array([1.0, -1.0, 1.0])),
         "covariance_prior must be positive; entry 1 is <= 0."),
        ("spherical", dict(prior="conjugate", covariance_prior=-1.0),
         "The 'covariance_prior' parameter of GaussianMixture must be a float in the range (0.0, inf). "
         "Got -1.0 instead."),
        ("full", dict(prior="conjugate", weight_concentration_prior=np.nan),
         "The 'weight_concentration_prior' parameter of GaussianMixture must be a float in the range [1.0, inf). "
         "Got nan instead."),
        ("full", dict(prior="conjugate", mean_precision_prior=np.inf),
         "The 'mean_precision_prior' parameter of GaussianMixture must be finite. Got inf instead."),
        ("diag", dict(prior="conjugate", degrees_of_freedom_prior=np.inf),
         "The 'degrees_of_freedom_prior' parameter of GaussianMixture must be finite. Got inf instead."),
        ("spherical", dict(prior="conjugate", covariance_prior=np.nan),
         "The 'covariance_prior' parameter of GaussianMixture must be a float in the range (0.0, inf). "
         "Got nan instead."),
        ("full", dict(prior="conjugate", covariance_prior=1e-12 * asymmetric), "covariance_prior is not symmetric."),
        ("diag", dict(prior="conjugate", covariance_prior=np.array([1.0, np.nan, 1.0])),
         "covariance_prior contains NaN or inf."),
    ]
    return cases


@pytest.mark.parametrize("kind, params, message", error_cases())
def test_bad_prior_settings_raise_and_leave_the_model_unfitted(kind, params, message):
    X = make_data()
    gm = GaussianMixture(N_COMPONENTS, covariance_type=kind, max_iter=1, **init_kwargs(start_params(X, kind), kind))
    gm.fit(X)  # a fitted model that the failed fit must forget
    gm.set_params(**params)
    with pytest.raises(ValueError, match=re.escape(message)):
        gm.fit(X)
    assert not hasattr(gm, "means_")
    assert not hasattr(gm, "mean_prior_")


def test_covariance_prior_with_rounding_asymmetry_is_symmetrised():
    X = make_data()
    a = np.random.default_rng(2).normal(size=(N_FEATURES, N_FEATURES))
    scale = 1e-6 * (a @ a.T + np.eye(N_FEATURES))
    scale[0, 1] *= 1 + 1e-14
    gm = GaussianMixture(
        N_COMPONENTS, prior="conjugate", covariance_prior=scale, max_iter=1,
        **init_kwargs(start_params(X, "full"), "full"),
    ).fit(X)
    assert_array_equal(gm.covariance_prior_, gm.covariance_prior_.T)
    assert_allclose(gm.covariance_prior_, scale, rtol=1e-13)


# -- 8. estimator protocol -----------------------------------------------------------------------
def test_prior_parameters_round_trip_through_get_set_params_and_clone():
    sklearn_base = pytest.importorskip("sklearn.base")
    kwargs, _ = user_prior("full")
    gm = GaussianMixture(2, prior="conjugate", **kwargs)
    params = gm.get_params()
    assert params["prior"] == "conjugate"
    for name in PRIOR_NAMES:
        assert params[name] is kwargs[name]
    other = GaussianMixture().set_params(**params)
    for name, value in params.items():
        assert other.get_params()[name] is value
    cloned = sklearn_base.clone(gm)
    for name, value in gm.get_params().items():
        if isinstance(value, np.ndarray):
            assert_array_equal(getattr(cloned, name), value)
            assert getattr(cloned, name) is not value
        else:
            assert getattr(cloned, name) == value
    assert "prior='conjugate'" in repr(gm)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X = make_data()
        fitted = cloned.set_params(max_iter=2).fit(X)
    assert_array_equal(fitted.mean_prior_, kwargs["mean_prior"])
