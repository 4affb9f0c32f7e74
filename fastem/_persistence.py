"""Model files: every estimator's ``save(path)`` and ``fastem.load(path)``.

A model file is an ``.npz`` archive written and read with ``allow_pickle=False``, so
loading a file never executes code.  Its ``header`` entry is JSON::

    {"format_version": 2, "class": "GaussianMixture",
     "params": {name: value, ...},      # every constructor parameter (get_params)
     "fitted": {name: value, ...}}      # the fitted attributes the class declares

A value is a JSON number, string, bool or null, or an object naming how it was stored:
``{"array": entry}`` (an ndarray in the archive entry of that name: a fitted attribute's
own name, such as ``means_``, or ``param:`` and a parameter's name),
``{"numpy": entry}`` (a NumPy scalar, as a 0-d array), ``{"strings": entry}`` (an
object array of str, such as ``feature_names_in_``, stored as a unicode array),
``{"numbers": entry, "as": "list" | "tuple", "numpy_items": bool}`` (a list of numbers,
such as ``lower_bounds_``, as one array), or ``{"list" | "tuple" | "set" | "frozenset":
[value, ...]}``.  Each value comes back with its type, so a loaded estimator's
``get_params()`` and fitted attributes equal the saved ones.  A ``RandomState`` or
``Generator`` given as ``random_state`` is not saved (the file holds None); any other
object (a callable ``init``) cannot be saved and raises.

The registry, ``MODEL_CLASSES`` below, is the one list of classes that ``load`` builds;
each class declares what it saves (``_SAVED_ATTRIBUTES``, ``_SAVED_IF_PRESENT``; see
``EstimatorBase``).  This module sits above the estimators and imports them; they do not
import it: on import it registers ``save_model`` as the writer that ``EstimatorBase.save``
calls (``set_model_writer``), and fastem/__init__.py imports it.

Format versions: 1 (GaussianMixture only, fixed lists of entries) is still read; 2 is
written.
"""

import json
import zipfile
import zlib

import numpy as np

from ._validation import check_is_fitted
from .linear_model import BayesianLinearRegression
from .mixture import BayesianGaussianMixture, BernoulliMixture, GaussianMixture, KMeans
from .mixture._base import set_model_writer

FORMAT_VERSION = 2

# The classes a model file may name.  An explicit table rather than a decorator on each
# class: the estimators sit below this module and do not import it.
MODEL_CLASSES = {
    cls.__name__: cls
    for cls in (GaussianMixture, BayesianGaussianMixture, BernoulliMixture, KMeans, BayesianLinearRegression)
}

_RANDOM_STATES = (np.random.RandomState, np.random.Generator)
_CONTAINERS = {"list": list, "tuple": tuple, "set": set, "frozenset": frozenset}


# -- writing ------------------------------------------------------------------------
def save_model(estimator, path):
    """Write a fitted estimator to ``path`` (exactly that name; nothing is appended).

    Parameters
    ----------
    estimator : estimator of a class in ``MODEL_CLASSES``
        Fitted; its class's ``_SAVED_ATTRIBUTES`` are saved, and those of
        ``_SAVED_IF_PRESENT`` that it has.
    path : str or path-like

    Raises
    ------
    NotFittedError
        If the estimator is not fitted (no file is written).
    ValueError
        If its class is not registered, or a parameter holds an object that a model
        file cannot hold (a callable).
    """
    cls = type(estimator)
    if MODEL_CLASSES.get(cls.__name__) is not cls:
        raise ValueError(
            f"fastem cannot save a {cls.__name__}: model files hold "
            f"{', '.join(MODEL_CLASSES)}."
        )
    for name in cls._SAVED_ATTRIBUTES:
        check_is_fitted(estimator, name)
    arrays = {}
    params = {}
    for name, value in estimator.get_params().items():
        if isinstance(value, _RANDOM_STATES):
            value = None  # documented: a generator object is not saved, its seed is unknown
        params[name] = _encode(value, f"param:{name}", arrays, f"The {name!r} parameter of {cls.__name__}")
    saved = list(cls._SAVED_ATTRIBUTES) + [n for n in cls._SAVED_IF_PRESENT if hasattr(estimator, n)]
    fitted = {
        name: _encode(getattr(estimator, name), name, arrays, f"{cls.__name__}.{name}")
        for name in saved
    }
    header = {"format_version": FORMAT_VERSION, "class": cls.__name__, "params": params, "fitted": fitted}
    with open(path, "wb") as handle:  # a handle: np.savez would append ".npz" to a name
        np.savez(handle, header=np.array(json.dumps(header)), **arrays)


set_model_writer(save_model)  # EstimatorBase.save calls it; the estimators do not import this module


def _encode(value, key, arrays, what):
    """The header's JSON for ``value``; its arrays go into ``arrays`` under ``key...``."""
    if isinstance(value, np.generic):  # first: np.float64 is also a float
        arrays[key] = np.asarray(value)
        return {"numpy": key}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.kind != "O":
            arrays[key] = value
            return {"array": key}
        if all(type(item) is str for item in value.flat):
            arrays[key] = value.astype(str)
            return {"strings": key}
    elif type(value) in (list, tuple) and _plain_numbers(value):
        arrays[key] = np.array(value)
        return {"numbers": key, "as": type(value).__name__, "numpy_items": isinstance(value[0], np.generic)}
    elif type(value).__name__ in _CONTAINERS and type(value) is _CONTAINERS[type(value).__name__]:
        items = sorted(value) if isinstance(value, (set, frozenset)) else value  # a file's order is fixed
        return {type(value).__name__: [_encode(item, f"{key}:{i}", arrays, what) for i, item in enumerate(items)]}
    raise ValueError(
        f"{what} holds a {type(value).__name__}, which a model file cannot hold (loading a "
        "model never runs code). Set it to a value of numbers, strings or arrays before save."
    )


def _plain_numbers(sequence):
    """True for a non-empty list or tuple of real numbers all of one type."""
    kinds = {type(item) for item in sequence}
    if len(kinds) != 1:
        return False
    kind = kinds.pop()
    return kind in (int, float) or (issubclass(kind, np.generic) and np.dtype(kind).kind in "iuf")


# -- reading ------------------------------------------------------------------------
def load(path):
    """Read a model written by an estimator's ``save``.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    estimator
        A fitted estimator of the class that was saved, with the saved constructor
        parameters and fitted attributes.

    Raises
    ------
    ValueError
        With a one-line message naming the file, if it is not a fastem model file, is
        truncated, or was written by a newer fastem.
    """
    with open(path, "rb") as handle:  # ours to close, whatever np.load raises
        try:
            archive = np.load(handle, allow_pickle=False)
        except (zipfile.BadZipFile, EOFError) as error:
            raise ValueError(f"{path} is truncated or not a model file.") from error
        except ValueError as error:  # NumPy refuses what is neither .npy nor .npz as a pickle
            raise ValueError(f"{path} is not a fastem model file (not an .npz archive).") from error
        if not isinstance(archive, np.lib.npyio.NpzFile):  # a .npy array
            raise ValueError(f"{path} is not a fastem model file (not an .npz archive).")
        with archive:
            if "header" not in archive.files:
                raise ValueError(f"{path} is not a fastem model file (no header).")
            header = _header(path, _entry(path, archive, "header"))
            entries = {name: _entry(path, archive, name) for name in archive.files if name != "header"}
    if header["format_version"] == 1:
        return _load_version_1(path, header, entries)
    cls = _model_class(path, header)
    try:
        params = {name: _decode(value, entries) for name, value in header["params"].items()}
        fitted = {name: _decode(value, entries) for name, value in header["fitted"].items()}
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"{path} is damaged: its header does not match its entries ({error!r}).") from error
    missing = [name for name in cls._SAVED_ATTRIBUTES if name not in fitted]
    if missing:
        raise ValueError(f"{path} is damaged: it lacks the fitted attribute(s) {', '.join(missing)}.")
    return _estimator(path, cls, params, fitted)


def _entry(path, archive, name):
    """One entry of the archive; a damaged member raises the file's error."""
    try:
        return archive[name]
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError, ValueError) as error:
        raise ValueError(f"{path} is truncated or not a model file.") from error


def _header(path, entry):
    try:
        header = json.loads(str(entry))
        version = header["format_version"]
    except (ValueError, TypeError, KeyError) as error:
        raise ValueError(f"{path} is not a fastem model file (unreadable header).") from error
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ValueError(f"{path} is not a fastem model file (format version {version!r}).")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"{path} has model format version {version}; this fastem reads versions up to "
            f"{FORMAT_VERSION}. Upgrade fastem."
        )
    if not all(isinstance(header.get(part), dict) for part in ("params", "fitted")):
        raise ValueError(f"{path} is not a fastem model file (unreadable header).")
    return header


def _model_class(path, header):
    cls = MODEL_CLASSES.get(header.get("class"))
    if cls is None:
        raise ValueError(f"{path} holds an unknown model class {header.get('class')!r}.")
    return cls


def _decode(value, entries):
    """The value ``_encode`` described, from the archive's ``entries``."""
    if not isinstance(value, dict):
        return value
    tag = next(iter(value), None)  # the first key names the kind ("numbers" has two more)
    content = value[tag]
    if tag == "array":
        return entries[content]
    if tag == "numpy":
        return entries[content][()]
    if tag == "strings":
        return entries[content].astype(object)
    if tag == "numbers":
        array = entries[content]
        items = list(array) if value["numpy_items"] else array.tolist()
        return _CONTAINERS[value["as"]](items)
    return _CONTAINERS[tag](_decode(item, entries) for item in content)


def _estimator(path, cls, params, fitted):
    """An estimator of ``cls`` built from the file's parameters, with its fitted attributes."""
    unknown = sorted(set(params) - set(cls._param_names()))
    if unknown:
        raise ValueError(
            f"{path} sets parameter(s) {', '.join(unknown)} that {cls.__name__} does not take; "
            "it was written by another version of fastem."
        )
    estimator = cls(**params)
    for name, value in fitted.items():
        setattr(estimator, name, value)
    return estimator


# Version 1 wrote GaussianMixture only: these parameters as arrays, these fitted arrays
# and JSON scalars under fixed names, lower_bounds_ as an array.
_V1_ARRAY_PARAMS = ("weights_init", "means_init", "precisions_init", "mean_prior", "covariance_prior")
_V1_ARRAYS = ("weights_", "means_", "covariances_", "precisions_", "precisions_cholesky_", "lower_bounds_")


def _load_version_1(path, header, entries):
    cls = _model_class(path, header)
    params = dict(header["params"])
    for name in _V1_ARRAY_PARAMS:
        params[name] = entries.get(f"param:{name}")
    fitted = dict(header["fitted"])
    try:
        fitted.update({name: entries[name] for name in _V1_ARRAYS})
    except KeyError as error:
        raise ValueError(f"{path} is damaged: it lacks the entry {error}.") from error
    fitted["lower_bounds_"] = fitted["lower_bounds_"].tolist()
    return _estimator(path, cls, params, fitted)
