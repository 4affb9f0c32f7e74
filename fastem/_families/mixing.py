"""Mixing weights and known labels: what every family does with them alike."""

import numpy as np

# Added to every component's count, so that an empty component keeps a tiny, finite weight.
EMPTY_COUNT = 10 * np.finfo(np.float64).eps

# The kernels' "no labels": always an int64 array, so that one compiled signature
# serves fits with and without them.
_NO_LABELS = np.empty(0, dtype=np.int64)


def mixing_weights(nk):
    """Maximum-likelihood weights from the summed responsibilities ``nk``."""
    counts = nk + EMPTY_COUNT
    return counts / counts.sum()


def log_weights(weights):
    """log of the weights; a weight of 0 (user-given) is a component no row enters."""
    with np.errstate(divide="ignore"):
        return np.log(weights)


def weights_to_vector(weights):
    """Centred log-weights: an unconstrained form of the weights."""
    logs = np.log(np.maximum(weights, np.finfo(np.float64).tiny))
    return logs - logs.mean()


def weights_from_vector(logs):
    """Inverse of ``weights_to_vector`` (a softmax)."""
    weights = np.exp(logs - logs.max())
    return weights / weights.sum()


def kernel_labels(known_labels, n_rows):
    """``known_labels`` as the kernels take them: int64 of shape (n_rows,), or (0,) for
    None.  The kernels read a label per row unchecked, so the length is checked here."""
    if known_labels is None:
        return _NO_LABELS
    labels = np.ascontiguousarray(known_labels, dtype=np.int64)
    if labels.shape != (n_rows,):
        raise ValueError(f"known_labels has shape {labels.shape}; the rows need ({n_rows},).")
    return labels
