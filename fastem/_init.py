"""Starting parameters: k-means (seeded by k-means++), k-means++, random, random_from_data,
split.

K-means is itself an EM variant (hard EM moving the means only), and the splitting start
runs a few EM iterations after each split, so this module sits above the EM driver and
runs it.

Every method but "split" ends the same way: it produces E-step statistics from an
assignment of the points to components and the family's M-step turns them into
parameters, as scikit-learn's GaussianMixture does with its initial responsibilities.
"""

import math
from functools import partial

import numpy as np

from ._kernels import gaussian_tile
from ._kernels._jit import MODE_HARD, MODE_SOFT, limit_threads
from ._kernels.ahead import compile_ahead, compile_signatures
from ._kernels.seeding import squared_distances
from ._data import ArraySource, BinaryRows
from ._em import ConvergenceMonitor, fit_em
from ._families.bernoulli import BernoulliParams, BinaryKMeansFamily
from ._families.gaussian import GaussianFamily, GaussianParams
from ._stats import BernoulliStats, GaussianStats
from ._variants import HardEM, StandardEM

INIT_METHODS = ("kmeans", "k-means++", "random", "random_from_data", "split")

_RANDOM_BLOCK_ROWS = 4096

# Standard EM iterations, on all current components, after each split of the "split"
# start: enough for the two halves to move apart, few enough that K - 1 splits stay cheap.
SPLIT_EM_ITERATIONS = 5


def check_enough_rows(n_samples, n_components):
    """A mixture needs at least as many rows as components."""
    if n_samples < n_components:
        raise ValueError(
            f"X has {n_samples} samples but n_components={n_components}; a mixture "
            "needs at least as many samples as components."
        )


def kmeans_plusplus(X, n_clusters, rng, sample_weight=None, n_threads=None):
    """Row indices of ``n_clusters`` seeds chosen by greedy k-means++.

    Each new seed is the best (lowest potential) of ``2 + floor(log K)`` candidates drawn
    with probability proportional to the weighted squared distance to the closest seed
    (Arthur & Vassilvitskii 2007, with the greedy trials of scikit-learn).
    """
    n_samples = X.shape[0]
    weights = np.ones(n_samples) if sample_weight is None else sample_weight
    n_trials = 2 + int(math.log(n_clusters))
    indices = np.empty(n_clusters, dtype=np.int64)
    with limit_threads(n_threads):
        indices[0] = rng.choice(n_samples, p=weights / weights.sum())
        closest = np.empty((1, n_samples))
        squared_distances(X, X[indices[:1]].astype(np.float64), closest)
        closest = closest[0]
        potential = closest @ weights
        for c in range(1, n_clusters):
            cumulative = np.cumsum(weights * closest)
            draws = rng.uniform(size=n_trials) * potential
            candidates = np.minimum(np.searchsorted(cumulative, draws), n_samples - 1)
            distances = np.empty((n_trials, n_samples))
            squared_distances(X, X[candidates].astype(np.float64), distances)
            np.minimum(distances, closest, out=distances)
            potentials = distances @ weights
            best = int(np.argmin(potentials))
            indices[c] = candidates[best]
            closest, potential = distances[best].copy(), potentials[best]  # not a view that keeps the block alive
    return indices


def kmeans_tolerance(source, tol):
    """scikit-learn's k-means tolerance: ``tol`` times the mean over features of the
    (unweighted) variance of the data, from one pass of the kernel."""
    family = GaussianFamily("diag", reg_covar=0.0)
    unweighted = ArraySource(source.X, None, source.n_threads)
    first_row = source.X[:1].astype(np.float64)
    stats = unweighted.estep(family, family.identity_params(first_row), MODE_HARD)
    mean_offset = stats.sx[0] / stats.nk[0]
    return tol * float((stats.sxx[0] / stats.nk[0] - mean_offset**2).mean())


def lloyd(source, centres, max_iter=300, shift_tol=0.0, verbose=0, verbose_interval=1):
    """Lloyd's k-means from ``centres`` (K, D), run as hard EM on the diagonal Gaussian
    kernel with equal weights and unit covariances, moving the means only.

    It stops when no point changes cluster, when the centres move by at most
    ``shift_tol`` (summed squared shift), or after ``max_iter`` iterations; an empty
    cluster is re-seeded at the point farthest from its closest centre.  Returns the
    ``EMResult`` (its ``params.means`` are the centres, its objective minus the inertia).
    """
    family = GaussianFamily("diag", reg_covar=0.0)
    variant = HardEM(update=("means",), reseed_empty=True, shift_tol=shift_tol, objective="inertia")
    monitor = ConvergenceMonitor(0.0, max_iter, verbose, verbose_interval, objective_name="-inertia")
    return fit_em(source, family, family.identity_params(np.asarray(centres, dtype=np.float64)), monitor, variant)


def kmeans(source, n_clusters, rng, max_iter=300, tol=1e-4):
    """Centres (K, D) of k-means seeded by k-means++ (the "kmeans" initialisation)."""
    seeds = source.X[kmeans_plusplus(source.X, n_clusters, rng, source.sample_weight, source.n_threads)]
    return lloyd(source, seeds, max_iter, kmeans_tolerance(source, tol)).params.means


def _random_resp_blocks(n_samples, n_components, sample_weight, rng):
    """Uniformly random responsibilities times the sample weights, a block of rows at a
    time: ``(start, stop, resp)`` (the same numbers as one (N, K) draw, without holding
    N x K)."""
    for start in range(0, n_samples, _RANDOM_BLOCK_ROWS):
        stop = min(start + _RANDOM_BLOCK_ROWS, n_samples)
        resp = rng.uniform(size=(stop - start, n_components))
        resp /= resp.sum(axis=1, keepdims=True)
        if sample_weight is not None:
            resp *= sample_weight[start:stop, None]
        yield start, stop, resp


def _random_resp_stats(X, sample_weight, n_components, covariance_type, rng):
    """Statistics of uniformly random responsibilities."""
    shift = np.tile(np.average(X, axis=0, weights=sample_weight), (n_components, 1))
    stats = GaussianStats.zeros(shift, covariance_type)
    nk, sx, sxx = stats.nk, stats.sx, stats.sxx
    for start, stop, resp in _random_resp_blocks(X.shape[0], n_components, sample_weight, rng):
        centred = X[start:stop].astype(np.float64) - shift[0]
        nk += resp.sum(axis=0)
        sx += resp.T @ centred
        if covariance_type == "full":
            for k in range(n_components):
                sxx[k] += (resp[:, k, None] * centred).T @ centred
        else:
            sxx += resp.T @ centred**2
    return GaussianStats(nk, sx, sxx, shift, 0.0, float(nk.sum()))


def _point_stats(X, indices, covariance_type):
    """Statistics that put each component on one data point (unit weight, no spread)."""
    shift = X[indices].astype(np.float64)
    stats = GaussianStats.zeros(shift, covariance_type)
    return GaussianStats(np.ones(len(indices)), stats.sx, stats.sxx, shift, 0.0, float(len(indices)))


class _UnlabelledFamily(GaussianFamily):
    """A Gaussian family whose E-steps ignore known labels: every row belongs to the
    data's moments, whatever component it is known to come from."""

    def estep(self, X, sample_weight, params, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0, known_labels=None):
        return super().estep(X, sample_weight, params, mode, seed, n_draws, first_row)


def data_moments(source, n_components, missing=False):
    """The weighted mean (D,) and covariance (D, D) of every row of ``source``, the
    covariance over the total weight less one (R's ``var``; over the total weight where
    that is at most 1), from one E-step of a one-component model.  Moments are taken
    about the mean of the initialisation sample, so offset data keeps its precision.

    With ``missing`` (NaN entries are missing values), the E-step is that of missing
    values: about the mean of the sample's rows that initialisation uses
    (``without_nan``), under a diagonal covariance of the sample's observed variances,
    so a missing entry counts as that mean, with that variance.  A one-component
    E-step gives every row weight 1 whatever the covariance, so data without NaN get
    exactly the moments they get without ``missing``."""
    sample = source.init_sample(n_components)
    if missing:
        rows = without_nan(sample, 1)
        shift = np.average(rows.X, axis=0, weights=rows.sample_weight)[None].astype(np.float64)
        family = _UnlabelledFamily("full", 0.0, missing="em")
        params = _diagonal_params(family, shift, _observed_variances(sample.X, sample.sample_weight))
    else:
        shift = np.average(sample.X, axis=0, weights=sample.sample_weight)[None].astype(np.float64)
        family = _UnlabelledFamily("full", 0.0)
        params = family.identity_params(shift)
    stats = source.estep(family, params)
    weight = stats.nk[0]
    offset = stats.sx[0] / weight
    scatter = stats.sxx[0] - np.outer(stats.sx[0], offset)
    covariance = 0.5 * (scatter + scatter.T) / (weight - 1.0 if weight > 1.0 else weight)
    return shift[0] + offset, covariance


def _observed_variances(X, sample_weight):
    """Each column's weighted variance over the rows where it is not NaN; 1 where that
    is not positive (a constant column, or one no row has)."""
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    observed = ~np.isnan(X)
    values = np.where(observed, X, 0.0).astype(np.float64)
    totals = weights @ observed
    with np.errstate(invalid="ignore", divide="ignore"):
        means = (weights @ values) / totals
        variances = (weights @ (observed * (values - means) ** 2)) / totals
    return np.where(variances > 0, variances, 1.0)


def _diagonal_params(family, means, variances):
    """One component of weight 1 at ``means`` (1, D) with covariance diag(``variances``)."""
    covariances = np.diag(variances)[None]
    return GaussianParams(
        np.ones(1), means, covariances, family.precisions_cholesky_from_covariances(covariances), "full"
    )


def without_nan(sample, n_components):
    """The rows of ``sample`` (an ArraySource) that initialisation can use when some
    hold NaN (missing values): the rows without NaN when at least ``n_components`` of
    them have positive weight, otherwise every row with each NaN replaced by its
    column's weighted mean over the rows that have it (0 where no row has it).
    ``sample`` itself when it holds no NaN."""
    X, weights = sample.X, sample.sample_weight
    if not (isinstance(X, np.ndarray) and X.dtype.kind == "f"):
        return sample
    incomplete = np.isnan(X).any(axis=1)
    if not incomplete.any():
        return sample
    complete = np.flatnonzero(~incomplete)
    usable = complete if weights is None else complete[weights[complete] > 0]
    if usable.size >= n_components:
        return ArraySource(X[complete], None if weights is None else weights[complete], sample.n_threads)
    row_weights = np.ones(X.shape[0]) if weights is None else weights
    observed = ~np.isnan(X)
    totals = row_weights @ observed
    sums = row_weights @ np.where(observed, X, 0.0).astype(np.float64)
    column_means = np.divide(sums, totals, out=np.zeros_like(sums), where=totals > 0)
    filled = np.where(observed, X, column_means.astype(X.dtype))
    return ArraySource(np.ascontiguousarray(filled, dtype=X.dtype), weights, sample.n_threads)


def initial_params(source, family, n_components, init_params, rng):
    """Data-driven starting parameters for ``family`` by method ``init_params``, from the
    rows of ``source`` that initialisation may use (``source.init_sample``), without
    NaN (``without_nan``)."""
    if init_params == "split":
        source = source.init_sample(n_components)
        check_enough_rows(source.n_samples, n_components)
        return split_start(without_nan(source, n_components), family, n_components)
    return family.m_step(initial_stats(source, family, n_components, init_params, rng))


def initial_stats(source, family, n_components, init_params, rng):
    """The E-step statistics of the starting assignment of ``init_params`` (any method
    but "split"), from the rows of ``source`` that initialisation may use: what an
    M-step turns into starting parameters.  ``family`` is a ``GaussianFamily``; its
    covariance type decides the second moments (and the k-means assignment's E-step)."""
    source = source.init_sample(n_components)
    check_enough_rows(source.n_samples, n_components)
    source = without_nan(source, n_components)
    X, weights = source.X, source.sample_weight
    covariance_type = family.moments_type
    if init_params == "kmeans":
        # The E-step below and the EM after it run another tree of kernels than k-means.
        # The helper compiles the E-step's tree from its front; this process first
        # takes the kernels it reaches last, then compiles k-means.
        late = partial(compile_late_kernels, family, X.dtype)
        with compile_ahead(compile_estep, family, X.dtype, source.n_features, n_components, first=late) as helper:
            start = family.identity_params(kmeans(source, n_components, rng))
            if helper.started:
                # The helper compiles the M-step's kernels after the E-step's; this
                # process, done with k-means, compiles them meanwhile.
                family.precisions_cholesky_from_covariances(start.covariances)
        stats = source.estep(family, start, MODE_HARD)
    elif init_params == "k-means++":
        stats = _point_stats(X, kmeans_plusplus(X, n_components, rng, weights, source.n_threads), covariance_type)
    elif init_params == "random_from_data":
        stats = _point_stats(X, rng.choice(X.shape[0], size=n_components, replace=False), covariance_type)
    elif init_params == "random":
        stats = _random_resp_stats(X, weights, n_components, covariance_type, rng)
    else:  # validated by the estimator; kept for direct callers
        raise ValueError(f"init_params must be one of {INIT_METHODS}; got {init_params!r}.")
    return stats


def _compile_rows(dtype, n_features, n_components):
    """The few random rows of ``dtype`` that the compile jobs below run on, and their
    first ``n_components`` as float64 centres."""
    rows = np.random.RandomState(0).standard_normal((max(64, 2 * n_components), n_features)).astype(dtype)
    return rows, rows[:n_components].astype(np.float64)


def compile_estep(family, dtype, n_features, n_components):
    """One E-step and M-step of ``family`` on a few random rows of ``dtype``: they
    compile (or load) the kernels of every E-step and M-step of that family on such
    data.  ``initial_stats`` runs it in a helper process while k-means compiles its
    own kernels (``compile_ahead``).  (The sizes do not change the kernels; the
    family's own arrays, a prior's or held parameters, fix n_features and n_components.)"""
    rows, centres = _compile_rows(dtype, n_features, n_components)
    family.m_step(ArraySource(rows).estep(family, family.identity_params(centres), MODE_SOFT))


def compile_kmeans_outputs(dtype, n_features, n_clusters):
    """k-means++ seeding and the labels' pass of ``KMeans`` on a few random rows of
    ``dtype``: they compile (or load) the kernels a ``KMeans`` fit runs besides its
    k-means steps.  ``KMeans.fit`` runs it in a helper process while its first k-means
    step compiles (``compile_ahead``)."""
    rows, centres = _compile_rows(dtype, n_features, n_clusters)
    kmeans_plusplus(rows, n_clusters, np.random.RandomState(0))
    family = GaussianFamily("diag", reg_covar=0.0)
    ArraySource(rows).posterior(family, family.identity_params(centres), label=True)


def compile_late_kernels(family, dtype):
    """Compile (or load) the kernels that ``compile_estep``'s E-step reaches last
    (``gaussian_tile.late_kernels``: a full covariance's, or those of the diagonal
    kernels that the other types run, a tied one on whitened rows)."""
    compile_signatures(gaussian_tile.late_kernels(dtype, diagonal=family.covariance_type != "full"))


# -- splitting start ----------------------------------------------------------------------
def _row_blocks(n_samples):
    """``(start, stop)`` of consecutive blocks of at most ``_RANDOM_BLOCK_ROWS`` rows."""
    starts = range(0, n_samples, _RANDOM_BLOCK_ROWS)
    return [(start, min(start + _RANDOM_BLOCK_ROWS, n_samples)) for start in starts]


def _whole_data_stats(X, sample_weight, moments_type):
    """Statistics of one component that holds every row, about the weighted mean, in
    float64 a block of rows at a time (no float64 copy of X)."""
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    blocks = _row_blocks(X.shape[0])
    total = float(weights.sum())
    mean = sum(weights[start:stop] @ X[start:stop].astype(np.float64) for start, stop in blocks) / total
    stats = GaussianStats.zeros(mean[None, :], moments_type)
    for start, stop in blocks:
        centred = X[start:stop].astype(np.float64) - mean
        weighted = weights[start:stop, None] * centred
        stats.sx[0] += weighted.sum(axis=0)
        stats.sxx[0] += weighted.T @ centred if moments_type == "full" else (weighted * centred).sum(axis=0)
    return GaussianStats(np.array([total]), stats.sx, stats.sxx, stats.shift, 0.0, total)


def full_covariances(covariance_type, params):
    """Every component's covariance as a matrix, (n_components, n_features, n_features).

    From the family's shape: "full" (K, D, D) as it is, "diag" (K, D) and "spherical"
    (K,) on the diagonal, "tied" (D, D) the one shared matrix for every component.
    """
    n_components, n_features = params.means.shape
    covariances = params.covariances
    if covariance_type == "full":
        return covariances
    if covariance_type == "tied":
        return np.broadcast_to(covariances, (n_components, n_features, n_features))
    if covariance_type == "spherical":
        covariances = np.repeat(covariances[:, None], n_features, axis=1)
    return covariances[:, :, None] * np.eye(n_features)


def principal_axes(covariances):
    """The largest eigenvalue of every matrix in ``covariances`` (K, D, D), and its unit
    eigenvector: arrays (K,) and (K, D).

    Each eigenvector is signed so that its largest-magnitude coordinate (the first of
    equal ones) is positive, whatever sign LAPACK returned (``_signed``).  The axis of
    a diagonal matrix is the coordinate of its largest variance (the first of equal
    ones), not LAPACK's pick among equal eigenvalues (all of a spherical covariance's
    are equal).
    """
    n_features = covariances.shape[1]
    values, vectors = np.linalg.eigh(covariances)
    largest, axes = values[:, -1].copy(), vectors[:, :, -1].copy()
    variances = np.diagonal(covariances, axis1=1, axis2=2)
    diagonal = np.flatnonzero((covariances == variances[:, :, None] * np.eye(n_features)).all(axis=(1, 2)))
    top = variances[diagonal].argmax(axis=1)
    largest[diagonal] = variances[diagonal, top]
    axes[diagonal] = np.eye(n_features)[top]
    return largest, _signed(axes)


def _signed(axes):
    """Unit vectors (K, D) each times the sign of its largest-magnitude coordinate (the
    first of equal ones), so that the sign an eigensolver happened to pick is undone."""
    signs = np.sign(axes[np.arange(axes.shape[0]), np.abs(axes).argmax(axis=1)])
    return axes * signs[:, None]


def split_component(family, params):
    """One split of the "split" start: ``params`` with one component more.

    The component split is the one with the largest weighted variance along its
    principal axis, ``weights[k] * lambda_max[k]`` (the first of equal ones), where
    ``lambda_max[k]`` is the largest eigenvalue of its covariance.  Its two halves sit
    at ``means[k] +/- sqrt(lambda_max[k]) * v[k]`` (``v[k]`` the unit eigenvector, signed
    by ``principal_axes``), each with half its weight and its covariance.  The "+" half
    takes its place and the "-" half is appended last.

    Parameters
    ----------
    family : GaussianFamily
        Its ``covariance_type`` says the shape of ``params.covariances`` ("full",
        "diag", "spherical" or "tied"; a tied covariance is shared and stays as it is).
    params : GaussianParams
        K components.

    Returns
    -------
    GaussianParams
        K + 1 components.
    """
    covariance_type = family.covariance_type
    variances, axes = principal_axes(full_covariances(covariance_type, params))
    k = int(np.argmax(params.weights * variances))
    step = np.sqrt(variances[k]) * axes[k]
    means = np.concatenate([params.means, params.means[k:k + 1] - step])
    means[k] += step
    weights = np.append(params.weights, 0.5 * params.weights[k])
    weights[k] *= 0.5
    covariances = params.covariances
    if covariance_type != "tied":
        covariances = np.concatenate([covariances, covariances[k:k + 1]])
    precisions_cholesky = family.precisions_cholesky_from_covariances(covariances)
    return GaussianParams(weights, means, covariances, precisions_cholesky, covariance_type)


def split_start(source, family, n_components):
    """The "split" start: one component, split until there are ``n_components``.

    The first component is the maximum-likelihood fit of one Gaussian (the weighted
    mean and covariance of the rows, plus ``reg_covar``).  Each split
    (``split_component``) is followed by ``SPLIT_EM_ITERATIONS`` iterations of standard
    EM on all the components.  No random numbers are drawn, so the start does not
    depend on ``random_state``; it takes ``SPLIT_EM_ITERATIONS * (n_components - 1)``
    passes over ``source``.

    Parameters
    ----------
    source : ArraySource
        The rows initialisation uses (``init_sample`` of the fit's source).
    family : GaussianFamily
    n_components : int

    Returns
    -------
    GaussianParams
    """
    start = family.m_step(_whole_data_stats(source.X, source.sample_weight, family.moments_type))
    return _grow_by_splits(source, family, start, n_components, partial(split_component, family))


def _grow_by_splits(source, family, params, n_components, split):
    """``split(params)`` (one component more), then ``SPLIT_EM_ITERATIONS`` iterations of
    standard EM on all the components, until there are ``n_components``."""
    while params.weights.shape[0] < n_components:
        params = split(params)
        monitor = ConvergenceMonitor(0.0, SPLIT_EM_ITERATIONS)  # tol 0: always that many iterations
        params = fit_em(source, family, params, monitor, StandardEM()).params
    return params


# -- Bernoulli family ---------------------------------------------------------------------
BERNOULLI_INIT_METHODS = ("kmeans", "random", "random_from_data", "split")

# The halves of a split Bernoulli component keep their probabilities at least this far
# inside (0, 1), so that no single feature decides alone which half a row joins
# (log(1 / margin) is about 7 nats).
SPLIT_PROBABILITY_MARGIN = 1e-3

# Power-method steps that find the principal axis of a Bernoulli component's scatter.
# Each is a pass over the ones, with no (D, D) matrix; on test problems (6 components,
# 40 features) 2, 3, 5 and 10 steps and the exact eigenvector led EM to starts of the
# same quality.
SPLIT_POWER_STEPS = 3


def _random_resp_binary_stats(X, sample_weight, n_components, rng):
    """Statistics of uniformly random responsibilities over binary rows."""
    nk = np.zeros(n_components)
    sx_t = np.zeros((X.n_features, n_components))
    for start, stop, resp in _random_resp_blocks(X.shape[0], n_components, sample_weight, rng):
        nk += resp.sum(axis=0)
        first, last = X.indptr[start], X.indptr[stop]
        rows = np.repeat(np.arange(stop - start), np.diff(X.indptr[start:stop + 1]))
        np.add.at(sx_t, X.indices[first:last], resp[rows])
    return BernoulliStats(nk, np.ascontiguousarray(sx_t.T), 0.0, float(nk.sum()))


def binary_kmeans(source, centres, max_iter=100):
    """Lloyd's k-means on binary rows from ``centres`` (K, D): hard EM on the Bernoulli
    kernel in its k-means form; returns the hard statistics of the final assignment."""
    family = BinaryKMeansFamily()
    n_clusters = centres.shape[0]
    start = BernoulliParams(np.full(n_clusters, 1.0 / n_clusters), centres)
    monitor = ConvergenceMonitor(0.0, max_iter)
    result = fit_em(source, family, start, monitor, HardEM())
    return source.estep(family, result.params, MODE_HARD)


def _whole_binary_stats(X, sample_weight):
    """Statistics of one component that holds every binary row."""
    weights = np.ones(X.shape[0]) if sample_weight is None else sample_weight
    weight_of_ones = np.repeat(weights, np.diff(X.indptr))
    sx = np.bincount(X.indices, weights=weight_of_ones, minlength=X.n_features)
    total = float(weights.sum())
    return BernoulliStats(np.array([total]), sx[None, :], 0.0, total)


def _binary_blocks(X):
    """``(start, stop, rows, block)`` for consecutive blocks of the BinaryRows ``X``:
    ``block`` holds rows ``start:stop`` (views of X's indices) and ``rows`` is the row of
    each of its ones within the block."""
    for start, stop in _row_blocks(X.shape[0]):
        first, last = X.indptr[start], X.indptr[stop]
        block = BinaryRows(X.indptr[start:stop + 1] - first, X.indices[first:last], X.n_features)
        yield start, stop, np.repeat(np.arange(stop - start), np.diff(block.indptr)), block


def _scatter_axis(source, family, params, k):
    """The principal axis of component ``k``'s scatter, a unit vector (D,).

    The scatter is ``sum_n w_n r_nk (x_n - p_k)(x_n - p_k)^T`` (sample weight times
    responsibility under ``params``).  Its leading eigenvector is approximated by
    ``SPLIT_POWER_STEPS`` steps of the power method from the component's standard
    deviations ``sqrt(p_k (1 - p_k))``, each a product with the scatter formed from
    products with the rows; it is signed by ``_signed``.
    """
    X, centre = source.X, params.probabilities[k]
    weights = np.ones(X.shape[0]) if source.sample_weight is None else source.sample_weight
    blocks = list(_binary_blocks(X))
    row_weights = np.empty(X.shape[0])
    for start, stop, _, block in blocks:  # a block at a time: no (N, K) responsibilities
        resp = ArraySource(block, None, source.n_threads).posterior(family, params, resp=True)[0]
        row_weights[start:stop] = weights[start:stop] * resp[:, k]
    axis = np.sqrt(centre * (1.0 - centre))
    for _ in range(SPLIT_POWER_STEPS):
        product = np.zeros(X.n_features)
        for start, stop, rows, block in blocks:
            along = np.bincount(rows, weights=axis[block.indices], minlength=stop - start) - centre @ axis
            scaled = row_weights[start:stop] * along
            product += np.bincount(block.indices, weights=scaled[rows], minlength=X.n_features)
            product -= scaled.sum() * centre
        norm = np.linalg.norm(product)
        if norm == 0.0:  # every row of the component sits on its centre: no direction to prefer
            break
        axis = product / norm
    return _signed(axis[None, :])[0]


def split_binary_component(source, family, params):
    """One split of the Bernoulli "split" start: ``params`` with one component more.

    The component split is the one with the largest weighted total variance,
    ``weights[k] * sum_d p[k, d] (1 - p[k, d])`` (the first of equal ones).  Its two
    halves are ``p[k] +/- sqrt(p[k] (1 - p[k])) * v`` elementwise, clipped into
    ``[SPLIT_PROBABILITY_MARGIN, 1 - SPLIT_PROBABILITY_MARGIN]``, with ``v`` the
    principal axis of the component's scatter over the rows of ``source``
    (``_scatter_axis``), each with half its weight.  The "+" half takes its place and
    the "-" half is appended last.

    Parameters
    ----------
    source : ArraySource
        Binary rows (``BinaryRows``) and their sample weights.
    family : BernoulliFamily
    params : BernoulliParams
        K components.

    Returns
    -------
    BernoulliParams
        K + 1 components.
    """
    probabilities = params.probabilities
    deviations = np.sqrt(probabilities * (1.0 - probabilities))
    k = int(np.argmax(params.weights * (deviations**2).sum(axis=1)))
    step = deviations[k] * _scatter_axis(source, family, params, k)
    margin = SPLIT_PROBABILITY_MARGIN
    halves = np.clip([probabilities[k] + step, probabilities[k] - step], margin, 1.0 - margin)
    probabilities = np.concatenate([probabilities, halves[1:]])
    probabilities[k] = halves[0]
    weights = np.append(params.weights, 0.5 * params.weights[k])
    weights[k] *= 0.5
    return BernoulliParams(weights, probabilities)


def initial_bernoulli_params(source, family, n_components, init_params, rng):
    """Data-driven starting parameters for the Bernoulli ``family``.

    "random_from_data": components on distinct random rows (smoothed by the prior);
    "kmeans": k-means on the binary rows from such seeds, then the M-step of its
    clusters; "random": uniformly random responsibilities; "split": the M-step of one
    component holding every row, split by ``split_binary_component`` until there are
    ``n_components``, each split followed by ``SPLIT_EM_ITERATIONS`` iterations of
    standard EM (no random numbers are drawn).  Like ``initial_params``, it uses
    ``source.init_sample``.
    """
    source = source.init_sample(n_components)
    check_enough_rows(source.n_samples, n_components)
    X, weights = source.X, source.sample_weight
    if init_params == "split":
        start = family.m_step(_whole_binary_stats(X, weights))
        split = partial(split_binary_component, source, family)
        return _grow_by_splits(source, family, start, n_components, split)
    if init_params == "random":
        return family.m_step(_random_resp_binary_stats(X, weights, n_components, rng))
    seeds = X[rng.choice(X.shape[0], size=n_components, replace=False)].toarray()
    if init_params == "random_from_data":
        stats = BernoulliStats(np.ones(n_components), seeds, 0.0, float(n_components))
    elif init_params == "kmeans":
        stats = binary_kmeans(source, seeds)
    else:  # validated by the estimator; kept for direct callers
        raise ValueError(f"init_params must be one of {BERNOULLI_INIT_METHODS}; got {init_params!r}.")
    return family.m_step(stats)
