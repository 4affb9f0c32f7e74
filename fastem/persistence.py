"""Model files: ``.npz`` archives written and read with ``allow_pickle=False``, so loading
a file never executes code.  Constructor parameters travel as JSON (array-valued ones
as arrays); a RandomState instance is not saved (random_state is stored as None)."""

import json

import numpy as np

FORMAT_VERSION = 1
_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init", "mean_prior", "covariance_prior")
_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "lower_bounds_")
_SCALARS = ("converged_", "n_iter_", "n_passes_", "lower_bound_", "n_features_in_")


def save_model(estimator, path):
    """Write a fitted estimator to ``path``."""
    from ._validation import check_is_fitted

    check_is_fitted(estimator)
    params = {name: _plain(value) for name, value in estimator.get_params().items()}
    arrays = {}
    for name in _ARRAY_PARAMS:
        value = params.pop(name)
        if value is not None:
            arrays[f"param:{name}"] = np.asarray(value)
    if not (params["random_state"] is None or isinstance(params["random_state"], int)):
        params["random_state"] = None
    header = {
        "format_version": FORMAT_VERSION,
        "class": type(estimator).__name__,
        "params": params,
        "fitted": {name: _plain(getattr(estimator, name)) for name in _SCALARS},
    }
    arrays.update({name: np.asarray(getattr(estimator, name)) for name in _ARRAYS})
    with open(path, "wb") as handle:  # exactly this name: np.savez would append ".npz"
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def load(path):
    """Read a model written by ``save``; returns a fitted estimator."""
    from .mixture import GaussianMixture

    classes = {"GaussianMixture": GaussianMixture}
    with np.load(path, allow_pickle=False) as archive:
        if "header" not in archive:
            raise ValueError(f"{path} is not a fastem model file (no header).")
        header = json.loads(str(archive["header"]))
        if header.get("format_version") != FORMAT_VERSION:
            raise ValueError(
                f"{path} has model format version {header.get('format_version')}; this "
                f"fastem reads version {FORMAT_VERSION}."
            )
        cls = classes.get(header.get("class"))
        if cls is None:
            raise ValueError(f"{path} holds an unknown model class {header.get('class')!r}.")
        params = dict(header["params"])
        for name in _ARRAY_PARAMS:
            params[name] = archive[f"param:{name}"] if f"param:{name}" in archive else None
        estimator = cls(**params)
        for name in _ARRAYS:
            setattr(estimator, name, archive[name])
        estimator.lower_bounds_ = estimator.lower_bounds_.tolist()
    for name, value in header["fitted"].items():
        setattr(estimator, name, value)
    return estimator
