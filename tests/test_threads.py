"""The Python thread pool that spreads the kernels: results independent of the split,
and a forked child that can still use it."""

import multiprocessing
import os

import numpy as np
import pytest

from fastem._kernels._jit import ADDED_ENTRIES, add_in_chunk_order
from fastem._kernels.threads import spread


@pytest.mark.parametrize("n_items, n_threads", [(0, 2), (1, 2), (5, 1), (5, 2), (7, 3)])
def test_spread_covers_every_item_once(n_items, n_threads):
    seen = np.zeros(n_items, dtype=int)

    def mark(lo, hi):
        seen[lo:hi] += 1

    spread(mark, n_items, n_threads)
    assert np.all(seen == 1)


def test_spread_raises_a_part_s_error():
    def fail_late(lo, hi):
        if hi == 4:
            raise RuntimeError(f"part {lo}:{hi}")

    with pytest.raises(RuntimeError, match="part 2:4"):
        spread(fail_late, 4, 2)


@pytest.mark.parametrize("lo, hi", [(0, 2 * ADDED_ENTRIES + 5), (3, ADDED_ENTRIES + 1), (7, 7)])
def test_chunk_partials_are_added_left_to_right(lo, hi):
    # Magnitudes far apart make any other order round differently: 1e16 + 1 - 1e16 is 0
    # left to right and 1 with the last two swapped.
    rng = np.random.default_rng(3)
    n_entries = 2 * ADDED_ENTRIES + 9
    parts = rng.choice([1e16, -1e16, 1.0, -0.75, 3e-5], size=(6, n_entries))
    out = rng.choice([0.0, 1e16, 2.5], size=n_entries)
    expected = out.copy()
    for c in range(5):  # NumPy's elementwise sums, one chunk after another
        expected[lo:hi] = expected[lo:hi] + parts[c, lo:hi]
    add_in_chunk_order(5, parts, out, lo, hi)
    np.testing.assert_array_equal(out, expected)


def _fit_in_child(queue):
    import fastem

    X = np.random.default_rng(1).normal(size=(3000, 2))
    model = fastem.GaussianMixture(2, covariance_type="diag", random_state=0, n_threads=2).fit(X)
    queue.put(float(model.lower_bound_))


@pytest.mark.skipif(os.name != "posix" or "fork" not in multiprocessing.get_all_start_methods(),
                    reason="needs fork")
def test_a_forked_child_fits_on_threads():
    import fastem

    X = np.random.default_rng(1).normal(size=(3000, 2))
    # The parent's pool exists (and its threads) before the fork.
    expected = fastem.GaussianMixture(2, covariance_type="diag", random_state=0, n_threads=2).fit(X).lower_bound_
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=_fit_in_child, args=(queue,))
    child.start()
    child.join(timeout=120)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the forked child's fit hung"
    assert child.exitcode == 0
    assert queue.get(timeout=5) == expected  # the same fit, bit for bit


def test_spread_raises_the_first_part_s_error_after_the_others_end():
    ended = []

    def fail(lo, hi):
        if lo == 0:
            raise ValueError("first part")
        ended.append(lo)
        raise RuntimeError("another part")

    with pytest.raises(ValueError, match="first part"):
        spread(fail, 4, 2)
    assert ended == [2]
