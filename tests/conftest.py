"""Shared test helpers: random Gaussian-mixture problems, a thread-count context, and
a way to run the kernels that have no Python entry.

Tests import the helpers directly (``from conftest import make_problem, n_threads``);
pytest puts this directory on ``sys.path`` (there is no ``tests/__init__.py``).
"""

import numba
import numpy as np
import reference

from fastem._kernels._jit import limit_threads
from fastem._families.gaussian import GaussianParams


@numba.njit
def call_compiled(kernel, *args):
    """``kernel(*args)`` from compiled code: how a test runs one of fastem's kernels
    that only compiled code may call (``fastem._kernels._jit.CompiledOnly``).  Not
    cached: Numba's cache cannot key a signature that holds a kernel, and would add a
    new entry for it on every run."""
    return kernel(*args)


def make_problem(seed, n_samples, n_features, n_components, covariance_type,
                 dtype=np.float64, offset=0.0, mean_spread=2.0):
    """Data drawn from a random Gaussian mixture, and that mixture's parameters.

    Weights in [0.5, 1.5] (normalised), means ~ N(offset, mean_spread^2), covariances with
    eigenvalues >= 0.5 (full: ``A A^T / D + I / 2``; diag: variances in [0.3, 2]), so the
    components overlap and responsibilities are not all 0 or 1.  The same ``seed`` with
    a different ``offset`` gives the same problem translated by ``offset`` (X computed in
    float64, then cast to ``dtype``).

    Returns
    -------
    X : ndarray (n_samples, n_features) of ``dtype``, C-contiguous
    params : GaussianParams (float64), ``precisions_cholesky`` from the NumPy reference
    """
    rng = np.random.default_rng(seed)
    weights = rng.uniform(0.5, 1.5, n_components)
    weights /= weights.sum()
    means = rng.normal(scale=mean_spread, size=(n_components, n_features))
    if covariance_type == "full":
        a = rng.normal(size=(n_components, n_features, n_features))
        covariances = a @ a.transpose(0, 2, 1) / n_features + 0.5 * np.eye(n_features)
        factors = np.linalg.cholesky(covariances)
    elif covariance_type == "diag":
        covariances = rng.uniform(0.3, 2.0, (n_components, n_features))
        factors = np.sqrt(covariances)[:, :, None] * np.eye(n_features)
    else:
        raise ValueError(f"unknown covariance_type {covariance_type!r}")
    labels = rng.choice(n_components, size=n_samples, p=weights)
    noise = rng.standard_normal((n_samples, n_features))
    X = means[labels] + np.einsum("nij,nj->ni", factors[labels], noise)
    params = GaussianParams(
        weights=weights,
        means=means + offset,
        covariances=covariances,
        precisions_cholesky=reference.precisions_cholesky_from_covariances(covariances),
    )
    return np.ascontiguousarray(X + offset, dtype=dtype), params


def make_sample_weight(seed, n_samples):
    """Float64 sample weights in [0.1, 3), except rows 3, 10, 17, ... weighted exactly 0."""
    sample_weight = np.random.default_rng(seed).uniform(0.1, 3.0, n_samples)
    sample_weight[3::7] = 0.0
    return sample_weight


# Run the enclosed kernels on k Numba threads (restored afterwards).
n_threads = limit_threads


def relative_error(actual, desired):
    """Largest absolute error relative to the largest magnitude of ``desired``."""
    actual, desired = np.asarray(actual, dtype=np.float64), np.asarray(desired, dtype=np.float64)
    assert actual.shape == desired.shape
    scale = np.abs(desired).max()
    error = np.abs(actual - desired).max()
    return error / scale if scale > 0 else error


def assert_relative_close(actual, desired, rtol, what):
    error = relative_error(actual, desired)
    assert error <= rtol, f"{what}: relative error {error:.3g} > {rtol:.3g}"


def same_start(X, n_components, covariance_type):
    """weights_init / means_init / precisions_init: a fixed start shared by two fits."""
    spread = X.var(axis=0)
    if covariance_type == "full":
        precisions = np.stack([np.diag(1.0 / spread)] * n_components)
    else:
        precisions = np.tile(1.0 / spread, (n_components, 1))
    weights = np.arange(1.0, n_components + 1)
    return dict(
        weights_init=weights / weights.sum(),
        means_init=np.ascontiguousarray(X[:n_components], dtype=np.float64),
        precisions_init=precisions,
    )


class Frame:
    """The least of a DataFrame that feature names need (pandas is not a test
    dependency): column names, and the values through ``__array__``."""

    def __init__(self, values, columns):
        self.values = np.asarray(values)
        self.columns = list(columns)
        self.shape = self.values.shape

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)
