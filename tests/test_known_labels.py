"""Partial labels (semi-supervised EM) and ``estimate_weighted_log_prob``.

Expected values come from plain NumPy / SciPy written here (and scikit-learn's
``_estimate_weighted_log_prob``), never from fastem's internals.  One small problem
(300 rows, 3 features, 3 components, float64) serves most tests, so that they share
compiled kernels.
"""

import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from fastem import BernoulliMixture, ConvergenceWarning, GaussianMixture

N_SAMPLES, N_FEATURES, N_COMPONENTS = 300, 3, 3
REG_COVAR = 1e-6
EMPTY_COUNT = 10 * np.finfo(np.float64).eps  # what fastem adds to every count, as scikit-learn does

# estimate_weighted_log_prob against SciPy and scikit-learn, element by element.  float32
# data has its densities computed in float32.  Measured on this file's problems (full /
# diag): float32 2.0e-7 / 2.7e-7, float64 1.1e-15 / 8.6e-16; the parameters of the fits
# against the NumPy references agree within 1.4e-13 (Gaussian) and 1.7e-15 (Bernoulli).
RTOL = {np.float32: 2e-6, np.float64: 1e-12}


# -- data ------------------------------------------------------------------------------
def blobs(seed=0, n_samples=N_SAMPLES):
    """Rows of three overlapping Gaussian blobs (responsibilities of unlabelled rows are
    not all 0/1), their true classes, and positive sample weights."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 0.0], [2.5, 0.0, 1.0], [0.0, 2.5, -1.0]])
    classes = rng.integers(N_COMPONENTS, size=n_samples)
    X = centres[classes] + rng.standard_normal((n_samples, N_FEATURES)) * np.array([1.0, 0.7, 1.3])
    return np.ascontiguousarray(X), classes, rng.uniform(0.2, 3.0, n_samples)


def partial(classes, every=3):
    """Every ``every``-th row keeps its class, the others are unknown (-1)."""
    labels = np.full(classes.shape, -1)
    labels[::every] = classes[::every]
    return labels


def binary_blobs(seed=0, n_samples=N_SAMPLES, n_features=8):
    """0/1 rows from three overlapping prototypes, their classes and sample weights."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(0.15, 0.85, size=(N_COMPONENTS, n_features))
    classes = rng.integers(N_COMPONENTS, size=n_samples)
    X = (rng.uniform(size=(n_samples, n_features)) < prototypes[classes]).astype(np.float64)
    return X, classes, rng.uniform(0.2, 3.0, n_samples)


def start(covariance_type, X):
    """weights_init / means_init / precisions_init shared by a fit and its reference."""
    spread = X.var(axis=0)
    precisions = np.diag(1.0 / spread) if covariance_type == "full" else 1.0 / spread
    return dict(
        weights_init=np.array([0.2, 0.3, 0.5]),
        means_init=X[:N_COMPONENTS].copy(),
        precisions_init=np.stack([precisions] * N_COMPONENTS),
    )


def fit_to_max_iter(model, *args, **kwargs):
    """``model.fit`` that expects the ConvergenceWarning of a run cut at ``max_iter``."""
    with pytest.warns(ConvergenceWarning):
        return model.fit(*args, **kwargs)


# -- plain NumPy references -------------------------------------------------------------
def full_covariances(covariances, covariance_type):
    return covariances if covariance_type == "full" else np.stack([np.diag(c) for c in covariances])


def gaussian_weighted_log_prob(X, weights, means, covariances, covariance_type):
    """log pi_k + log N(x | mu_k, Sigma_k) by SciPy, (N, K)."""
    X = np.asarray(X, dtype=np.float64)
    covariances = full_covariances(covariances, covariance_type)
    columns = [np.atleast_1d(multivariate_normal(means[k], covariances[k]).logpdf(X)) for k in range(len(weights))]
    return np.stack(columns, axis=1) + np.log(weights)


def bernoulli_weighted_log_prob(X, weights, probabilities):
    """log pi_k + sum_d x_d log p_kd + (1 - x_d) log(1 - p_kd), (N, K)."""
    p = np.clip(probabilities, 1e-12, 1.0 - 1e-12)
    return X @ np.log(p).T + (1.0 - X) @ np.log1p(-p).T + np.log(weights)


def labelled_posterior(weighted_log_prob, labels):
    """Responsibilities and per-row log-likelihood terms: a labelled row's are its class's
    indicator and log pi_k + log p(x | k), an unlabelled row's the posterior and log p(x)."""
    log_prob = logsumexp(weighted_log_prob, axis=1)
    resp = np.exp(weighted_log_prob - log_prob[:, None])
    known = labels >= 0
    resp[known] = np.eye(weighted_log_prob.shape[1])[labels[known]]
    log_prob[known] = weighted_log_prob[known, labels[known]]
    return resp, log_prob


def gaussian_m_step(X, resp, sample_weight, covariance_type):
    """Weighted ML weights, means and covariances (+ REG_COVAR) from responsibilities."""
    wr = resp * sample_weight[:, None]
    nk = wr.sum(axis=0) + EMPTY_COUNT
    means = wr.T @ X / nk[:, None]
    covariances = []
    for k in range(len(nk)):
        d = X - means[k]
        if covariance_type == "full":
            covariances.append((wr[:, k, None] * d).T @ d / nk[k] + REG_COVAR * np.eye(X.shape[1]))
        else:
            covariances.append((wr[:, k, None] * d**2).sum(axis=0) / nk[k] + REG_COVAR)
    return nk / nk.sum(), means, np.array(covariances)


def gaussian_em(X, sample_weight, labels, weights, means, covariances, covariance_type, n_iter):
    """Semi-supervised EM: (weights, means, covariances, objective entering each iteration)."""
    bounds = []
    for _ in range(n_iter):
        wlp = gaussian_weighted_log_prob(X, weights, means, covariances, covariance_type)
        resp, log_prob = labelled_posterior(wlp, labels)
        bounds.append(sample_weight @ log_prob / sample_weight.sum())
        weights, means, covariances = gaussian_m_step(X, resp, sample_weight, covariance_type)
    return weights, means, covariances, bounds


def bernoulli_em(X, sample_weight, labels, weights, probabilities, n_iter, alpha=1.01, beta=1.01):
    """Semi-supervised MAP EM of a Bernoulli mixture (Beta(alpha, beta) prior)."""
    bounds = []
    for _ in range(n_iter):
        resp, log_prob = labelled_posterior(bernoulli_weighted_log_prob(X, weights, probabilities), labels)
        p = np.clip(probabilities, 1e-12, 1.0 - 1e-12)
        log_prior = (alpha - 1.0) * np.log(p).sum() + (beta - 1.0) * np.log1p(-p).sum()
        bounds.append((sample_weight @ log_prob + log_prior) / sample_weight.sum())
        wr = resp * sample_weight[:, None]
        nk = wr.sum(axis=0)
        weights = (nk + EMPTY_COUNT) / (nk + EMPTY_COUNT).sum()
        probabilities = (wr.T @ X + alpha - 1.0) / (nk + alpha + beta - 2.0)[:, None]
    return weights, probabilities, bounds


# -- estimate_weighted_log_prob ------------------------------------------------------------
@pytest.fixture(scope="module", params=["full", "diag"])
def fitted(request):
    X, _, _ = blobs()
    return GaussianMixture(N_COMPONENTS, covariance_type=request.param, random_state=0).fit(X), X


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_weighted_log_prob_matches_scipy_and_scikit_learn(fitted, dtype):
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    gm, X = fitted
    X = X.astype(dtype)
    got = gm.estimate_weighted_log_prob(X)
    assert got.dtype == np.float64 and got.shape == (N_SAMPLES, N_COMPONENTS)
    expected = gaussian_weighted_log_prob(X, gm.weights_, gm.means_, gm.covariances_, gm.covariance_type)
    assert_allclose(got, expected, rtol=RTOL[dtype])
    assert_allclose(logsumexp(got, axis=1), gm.score_samples(X), rtol=RTOL[dtype])

    theirs = SklearnGaussianMixture(N_COMPONENTS, covariance_type=gm.covariance_type)
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        setattr(theirs, name, getattr(gm, name))
    assert_allclose(got, theirs._estimate_weighted_log_prob(X.astype(np.float64)), rtol=RTOL[dtype])


def test_weighted_log_prob_stays_finite_where_predict_proba_underflows(fitted):
    gm, _ = fitted
    sd = np.sqrt(full_covariances(gm.covariances_, gm.covariance_type)[0].diagonal())
    far = (gm.means_[0] + 1e3 * sd)[None, :]
    assert np.count_nonzero(gm.predict_proba(far) == 0.0) > 0  # posteriors lost to underflow
    got = gm.estimate_weighted_log_prob(far)
    assert np.isfinite(got).all() and got.max() < -1e4
    expected = gaussian_weighted_log_prob(far, gm.weights_, gm.means_, gm.covariances_, gm.covariance_type)
    assert_allclose(got, expected, rtol=1e-12)


def test_bernoulli_weighted_log_prob_matches_numpy():
    X, _, _ = binary_blobs()
    bm = BernoulliMixture(N_COMPONENTS, random_state=0).fit(X)
    got = bm.estimate_weighted_log_prob(X)
    assert_allclose(got, bernoulli_weighted_log_prob(X, bm.weights_, bm.probabilities_), rtol=1e-13)
    assert_allclose(logsumexp(got, axis=1), bm.score_samples(X), rtol=1e-13)


# -- every row labelled: the closed-form per-class estimates -----------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("algorithm", ["em", "hard", "monte_carlo"])
@pytest.mark.parametrize("weighted", [False, True])
def test_all_rows_labelled_gives_the_class_estimates(covariance_type, algorithm, weighted):
    X, classes, sample_weight = blobs()
    weights = sample_weight if weighted else np.ones(N_SAMPLES)
    gm = GaussianMixture(
        N_COMPONENTS, covariance_type=covariance_type, algorithm=algorithm,
        mc_samples=1 if algorithm == "monte_carlo" else None, random_state=0,
    )
    gm.fit(X, sample_weight=sample_weight if weighted else None, known_labels=classes)

    class_weights, class_means, class_covariances = gaussian_m_step(
        X, np.eye(N_COMPONENTS)[classes], weights, covariance_type
    )
    assert_allclose(gm.weights_, class_weights, rtol=1e-12)
    assert_allclose(gm.means_, class_means, rtol=1e-10)
    assert_allclose(gm.covariances_, class_covariances, rtol=1e-10)
    # The first M-step lands on them; the next iteration confirms it (hard EM sees the
    # same assignment, a fixed point), the one after at the latest sees no change.
    assert gm.converged_ and gm.n_iter_ <= 3
    complete = gaussian_weighted_log_prob(X, class_weights, class_means, class_covariances, covariance_type)
    objective = weights @ complete[np.arange(N_SAMPLES), classes] / weights.sum()
    assert_allclose(gm.lower_bounds_[1:], objective, rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_all_rows_labelled_float32(covariance_type):
    X, classes, sample_weight = blobs()
    X = X.astype(np.float32)
    gm = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, random_state=0)
    gm.fit(X, sample_weight=sample_weight, known_labels=classes)
    expected = gaussian_m_step(X.astype(np.float64), np.eye(N_COMPONENTS)[classes], sample_weight, covariance_type)
    # float32 moments: measured 3e-9 (weights), 5e-7 (means), 4.3e-6 (covariances) relative
    for got, want in zip((gm.weights_, gm.means_, gm.covariances_), expected):
        assert_allclose(got, want, rtol=5e-5, atol=5e-5 * np.abs(want).max())


# -- no labels: today's fit, bit for bit ------------------------------------------------------
@pytest.mark.parametrize("algorithm", ["em", "hard"])
@pytest.mark.parametrize("labels", ["none", "all unknown"])
def test_no_labels_fit_is_the_unlabelled_fit(algorithm, labels):
    X, _, sample_weight = blobs()
    known = None if labels == "none" else np.full(N_SAMPLES, -1)
    plain = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=1).fit(X, sample_weight=sample_weight)
    ours = GaussianMixture(N_COMPONENTS, algorithm=algorithm, random_state=1).fit(
        X, sample_weight=sample_weight, known_labels=known
    )
    for name in ("weights_", "means_", "covariances_", "precisions_cholesky_"):
        assert_array_equal(getattr(ours, name), getattr(plain, name))
    assert ours.lower_bounds_ == plain.lower_bounds_


# -- partial labels against the NumPy reference ------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["full", "diag"])
@pytest.mark.parametrize("weighted", [False, True])
def test_partial_labels_match_reference_em(covariance_type, weighted):
    X, classes, sample_weight = blobs()
    labels = partial(classes)
    weights = sample_weight if weighted else np.ones(N_SAMPLES)
    init = start(covariance_type, X)
    n_iter = 6
    gm = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=n_iter, tol=0.0, **init)
    fit_to_max_iter(gm, X, sample_weight=sample_weight if weighted else None, known_labels=labels)

    covariances = 1.0 / init["precisions_init"] if covariance_type == "diag" else np.linalg.inv(init["precisions_init"])
    expected = gaussian_em(
        X, weights, labels, init["weights_init"], init["means_init"], covariances, covariance_type, n_iter
    )
    assert_allclose(gm.weights_, expected[0], rtol=1e-10)
    assert_allclose(gm.means_, expected[1], rtol=1e-10)
    assert_allclose(gm.covariances_, expected[2], rtol=1e-10)
    assert_allclose(gm.lower_bounds_, expected[3], rtol=1e-10)
    # the labels mattered: the unlabelled fit from the same start ends elsewhere
    plain = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, max_iter=n_iter, tol=0.0, **init)
    fit_to_max_iter(plain, X, sample_weight=sample_weight if weighted else None)
    assert np.abs(plain.means_ - gm.means_).max() > 1e-3


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_partial_labels_log_likelihood_never_decreases(covariance_type):
    X, classes, sample_weight = blobs(seed=3)
    gm = GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, init_params="random", tol=1e-10,
                         max_iter=60, random_state=3)
    with warnings.catch_warnings():  # converging or not is beside the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        gm.fit(X, sample_weight=sample_weight, known_labels=partial(classes, every=4))
    bounds = np.array(gm.lower_bounds_)
    assert len(bounds) >= 10
    steps = np.diff(bounds)
    assert (steps >= -1e-12 * np.abs(bounds).max()).all(), steps
    assert bounds[-1] - bounds[0] > 0.05


def test_hard_em_keeps_labelled_rows_in_their_class():
    X, classes, _ = blobs()
    labels = partial(classes)
    # Ten rows labelled against the data: class 1 although they lie in class 0's blob.
    contrary = np.flatnonzero((classes == 0) & (labels == -1))[:10]
    labels[contrary] = 1
    gm = GaussianMixture(N_COMPONENTS, algorithm="hard", random_state=0).fit(X, known_labels=labels)
    assert gm.converged_
    # At hard EM's fixed point the means are those of the final assignment: labelled rows
    # in their class, the others on their most probable component.
    assignment = np.where(labels >= 0, labels, np.argmax(gm.estimate_weighted_log_prob(X), axis=1))
    for k in range(N_COMPONENTS):
        assert_allclose(gm.means_[k], X[assignment == k].mean(axis=0), rtol=1e-10)
    assert (gm.predict(X[contrary]) != 1).any()  # the labels, not the model, placed those rows


def test_monte_carlo_em_keeps_labelled_rows_in_their_class():
    X, classes, _ = blobs()
    labels = partial(classes)
    init = start("full", X)
    n_iter = 3
    gm = GaussianMixture(N_COMPONENTS, algorithm="monte_carlo", mc_samples=4, max_iter=n_iter, tol=0.0,
                         random_state=0, **init)
    fit_to_max_iter(gm, X, known_labels=labels)
    # Labelled rows' draws are all their class: the objective entering each iteration is
    # the reference's (computed from the same parameters), and the first one is exact.
    covariances = np.linalg.inv(init["precisions_init"])
    bounds = gaussian_em(X, np.ones(N_SAMPLES), labels, init["weights_init"], init["means_init"], covariances,
                         "full", 1)[3]
    assert_allclose(gm.lower_bounds_[0], bounds[0], rtol=1e-12)
    # Every row labelled: draws equal the indicators, so the fit is the deterministic one.
    everything = GaussianMixture(N_COMPONENTS, algorithm="monte_carlo", mc_samples=4, max_iter=2, tol=0.0,
                                 random_state=0, **init)
    fit_to_max_iter(everything, X, known_labels=classes)
    expected = gaussian_m_step(X, np.eye(N_COMPONENTS)[classes], np.ones(N_SAMPLES), "full")
    assert_allclose(everything.means_, expected[1], rtol=1e-10)


# -- Bernoulli --------------------------------------------------------------------------------
@pytest.mark.parametrize("weighted", [False, True])
def test_bernoulli_partial_labels_match_reference_em(weighted):
    X, classes, sample_weight = binary_blobs()
    labels = partial(classes)
    weights = sample_weight if weighted else np.ones(N_SAMPLES)
    weights_init = np.array([0.2, 0.3, 0.5])
    probabilities_init = np.clip(X[:N_COMPONENTS], 0.3, 0.7)
    n_iter = 6
    bm = BernoulliMixture(N_COMPONENTS, max_iter=n_iter, tol=0.0, weights_init=weights_init,
                          probabilities_init=probabilities_init)
    fit_to_max_iter(bm, X, sample_weight=sample_weight if weighted else None, known_labels=labels)
    expected = bernoulli_em(X, weights, labels, weights_init, probabilities_init, n_iter)
    assert_allclose(bm.weights_, expected[0], rtol=1e-10)
    assert_allclose(bm.probabilities_, expected[1], rtol=1e-10)
    assert_allclose(bm.lower_bounds_, expected[2], rtol=1e-10)


@pytest.mark.parametrize("algorithm", ["em", "hard"])
def test_bernoulli_all_rows_labelled_gives_the_class_estimates(algorithm):
    X, classes, _ = binary_blobs()
    bm = BernoulliMixture(N_COMPONENTS, alpha=1.0, beta=1.0, algorithm=algorithm, random_state=0)
    bm.fit(X, known_labels=classes)
    counts = np.bincount(classes, minlength=N_COMPONENTS)
    assert_allclose(bm.weights_, counts / N_SAMPLES, rtol=1e-12)
    for k in range(N_COMPONENTS):
        assert_allclose(bm.probabilities_[k], X[classes == k].mean(axis=0), rtol=1e-12)


# -- other data sources ----------------------------------------------------------------------
def labelled_model():
    """Eight iterations from the in-memory data's fixed start."""
    return GaussianMixture(N_COMPONENTS, max_iter=8, tol=0.0, **start("full", blobs()[0]))


def assert_same_fit(model, expected):
    for name in ("weights_", "means_", "covariances_"):
        assert_allclose(getattr(model, name), getattr(expected, name), rtol=1e-12)
    assert_allclose(model.lower_bounds_, expected.lower_bounds_, rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_fit_chunks_with_labels_equals_in_memory(weighted):
    X, classes, sample_weight = blobs()
    labels = partial(classes)
    weights = sample_weight if weighted else None
    expected = fit_to_max_iter(labelled_model(), X, sample_weight=weights, known_labels=labels)
    edges = range(0, N_SAMPLES, 70)

    def chunks():
        return [(X[a:a + 70], None if weights is None else weights[a:a + 70], labels[a:a + 70]) for a in edges]

    model = labelled_model()
    with pytest.warns(ConvergenceWarning):
        model.fit_chunks(chunks)
    assert_same_fit(model, expected)


def test_memmap_with_labels_equals_in_memory(tmp_path):
    X, classes, sample_weight = blobs()
    labels = partial(classes)
    np.save(tmp_path / "X.npy", X)
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    expected = fit_to_max_iter(labelled_model(), X, sample_weight=sample_weight, known_labels=labels)
    model = fit_to_max_iter(labelled_model(), mapped, sample_weight=sample_weight, known_labels=labels)
    assert_same_fit(model, expected)
    del mapped


def test_dask_with_labels_equals_in_memory():
    da = pytest.importorskip("dask.array")
    X, classes, sample_weight = blobs()
    labels = partial(classes)
    expected = fit_to_max_iter(labelled_model(), X, sample_weight=sample_weight, known_labels=labels)
    blocks = da.from_array(X, chunks=(70, -1))
    model = fit_to_max_iter(labelled_model(), blocks, sample_weight=sample_weight, known_labels=labels)
    assert_same_fit(model, expected)


def test_partial_fit_with_every_row_labelled_gives_the_class_estimates():
    X, classes, _ = blobs()
    gm = GaussianMixture(N_COMPONENTS, random_state=0).partial_fit(X, known_labels=classes)
    expected = gaussian_m_step(X, np.eye(N_COMPONENTS)[classes], np.ones(N_SAMPLES), "full")
    assert_allclose(gm.weights_, expected[0], rtol=1e-12)
    assert_allclose(gm.means_, expected[1], rtol=1e-10)
    assert_allclose(gm.covariances_, expected[2], rtol=1e-10)


def test_fit_predict_passes_the_labels_on():
    X, classes, _ = blobs()
    gm = GaussianMixture(N_COMPONENTS, random_state=0)
    predicted = gm.fit_predict(X, known_labels=classes)
    expected = gaussian_m_step(X, np.eye(N_COMPONENTS)[classes], np.ones(N_SAMPLES), "full")
    assert_allclose(gm.means_, expected[1], rtol=1e-10)
    assert_array_equal(predicted, gm.predict(X))


# -- threads ------------------------------------------------------------------------------------
def test_labelled_fits_do_not_depend_on_the_number_of_threads():
    X, classes, sample_weight = blobs(seed=5, n_samples=2600)  # three kernel chunks
    labels = partial(classes)
    binary, binary_classes, _ = binary_blobs(seed=5, n_samples=2600)
    fits = []
    for threads in (1, 2):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            gm = GaussianMixture(N_COMPONENTS, max_iter=5, random_state=0, n_threads=threads)
            gm.fit(X, sample_weight=sample_weight, known_labels=labels)
            bm = BernoulliMixture(N_COMPONENTS, max_iter=5, random_state=0, n_threads=threads)
            bm.fit(binary, sample_weight=sample_weight, known_labels=partial(binary_classes))
        fits.append((gm.means_, gm.covariances_, gm.lower_bounds_, bm.probabilities_, bm.lower_bounds_))
    for one, two in zip(*fits):
        assert_array_equal(one, two)  # bitwise


# -- validation ---------------------------------------------------------------------------------
@pytest.mark.parametrize("labels, message", [
    (np.r_[np.zeros(17, int), 3, np.zeros(N_SAMPLES - 18, int)],
     "known_labels must be -1 (unknown) or a component index in [0, 3); got 3 at row 17."),
    (np.r_[-2, np.zeros(N_SAMPLES - 1, int)],
     "known_labels must be -1 (unknown) or a component index in [0, 3); got -2 at row 0."),
    (np.zeros(N_SAMPLES - 1, int), f"known_labels has {N_SAMPLES - 1} entries but X has {N_SAMPLES} rows."),
    (np.r_[0.0, 1.0, 0.5, np.zeros(N_SAMPLES - 3)],
     "known_labels must hold integers (a component index, or -1 for unknown); got 0.5 at row 2."),
    (np.zeros((N_SAMPLES, 1), int),
     f"known_labels must be a 1-D array of shape (n_samples,); got a 2-D array of shape ({N_SAMPLES}, 1)."),
    (np.array(["a"] * N_SAMPLES),
     "known_labels has dtype <U1; it must hold integers (a component index, or -1 for unknown)."),
])
def test_bad_labels_are_rejected(labels, message):
    X, _, _ = blobs()
    gm = GaussianMixture(N_COMPONENTS)
    with pytest.raises(ValueError, match=re.escape(message)):
        gm.fit(X, known_labels=labels)
    assert not hasattr(gm, "means_")
    with pytest.raises(ValueError, match=re.escape(message)):
        BernoulliMixture(N_COMPONENTS).fit(binary_blobs()[0], known_labels=labels)


def test_bad_chunk_labels_name_the_chunk():
    X, _, _ = blobs()
    labels = np.zeros(100, int)
    labels[5] = 7

    def chunks():
        return [(X[:100], None, np.zeros(100, int)), (X[100:200], None, labels)]

    message = "chunk 1: known_labels must be -1 (unknown) or a component index in [0, 3); got 7 at row 5."
    with pytest.raises(ValueError, match=re.escape(message)):
        GaussianMixture(N_COMPONENTS).fit_chunks(chunks)


def test_labels_are_not_modified_and_integral_floats_are_accepted():
    X, classes, _ = blobs()
    labels = classes.astype(np.float64)
    labels[1::2] = -1.0
    kept = labels.copy()
    as_float = GaussianMixture(N_COMPONENTS, random_state=0).fit(X, known_labels=labels)
    as_int = GaussianMixture(N_COMPONENTS, random_state=0).fit(X, known_labels=labels.astype(int))
    assert_array_equal(labels, kept)
    assert_array_equal(as_float.means_, as_int.means_)
