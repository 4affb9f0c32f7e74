"""The EM variants of fastem.GaussianMixture (``algorithm``, ``mc_samples``, ``gem_step``,
``accelerate``): hard (classification) EM against a NumPy classification EM written
here, Monte-Carlo EM against standard EM and its seeding, generalized EM (ECM and
over-relaxed) and SQUAREM against standard EM from a shared start, the validation of
the variant parameters, warm start and the estimator protocol.

Fits run on one thread (``n_threads=1``) unless the number of threads is the point:
results do not depend on it (checked below for the sampled and hard modes, and in
test_kernels.py for the kernels), and one thread keeps the runtime steady on a busy
machine.  Data sets have 2 features and a few thousand rows, in float64.
"""

import math
import re
import warnings

import numba
import numpy as np
import pytest
import reference
from conftest import make_problem, make_sample_weight, n_threads
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone

import fastem
from fastem import ConvergenceWarning, GaussianMixture
from fastem._data import ArraySource
from fastem._variants import MC_MAX_DRAWS, check_variant_settings

COVARIANCE_TYPES = ["full", "diag"]
FITTED = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
REG_COVAR = 1e-6  # GaussianMixture's default, used by the NumPy reference too
SQUAREM_MESSAGE = (
    "accelerate='squarem' needs a deterministic, smooth EM map: use it with algorithm='em' "
    "or with algorithm='generalized', gem_step='ecm'; got "
)


# -- data and shared starts -------------------------------------------------------------
def clusters(seed, covariance_type, separation, n_samples):
    """Rows from three Gaussians centred at (0, 0), (s, 0), (0, s) with covariances near
    the identity (diagonal ones for "diag"), and their labels."""
    rng = np.random.RandomState(seed)
    centres = np.array([[0.0, 0.0], [separation, 0.0], [0.0, separation]])
    labels = rng.choice(3, size=n_samples, p=[0.4, 0.35, 0.25])
    factors = rng.normal(scale=0.3, size=(3, 2, 2)) + np.eye(2)
    if covariance_type == "diag":
        factors = np.stack([np.diag(np.abs(np.diag(f))) for f in factors])
    noise = rng.standard_normal((n_samples, 2))
    X = centres[labels] + np.einsum("nij,nj->ni", factors[labels], noise)
    return np.ascontiguousarray(X), labels


def separated(seed, covariance_type, n_samples=2000):
    """Clusters 12 apart (> 8 standard deviations): every point is unambiguous."""
    return clusters(seed, covariance_type, 12.0, n_samples)


def moderate(seed, covariance_type, n_samples=3000):
    """Clusters 4 apart: they touch, so posteriors are not all 0 or 1, yet EM from
    ``moderate_start`` reaches one optimum in 50-120 iterations (rate about 0.5-0.7)."""
    return clusters(seed, covariance_type, 4.0, n_samples)[0]


def shared_start(X, covariance_type, means):
    """weights_init / means_init / precisions_init: broad components (the data's variance)
    at ``means`` with unequal weights, and the same start as covariances (for NumPy)."""
    n_components = len(means)
    spread = X.var(axis=0)
    if covariance_type == "full":
        precisions = np.stack([np.diag(1.0 / spread)] * n_components)
        covariances = np.stack([np.diag(spread)] * n_components)
    else:
        precisions = np.tile(1.0 / spread, (n_components, 1))
        covariances = np.tile(spread, (n_components, 1))
    weights = np.arange(2.0, n_components + 2)
    start = dict(weights_init=weights / weights.sum(), means_init=np.array(means, dtype=float),
                 precisions_init=precisions)
    return start, covariances


# Starts between the clusters: several points change component before hard EM settles.
HARD_START_MEANS = [[3.0, 3.0], [8.0, 1.0], [1.0, 8.0]]
MODERATE_START_MEANS = [[1.0, 1.0], [3.0, -1.0], [-1.0, 3.0]]


def moderate_start(X, covariance_type):
    return shared_start(X, covariance_type, MODERATE_START_MEANS)[0]


def overlapping(seed, covariance_type):
    """conftest's random mixture (components overlap substantially: EM is slow there) and
    a start with the means spread along the first feature's quantiles."""
    X, _ = make_problem(seed, 2000, 2, 3, covariance_type)
    means = np.tile(X.mean(axis=0), (3, 1))
    means[:, 0] = np.quantile(X[:, 0], [1 / 6, 1 / 2, 5 / 6])
    return X, shared_start(X, covariance_type, means)[0]


def n_free_parameters(covariance_type, n_components, n_features):
    """Free parameters of a Gaussian mixture, counted from the model (not from fastem)."""
    per_covariance = n_features * (n_features + 1) // 2 if covariance_type == "full" else n_features
    return n_components * (n_features + per_covariance) + n_components - 1


# -- helpers ----------------------------------------------------------------------------
def gm(n_components=3, **settings):
    settings.setdefault("n_threads", 1)
    return GaussianMixture(n_components, **settings)


def fit_to_max_iter(estimator, X, **fit_params):
    """Fit with tol=0 (or a tol it cannot meet): hitting max_iter is intended."""
    with pytest.warns(ConvergenceWarning, match="did not converge"):
        return estimator.fit(X, **fit_params)


def assert_never_decreases(bounds, slack=1e-12):
    """No step of ``bounds`` goes down by more than rounding (``slack`` relative)."""
    bounds = np.asarray(bounds)
    steps = np.diff(bounds)
    tolerance = slack * max(1.0, np.abs(bounds).max())
    decreases = np.flatnonzero(steps < -tolerance)
    assert not decreases.size, f"objective decreased at iterations {decreases}: {steps[decreases]}"


def terminal_rate(bounds):
    """Ratio of the last two increments of a linearly converging objective: its rate."""
    steps = np.diff(bounds)
    return steps[-1] / steps[-2]


def match_components(means, reference_means):
    """Index of the component of ``means`` closest to each reference mean (a permutation)."""
    order = np.array([np.argmin(((means - m) ** 2).sum(axis=1)) for m in reference_means])
    assert sorted(order) == list(range(len(reference_means))), "two means matched one component"
    return order


def wandering_monte_carlo(X, covariance_type, max_iter, **settings):
    """Stochastic EM (one draw per row, tol=0) from ``moderate_start`` whose best iterate
    is not its last: the first of random_state 0, 1, ... 9 whose last iterate lies below
    its best by more than rounding.  Which seeds do depends on the CPU target's rounding
    (measured on host AVX2, haswell and generic x86-64: 0 to 3 of seeds 0-11 end on their
    best, for either type and 30 or 40 iterations), so a test picks the property, not a
    seed."""
    for seed in range(10):
        mc = fit_to_max_iter(
            gm(covariance_type=covariance_type, algorithm="monte_carlo", mc_samples=1, tol=0,
               max_iter=max_iter, random_state=seed, **moderate_start(X, covariance_type),
               **settings), X)
        bounds = np.array(mc.lower_bounds_)
        if bounds.max() - bounds[-1] > 1e-6:
            return mc
    raise AssertionError("stochastic EM ended on its best iterate for every seed tried")


def assert_same_fit(a, b):
    """Bitwise the same fitted model and history."""
    for name in FITTED:
        assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
    assert a.lower_bounds_ == b.lower_bounds_
    assert a.lower_bound_ == b.lower_bound_
    assert (a.n_iter_, a.n_passes_, a.converged_) == (b.n_iter_, b.n_passes_, b.converged_)


# -- hard (classification) EM -----------------------------------------------------------
def classification_log_joint(X, weights, means, covariances):
    """``log(pi_k) + log N(x_n | mu_k, Sigma_k)`` for every row and component (N, K)."""
    return reference.weighted_log_prob(
        X, weights, means, reference.precisions_cholesky_from_covariances(covariances)
    )


def classification_em(X, weights, means, covariances, reg_covar, max_iter):
    """Celeux & Govaert's CEM in plain NumPy: each row goes wholly to its most probable
    component, the M-step uses those hard counts (sample mean, biased sample covariance
    plus ``reg_covar`` on the diagonal), and the run stops at the first iteration whose
    assignment equals the previous one (after that iteration's M-step, which then
    changes nothing).

    Returns ``(weights, means, covariances, labels, history)``: the final parameters, the
    final assignment and the mean classification log-likelihood ``max_k log(pi_k p_k)``
    of the parameters entering each iteration.
    """
    full = np.ndim(covariances) == 3
    n_samples, n_features = X.shape
    n_components = len(weights)
    history, previous = [], None
    for _ in range(max_iter):
        log_joint = classification_log_joint(X, weights, means, covariances)
        labels = np.argmax(log_joint, axis=1)
        history.append(float(log_joint[np.arange(n_samples), labels].mean()))
        counts = np.bincount(labels, minlength=n_components)
        assert (counts > 0).all(), "the reference does not handle empty components"
        weights = counts / n_samples
        means = np.stack([X[labels == k].mean(axis=0) for k in range(n_components)])
        if full:
            covariances = np.stack([
                np.cov(X[labels == k].T, bias=True) + reg_covar * np.eye(n_features)
                for k in range(n_components)
            ])
        else:
            covariances = np.stack(
                [X[labels == k].var(axis=0) + reg_covar for k in range(n_components)]
            )
        if previous is not None and np.array_equal(labels, previous):
            return weights, means, covariances, labels, history
        previous = labels
    raise AssertionError(f"the reference classification EM did not settle in {max_iter} iterations")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hard_em_matches_a_numpy_classification_em(covariance_type, seed):
    X, truth = separated(seed, covariance_type)
    start, start_covariances = shared_start(X, covariance_type, HARD_START_MEANS)
    # tol=0: only a fixed point (no row changed component) can stop the run.
    hard = gm(covariance_type=covariance_type, algorithm="hard", tol=0, max_iter=100,
              **start).fit(X)
    weights, means, covariances, labels, history = classification_em(
        X, start["weights_init"], start["means_init"], start_covariances, REG_COVAR, 100
    )
    # The problem is a real one: many rows changed component from the start's assignment,
    # over several iterations, and the final partition is the generating one (up to the
    # component ids).
    initial = np.argmax(classification_log_joint(
        X, start["weights_init"], start["means_init"], start_covariances), axis=1)
    assert (initial != labels).sum() > 20 and len(history) >= 3
    assert len(set(zip(labels, truth))) == 3

    # Same start, so the same component ids: the partitions agree row for row.
    assert_array_equal(hard.predict(X), labels)
    # It stops exactly when the reference does: at the first repeated assignment.
    assert hard.converged_
    assert hard.n_iter_ == len(history)
    assert hard.n_passes_ == hard.n_iter_
    # The objective is the classification log-likelihood (measured: within 1e-14).
    assert_allclose(hard.lower_bounds_, history, rtol=1e-12)
    assert_never_decreases(hard.lower_bounds_)
    assert hard.lower_bound_ == hard.lower_bounds_[-1]
    final = classification_log_joint(X, weights, means, covariances).max(axis=1).mean()
    assert_allclose(hard.lower_bound_, final, rtol=1e-12)
    # The fitted parameters are the hard-count M-step of that partition.
    assert_allclose(hard.weights_, weights, rtol=1e-12)
    assert_allclose(hard.means_, means, rtol=1e-12, atol=1e-12)
    assert_allclose(hard.covariances_, covariances, rtol=1e-10, atol=1e-12)


def test_hard_em_objective_is_not_the_log_likelihood():
    # The classification log-likelihood keeps only each row's best term, so it lies below
    # the mixture log-likelihood of the same parameters (score) on overlapping data.
    X = moderate(0, "full")
    hard = gm(covariance_type="full", algorithm="hard", **moderate_start(X, "full")).fit(X)
    assert hard.converged_
    assert hard.score(X) - hard.lower_bound_ > 1e-3


# -- Monte-Carlo EM ---------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("weighted", [False, True])
def test_monte_carlo_em_with_many_draws_lands_near_em(covariance_type, seed, weighted):
    X = moderate(seed, covariance_type)
    start = moderate_start(X, covariance_type)
    sample_weight = make_sample_weight(seed, X.shape[0]) if weighted else None
    em = gm(covariance_type=covariance_type, tol=1e-10, max_iter=1000, **start).fit(
        X, sample_weight=sample_weight)
    assert em.converged_

    # Tolerance.  Near the optimum theta*, an M-step from M draws per row is EM's step
    # plus noise: the mean complete-data score is averaged over M draws, so its
    # covariance is I_m / (N_eff M) (I_m: missing information per unit of weight,
    # N_eff = (sum w)^2 / sum w^2, N when unweighted), and the parameter noise is
    # I_c^{-1} times that.  Whitened by I_c, EM's map contracts each direction by its
    # fraction of missing information lambda in [0, 1), which is also that direction's
    # noise variance times N_eff M; the stationary variance is lambda / ((1 - lambda^2)
    # N_eff M) and the expected log-likelihood loss per unit of weight, half the
    # observed curvature (1 - lambda) times that, sums to
    #     sum_i lambda_i / (2 (1 + lambda_i) N_eff M)  <  p / (4 N_eff M)
    # for p free parameters.  That bounds the mean loss of a single iterate at
    # stationarity; the fit returns the best iterate, lower still.  Measured: best
    # 1.1e-7 to 6.8e-7, the mean of the last 20 iterates 3.6e-7 to 1.3e-6, bound 2.3e-6
    # to 4.3e-6 (and 3.8e-5 to 1.1e-4 for one draw, below).
    draws = 500
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    n_eff = weights.sum() ** 2 / (weights**2).sum()
    bound = n_free_parameters(covariance_type, 3, 2) / (4 * n_eff * draws)
    # tol=0 and as many iterations as EM needed plus 20: the draws have settled.
    settings = dict(covariance_type=covariance_type, algorithm="monte_carlo", tol=0,
                    max_iter=em.n_iter_ + 20, random_state=0, **start)
    mc = fit_to_max_iter(gm(mc_samples=draws, **settings), X, sample_weight=sample_weight)
    gap = em.lower_bound_ - mc.lower_bound_
    # EM stopped within tol * rate / (1 - rate) < 1e-9 of its optimum (rate < 0.9), and
    # Monte-Carlo EM reports the exact log-likelihood of an iterate, which cannot exceed
    # that optimum.
    assert terminal_rate(em.lower_bounds_) < 0.9
    assert -1e-9 < gap < bound
    assert np.mean(em.lower_bound_ - np.array(mc.lower_bounds_[-20:])) < 2 * bound
    # The reported value is the (weighted) log-likelihood of the returned parameters.
    assert_allclose(mc.score(X, sample_weight=sample_weight), mc.lower_bound_, rtol=1e-12)
    assert mc.n_passes_ == mc.n_iter_

    # The tolerance resolves the number of draws: stochastic EM (one draw per row) from
    # the same start and seed stays farther away (its bound is 500 times larger).
    sem = fit_to_max_iter(gm(mc_samples=1, **settings), X, sample_weight=sample_weight)
    assert em.lower_bound_ - sem.lower_bound_ > bound


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 Numba threads")
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("algorithm", ["monte_carlo", "hard"])
def test_fit_does_not_depend_on_threads_or_run(covariance_type, algorithm):
    # 3000 rows are three chunks of rows, each with its own stream of draws.
    X = moderate(2, covariance_type)
    weights = make_sample_weight(2, X.shape[0])
    settings = dict(covariance_type=covariance_type, algorithm=algorithm, tol=0, max_iter=15,
                    random_state=7, **moderate_start(X, covariance_type))
    if algorithm == "monte_carlo":
        settings["mc_samples"] = 5

    def fit(threads, context=None):
        with n_threads(context):
            return fit_to_max_iter(gm(**settings, n_threads=threads), X, sample_weight=weights)

    first = fit(1)
    for other in (fit(1), fit(2), fit(None, context=1), fit(None, context=2)):
        assert_same_fit(other, first)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_monte_carlo_random_state_seeds_the_draws(covariance_type):
    X = moderate(2, covariance_type)
    settings = dict(covariance_type=covariance_type, algorithm="monte_carlo", mc_samples=5, tol=0,
                    max_iter=15, **moderate_start(X, covariance_type))
    one = fit_to_max_iter(gm(**settings, random_state=1), X)
    again = fit_to_max_iter(gm(**settings, random_state=1), X)
    other = fit_to_max_iter(gm(**settings, random_state=2), X)
    assert_same_fit(again, one)
    # The start is shared, so the first (exact) log-likelihood is too; the draws differ.
    assert other.lower_bounds_[0] == one.lower_bounds_[0]
    assert all(a != b for a, b in zip(other.lower_bounds_[1:], one.lower_bounds_[1:]))
    assert np.abs(other.means_ - one.means_).max() > 1e-6


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_monte_carlo_auto_converges_and_keeps_the_best_iterate(covariance_type):
    X = moderate(0, covariance_type)
    mc = gm(covariance_type=covariance_type, algorithm="monte_carlo", random_state=0,
            **moderate_start(X, covariance_type)).fit(X)
    assert mc.mc_samples is None  # None means "auto"
    assert mc.converged_
    # "auto" starts at one draw and doubles on every stall (a gain below tol); it may stop
    # only once it has MC_MAX_DRAWS draws, so after at least log2(MC_MAX_DRAWS) stalls.
    doublings = math.log2(MC_MAX_DRAWS)
    changes = np.diff(mc.lower_bounds_)
    assert (changes[:-1] < mc.tol).sum() >= doublings
    assert mc.n_iter_ >= doublings + 1
    assert abs(changes[-1]) < mc.tol  # and it stopped on a small change
    assert mc.lower_bound_ == max(mc.lower_bounds_)
    assert_allclose(mc.score(X), mc.lower_bound_, rtol=1e-12)
    explicit = gm(covariance_type=covariance_type, algorithm="monte_carlo", mc_samples="auto",
                  random_state=0, **moderate_start(X, covariance_type)).fit(X)
    assert_same_fit(explicit, mc)


def test_monte_carlo_auto_does_not_stop_before_its_largest_draw_count():
    # On separated clusters every row is unambiguous and the bound stalls at once; a run
    # allowed to stop with fewer draws would stop after two or three iterations.
    X, _ = separated(0, "full")
    start, _ = shared_start(X, "full", HARD_START_MEANS)
    mc = gm(covariance_type="full", algorithm="monte_carlo", random_state=0, **start).fit(X)
    assert mc.converged_
    stalls = np.diff(mc.lower_bounds_)[:-1] < mc.tol
    assert stalls.sum() >= math.log2(MC_MAX_DRAWS)
    assert mc.lower_bound_ == max(mc.lower_bounds_)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_monte_carlo_returns_its_best_iterate_not_its_last(covariance_type):
    # Stochastic EM (one draw per row) wanders around the optimum, so its best iterate
    # is usually not its last; the fit returns the best one.
    X = moderate(0, covariance_type)
    mc = wandering_monte_carlo(X, covariance_type, max_iter=40)  # its last is not its best
    bounds = np.array(mc.lower_bounds_)
    best = int(np.argmax(bounds))
    assert mc.lower_bound_ == bounds[best]
    # The returned parameters are that iterate's: their log-likelihood is the best one.
    assert_allclose(mc.score(X), bounds[best], rtol=1e-12)


# -- generalized EM ---------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("gem_step", ["overrelaxed", "ecm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_generalized_em_reaches_em_optimum(covariance_type, gem_step, seed):
    X = moderate(seed, covariance_type)
    tol = 1e-9
    settings = dict(covariance_type=covariance_type, tol=tol, max_iter=1000,
                    **moderate_start(X, covariance_type))
    em = gm(**settings).fit(X)
    gem = gm(**settings, algorithm="generalized", gem_step=gem_step).fit(X)
    assert em.converged_ and gem.converged_
    assert gem.gem_step == gem_step
    assert_never_decreases(gem.lower_bounds_)
    assert gem.lower_bounds_[-1] - gem.lower_bounds_[0] > 0.1  # it really climbed

    # Tolerance from tol: a run stops when an iteration gains less than tol; converging
    # linearly at rate r, it is then within tol * r / (1 - r) of its limit.  Both runs'
    # rates are below 0.9 (measured: EM 0.56-0.69, ECM 0.49-0.61, over-relaxed 0.02-0.4),
    # so each is within 9 tol of the optimum and the two within 18 tol (measured: 1.9 tol).
    rate_bound = 0.9
    for run in (em, gem):
        assert terminal_rate(run.lower_bounds_) < rate_bound
    slack = 2 * tol * rate_bound / (1 - rate_bound)
    assert abs(gem.lower_bound_ - em.lower_bound_) < slack
    # The same optimum, so the same means (after matching: over-relaxation may swap ids).
    # Measured: means within 1.4e-4, weights within 2e-5; the components are 4 apart.
    order = match_components(gem.means_, em.means_)
    assert_allclose(gem.means_[order], em.means_, atol=2e-3)
    assert_allclose(gem.weights_[order], em.weights_, atol=2e-4)

    # Passes over the data: EM takes one per iteration; ECM two (an E-step before each of
    # its two conditional maximisations); over-relaxed EM one per iteration plus one per
    # rejected over-relaxed step.
    assert em.n_passes_ == em.n_iter_
    assert gem.n_passes_ >= gem.n_iter_
    if gem_step == "ecm":
        assert gem.n_passes_ == 2 * gem.n_iter_
    else:
        assert gem.n_iter_ < em.n_iter_  # the over-relaxed steps were taken and helped


def test_generalized_defaults_to_overrelaxed():
    X = moderate(1, "diag")
    settings = dict(covariance_type="diag", algorithm="generalized", tol=1e-6,
                    **moderate_start(X, "diag"))
    assert gm(**settings).get_params()["gem_step"] is None
    assert_same_fit(gm(**settings).fit(X), gm(**settings, gem_step="overrelaxed").fit(X))
    assert check_variant_settings("GaussianMixture", "generalized", None, None, None) == (
        "generalized", None, "overrelaxed", None)
    assert check_variant_settings("GaussianMixture", "monte_carlo", None, None, None) == (
        "monte_carlo", "auto", None, None)
    # numpy integers are accepted as draw counts and become Python ints.
    checked = check_variant_settings("GaussianMixture", "monte_carlo", np.int64(3), None, None)
    assert checked[1] == 3 and type(checked[1]) is int


# -- SQUAREM ----------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("base", ["em", "ecm"])
@pytest.mark.parametrize("seed", [0, 1])
def test_squarem_reaches_em_in_fewer_passes(covariance_type, base, seed):
    X, start = overlapping(seed, covariance_type)
    tol = 1e-6
    settings = dict(covariance_type=covariance_type, tol=tol, max_iter=2000, **start)
    map_settings = dict(algorithm="generalized", gem_step="ecm") if base == "ecm" else {}
    em = gm(**settings).fit(X)
    plain = gm(**settings, **map_settings).fit(X) if base == "ecm" else em
    fast = gm(**settings, **map_settings, accelerate="squarem").fit(X)
    assert em.converged_ and plain.converged_ and fast.converged_
    # EM is slow here (measured rates 0.88-0.98: 74 to 224 iterations).  On these data
    # all the runs end at the same optimum; extrapolation can in general carry SQUAREM
    # into another basin (it guarantees monotonicity, not EM's limit).
    assert em.n_iter_ >= 50 and terminal_rate(em.lower_bounds_) > 0.85

    assert_never_decreases(fast.lower_bounds_)
    # At least EM's final log-likelihood (and the accelerated map's) up to tol...
    assert fast.lower_bound_ >= em.lower_bound_ - tol
    assert fast.lower_bound_ >= plain.lower_bound_ - tol
    # ...in fewer passes over the data than the map it accelerates, and than plain EM
    # (measured: 2.3 to 3.1 times fewer than EM; 1.4 to 6.4 times fewer than ECM).
    assert fast.n_passes_ < plain.n_passes_
    assert fast.n_passes_ < em.n_passes_
    # One cycle is two steps of the map, then either a jump and its stabilising step
    # (two more) or, if the jump is rejected, one more plain step: 2 to 4 evaluations of
    # the map after the first, each one pass (EM) or two (ECM).
    per_map = 2 if base == "ecm" else 1
    cycles = fast.n_iter_ - 1
    assert per_map * (1 + 2 * cycles) <= fast.n_passes_ <= per_map * (1 + 4 * cycles)


PASS_COUNTED = [
    dict(),
    dict(algorithm="hard"),
    dict(algorithm="monte_carlo", mc_samples=3),
    dict(algorithm="generalized", gem_step="overrelaxed"),
    dict(algorithm="generalized", gem_step="ecm"),
    dict(accelerate="squarem"),
    dict(algorithm="generalized", gem_step="ecm", accelerate="squarem"),
]


@pytest.mark.parametrize("params", PASS_COUNTED, ids=[str(p) for p in PASS_COUNTED])
def test_n_passes_counts_the_e_steps(params, monkeypatch):
    # n_passes_ is the number of passes over the data (E-steps) of the run; with a
    # complete user start no pass goes to initialisation, so every call of the data
    # source's estep belongs to the run.
    calls = []
    original = ArraySource.estep

    def counting_estep(self, *args, **kwargs):
        calls.append(1)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ArraySource, "estep", counting_estep)
    X, start = overlapping(0, "full")
    fitted = fit_to_max_iter(gm(tol=0, max_iter=12, random_state=0, **params, **start), X)
    assert fitted.n_iter_ == 12
    assert fitted.n_passes_ == len(calls)
    assert fitted.n_passes_ >= fitted.n_iter_


# -- invalid combinations ---------------------------------------------------------------
INVALID = [
    (dict(algorithm="hard", accelerate="squarem"), SQUAREM_MESSAGE + "algorithm='hard'."),
    (dict(algorithm="monte_carlo", accelerate="squarem"),
     SQUAREM_MESSAGE + "algorithm='monte_carlo'."),
    (dict(algorithm="generalized", accelerate="squarem"),
     SQUAREM_MESSAGE + "algorithm='generalized', gem_step='overrelaxed'."),
    (dict(algorithm="generalized", gem_step="overrelaxed", accelerate="squarem"),
     SQUAREM_MESSAGE + "algorithm='generalized', gem_step='overrelaxed'."),
] + [
    (dict(algorithm="monte_carlo", mc_samples=value),
     "The 'mc_samples' parameter of GaussianMixture must be 'auto' or an int >= 1 (draws per "
     f"point); got {text}.")
    for value, text in [(0, "0"), (-1, "-1"), (2.5, "2.5"), ("many", "'many'"), (True, "True")]
] + [
    (dict(mc_samples=10),
     "mc_samples=10 is only used by algorithm='monte_carlo'; with algorithm='em' leave it at "
     "None."),
    (dict(mc_samples="auto"),
     "mc_samples='auto' is only used by algorithm='monte_carlo'; with algorithm='em' leave it "
     "at None."),
    (dict(algorithm="generalized", gem_step="bogus"),
     "The 'gem_step' parameter of GaussianMixture must be one of 'overrelaxed', 'ecm'; got "
     "'bogus'."),
    (dict(gem_step="ecm"),
     "gem_step='ecm' is only used by algorithm='generalized'; with algorithm='em' leave it at "
     "None."),
    (dict(algorithm="hard", gem_step="ecm"),
     "gem_step='ecm' is only used by algorithm='generalized'; with algorithm='hard' leave it at "
     "None."),
    (dict(algorithm="bogus"),
     "The 'algorithm' parameter of GaussianMixture must be one of 'em', 'hard', 'monte_carlo', "
     "'generalized'; got 'bogus'."),
    (dict(accelerate="bogus"),
     "The 'accelerate' parameter of GaussianMixture must be None or 'squarem'; got 'bogus'."),
]


@pytest.mark.parametrize("params, message", INVALID, ids=[str(p) for p, _ in INVALID])
def test_invalid_variant_settings_raise(params, message):
    X = moderate(0, "diag", n_samples=200)
    pattern = f"^{re.escape(message)}$"
    fresh = GaussianMixture(2, n_threads=1, **params)
    with pytest.raises(ValueError, match=pattern):
        fresh.fit(X)
    assert not hasattr(fresh, "means_")

    # A failed fit also forgets an earlier successful one.
    refit = GaussianMixture(2, random_state=0, n_threads=1).fit(X)
    assert hasattr(refit, "means_")
    refit.set_params(**params)
    with pytest.raises(ValueError, match=pattern):
        refit.fit(X)
    assert not [name for name in vars(refit) if name.endswith("_")]


def test_valid_combinations_fit():
    X = moderate(0, "diag", n_samples=400)
    for params in (
        dict(accelerate="squarem"),
        dict(algorithm="generalized", gem_step="ecm", accelerate="squarem"),
        dict(algorithm="monte_carlo", mc_samples=np.int64(3)),
        dict(algorithm="monte_carlo", mc_samples=1),
    ):
        fitted = gm(2, covariance_type="diag", random_state=0, max_iter=300, **params).fit(X)
        assert fitted.converged_ and np.isfinite(fitted.lower_bound_), params


# -- warm start, parameters, clone ------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_continues_ecm_exactly(covariance_type):
    # ECM's map has no internal state, so 5 + 5 warm iterations are the path of 10.
    X = moderate(1, covariance_type)
    settings = dict(covariance_type=covariance_type, algorithm="generalized", gem_step="ecm", tol=0,
                    **moderate_start(X, covariance_type))
    warm = gm(**settings, max_iter=5, warm_start=True)
    first = list(fit_to_max_iter(warm, X).lower_bounds_)
    second = list(fit_to_max_iter(warm, X).lower_bounds_)
    straight = fit_to_max_iter(gm(**settings, max_iter=10), X)
    assert second[0] > first[-1]
    assert_allclose(first + second, straight.lower_bounds_, rtol=1e-12)
    for name in FITTED:
        assert_allclose(getattr(warm, name), getattr(straight, name), rtol=1e-10, atol=1e-13)
    assert (warm.n_iter_, warm.n_passes_) == (5, 10)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_warm_start_with_hard_and_monte_carlo(covariance_type):
    X, _ = separated(0, covariance_type)
    start, _ = shared_start(X, covariance_type, HARD_START_MEANS)
    hard = gm(covariance_type=covariance_type, algorithm="hard", tol=0, warm_start=True, **start)
    labels = hard.fit(X).predict(X)
    bound, n_iter = hard.lower_bound_, hard.n_iter_
    # From a fixed point nothing moves: one pass to see it, a second to confirm it.
    hard.fit(X)
    assert hard.converged_ and hard.n_iter_ == 2 < n_iter
    assert_array_equal(hard.predict(X), labels)
    assert_allclose(hard.lower_bounds_, [bound, bound], rtol=1e-13)

    # Monte-Carlo EM returns its best iterate; a warm fit starts from it, so its first
    # (exact) log-likelihood is the previous fit's lower bound.
    X = moderate(0, covariance_type)
    mc = wandering_monte_carlo(X, covariance_type, max_iter=30, warm_start=True)
    previous = mc.lower_bound_
    assert previous != mc.lower_bounds_[-1]  # the best iterate was not the last one
    fit_to_max_iter(mc, X)
    assert_allclose(mc.lower_bounds_[0], previous, rtol=1e-13)
    assert mc.lower_bound_ == max(mc.lower_bounds_)


VARIANT_PARAMS = [
    dict(algorithm="monte_carlo", mc_samples=7),
    dict(algorithm="monte_carlo", mc_samples="auto"),
    dict(algorithm="generalized", gem_step="ecm", accelerate="squarem"),
    dict(algorithm="generalized", gem_step="overrelaxed"),
    dict(algorithm="hard"),
    dict(accelerate="squarem"),
]


@pytest.mark.parametrize("params", VARIANT_PARAMS, ids=[str(p) for p in VARIANT_PARAMS])
def test_get_params_and_clone_round_trip(params):
    estimator = GaussianMixture(3, covariance_type="diag", random_state=3, n_threads=1, **params)
    got = estimator.get_params()
    defaults = dict(algorithm="em", mc_samples=None, gem_step=None, accelerate=None)
    for name, default in defaults.items():
        assert got[name] == params.get(name, default), name

    X = moderate(0, "diag", n_samples=1500)
    with warnings.catch_warnings():  # converging or not is beside the point here
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
        copy = clone(estimator)
        assert type(copy) is GaussianMixture and copy.get_params() == got
        assert not [name for name in vars(copy) if name.endswith("_")]
        assert_same_fit(copy.fit(X), estimator)
    for name, value in params.items():
        assert f"{name}={value!r}" in repr(copy)

    # set_params moves between variants; get_params reports what was set.
    copy.set_params(algorithm="em", mc_samples=None, gem_step=None, accelerate=None)
    assert {name: copy.get_params()[name] for name in defaults} == defaults
    assert copy.set_params(**params).get_params() == got


def test_save_and_load_keep_variant_settings_given_as_numpy_integers(tmp_path):
    X = moderate(0, "diag", n_samples=600)
    estimator = GaussianMixture(
        np.int64(3), covariance_type="diag", algorithm="monte_carlo", mc_samples=np.int64(5),
        random_state=0, n_threads=1, max_iter=5,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X)
    path = tmp_path / "model.npz"
    estimator.save(path)
    loaded = fastem.load(path)
    assert loaded.get_params()["mc_samples"] == 5 and loaded.n_passes_ == estimator.n_passes_
    assert_allclose(loaded.score_samples(X), estimator.score_samples(X), rtol=0, atol=0)
