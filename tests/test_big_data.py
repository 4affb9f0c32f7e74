"""Data that need not fit in memory: memory-mapped arrays, chunk factories (``fit_chunks``),
Dask arrays (threads and a distributed LocalCluster, including a worker killed mid-fit),
online EM (``partial_fit``), bad chunks, peak memory and progress output.

Every out-of-core fit is compared with the in-memory fit of the same rows from the same
start: parameters to 1e-10 relative to each array's largest entry, ``lower_bound_`` to
rtol 1e-10, ``n_iter_`` exactly.  Only the order of the sums differs between the two.
Data sets are a few thousand float64 rows (the peak-memory test writes 192 MB to
``tmp_path`` and fits it in a child process).  The Dask tests skip without dask, the
distributed ones without distributed.
"""

import contextlib
import io
import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest
from conftest import assert_relative_close, make_problem, make_sample_weight, same_start
from numpy.testing import assert_allclose, assert_array_equal

from fastem import BernoulliMixture, GaussianMixture

# tol=0 or a small max_iter stops some fits at max_iter on purpose.
pytestmark = pytest.mark.filterwarnings("ignore::fastem.ConvergenceWarning")

N_SAMPLES, N_FEATURES, N_COMPONENTS = 3000, 3, 3
COVARIANCE_TYPES = ["full", "diag"]
GAUSSIAN_FITTED = ("weights_", "means_", "covariances_")
BERNOULLI_FITTED = ("weights_", "probabilities_")
RTOL = 1e-10
# Uneven row chunks (one of a single row); they sum to N_SAMPLES.
CHUNK_SIZES = (1000, 1, 999, 1000)
# Dask blocks: uneven row blocks, and the columns split too.
DASK_CHUNKS = ((700, 1300, 1000), (2, 1))


# -- data and starts ----------------------------------------------------------------------
def gaussian_data(seed=0, covariance_type="full", n_samples=N_SAMPLES):
    """Rows of a random mixture whose components overlap (EM runs for a while)."""
    return make_problem(seed, n_samples, N_FEATURES, N_COMPONENTS, covariance_type)[0]


def gaussian_settings(X, covariance_type, init):
    """Constructor settings; "default" is the data-driven (k-means) start, which must be
    the same for chunked and in-memory data this small (its sample is every row)."""
    settings = dict(n_components=N_COMPONENTS, covariance_type=covariance_type, tol=1e-5,
                    max_iter=300, random_state=0)
    if init == "user":
        settings.update(same_start(X, N_COMPONENTS, covariance_type))
    return settings


def binary_data(seed=0, n_samples=N_SAMPLES, n_features=12, n_components=3):
    """0/1 rows (uint8) from a Bernoulli mixture, and the mixture's probabilities."""
    rng = np.random.RandomState(seed)
    prototypes = rng.uniform(0.05, 0.95, (n_components, n_features))
    labels = rng.randint(n_components, size=n_samples)
    X = (rng.uniform(size=(n_samples, n_features)) < prototypes[labels]).astype(np.uint8)
    return X, prototypes


def bernoulli_settings(prototypes, init):
    settings = dict(n_components=len(prototypes), tol=1e-5, max_iter=300, random_state=0)
    if init == "user":
        shifted = np.clip(prototypes + np.linspace(-0.1, 0.1, prototypes.size).reshape(prototypes.shape),
                          0.02, 0.98)
        settings.update(weights_init=np.full(len(prototypes), 1.0 / len(prototypes)),
                        probabilities_init=shifted)
    return settings


def row_bounds(sizes):
    stops = np.cumsum(sizes)
    return list(zip(stops - np.asarray(sizes), stops))


def chunk_factory(X, sizes=CHUNK_SIZES, sample_weight=None, calls=None):
    """A factory whose every call returns a fresh generator of row chunks of ``X`` (pairs
    ``(X_chunk, w_chunk)`` when ``sample_weight`` is given); ``calls`` counts the calls."""
    assert sum(sizes) == len(X)
    bounds = row_bounds(sizes)

    def factory():
        if calls is not None:
            calls.append(1)
        if sample_weight is None:
            return (X[a:b] for a, b in bounds)
        return ((X[a:b], sample_weight[a:b]) for a, b in bounds)

    return factory


def assert_same_fit(fitted, reference, names):
    for name in names:
        assert_relative_close(getattr(fitted, name), getattr(reference, name), RTOL, name)
    assert_allclose(fitted.lower_bound_, reference.lower_bound_, rtol=RTOL)
    assert fitted.n_iter_ == reference.n_iter_
    assert fitted.n_features_in_ == reference.n_features_in_


def match_components(means, reference_means):
    """Index of the fitted component closest to each reference mean (a permutation)."""
    order = np.array([np.argmin(((means - m) ** 2).sum(axis=1)) for m in reference_means])
    assert sorted(order) == list(range(len(reference_means))), "two references matched one component"
    return order


# -- memory-mapped arrays -------------------------------------------------------------------
def open_mapped(tmp_path, X, opener):
    if opener == "np.memmap":
        path = tmp_path / "X.bin"
        X.tofile(path)
        return np.memmap(path, dtype=X.dtype, mode="r", shape=X.shape)
    path = tmp_path / "X.npy"
    np.save(path, X)
    return np.load(path, mmap_mode="r")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("opener", ["np.memmap", "np.load"])
@pytest.mark.parametrize("init", ["user", "default"])
def test_memmap_fit_equals_in_memory_fit(tmp_path, covariance_type, opener, init):
    X = gaussian_data(1, covariance_type)
    mapped = open_mapped(tmp_path, X, opener)
    assert isinstance(mapped, np.memmap)
    settings = gaussian_settings(X, covariance_type, init)
    gm = GaussianMixture(**settings)
    assert gm.fit(mapped) is gm
    reference = GaussianMixture(**settings).fit(np.array(mapped))
    assert reference.n_iter_ > 5  # EM really iterated
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)
    assert_array_equal(mapped, X)


def test_memmap_fit_with_sample_weight_equals_in_memory_fit(tmp_path):
    X = gaussian_data(2, "diag")
    weights = make_sample_weight(2, len(X))
    mapped = open_mapped(tmp_path, X, "np.load")
    settings = gaussian_settings(X, "diag", "user")
    gm = GaussianMixture(**settings).fit(mapped, sample_weight=weights)
    reference = GaussianMixture(**settings).fit(X, sample_weight=weights)
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)


# -- fit_chunks -------------------------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init", ["user", "default"])
def test_gaussian_fit_chunks_equals_in_memory_fit(covariance_type, weighted, init):
    X = gaussian_data(3, covariance_type)
    weights = make_sample_weight(3, len(X)) if weighted else None
    settings = gaussian_settings(X, covariance_type, init)
    calls = []
    gm = GaussianMixture(**settings)
    assert gm.fit_chunks(chunk_factory(X, sample_weight=weights, calls=calls)) is gm
    reference = GaussianMixture(**settings).fit(X, sample_weight=weights)
    assert reference.n_iter_ > 5
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)
    # Each EM iteration is a pass, so the factory was called at least once per iteration.
    assert len(calls) >= gm.n_iter_


@pytest.mark.parametrize("algorithm", ["hard", "monte_carlo"])
def test_fit_chunks_on_kernel_chunk_edges_reproduces_hard_and_monte_carlo_em(algorithm):
    # Chunks whose edges fall on the kernels' 1024-row chunks draw the same labels and
    # hash the same assignments as one pass over the array (the kernels are told where
    # each chunk starts), so even the randomised and the hard variants match.
    from fastem._kernels._jit import CHUNK_ROWS

    X = gaussian_data(6, "diag", n_samples=3 * CHUNK_ROWS + 300)
    settings = dict(n_components=N_COMPONENTS, covariance_type="diag", algorithm=algorithm,
                    random_state=0, tol=1e-6, max_iter=15, **same_start(X, N_COMPONENTS, "diag"))
    sizes = [CHUNK_ROWS, 2 * CHUNK_ROWS, 300]
    gm = GaussianMixture(**settings).fit_chunks(chunk_factory(X, sizes=sizes))
    reference = GaussianMixture(**settings).fit(X)
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)
    assert gm.lower_bounds_ == pytest.approx(reference.lower_bounds_, rel=1e-10)


def test_fit_chunks_with_several_starts_samples_once():
    # Every start of n_init initialises from the same sample, drawn in one pass; the
    # best start is the in-memory fit's.
    X = gaussian_data(5, "diag")
    settings = dict(n_components=N_COMPONENTS, covariance_type="diag", n_init=3, random_state=0,
                    tol=1e-6, max_iter=40)
    calls = []
    gm = GaussianMixture(**settings).fit_chunks(chunk_factory(X, calls=calls))
    reference = GaussianMixture(**settings).fit(X)
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)
    # The source draws its sample in one pass and hands the same one to every start.
    from fastem._validation import check_data
    from fastem._data import ChunkedSource

    calls = []
    source = ChunkedSource(chunk_factory(X, calls=calls), check_data)
    first = source.init_sample(N_COMPONENTS)
    assert source.init_sample(N_COMPONENTS) is first and len(calls) == 1
    assert_array_equal(first.X, X)  # few rows: the sample is every row, in order


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("init", ["user", "default"])
def test_bernoulli_fit_chunks_equals_in_memory_fit(weighted, init):
    X, prototypes = binary_data(4)
    weights = make_sample_weight(4, len(X)) if weighted else None
    settings = bernoulli_settings(prototypes, init)
    calls = []
    bm = BernoulliMixture(**settings)
    assert bm.fit_chunks(chunk_factory(X, sample_weight=weights, calls=calls)) is bm
    reference = BernoulliMixture(**settings).fit(X, sample_weight=weights)
    assert reference.n_iter_ > 2
    assert_same_fit(bm, reference, BERNOULLI_FITTED)
    assert len(calls) >= bm.n_iter_


def test_fit_chunks_accepts_a_list_of_chunks_returned_every_time():
    # A list is re-iterable: handing back the same list on every call is a fresh iterable
    # each time (unlike handing back one iterator, tested below).
    X = gaussian_data(5, "diag")
    chunks = [X[a:b] for a, b in row_bounds(CHUNK_SIZES)]
    settings = gaussian_settings(X, "diag", "user")
    gm = GaussianMixture(**settings).fit_chunks(lambda: chunks)
    assert_same_fit(gm, GaussianMixture(**settings).fit(X), GAUSSIAN_FITTED)


def test_fit_chunks_prints_progress_per_iteration(capsys):
    X = gaussian_data(6, "diag")
    gm = GaussianMixture(N_COMPONENTS, covariance_type="diag", tol=0, max_iter=4, verbose=2,
                         verbose_interval=1, **same_start(X, N_COMPONENTS, "diag"))
    gm.fit_chunks(chunk_factory(X))
    lines = [line for line in capsys.readouterr().out.splitlines() if "chunks" in line]
    assert gm.n_iter_ == 4
    assert len(lines) >= gm.n_iter_, lines


# -- bad chunks ---------------------------------------------------------------------------------
def _bad_chunk(chunk, problem):
    if problem == "columns":
        return chunk[:, :-1]
    bad = np.array(chunk, dtype=np.float64)
    bad[0, 1] = np.nan
    return bad


@pytest.mark.parametrize("estimator", ["gaussian", "bernoulli"])
@pytest.mark.parametrize("problem", ["columns", "nan"])
@pytest.mark.parametrize("when", ["first pass", "later pass"])
def test_a_bad_chunk_is_named_and_leaves_the_estimator_unfitted(estimator, problem, when):
    if estimator == "gaussian":
        X = gaussian_data(7, "diag")
        model = GaussianMixture(N_COMPONENTS, covariance_type="diag", tol=0, max_iter=5,
                                **same_start(X, N_COMPONENTS, "diag"))
    else:
        X, prototypes = binary_data(7)
        model = BernoulliMixture(**{**bernoulli_settings(prototypes, "user"), "tol": 0, "max_iter": 5})
    model.fit(X)  # a fitted model, which the failed fit must forget
    assert hasattr(model, "weights_")
    bounds = row_bounds(CHUNK_SIZES)
    calls = []

    def factory():
        calls.append(1)
        chunks = [X[a:b] for a, b in bounds]
        if when == "first pass" or len(calls) > 1:
            chunks[2] = _bad_chunk(chunks[2], problem)
        return iter(chunks)

    with pytest.raises(ValueError, match=r"chunk 2\b"):
        model.fit_chunks(factory)
    if when == "later pass":
        assert len(calls) > 1
    assert not hasattr(model, "weights_")
    assert not hasattr(model, "n_iter_")


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_a_factory_returning_one_iterator_twice_is_refused(cls):
    X = gaussian_data(8, "diag") if cls is GaussianMixture else binary_data(8)[0]
    model = cls(2, max_iter=5).fit(X)
    it = iter([X[a:b] for a, b in row_bounds(CHUNK_SIZES)])
    with pytest.raises(ValueError, match="fresh iterable"):
        model.fit_chunks(lambda: it)
    assert not hasattr(model, "weights_")


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_a_factory_with_no_chunks_says_so(cls, tmp_path):
    # A factory over files whose pattern matches none: the first pass is empty.
    def chunks():
        for path in sorted(tmp_path.glob("part-*.npy")):
            yield np.load(path)

    model = cls(2)
    message = (
        "the chunk factory returned no chunks (an empty iterable); fit_chunks needs at least one "
        "chunk of rows (a factory over files: check that its pattern matches some)."
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        model.fit_chunks(chunks)
    assert not hasattr(model, "weights_")
    empty = np.zeros((0, 3))
    with pytest.raises(ValueError, match=re.escape("the chunk factory produced no rows (2 chunks, all empty).")):
        model.fit_chunks(lambda: [empty, empty])


# -- online EM: partial_fit ---------------------------------------------------------------------
TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [12.0, 0.0], [0.0, 12.0]])
TRUE_COVARIANCES = np.array(
    [[[1.0, 0.5], [0.5, 1.0]], [[2.0, -0.6], [-0.6, 0.5]], [[0.6, 0.0], [0.0, 1.5]]]
)


def mixture_stream(seed, n_chunks, chunk_rows=500, spacing=1.0):
    """Chunks of rows from three Gaussians (TRUE_*; means scaled by ``spacing``)."""
    rng = np.random.RandomState(seed)
    n_samples = n_chunks * chunk_rows
    labels = rng.choice(3, size=n_samples, p=TRUE_WEIGHTS)
    factors = np.linalg.cholesky(TRUE_COVARIANCES)
    noise = rng.standard_normal((n_samples, 2))
    X = spacing * TRUE_MEANS[labels] + np.einsum("nij,nj->ni", factors[labels], noise)
    X = np.ascontiguousarray(X)
    return [X[i:i + chunk_rows] for i in range(0, n_samples, chunk_rows)]


def _fitted_arrays(model):
    names = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_")
    if isinstance(model, BernoulliMixture):
        names = BERNOULLI_FITTED
    return {name: getattr(model, name).copy() for name in names}


@pytest.mark.parametrize("cls", [GaussianMixture, BernoulliMixture])
def test_learning_decay_default_and_range(cls):
    X = gaussian_data(9, "diag") if cls is GaussianMixture else binary_data(9)[0]
    assert cls().get_params()["learning_decay"] == 0.7
    for bad in (0.5, 0.3, 0.0, -1.0, 1.01, 2.0):
        with pytest.raises(ValueError, match="learning_decay"):
            cls(2, learning_decay=bad).partial_fit(X[:500])
    for good in (0.51, 0.7, 1.0):
        model = cls(2, learning_decay=good, random_state=0)
        assert model.partial_fit(X[:500]) is model
        assert model.n_steps_ == 1


def _average_step(running, new, step, learning_decay):
    """s <- (1 - eta) s + eta new with eta = step**-decay (step 1: eta = 1, the first chunk
    initialises; step t >= 2 is update t - 2 after the first call, eta = (t - 2 + 2)**-decay)."""
    eta = 1.0 if running is None else step ** -learning_decay
    return new if running is None else (1 - eta) * running + eta * new


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("learning_decay", [0.7, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_gaussian_partial_fit_runs_the_stepwise_average(covariance_type, learning_decay, weighted):
    # One component: responsibilities are all 1, so each chunk's statistics are its
    # (weighted) mean and second moment whatever the parameters, and the running
    # statistics, hence the parameters, follow the step-size schedule exactly.  With
    # learning_decay=1 they are the plain average of the per-chunk statistics.
    X = gaussian_data(10, covariance_type)
    sample_weight = make_sample_weight(10, len(X)) if weighted else None
    sizes = (300, 500, 200, 700, 400, 900)
    gm = GaussianMixture(1, covariance_type=covariance_type, learning_decay=learning_decay,
                         random_state=0)
    first = second = None
    for step, (a, b) in enumerate(row_bounds(sizes), start=1):
        chunk = X[a:b]
        w = np.ones(len(chunk)) if sample_weight is None else sample_weight[a:b]
        mean = w @ chunk / w.sum()
        moment = (chunk * w[:, None]).T @ chunk / w.sum()
        first = _average_step(first, mean, step, learning_decay)
        second = _average_step(second, moment, step, learning_decay)
        result = gm.partial_fit(chunk, None, None if sample_weight is None else w)
        assert result is gm and gm.n_steps_ == step
        covariance = second - np.outer(first, first) + gm.reg_covar * np.eye(N_FEATURES)
        if covariance_type == "diag":
            covariance = np.diag(covariance)
        assert_allclose(gm.weights_, [1.0], rtol=1e-12)
        assert_relative_close(gm.means_[0], first, 1e-9, f"means_ after {step} chunks")
        assert_relative_close(gm.covariances_[0], covariance, 1e-9, f"covariances_ after {step} chunks")
    if learning_decay == 1.0 and not weighted:
        chunk_means = [X[a:b].mean(axis=0) for a, b in row_bounds(sizes)]
        assert_allclose(gm.means_[0], np.mean(chunk_means, axis=0), rtol=1e-9)


@pytest.mark.parametrize("learning_decay", [0.7, 1.0])
def test_bernoulli_partial_fit_runs_the_stepwise_average(learning_decay):
    # One component, alpha = beta = 1 (no prior): probabilities_ is the running average
    # of the chunks' weighted column means.
    X, _ = binary_data(11)
    sample_weight = make_sample_weight(11, len(X))
    bm = BernoulliMixture(1, alpha=1.0, beta=1.0, learning_decay=learning_decay, random_state=0)
    running = None
    for step, (a, b) in enumerate(row_bounds((400, 900, 300, 1000, 400)), start=1):
        w = sample_weight[a:b]
        running = _average_step(running, w @ X[a:b] / w.sum(), step, learning_decay)
        assert bm.partial_fit(X[a:b], sample_weight=w) is bm
        assert bm.n_steps_ == step
        assert_allclose(bm.weights_, [1.0], rtol=1e-12)
        assert_relative_close(bm.probabilities_[0], running, 1e-9, f"probabilities_ after {step} chunks")


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_recovers_a_well_separated_mixture(covariance_type):
    stream = mixture_stream(0, 50)
    gm = GaussianMixture(3, covariance_type=covariance_type, random_state=0)
    previous = None
    for chunk in stream:
        gm.partial_fit(chunk)
        # parameters are set after every call, and move
        assert gm.means_.shape == (3, 2) and gm.weights_.shape == (3,)
        if previous is not None:
            assert not np.array_equal(gm.means_, previous)
        previous = gm.means_.copy()
    assert gm.n_steps_ == 50
    order = match_components(gm.means_, TRUE_MEANS)
    # Measured: 0.003 on the weights, 0.03 on the means, 0.05 on the covariances.
    assert_allclose(gm.weights_[order], TRUE_WEIGHTS, atol=0.05)
    assert_allclose(gm.means_[order], TRUE_MEANS, atol=0.25)
    covariances = TRUE_COVARIANCES if covariance_type == "full" else np.stack(
        [np.diag(c) for c in TRUE_COVARIANCES])
    assert_allclose(gm.covariances_[order], covariances, atol=0.5)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_partial_fit_approaches_the_batch_fit_of_the_data_seen(covariance_type):
    # Means 6 apart (the components touch) and a poor start: the statistics of the first
    # chunks, computed under poor parameters, still weigh in after 5 chunks and have
    # faded after 50.  (On a stream this clean, once the start is forgotten the distance
    # to the batch fit is sampling noise, which shrinks slowly with learning_decay=0.7:
    # the start is what makes the comparison meaningful.)  Measured here: 0.59 / 0.66
    # after 5 chunks, 0.029 / 0.032 after 50 (full / diag); a NumPy stepwise EM on 12
    # other seeds gave ratios >= 13.
    stream = mixture_stream(1, 50, spacing=0.5)
    means = 0.5 * TRUE_MEANS
    precisions = (np.stack([np.eye(2) / 4] * 3) if covariance_type == "full" else np.full((3, 2), 0.25))
    start = dict(weights_init=np.full(3, 1 / 3), precisions_init=precisions,
                 means_init=means + 1.5 * np.array([[1.0, 1.0], [-1.0, 1.0], [1.0, -1.0]]))
    gm = GaussianMixture(3, covariance_type=covariance_type, **start)
    errors = {}
    for seen, chunk in enumerate(stream, start=1):
        gm.partial_fit(chunk)
        if seen in (5, 50):
            batch = GaussianMixture(3, covariance_type=covariance_type, tol=1e-8, max_iter=2000,
                                    **start).fit(np.concatenate(stream[:seen]))
            order = match_components(gm.means_, batch.means_)
            errors[seen] = max(np.abs(gm.weights_[order] - batch.weights_).max(),
                               np.abs(gm.means_[order] - batch.means_).max())
    assert errors[5] > 0.1, errors  # the start was really poor
    assert errors[50] < errors[5] / 4, errors
    assert errors[50] < 0.15, errors
    order = match_components(gm.means_, means)
    assert_allclose(gm.weights_[order], TRUE_WEIGHTS, atol=0.05)


def test_bernoulli_partial_fit_recovers_a_well_separated_mixture():
    # Each prototype is 0.9 on its own 7 of the 21 features and 0.1 elsewhere.
    prototypes = np.full((3, 21), 0.1)
    for k in range(3):
        prototypes[k, 7 * k:7 * k + 7] = 0.9
    weights = np.array([0.5, 0.3, 0.2])
    rng = np.random.RandomState(0)
    bm = BernoulliMixture(3, random_state=0)
    for _ in range(30):
        labels = rng.choice(3, size=500, p=weights)
        chunk = (rng.uniform(size=(500, 21)) < prototypes[labels]).astype(np.uint8)
        bm.partial_fit(chunk)
    assert bm.n_steps_ == 30
    order = match_components(bm.probabilities_, prototypes)
    # Measured: 0.001 on the weights, 0.026 on the probabilities.
    assert_allclose(bm.weights_[order], weights, atol=0.05)
    assert_allclose(bm.probabilities_[order], prototypes, atol=0.1)


def test_partial_fit_after_fit_continues_from_the_fitted_parameters():
    X = gaussian_data(13, "full", n_samples=2000)
    settings = dict(n_components=3, random_state=0, tol=1e-10, max_iter=3000)
    gm = GaussianMixture(**settings).fit(X)
    assert gm.converged_
    fitted = _fitted_arrays(gm)
    # At EM's fixed point, a stepwise step on the same rows stays there (measured: moves
    # of 6e-6 relative; EM still creeps at tol=1e-10).
    gm.partial_fit(X)
    assert gm.n_steps_ == 1
    for name in ("weights_", "means_", "covariances_"):
        assert_relative_close(getattr(gm, name), fitted[name], 1e-4, name)
    # A fresh model starts over on the same chunk and lands elsewhere (measured: 0.89).
    fresh = GaussianMixture(**settings).partial_fit(X)
    assert np.abs(fresh.means_ - fitted["means_"]).max() > 0.05


@pytest.mark.parametrize("model", ["full", "diag", "bernoulli"])
@pytest.mark.parametrize("problem", ["columns", "nan"])
def test_partial_fit_rejects_a_bad_chunk_and_keeps_the_model(model, problem):
    if model == "bernoulli":
        X = binary_data(14)[0]
        estimator = BernoulliMixture(3, random_state=0)
    else:
        X = gaussian_data(14, model)
        estimator = GaussianMixture(3, covariance_type=model, random_state=0)
    # A bad first chunk: nothing is fitted.
    with pytest.raises(ValueError):
        estimator.partial_fit(_bad_chunk(X[:500], problem) if problem == "nan" else X[:500, :0])
    assert not hasattr(estimator, "weights_")
    estimator.partial_fit(X[:1000]).partial_fit(X[1000:2000])
    before = _fitted_arrays(estimator)
    message = r"(?i)feature" if problem == "columns" else r"(?i)nan|non-finite"
    with pytest.raises(ValueError, match=message):
        estimator.partial_fit(_bad_chunk(X[2000:], problem))
    assert estimator.n_steps_ == 2
    for name, array in before.items():
        assert_array_equal(getattr(estimator, name), array, err_msg=name)
    # ...and the stream goes on from where it was.
    estimator.partial_fit(X[2000:])
    assert estimator.n_steps_ == 3


# -- Dask -------------------------------------------------------------------------------------
def test_importing_fastem_does_not_import_dask():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        import fastem
        assert "dask" not in sys.modules and "distributed" not in sys.modules
        X = np.random.RandomState(0).standard_normal((300, 2))
        fastem.GaussianMixture(2, random_state=0).fit(X).predict(X)
        fastem.BernoulliMixture(2, random_state=0).fit(X > 0)
        assert "dask" not in sys.modules and "distributed" not in sys.modules, sorted(
            name for name in sys.modules if name.startswith(("dask", "distributed")))
        print("ok")
    """)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def _dask_weights(da, weights, kind):
    if kind == "numpy":
        return weights
    if kind == "dask":  # blocks aligned with X's row blocks
        return da.from_array(weights, chunks=(DASK_CHUNKS[0],))
    return da.from_array(weights, chunks=(1100,))  # "dask, other blocks"


def _record_conversions(monkeypatch, da):
    """Shapes of the Dask arrays turned into NumPy arrays by np.asarray (``__array__``)."""
    converted = []
    original = da.Array.__array__

    def recording(self, *args, **kwargs):
        converted.append(self.shape)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(da.Array, "__array__", recording)
    return converted


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
@pytest.mark.parametrize("weights", [None, "numpy", "dask", "dask, other blocks"])
def test_dask_fit_equals_in_memory_fit(monkeypatch, covariance_type, weights):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = gaussian_data(15, covariance_type)
    w = None if weights is None else make_sample_weight(15, len(X))
    settings = gaussian_settings(X, covariance_type, "user")
    converted = _record_conversions(monkeypatch, da)
    with dask.config.set(scheduler="threads"):
        gm = GaussianMixture(**settings)
        assert gm.fit(da.from_array(X, chunks=DASK_CHUNKS),
                      sample_weight=None if w is None else _dask_weights(da, w, weights)) is gm
    # The blocks were mapped over, not gathered into one NumPy array first.
    assert X.shape not in converted, "fit converted the whole Dask array with np.asarray"
    reference = GaussianMixture(**settings).fit(X, sample_weight=w)
    assert reference.n_iter_ > 5
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_dask_fit_with_the_data_driven_start_equals_in_memory_fit(covariance_type):
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = gaussian_data(16, covariance_type)
    settings = gaussian_settings(X, covariance_type, "default")
    with dask.config.set(scheduler="threads"):
        gm = GaussianMixture(**settings).fit(da.from_array(X, chunks=DASK_CHUNKS))
    assert_same_fit(gm, GaussianMixture(**settings).fit(X), GAUSSIAN_FITTED)


def test_dask_array_with_a_nan_raises_and_leaves_the_estimator_unfitted():
    dask = pytest.importorskip("dask")
    da = pytest.importorskip("dask.array")
    X = gaussian_data(17, "diag")
    gm = GaussianMixture(3, covariance_type="diag", random_state=0).fit(X)
    bad = X.copy()
    bad[1500, 1] = np.nan  # in the second row block
    with dask.config.set(scheduler="threads"), pytest.raises(ValueError):
        gm.fit(da.from_array(bad, chunks=DASK_CHUNKS))
    assert not hasattr(gm, "means_")


@pytest.fixture(scope="module")
def client():
    """A 2-worker, 1-thread-per-worker LocalCluster of processes (nannies restart a dead
    worker), closed at the end of the module whatever happens."""
    pytest.importorskip("dask.array")
    distributed = pytest.importorskip("distributed")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster:
        with distributed.Client(cluster) as client:
            client.wait_for_workers(2, timeout=60)
            yield client


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_distributed_fit_equals_in_memory_fit(client, covariance_type):
    import dask.array as da

    X = gaussian_data(18, covariance_type)
    w = make_sample_weight(18, len(X))
    # A fixed number of iterations: each one is a round trip to the cluster.
    settings = {**gaussian_settings(X, covariance_type, "user"), "tol": 0, "max_iter": 15}
    gm = GaussianMixture(**settings).fit(da.from_array(X, chunks=DASK_CHUNKS),
                                         sample_weight=da.from_array(w, chunks=1100))
    reference = GaussianMixture(**settings).fit(X, sample_weight=w)
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)


class _ProgressWatcher(io.TextIOBase):
    """A stdout that counts progress lines ("iteration" in them) as a fit prints them."""

    def __init__(self):
        self.text = []
        self.lock = threading.Lock()

    def write(self, text):
        with self.lock:
            self.text.append(text)
        return len(text)

    def iterations(self):
        with self.lock:
            return "".join(self.text).lower().count("iteration ")


@pytest.mark.skipif(os.name != "posix", reason="kills the worker with SIGKILL, a POSIX signal")
def test_a_killed_worker_does_not_change_the_fit(client):
    import dask.array as da

    # 60,000 rows in 4 blocks, 20 iterations: several seconds on a 2-core machine, so the
    # kill (after the second iteration's progress line) lands in the middle of the fit.
    X, _ = make_problem(19, 60_000, 4, 4, "full")
    settings = dict(n_components=4, covariance_type="full", tol=0, max_iter=20,
                    **same_start(X, 4, "full"))
    reference = GaussianMixture(**settings).fit(X)
    pids = client.run(os.getpid)
    victim = sorted(pids.values())[0]

    outcome = {}

    def fit():
        try:
            outcome["model"] = GaussianMixture(**settings, verbose=2, verbose_interval=1).fit(
                da.from_array(X, chunks=(15_000, 4)))
        except BaseException as error:  # reported below
            outcome["error"] = error

    watcher = _ProgressWatcher()
    with contextlib.redirect_stdout(watcher):
        thread = threading.Thread(target=fit, daemon=True)
        started = time.monotonic()
        thread.start()
        # Kill once two iterations are done (or, should no progress lines come, after 3 s).
        while thread.is_alive() and watcher.iterations() < 2:
            if watcher.iterations() == 0 and time.monotonic() - started > 3.0:
                break
            time.sleep(0.005)
        assert thread.is_alive(), "the fit ended before the worker could be killed; slow it down"
        killed_at = watcher.iterations()
        os.kill(victim, signal.SIGKILL)
        thread.join(timeout=300)
    assert not thread.is_alive(), "the fit did not finish after a worker was killed"
    assert "error" not in outcome, repr(outcome.get("error"))
    assert killed_at < 20
    gm = outcome["model"]
    assert gm.n_iter_ == 20
    assert_same_fit(gm, reference, GAUSSIAN_FITTED)
    # The worker really died and its nanny replaced it.
    client.wait_for_workers(2, timeout=60)
    assert victim not in client.run(os.getpid).values()


# -- peak memory --------------------------------------------------------------------------------
_MEMORY_CHILD = textwrap.dedent("""
    import gc, json, sys
    import numpy as np
    from fastem import GaussianMixture

    def status(key):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024

    def reset_peak():
        try:
            with open("/proc/self/clear_refs", "w") as f:
                f.write("5")  # resets VmHWM to the current RSS
            return True
        except OSError:
            return False

    path, small_path, start_path = sys.argv[1:4]
    start = dict(np.load(start_path))
    settings = dict(n_components=4, covariance_type="diag", tol=0, max_iter=2, **start)
    # Warm up the memory-mapped path on a small file (compilation, imports).
    GaussianMixture(**settings).fit(np.load(small_path, mmap_mode="r"))

    # Control: reading a whole map does show up in the peak (the check can fail).
    reset_peak()
    before = status("VmRSS")
    np.load(path, mmap_mode="r").sum()
    control = status("VmHWM") - before
    gc.collect()

    X = np.load(path, mmap_mode="r")
    reset = reset_peak()
    before = status("VmRSS")
    gm = GaussianMixture(**settings).fit(X)
    growth = status("VmHWM") - before

    reference = GaussianMixture(**settings).fit(np.array(X))
    errors = {name: float(np.abs(getattr(gm, name) - getattr(reference, name)).max()
                          / np.abs(getattr(reference, name)).max())
              for name in ("weights_", "means_", "covariances_")}
    print(json.dumps(dict(reset=reset, growth=growth, control=control, errors=errors,
                          n_iter=[gm.n_iter_, reference.n_iter_])))
""")


def _write_npy(path, n_samples, n_features, centres, seed):
    """Write a float64 .npy block by block, through plain file writes (no memory map)."""
    rng = np.random.RandomState(seed)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (n_samples, n_features)})
        for start in range(0, n_samples, 200_000):
            rows = min(200_000, n_samples - start)
            labels = rng.randint(len(centres), size=rows)
            f.write((centres[labels] + rng.standard_normal((rows, n_features))).tobytes())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/status")
def test_memmap_fit_peak_memory_stays_far_below_the_data_size(tmp_path):
    # 192 MB of float64: several times the rows a memory-mapped fit reads at once (the
    # growth measured was 40 MB, about one chunk), in a few seconds.
    n_samples, n_features = 3_000_000, 8
    data_bytes = n_samples * n_features * 8
    centres = np.random.RandomState(20).normal(scale=3.0, size=(4, n_features))
    big, small, start = tmp_path / "big.npy", tmp_path / "small.npy", tmp_path / "start.npz"
    _write_npy(big, n_samples, n_features, centres, 21)
    _write_npy(small, 5000, n_features, centres, 22)
    np.savez(start, weights_init=np.full(4, 0.25), means_init=centres + 0.5,
             precisions_init=np.ones((4, n_features)))
    result = subprocess.run([sys.executable, "-c", _MEMORY_CHILD, str(big), str(small), str(start)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["control"] > 0.8 * data_bytes, report  # the measurement sees mapped pages
    assert report["growth"] < data_bytes / 2, report
    assert report["n_iter"] == [2, 2]
    for name, error in report["errors"].items():
        assert error <= RTOL, (name, report)
