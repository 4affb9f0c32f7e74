"""BayesianGaussianMixture: variational Bayes on the Gaussian kernels.

Every expected value comes from the plain-NumPy reference at the top of this file,
written from the update and bound formulas of scikit-learn's BayesianGaussianMixture
(Bishop 2006, ch. 10.2) with scipy's special functions and (N, K) responsibilities,
independent of fastem, and extended to sample weights (a weight of 2 counts a row
twice), or from scikit-learn itself.

1. iteration by iteration, parameters and bound equal the reference, for every
   covariance type and weight prior, with and without sample weights;
2. from the same start, the fit equals scikit-learn's on real data;
3. the bound never decreases; components the data do not need end with no weight;
4. float32, chunked / memory-mapped / Dask data, and 1 vs 2 threads;
5. the methods of a fitted model, the signature, exact error messages.
"""

import inspect
import re

import numpy as np
import pytest
from conftest import assert_relative_close, make_problem, make_sample_weight
from numpy.testing import assert_allclose, assert_array_equal
from scipy import linalg, special

from fastem import BayesianGaussianMixture
from fastem.exceptions import NotFittedError
from fastem._families.variational import digamma

# Many fits here stop at max_iter on purpose (tol=0), in fastem and in scikit-learn.
pytestmark = [
    pytest.mark.filterwarnings("ignore::fastem.exceptions.ConvergenceWarning"),
    pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning"),
]

KINDS = ("full", "tied", "diag", "spherical")
PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
N_COMPONENTS = 4
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


def ref_prior(X, w, kind, n_components, given):
    """scikit-learn's defaults for the parts not in ``given``, from the weighted data
    (covariance over the total weight less one: frequency weights)."""
    n_features = X.shape[1]
    w = np.ones(X.shape[0]) if w is None else w
    mean = w @ X / w.sum()
    centred = X - mean
    covariance = (w[:, None] * centred).T @ centred / (w.sum() - 1.0)
    default_scale = {
        "full": covariance, "tied": covariance, "diag": np.diag(covariance).copy(),
        "spherical": np.diag(covariance).mean(),
    }[kind]
    return dict(
        alpha=given.get("weight_concentration_prior", 1.0 / n_components),
        beta0=given.get("mean_precision_prior", 1.0),
        m0=np.asarray(given.get("mean_prior", mean), dtype=np.float64),
        nu0=given.get("degrees_of_freedom_prior", float(n_features)),
        scale=np.asarray(given.get("covariance_prior", default_scale), dtype=np.float64),
    )


def ref_expected_log_weights(concentration, prior_type):
    if prior_type == "dirichlet_process":
        a, b = concentration
        total = special.digamma(a + b)
        return special.digamma(a) - total + np.concatenate([[0.0], np.cumsum(special.digamma(b) - total)[:-1]])
    return special.digamma(concentration) - special.digamma(np.sum(concentration))


def ref_log_resp(X, q, kind, prior_type):
    """log responsibilities (N, K): ``E[log pi_k] + E[log N(x | mu_k, Lambda_k^-1)]``
    with ``E[Lambda_k] = nu_k W_k = covariances_k^-1``, normalised per row."""
    n_components, n_features = q["means"].shape
    covariances = as_full(q["covariances"], kind, n_components, n_features)
    nu = np.broadcast_to(q["degrees_of_freedom"], (n_components,))
    log_weights = ref_expected_log_weights(q["weight_concentration"], prior_type)
    log_joint = np.empty((X.shape[0], n_components))
    for k in range(n_components):
        chol = np.linalg.cholesky(covariances[k])
        z = linalg.solve_triangular(chol, (X - q["means"][k]).T, lower=True)
        log_det_w = -2.0 * np.log(np.diag(chol)).sum() - n_features * np.log(nu[k])  # log |W_k|
        e_log_det = n_features * np.log(2.0) + special.digamma(0.5 * (nu[k] - np.arange(n_features))).sum() + log_det_w
        log_joint[:, k] = (
            log_weights[k] + 0.5 * e_log_det - 0.5 * n_features * LOG_2PI
            - 0.5 * (z**2).sum(axis=0) - 0.5 * n_features / q["mean_precision"][k]
        )
    return log_joint - special.logsumexp(log_joint, axis=1, keepdims=True)


def ref_m_step(X, w, resp, kind, prior_type, prior, reg_covar):
    """The variational update from weighted responsibilities (scikit-learn's formulas)."""
    n_components, n_features = resp.shape[1], X.shape[1]
    rw = resp * (1.0 if w is None else w[:, None])
    nk = rw.sum(axis=0) + 10 * np.finfo(np.float64).eps
    xk = rw.T @ X / nk[:, None]
    alpha, beta0, m0, nu0, scale = (prior[name] for name in ("alpha", "beta0", "m0", "nu0", "scale"))
    if prior_type == "dirichlet_process":
        concentration = np.stack([1.0 + nk, alpha + np.array([nk[k + 1:].sum() for k in range(n_components)])])
    else:
        concentration = alpha + nk
    beta = beta0 + nk
    means = (beta0 * m0 + nk[:, None] * xk) / beta[:, None]
    gap = xk - m0
    scatter = np.stack([(rw[:, k, None] * (X - xk[k])).T @ (X - xk[k]) for k in range(n_components)])
    eye = np.eye(n_features)
    if kind == "full":
        nu = nu0 + nk
        sample = scatter / nk[:, None, None] + reg_covar * eye
        covariances = np.stack([
            (scale + nk[k] * sample[k] + nk[k] * beta0 / beta[k] * np.outer(gap[k], gap[k])) / nu[k]
            for k in range(n_components)
        ])
    elif kind == "tied":
        nu = nu0 + nk.sum() / n_components
        sample = scatter.sum(axis=0) / nk.sum() + reg_covar * eye
        spread = sum(nk[k] / beta[k] * np.outer(gap[k], gap[k]) for k in range(n_components))
        covariances = (scale + sample * nk.sum() / n_components + beta0 / n_components * spread) / nu
    else:
        nu = nu0 + nk
        sample = np.diagonal(scatter, axis1=1, axis2=2) / nk[:, None] + reg_covar
        if kind == "diag":
            covariances = (scale + nk[:, None] * (sample + (beta0 / beta)[:, None] * gap**2)) / nu[:, None]
        else:
            covariances = (scale + nk * (sample.mean(axis=1) + beta0 / beta * (gap**2).mean(axis=1))) / nu
    if kind in ("full", "tied"):
        stack = covariances[None] if kind == "tied" else covariances
        factors = np.stack([linalg.solve_triangular(np.linalg.cholesky(c), eye, lower=True).T for c in stack])
        precisions_cholesky = factors[0] if kind == "tied" else factors
    else:
        precisions_cholesky = 1.0 / np.sqrt(covariances)
    return dict(
        weight_concentration=concentration, mean_precision=beta, means=means, degrees_of_freedom=nu,
        covariances=covariances, precisions_cholesky=precisions_cholesky,
    )


def ref_bound(resp, w, q, kind, prior_type):
    """scikit-learn's lower bound (constants omitted), with weighted entropy."""
    n_components, n_features = q["means"].shape
    weights = np.ones(resp.shape[0]) if w is None else w
    entropy = -np.sum(weights[:, None] * special.xlogy(resp, resp))
    pc = q["precisions_cholesky"]
    log_det = {
        "full": lambda: np.log(np.diagonal(pc, axis1=1, axis2=2)).sum(axis=1),
        "tied": lambda: np.log(np.diag(pc)).sum(),
        "diag": lambda: np.log(pc).sum(axis=1),
        "spherical": lambda: n_features * np.log(pc),
    }[kind]()
    nu = q["degrees_of_freedom"]
    log_det = log_det - 0.5 * n_features * np.log(nu)
    gammas = special.gammaln(0.5 * (np.atleast_1d(nu)[:, None] - np.arange(n_features))).sum(axis=1)
    log_wishart = -(nu * log_det + 0.5 * n_features * np.log(2.0) * nu + gammas)
    log_wishart = n_components * log_wishart.sum() if kind == "tied" else log_wishart.sum()
    concentration = q["weight_concentration"]
    if prior_type == "dirichlet_process":
        log_norm_weight = -special.betaln(concentration[0], concentration[1]).sum()
    else:
        log_norm_weight = special.gammaln(concentration.sum()) - special.gammaln(concentration).sum()
    return entropy - log_wishart - log_norm_weight - 0.5 * n_features * np.log(q["mean_precision"]).sum()


def ref_fit(X, w, kind, prior_type, prior, seed, n_iter, reg_covar=1e-6):
    """Variational EM from scikit-learn's "random" start (uniform responsibilities
    drawn from RandomState(seed), normalised per row): the parameters after every
    M-step and the bound of each iteration."""
    resp = np.random.RandomState(seed).uniform(size=(X.shape[0], N_COMPONENTS))
    resp /= resp.sum(axis=1, keepdims=True)
    q = ref_m_step(X, w, resp, kind, prior_type, prior, reg_covar)
    history = []
    for _ in range(n_iter):
        resp = np.exp(ref_log_resp(X, q, kind, prior_type))
        q = ref_m_step(X, w, resp, kind, prior_type, prior, reg_covar)
        history.append((q, ref_bound(resp, w, q, kind, prior_type)))
    return history


# -- helpers -----------------------------------------------------------------------------------
PARAMETER_NAMES = ("mean_precision_", "means_", "degrees_of_freedom_", "covariances_", "precisions_cholesky_")


def fitted(est):
    """The estimator's variational parameters in the reference's names."""
    return dict(
        weight_concentration=np.array(est.weight_concentration_), mean_precision=est.mean_precision_,
        means=est.means_, degrees_of_freedom=est.degrees_of_freedom_, covariances=est.covariances_,
        precisions_cholesky=est.precisions_cholesky_,
    )


def assert_params_close(actual, desired, rtol, what):
    for name, value in desired.items():
        assert_relative_close(actual[name], value, rtol, f"{what}: {name}")


def make_data(n_samples=240, seed=0):
    X, _ = make_problem(seed, n_samples, 3, 3, "full")
    return X


def given_prior(kind, n_features):
    scale = {
        "full": np.array([[1.5, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 2.0]]),
        "diag": np.array([1.5, 1.0, 2.0]),
        "spherical": 1.3,
    }
    return dict(
        weight_concentration_prior=0.7, mean_precision_prior=0.5, mean_prior=np.array([0.5, -0.2, 1.0]),
        degrees_of_freedom_prior=n_features + 1.5, covariance_prior=scale["full" if kind == "tied" else kind],
    )


# -- 1. the reference, iteration by iteration --------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
@pytest.mark.parametrize("case", ["unweighted", "weighted", "weighted, given prior"])
def test_iterations_equal_the_reference(kind, prior_type, case):
    X = make_data()
    w = None if case == "unweighted" else make_sample_weight(1, X.shape[0])
    given = given_prior(kind, X.shape[1]) if case == "weighted, given prior" else {}
    prior = ref_prior(X, w, kind, N_COMPONENTS, given)
    history = ref_fit(X, w, kind, prior_type, prior, seed=3, n_iter=5)
    # warm_start with max_iter=1: each fit is one more iteration from the fitted parameters
    est = BayesianGaussianMixture(
        n_components=N_COMPONENTS, covariance_type=kind, weight_concentration_prior_type=prior_type,
        init_params="random", random_state=3, max_iter=1, tol=0.0, warm_start=True, **given,
    )
    for i, (q, bound) in enumerate(history):
        est.fit(X, sample_weight=w)
        assert_params_close(fitted(est), q, 1e-8, f"iteration {i}")
        assert_allclose(est.lower_bound_, bound, rtol=1e-8, err_msg=f"iteration {i}")
        assert est.lower_bounds_ == [est.lower_bound_]
    assert_allclose(est.mean_prior_, prior["m0"], rtol=1e-12)
    assert_allclose(est.covariance_prior_, prior["scale"], rtol=1e-12)
    assert est.weight_concentration_prior_ == prior["alpha"]
    assert est.mean_precision_prior_ == prior["beta0"]
    assert est.degrees_of_freedom_prior_ == prior["nu0"]
    # one fit of five iterations records the same bounds
    whole = BayesianGaussianMixture(
        n_components=N_COMPONENTS, covariance_type=kind, weight_concentration_prior_type=prior_type,
        init_params="random", random_state=3, max_iter=5, tol=0.0, **given,
    ).fit(X, sample_weight=w)
    assert_allclose(whole.lower_bounds_, [bound for _, bound in history], rtol=1e-8)
    assert_params_close(fitted(whole), history[-1][0], 1e-8, "five iterations")


def test_weights_are_the_expected_weights():
    """weights_: E[pi] of the Dirichlet, or of the sticks renormalised over K."""
    X = make_data()
    for prior_type in PRIOR_TYPES:
        est = BayesianGaussianMixture(
            n_components=N_COMPONENTS, weight_concentration_prior_type=prior_type, random_state=0, max_iter=3
        ).fit(X)
        concentration = np.array(est.weight_concentration_)
        if prior_type == "dirichlet_process":
            a, b = concentration
            expected = a / (a + b) * np.concatenate([[1.0], np.cumprod(b / (a + b))[:-1]])
        else:
            expected = concentration
        assert_allclose(est.weights_, expected / expected.sum(), rtol=1e-14)


def test_digamma_equals_scipy():
    x = np.concatenate([np.geomspace(1e-8, 1e6, 400), np.linspace(0.5, 30.0, 400)])
    actual, desired = digamma(x), special.digamma(x)
    assert_allclose(actual, desired, rtol=4e-15, atol=4e-15)


# -- 2. scikit-learn -------------------------------------------------------------------------
def real_data(name):
    from sklearn import datasets

    X = {"iris": datasets.load_iris, "wine": datasets.load_wine}[name]().data
    return (X - X.mean(axis=0)) / X.std(axis=0)


SKLEARN_ATTRIBUTES = (
    "weights_", "mean_precision_", "means_", "degrees_of_freedom_", "covariances_", "precisions_",
    "precisions_cholesky_", "covariance_prior_",
)


def assert_same_as_sklearn(ours, theirs, X, rtol):
    for name in SKLEARN_ATTRIBUTES:
        assert_relative_close(getattr(ours, name), getattr(theirs, name), rtol, name)
    assert_allclose(ours.mean_prior_, theirs.mean_prior_, rtol=0, atol=1e-12)  # standardised data: mean 0
    for mine, yours in zip(np.atleast_2d(ours.weight_concentration_), np.atleast_2d(theirs.weight_concentration_)):
        assert_relative_close(mine, yours, rtol, "weight_concentration_")
    for name in ("weight_concentration_prior_", "mean_precision_prior_", "degrees_of_freedom_prior_"):
        assert_allclose(getattr(ours, name), getattr(theirs, name), rtol=1e-15, err_msg=name)
    assert ours.n_iter_ == theirs.n_iter_ and ours.converged_ == theirs.converged_
    assert_allclose(ours.lower_bounds_, np.ravel(theirs.lower_bounds_), rtol=rtol)
    assert_allclose(ours.lower_bound_, np.ravel(theirs.lower_bound_)[0], rtol=rtol)
    assert_allclose(ours.score_samples(X), theirs.score_samples(X), rtol=rtol)
    assert_relative_close(ours.predict_proba(X), theirs.predict_proba(X), rtol, "predict_proba")
    assert_array_equal(ours.predict(X), theirs.predict(X))


@pytest.mark.parametrize("dataset", ["iris", "wine"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_equals_sklearn_from_the_same_start(dataset, kind, prior_type):
    """init_params="random" draws scikit-learn's starting responsibilities for the same
    integer random_state, so both fits start alike; they then run to convergence
    (tol on the total bound, as scikit-learn's) or max_iter."""
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    X = real_data(dataset)
    settings = dict(
        n_components=5, covariance_type=kind, weight_concentration_prior_type=prior_type, init_params="random",
        random_state=0,
    )
    theirs = sklearn_mixture.BayesianGaussianMixture(**settings).fit(X)
    ours = BayesianGaussianMixture(**settings).fit(X)
    assert_same_as_sklearn(ours, theirs, X, 1e-6)


@pytest.mark.parametrize("init_params", ["random_from_data", "k-means++"])
def test_row_starts_equal_sklearn(init_params):
    """Starts on random rows draw scikit-learn's rows for the same random_state."""
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    X = real_data("iris")
    settings = dict(n_components=3, init_params=init_params, random_state=1, n_init=2, max_iter=20)
    theirs = sklearn_mixture.BayesianGaussianMixture(**settings).fit(X)
    ours = BayesianGaussianMixture(**settings).fit(X)
    assert_same_as_sklearn(ours, theirs, X, 1e-6)


def test_signature_is_sklearns_plus_n_threads():
    sklearn_mixture = pytest.importorskip("sklearn.mixture")
    theirs = inspect.signature(sklearn_mixture.BayesianGaussianMixture).parameters
    ours = dict(inspect.signature(BayesianGaussianMixture).parameters)
    extra = ours.pop("n_threads")
    assert extra.default is None and extra.kind is inspect.Parameter.KEYWORD_ONLY
    assert list(ours) == list(theirs)
    for name, parameter in theirs.items():
        assert (ours[name].kind, ours[name].default) == (parameter.kind, parameter.default), name


def test_clone_and_params():
    from sklearn.base import clone

    est = BayesianGaussianMixture(n_components=3, weight_concentration_prior=0.1, n_threads=1)
    copy = clone(est)
    assert copy.get_params() == est.get_params()
    assert copy.set_params(mean_precision_prior=2.0).mean_precision_prior == 2.0


# -- 3. the bound, and pruning -----------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_bound_never_decreases(kind, prior_type):
    X = real_data("wine")[:, :4].copy()
    for init_params, seed in (("kmeans", 0), ("random", 1)):
        est = BayesianGaussianMixture(
            n_components=6, covariance_type=kind, weight_concentration_prior_type=prior_type,
            init_params=init_params, random_state=seed, max_iter=150, tol=0.0,
        ).fit(X, sample_weight=make_sample_weight(2, X.shape[0]))
        steps = np.diff(est.lower_bounds_)
        # reg_covar moves each M-step off the optimum by rounding-sized amounts
        assert steps.min() >= -1e-9 * X.shape[0], (init_params, steps.min())
        assert est.lower_bounds_[-1] > est.lower_bounds_[0]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("prior_type", PRIOR_TYPES)
def test_unneeded_components_end_empty(kind, prior_type):
    """Eight components on four well-separated clusters: four carry the mass."""
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    X = np.vstack([centre + rng.normal(size=(100, 2)) for centre in centres])
    est = BayesianGaussianMixture(
        n_components=8, covariance_type=kind, weight_concentration_prior_type=prior_type, random_state=0,
        max_iter=500,
    ).fit(X)
    assert est.converged_
    weights = np.sort(est.weights_)[::-1]
    assert (weights[4:] < 1e-2).all(), weights
    assert (weights[:4] > 0.2).all(), weights
    assert sorted(np.unique(est.predict(X), return_counts=True)[1]) == [100] * 4


# -- 4. dtypes, data sources, threads ------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_float32_is_float64_to_float32_rounding(kind):
    X = real_data("iris")
    settings = dict(n_components=4, covariance_type=kind, init_params="random", random_state=0, max_iter=20, tol=0.0)
    single = BayesianGaussianMixture(**settings).fit(X.astype(np.float32))
    double = BayesianGaussianMixture(**settings).fit(X)
    for name in ("weights_", "means_", "covariances_", "lower_bounds_"):
        assert_relative_close(getattr(single, name), getattr(double, name), 1e-4, name)
    assert single.means_.dtype == single.covariances_.dtype == np.float64
    assert single.predict_proba(X.astype(np.float32)).dtype == np.float64


SOURCE_KINDS = ("full", "tied", "spherical")  # both moments types, and the whitened tied E-step


def source_fit(kind):
    return BayesianGaussianMixture(
        n_components=N_COMPONENTS, covariance_type=kind, init_params="random", max_iter=4, tol=0.0, random_state=0
    )


def assert_same_fit(actual, desired):
    for name in SKLEARN_ATTRIBUTES + ("mean_prior_", "lower_bounds_"):
        assert_allclose(getattr(actual, name), getattr(desired, name), rtol=1e-10, atol=0, err_msg=name)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_chunked_and_memmapped_data_give_the_in_memory_fit(kind, tmp_path):
    X = make_data()
    w = make_sample_weight(4, X.shape[0])
    desired = source_fit(kind).fit(X, sample_weight=w)

    def chunks():
        return ((X[i:i + 50], w[i:i + 50]) for i in range(0, X.shape[0], 50))

    assert_same_fit(source_fit(kind).fit_chunks(chunks), desired)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    assert_same_fit(source_fit(kind).fit(mapped, sample_weight=w), desired)


@pytest.mark.parametrize("kind", SOURCE_KINDS)
def test_dask_data_gives_the_in_memory_fit(kind):
    dask = pytest.importorskip("dask")
    import dask.array as da

    X = make_data()
    w = make_sample_weight(4, X.shape[0])
    desired = source_fit(kind).fit(X, sample_weight=w)
    with dask.config.set(scheduler="synchronous"):
        actual = source_fit(kind).fit(da.from_array(X, chunks=(70, X.shape[1])), sample_weight=w)
    assert_same_fit(actual, desired)


@pytest.mark.parametrize("kind", ["full", "tied"])
def test_one_and_two_threads_give_identical_fits(kind):
    X, _ = make_problem(5, 2600, 2, 3, "diag")  # three chunks of rows
    fits = [
        BayesianGaussianMixture(
            n_components=N_COMPONENTS, covariance_type=kind, random_state=0, max_iter=5, tol=0.0, n_threads=n
        ).fit(X)
        for n in (1, 2)
    ]
    for name in SKLEARN_ATTRIBUTES + ("mean_prior_", "lower_bounds_"):
        assert_array_equal(getattr(fits[0], name), getattr(fits[1], name), err_msg=name)
    assert_array_equal(fits[0].predict_proba(X), fits[1].predict_proba(X))


# -- 5. methods, errors ------------------------------------------------------------------------
def test_methods_of_a_fitted_model():
    X = make_data()
    est = BayesianGaussianMixture(n_components=N_COMPONENTS, covariance_type="tied", random_state=0)
    labels = est.fit_predict(X)
    assert_array_equal(labels, est.predict(X))
    resp = est.predict_proba(X)
    assert_allclose(resp.sum(axis=1), 1.0, rtol=1e-12)
    log_prob = est.score_samples(X)
    weighted = est.estimate_weighted_log_prob(X)
    assert_allclose(log_prob, special.logsumexp(weighted, axis=1), rtol=1e-12)
    assert_allclose(est.score(X), log_prob.mean(), rtol=1e-14)
    samples, sample_labels = est.sample(50)
    assert samples.shape == (50, 3) and sample_labels.shape == (50,)
    for method in ("partial_fit", "bic", "aic"):
        assert not hasattr(est, method)
    with pytest.raises(NotFittedError):
        BayesianGaussianMixture().predict(X)


def test_verbose_names_the_lower_bound(capsys):
    BayesianGaussianMixture(n_components=2, verbose=2, verbose_interval=1, max_iter=2, tol=0.0).fit(make_data())
    assert "lower bound" in capsys.readouterr().out


X_ERRORS = np.random.default_rng(0).normal(size=(50, 3))


@pytest.mark.parametrize(
    "settings, message",
    [
        (dict(weight_concentration_prior_type="dirichlet"),
         "The 'weight_concentration_prior_type' parameter of BayesianGaussianMixture must be one of "
         "'dirichlet_process', 'dirichlet_distribution'. Got 'dirichlet' instead."),
        (dict(weight_concentration_prior=0.0),
         "The 'weight_concentration_prior' parameter of BayesianGaussianMixture must be a float in the range "
         "(0.0, inf). Got 0.0 instead."),
        (dict(weight_concentration_prior=np.inf),
         "The 'weight_concentration_prior' parameter of BayesianGaussianMixture must be finite. Got inf instead."),
        (dict(mean_precision_prior=-1.0),
         "The 'mean_precision_prior' parameter of BayesianGaussianMixture must be a float in the range "
         "(0.0, inf). Got -1.0 instead."),
        (dict(degrees_of_freedom_prior=2.0),
         "The parameter 'degrees_of_freedom_prior' should be greater than 2, but got 2.000."),
        (dict(covariance_type="diag", degrees_of_freedom_prior=1.5),
         "The parameter 'degrees_of_freedom_prior' should be greater than 2, but got 1.500."),
        (dict(mean_prior=[0.0, 0.0]), "mean_prior must have shape (n_features,) = (3,); got shape (2,)."),
        (dict(covariance_prior=np.eye(2)),
         "covariance_prior must have shape (n_features, n_features) = (3, 3); got shape (2, 2)."),
        (dict(covariance_type="tied", covariance_prior=np.triu(np.ones((3, 3)))), "covariance_prior is not symmetric."),
        (dict(covariance_prior=-np.eye(3)), "covariance_prior is not positive definite."),
        (dict(covariance_type="diag", covariance_prior=[1.0, -1.0, 1.0]),
         "covariance_prior must be positive; entry 1 is <= 0."),
        (dict(covariance_type="spherical", covariance_prior=0.0),
         "The 'covariance_prior' parameter of BayesianGaussianMixture must be a float in the range (0.0, inf). "
         "Got 0.0 instead."),
        (dict(init_params="split"),
         "The 'init_params' parameter of BayesianGaussianMixture must be one of 'kmeans', 'k-means++', "
         "'random', 'random_from_data'. Got 'split' instead."),
        (dict(covariance_type="circular"),
         "The 'covariance_type' parameter of BayesianGaussianMixture must be one of 'full', 'tied', 'diag', "
         "'spherical'. Got 'circular' instead."),
    ],
)
def test_bad_settings_are_rejected(settings, message):
    est = BayesianGaussianMixture(n_components=2, **settings)
    with pytest.raises(ValueError, match=re.escape(message)):
        est.fit(X_ERRORS)
    assert not hasattr(est, "means_")


def test_a_failed_refit_leaves_the_estimator_unfitted():
    est = BayesianGaussianMixture(n_components=2, max_iter=2).fit(X_ERRORS)
    est.set_params(mean_prior=[1.0])
    with pytest.raises(ValueError):
        est.fit(X_ERRORS)
    assert not hasattr(est, "means_") and not hasattr(est, "lower_bound_")
