"""The additive statistics: sums, scaling, and re-centring about another shift."""

import numpy as np
import pytest

from fastem._kernels._jit import MODE_SOFT
from fastem._families.gaussian import GaussianFamily
from fastem._online import step_size, stepwise_update

from conftest import assert_relative_close, make_problem

COVARIANCE_TYPES = ["full", "diag"]


def _stats(covariance_type, seed, n_samples=500, offset=0.0):
    X, params = make_problem(seed, n_samples, 3, 4, covariance_type, np.float64, offset=offset)
    family = GaussianFamily(covariance_type, 1e-6)
    return X, family, params, family.estep(X, None, params, MODE_SOFT)


@pytest.mark.parametrize("covariance_type", COVARIANCE_TYPES)
def test_like_recentres_moments_exactly(covariance_type):
    # Statistics taken about the means of one set of parameters, re-centred about those
    # of another, equal the statistics computed directly about the second shift from
    # the same responsibilities (data far from the origin, where a naive raw-moment
    # conversion would lose every digit).
    X, family, params, stats = _stats(covariance_type, 3, offset=1e6)
    resp = family.posterior(X, params, resp=True)[0]
    other_shift = stats.shift + np.random.default_rng(0).normal(scale=2.0, size=stats.shift.shape)
    moved = stats.like(type(stats)(stats.nk, stats.sx, stats.sxx, other_shift, 0.0, 0.0))
    for k in range(stats.nk.size):
        centred = X - other_shift[k]
        expected_sx = resp[:, k] @ centred
        if covariance_type == "full":
            expected_sxx = (resp[:, k, None] * centred).T @ centred
        else:
            expected_sxx = resp[:, k] @ centred**2
        assert_relative_close(moved.sx[k], expected_sx, 1e-9, "sx")
        assert_relative_close(moved.sxx[k], expected_sxx, 1e-9, "sxx")
    assert moved.shift is other_shift
    # Re-centred statistics add to statistics about that shift.
    assert np.array_equal((moved + moved).sx, 2 * moved.sx)


def test_scaled_multiplies_every_summed_field():
    _, _, _, stats = _stats("diag", 4)
    half = stats.scaled(0.5)
    for name in ("nk", "sx", "sxx"):
        assert np.array_equal(getattr(half, name), getattr(stats, name) * 0.5)
    assert (half.loglik, half.weight) == (stats.loglik * 0.5, stats.weight * 0.5)
    assert half.shift is stats.shift


def test_stepwise_update_with_decay_one_averages_the_chunks():
    # (t + 2) ** -1 steps make the running statistics the plain average of the chunks'
    # per-unit-weight statistics (all taken about the same shift here).
    chunks = [_stats("full", seed, n_samples=200 + 50 * seed)[3] for seed in range(4)]
    chunks = [chunk.like(chunks[0]) for chunk in chunks]
    state = None
    for chunk in chunks:
        state = stepwise_update(state, chunk, decay=1.0)
    expected = sum(chunk.sxx / chunk.weight for chunk in chunks) / len(chunks)
    assert_relative_close(state.stats.sxx, expected, 1e-13, "sxx")
    assert state.weight_seen == sum(chunk.weight for chunk in chunks)
    assert [step_size(t, 0.7) for t in range(3)] == [1.0, 2.0**-0.7, 3.0**-0.7]
