"""Memory and start-up properties that the speed rests on; no timings.

- A fit never allocates an (n_samples, n_components) array: the kernels accumulate
  statistics row by row.  Measured with tracemalloc, which sees every NumPy allocation
  (the Python side: validation, initialisation, M-step, outputs); the kernels' own
  scratch (Numba's allocator) is per chunk group and not traced.
- float32 data is processed as it is, never copied to float64.
- ``import fastem`` compiles nothing: kernels compile (or load from the disk cache) on
  first use.

Every measured fit runs once on a slice first, so that compilation (which allocates
Python objects) stays out of the traced peak.
"""

import json
import subprocess
import sys
import tracemalloc
import warnings
from functools import lru_cache

import numpy as np
import pytest

from fastem import GaussianMixture, KMeans

N_SAMPLES, N_FEATURES, N_COMPONENTS = 200_000, 4, 30
N_BY_K_FLOAT64 = N_SAMPLES * N_COMPONENTS * 8  # bytes of one (N, K) float64 array


def grid_blobs(n_components, dtype=np.float64, seed=0):
    """Unit blobs centred on distinct points of a 4-D lattice of spacing 12: well
    separated, so that the k-means initialisation converges in a few iterations."""
    rng = np.random.RandomState(seed)
    lattice = np.stack(np.meshgrid(*[np.arange(5)] * N_FEATURES, indexing="ij"), -1).reshape(-1, N_FEATURES)
    centres = 12.0 * lattice[rng.choice(len(lattice), n_components, replace=False)]
    X = centres[rng.randint(n_components, size=N_SAMPLES)] + rng.standard_normal((N_SAMPLES, N_FEATURES))
    return X.astype(dtype), centres


def same_start(covariance_type, centres):
    """Equal weights, the given means and unit precisions: an initialisation that costs nothing."""
    n_components, n_features = centres.shape
    if covariance_type == "full":
        precisions = np.broadcast_to(np.eye(n_features), (n_components, n_features, n_features)).copy()
    else:
        precisions = np.ones((n_components, n_features))
    return dict(weights_init=np.full(n_components, 1.0 / n_components), means_init=centres,
                precisions_init=precisions)


def traced_peak(function):
    """(result, peak bytes allocated above the start) of ``function()`` under tracemalloc."""
    tracemalloc.start()
    try:
        result = function()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def fit_quietly(model, X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # max_iter=3 stops before convergence on purpose
        return model.fit(X)


def fit_peak(make_model, X):
    """The fitted model and the traced peak of its fit, compiled beforehand on a slice."""
    fit_quietly(make_model(), X[:3000])
    return traced_peak(lambda: fit_quietly(make_model(), X))


# -- (a) no O(N x K) allocation ---------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_fit_from_a_given_start_allocates_far_less_than_n_by_k(covariance_type):
    X, centres = grid_blobs(N_COMPONENTS)
    start = same_start(covariance_type, centres)
    model, peak = fit_peak(
        lambda: GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, tol=0.0, max_iter=3, **start),
        X,
    )
    assert model.n_iter_ == 3
    # Measured: 0.02 of N x K x 8 bytes (the N x D finiteness check and small arrays).
    assert peak < N_BY_K_FLOAT64 / 4, f"fit peak {peak / N_BY_K_FLOAT64:.2f} x (N x K float64)"

    labels, predict_peak = traced_peak(lambda: model.predict(X))
    # predict returns N int64 labels (and checks X's finiteness, N x D bytes): O(N), never O(N x K).
    assert predict_peak < 2 * labels.nbytes, f"predict peak {predict_peak / labels.nbytes:.2f} x labels"


@lru_cache(maxsize=None)
def default_fit_peak(covariance_type, n_components):
    """Traced peak of a fit with the default k-means initialisation (shared by two tests)."""
    X, _ = grid_blobs(n_components)
    return fit_peak(
        lambda: GaussianMixture(n_components, covariance_type=covariance_type, max_iter=3, random_state=0), X
    )[1]


@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_default_kmeans_initialisation_allocates_no_n_by_k_array(covariance_type):
    peak = default_fit_peak(covariance_type, N_COMPONENTS)
    # k-means++ holds the squared distances of its 2 + floor(log K) candidate seeds to
    # every point, (5, N) float64 at K=30, and keeps the previous round's block alive
    # through a view: measured 96 bytes per row = 0.40 x (N x K float64).  That is
    # O(N log K); the growth test below shows that nothing grows with K.
    assert peak < N_BY_K_FLOAT64 / 2, f"fit peak {peak / N_BY_K_FLOAT64:.2f} x (N x K float64)"


def test_fit_memory_does_not_grow_with_n_times_k():
    """From K=30 to K=60 an (N, K) float64 array would add N x 30 x 8 bytes; the peak
    may grow only by k-means++'s extra candidate (measured: 16 bytes per row)."""
    growth = default_fit_peak("diag", 2 * N_COMPONENTS) - default_fit_peak("diag", N_COMPONENTS)
    added = N_SAMPLES * N_COMPONENTS * 8
    assert growth < added / 4, f"peak grew by {growth / added:.2f} x (N x 30 float64)"


# -- (b) float32 stays float32 -----------------------------------------------------------------
@pytest.mark.parametrize("covariance_type", ["diag", "full"])
def test_float32_data_is_not_copied(covariance_type):
    X, centres = grid_blobs(N_COMPONENTS, np.float32)
    start = same_start(covariance_type, centres)
    model, peak = fit_peak(
        lambda: GaussianMixture(N_COMPONENTS, covariance_type=covariance_type, tol=0.0, max_iter=3, **start),
        X,
    )
    # A float64 copy of X would need 2 x X.nbytes, a float32 copy 1 x.  Measured: 0.25 x
    # (diag) and 0.33 x (full), mostly the N x D finiteness check.
    assert peak < X.nbytes, f"fit peak {peak / X.nbytes:.2f} x X.nbytes"
    # Observed dtypes: every fitted parameter and every per-sample output is float64
    # (accumulated in float64), whatever the dtype of X.
    for name in ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_"):
        assert getattr(model, name).dtype == np.float64, name
    assert model.predict_proba(X[:10]).dtype == np.float64
    assert model.score_samples(X[:10]).dtype == np.float64
    assert model.predict(X[:10]).dtype == np.int64


def test_float32_kmeans_is_not_copied():
    X, centres = grid_blobs(N_COMPONENTS, np.float32)
    model, peak = fit_peak(lambda: KMeans(N_COMPONENTS, init=centres, n_init=1, max_iter=3), X)
    # labels_ (N int64) is an output; beyond it, less than a float32 copy of X.  Measured:
    # 1.00 x X.nbytes = labels_ (0.5 x here) + the sorted copy np.unique(labels) makes in
    # the distinct-cluster check (0.5 x).
    assert peak < X.nbytes + model.labels_.nbytes, f"fit peak {peak / X.nbytes:.2f} x X.nbytes"
    assert model.cluster_centers_.dtype == np.float64
    assert model.transform(X[:10]).dtype == np.float64


# -- (c) importing compiles nothing ----------------------------------------------------------
IMPORT_PROBE = """
import json, sys
from numba.core import dispatcher, event

compiled = []
original_compile = dispatcher.Dispatcher.compile

def counting_compile(self, sig):  # cache loads go through compile too
    compiled.append(self.py_func.__qualname__)
    return original_compile(self, sig)

dispatcher.Dispatcher.compile = counting_compile

class CompileListener(event.Listener):
    def on_start(self, event):
        compiled.append("numba:compile event")

    def on_end(self, event):
        pass

event.register("numba:compile", CompileListener())

import fastem

kernels = {}
for name, module in list(sys.modules.items()):
    if name.startswith("fastem._kernels") and module is not None:
        for value in vars(module).values():
            if isinstance(value, dispatcher.Dispatcher):
                kernels[value.py_func.__qualname__] = [str(s) for s in value.signatures]
print(json.dumps(dict(compiled=compiled, kernels=kernels)))
"""


def test_import_compiles_nothing():
    done = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["compiled"] == []
    assert len(report["kernels"]) >= 5, report["kernels"]  # the kernels are loaded, and lazy
    assert {name: sigs for name, sigs in report["kernels"].items() if sigs} == {}
