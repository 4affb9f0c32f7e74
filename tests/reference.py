"""Plain-NumPy reference of the Gaussian mixture E-step, M-step and EM loop.

Slow and obviously correct: written from the formulas, one component at a time, in
float64 throughout (every input is upcast on entry), and independent of ``fastem``.
The kernel tests compare the Numba kernels against these functions.

Conventions (the same as fastem's)
----------------------------------
full : ``covariances`` (K, D, D); ``precisions_cholesky`` is the upper-triangular ``U``
    with ``precision = U @ U.T``, so that
    ``log N(x | mu, Sigma) = -D/2 log(2 pi) + sum(log diag U) - |(x - mu) @ U|^2 / 2``.
diag : ``covariances`` (K, D) variances; ``precisions_cholesky = 1 / sqrt(variances)``.
"""

from collections import namedtuple

import numpy as np

LOG_2PI = np.log(2.0 * np.pi)

# nk gets this added before dividing, as in fastem (keeps empty components finite).
NK_EPS = 10.0 * np.finfo(np.float64).eps

Stats = namedtuple("Stats", "nk sx sxx shift loglik weight")
Stats.__doc__ = "E-step statistics about ``shift`` (the fields of fastem._stats.GaussianStats)."

Params = namedtuple("Params", "weights means covariances precisions_cholesky")


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def covariance_type_of(covariances_or_factors):
    return "full" if np.ndim(covariances_or_factors) == 3 else "diag"


# -- parameter conversions --------------------------------------------------------------
def precisions_cholesky_from_covariances(covariances):
    """Upper ``U = inv(L).T`` with ``Sigma = L @ L.T`` (full), or ``1 / sqrt(var)`` (diag)."""
    covariances = _f64(covariances)
    if covariances.ndim == 2:
        return 1.0 / np.sqrt(covariances)
    return np.stack([np.linalg.inv(np.linalg.cholesky(c)).T for c in covariances])


def covariances_from_precisions_cholesky(precisions_cholesky):
    """``inv(U @ U.T)`` (full), or ``1 / prec_chol**2`` (diag)."""
    pc = _f64(precisions_cholesky)
    if pc.ndim == 2:
        return 1.0 / pc**2
    return np.stack([np.linalg.inv(u @ u.T) for u in pc])


# -- E-step -----------------------------------------------------------------------------
def weighted_log_prob(X, weights, means, precisions_cholesky):
    """``log(weights[k]) + log N(X[n] | means[k], .)`` for every point and component, (N, K)."""
    X, weights, means, pc = _f64(X), _f64(weights), _f64(means), _f64(precisions_cholesky)
    n_samples, n_features = X.shape
    out = np.empty((n_samples, means.shape[0]))
    for k in range(means.shape[0]):
        diff = X - means[k]
        if pc.ndim == 3:
            y = diff @ pc[k]
            log_det = np.sum(np.log(np.diag(pc[k])))
        else:
            y = diff * pc[k]
            log_det = np.sum(np.log(pc[k]))
        out[:, k] = (
            np.log(weights[k]) - 0.5 * n_features * LOG_2PI + log_det - 0.5 * np.sum(y * y, axis=1)
        )
    return out


def soft_weights(wlp):
    """``(resp, log_prob)`` of rows of weighted log-densities: log p(x) by log-sum-exp
    (-inf for rows that are all -inf, whose weights are NaN), and the posteriors as the
    exps relative to each row's best term over their sum (``exp(wlp - log_prob)``
    would round the exponent by an ulp of log p(x), 1e-12 at log p = -5000)."""
    wlp = _f64(wlp)
    top = wlp.max(axis=1, keepdims=True)
    safe = np.where(np.isfinite(top), top, 0.0)
    exps = np.exp(wlp - safe)
    total = exps.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):  # rows with no finite term
        return exps / total, (safe + np.log(total))[:, 0]


def posterior(X, weights, means, precisions_cholesky):
    """``(resp (N, K), log_prob (N,), label (N,))``: soft posteriors, log p(x), argmax."""
    wlp = weighted_log_prob(X, weights, means, precisions_cholesky)
    resp, log_prob = soft_weights(wlp)
    label = np.argmax(wlp, axis=1)  # the first of equal maxima
    return resp, log_prob, label


def point_weights(X, weights, means, precisions_cholesky, mode):
    """Weights of each point over components and each point's log-likelihood.

    ``mode`` "soft": posterior responsibilities and log p(x); "hard": one-hot at the
    argmax (the first index on ties) and the largest weighted log-density.
    """
    wlp = weighted_log_prob(X, weights, means, precisions_cholesky)
    if mode == "soft":
        return soft_weights(wlp)
    if mode == "hard":
        label = np.argmax(wlp, axis=1)
        resp = np.zeros_like(wlp)
        resp[np.arange(wlp.shape[0]), label] = 1.0
        return resp, wlp[np.arange(wlp.shape[0]), label]
    raise ValueError(f"mode must be 'soft' or 'hard'; got {mode!r}")


def moments(X, resp, sample_weight, shift, covariance_type):
    """``(nk, sx, sxx)`` of the points weighted by ``sample_weight * resp[:, k]``, about ``shift``.

    ``sxx`` is (K, D, D) for "full" and (K, D) (squares only) for "diag".
    """
    X, resp, shift = _f64(X), _f64(resp), _f64(shift)
    w = np.ones(X.shape[0]) if sample_weight is None else _f64(sample_weight)
    full = covariance_type == "full"
    n_components, n_features = shift.shape
    nk = np.empty(n_components)
    sx = np.empty((n_components, n_features))
    sxx = np.empty((n_components, n_features) + ((n_features,) if full else ()))
    for k in range(n_components):
        r = w * resp[:, k]
        diff = X - shift[k]
        nk[k] = r.sum()
        sx[k] = r @ diff
        sxx[k] = (diff * r[:, None]).T @ diff if full else r @ (diff * diff)
    return nk, sx, sxx


def estep(X, sample_weight, weights, means, precisions_cholesky, mode="soft", shift=None):
    """E-step statistics of ``X``; moments about ``shift`` (default: ``means``).

    ``sxx`` is (K, D, D) for full ``precisions_cholesky`` and (K, D) for diagonal ones.
    """
    X = _f64(X)
    w = np.ones(X.shape[0]) if sample_weight is None else _f64(sample_weight)
    shift = _f64(means if shift is None else shift)
    resp, point_loglik = point_weights(X, weights, means, precisions_cholesky, mode)
    nk, sx, sxx = moments(X, resp, w, shift, covariance_type_of(precisions_cholesky))
    return Stats(nk, sx, sxx, shift, float(w @ point_loglik), float(w.sum()))


# -- M-step -----------------------------------------------------------------------------
def m_step(X, resp, sample_weight, shift, reg_covar, covariance_type):
    """Maximum-likelihood parameters given each point's weights ``resp`` (N, K), two-pass.

    ``nk = sum w r + 10 eps``, ``weights = nk / sum(nk)``,
    ``means = shift + sum w r (x - shift) / nk`` (an empty component keeps ``shift``),
    ``covariances = sum w r (x - mean)(x - mean)^T / nk + reg_covar I`` (diag: the diagonal).
    """
    X, resp, shift = _f64(X), _f64(resp), _f64(shift)
    w = np.ones(X.shape[0]) if sample_weight is None else _f64(sample_weight)
    n_components, n_features = shift.shape
    nk = np.empty(n_components)
    means = np.empty((n_components, n_features))
    if covariance_type == "full":
        covariances = np.empty((n_components, n_features, n_features))
    else:
        covariances = np.empty((n_components, n_features))
    for k in range(n_components):
        r = w * resp[:, k]
        nk[k] = r.sum() + NK_EPS
        means[k] = shift[k] + r @ (X - shift[k]) / nk[k]
        diff = X - means[k]
        if covariance_type == "full":
            covariances[k] = (diff * r[:, None]).T @ diff / nk[k] + reg_covar * np.eye(n_features)
        else:
            covariances[k] = r @ (diff * diff) / nk[k] + reg_covar
    return Params(
        nk / nk.sum(), means, covariances, precisions_cholesky_from_covariances(covariances)
    )


# -- EM ---------------------------------------------------------------------------------
def reference_em(X, weights, means, covariances, n_iter, reg_covar=1e-6, sample_weight=None,
                 mode="soft"):
    """``n_iter`` EM iterations from the given parameters.

    The covariance type follows from ``covariances.ndim`` (3: full, 2: diag).  Each
    M-step is taken about the current means, so an empty component keeps its mean (as
    in fastem).

    Returns
    -------
    params : Params
        After the last M-step.
    history : list of float
        ``history[i]`` is the mean (per unit of sample weight) log-likelihood of the
        parameters entering iteration ``i`` (fastem's ``lower_bounds``).
    """
    X = _f64(X)
    w = np.ones(X.shape[0]) if sample_weight is None else _f64(sample_weight)
    covariance_type = covariance_type_of(covariances)
    params = Params(
        _f64(weights), _f64(means), _f64(covariances),
        precisions_cholesky_from_covariances(covariances),
    )
    history = []
    for _ in range(n_iter):
        resp, point_loglik = point_weights(
            X, params.weights, params.means, params.precisions_cholesky, mode
        )
        history.append(float(w @ point_loglik / w.sum()))
        params = m_step(X, resp, w, params.means, reg_covar, covariance_type)
    return params, history
