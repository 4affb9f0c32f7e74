"""Input checks with messages that say what is wrong, where, and how to fix it.

Arrays are returned as C-contiguous float32 or float64 without copying when they
already are; anything else is converted once (integers and booleans to float64).
User arrays are never written to.
"""

import numbers

import numpy as np

from ._rows import BinaryRows
from .exceptions import not_fitted_error


def check_is_fitted(estimator, attribute="means_"):
    if not hasattr(estimator, attribute):
        raise not_fitted_error(
            f"This {type(estimator).__name__} instance is not fitted yet. Call 'fit' with "
            "appropriate arguments before using this estimator."
        )


def _is_sparse(X):
    return type(X).__module__.startswith("scipy.sparse")


def check_data(X, name="X", n_features=None, estimator_name="the estimator", min_samples=1, allow_missing=False):
    """Return ``X`` as a C-contiguous 2-D float32/float64 array with finite values.

    With ``allow_missing``, NaN entries are kept (missing values); inf is still
    rejected, and so is a row with every feature NaN.
    """
    if _is_sparse(X):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; sparse input is not supported by "
            f"{estimator_name}. Pass a dense array ({name}.toarray())."
        )
    array = np.asarray(X)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:  # float() says which element is not a number
            raise type(error)(
                f"{name} has dtype object and holds a value that is not a number ({error}); "
                "fastem fits numeric data."
            ) from None
    if array.dtype.kind == "c":
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}.")
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"{name} has dtype {array.dtype}; fastem fits numeric data. Convert it with "
            f"{name}.astype(np.float64)."
        )
    if array.ndim != 2:
        hint = ""
        if array.ndim == 1:
            hint = (
                f" Reshape your data either using {name}.reshape(-1, 1) if it has a single "
                f"feature or {name}.reshape(1, -1) if it contains a single sample."
            )
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got a "
            f"{array.ndim}-D array of shape {array.shape}.{hint}"
        )
    check_shape(array.shape, n_features, estimator_name, min_samples)
    if array.dtype not in (np.float32, np.float64):
        array = array.astype(np.float64)
    array = np.ascontiguousarray(array)
    if allow_missing:
        _check_missing(array, name)
    else:
        _check_finite(array, name)
    return array


def every_feature_missing(row, name="X"):
    """The error message for a row (at data-set position ``row``) with no observed feature."""
    return f"{name} row {row} has every feature missing; drop it or give at least one value."


def _check_missing(array, name):
    """NaN may stand for a missing entry, but inf is no value, and a row needs one entry."""
    infinite = np.isinf(array)
    if infinite.any():
        bad = np.argwhere(infinite)
        raise ValueError(
            f"{name} contains {len(bad)} infinite value(s) (first at row {bad[0][0]}, column {bad[0][1]}); "
            "missing='em' takes NaN as a missing value, but inf is not one. Remove or replace them."
        )
    empty = np.isnan(array).all(axis=1) if array.shape[1] else np.zeros(0, dtype=bool)
    if empty.any():
        raise ValueError(every_feature_missing(int(np.flatnonzero(empty)[0]), name))


def _check_finite(array, name):
    finite = np.isfinite(array)
    if not finite.all():
        bad = np.argwhere(~finite)
        where = f"row {bad[0][0]}" + (f", column {bad[0][1]}" if array.ndim == 2 else "")
        raise ValueError(
            f"{name} contains {len(bad)} non-finite value(s) (NaN or inf; first at {where}); "
            "remove or impute them."
        )


def check_target(y, n_samples, name="y"):
    """Return a regression target as float64 of shape (n_samples,) with finite values
    (the user's array itself when it already is one; it is never written to)."""
    if _is_sparse(y):
        raise TypeError(f"{name} is a scipy.sparse matrix; pass a dense 1-D array ({name}.toarray().ravel()).")
    array = np.asarray(y)
    if array.dtype.kind == "O":
        try:
            array = array.astype(np.float64)
        except (TypeError, ValueError) as error:
            raise type(error)(
                f"{name} has dtype object and holds a value that is not a number ({error}); "
                "a regression target must be numeric."
            ) from None
    if array.dtype.kind not in "fiub":
        raise TypeError(
            f"{name} has dtype {array.dtype}; a regression target must be numeric. Convert it with "
            f"{name}.astype(np.float64)."
        )
    if array.ndim != 1:
        hint = f" Pass {name}.ravel() for a single target." if array.ndim == 2 and array.shape[1] == 1 else ""
        raise ValueError(
            f"{name} must be a 1-D array of shape (n_samples,); got a {array.ndim}-D array of "
            f"shape {array.shape}.{hint}"
        )
    if array.shape[0] != n_samples:
        raise ValueError(f"{name} has {array.shape[0]} entries but X has {n_samples} rows.")
    array = np.ascontiguousarray(array, dtype=np.float64)
    _check_finite(array, name)
    return array


def check_sample_weight(sample_weight, n_samples):
    """Return float64 weights of shape (n_samples,), or None for unit weights."""
    if sample_weight is None:
        return None
    if isinstance(sample_weight, numbers.Number):
        sample_weight = np.full(n_samples, sample_weight, dtype=np.float64)
    weights = np.asarray(sample_weight)
    if weights.dtype.kind not in "fiub":
        raise TypeError(f"sample_weight has dtype {weights.dtype}; it must be numeric.")
    if weights.shape != (n_samples,):
        raise ValueError(
            f"sample_weight must have shape ({n_samples},) to match X; got shape {weights.shape}."
        )
    weights = np.ascontiguousarray(weights, dtype=np.float64)
    _check_finite(weights, "sample_weight")
    if (weights < 0).any():
        first = int(np.flatnonzero(weights < 0)[0])
        raise ValueError(
            f"sample_weight must be non-negative; sample_weight[{first}] = {weights[first]}."
        )
    if weights.sum() <= 0:
        raise ValueError("sample_weight sums to zero; at least one sample needs a positive weight.")
    return weights


def check_known_labels(known_labels, n_samples, n_components):
    """Return int64 labels of shape (n_samples,), or None when none are given.

    Each entry is a component index in [0, n_components) or -1 (unknown); integer-valued
    floats (1.0) are accepted.  Returns None when every entry is -1, so that such a fit is
    the unlabelled one.  The user's array is never written to.
    """
    if known_labels is None:
        return None
    labels = np.asarray(known_labels)
    if labels.ndim != 1:
        raise ValueError(
            f"known_labels must be a 1-D array of shape (n_samples,); got a {labels.ndim}-D array "
            f"of shape {labels.shape}."
        )
    if labels.shape[0] != n_samples:
        raise ValueError(f"known_labels has {labels.shape[0]} entries but X has {n_samples} rows.")
    if labels.dtype.kind not in "iuf":
        raise ValueError(
            f"known_labels has dtype {labels.dtype}; it must hold integers (a component index, "
            "or -1 for unknown)."
        )
    if labels.dtype.kind == "f":
        fractional = ~np.isfinite(labels) | (labels != np.round(labels))
        if fractional.any():
            row = int(np.flatnonzero(fractional)[0])
            raise ValueError(
                f"known_labels must hold integers (a component index, or -1 for unknown); "
                f"got {labels[row].item()!r} at row {row}."
            )
    outside = (labels < -1) | (labels >= n_components)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        value = labels[row].item()
        raise ValueError(
            f"known_labels must be -1 (unknown) or a component index in [0, {n_components}); "
            f"got {int(value)} at row {row}."
        )
    if (labels == -1).all():
        return None
    return np.ascontiguousarray(labels, dtype=np.int64)


def check_int(value, name, owner, low, high=None):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise _range_error(value, name, owner, "an int", low, high)
    if value < low or (high is not None and value > high):
        raise _range_error(value, name, owner, "an int", low, high)
    return int(value)


def check_float(value, name, owner, low, high=None, low_open=False):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise _range_error(value, name, owner, "a float", low, high, low_open)
    # written so that NaN, for which every comparison is False, fails the range test
    if not (value > low if low_open else value >= low) or (high is not None and not value <= high):
        raise _range_error(value, name, owner, "a float", low, high, low_open)
    return float(value)


def _range_error(value, name, owner, kind, low, high, low_open=False):
    interval = f"{'(' if low_open else '['}{low}, {'inf)' if high is None else f'{high}]'}"
    return ValueError(
        f"The '{name}' parameter of {owner} must be {kind} in the range {interval}. "
        f"Got {value!r} instead."
    )


def check_option(value, name, owner, options):
    if not isinstance(value, str) or value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise ValueError(
            f"The '{name}' parameter of {owner} must be one of {listed}. Got {value!r} instead."
        )
    return value


def check_random_state(seed):
    """A RandomState from None (NumPy's global one), an int, or a RandomState."""
    if seed is None:
        return np.random.mtrand._rand
    if isinstance(seed, numbers.Integral) and not isinstance(seed, (bool, np.bool_)):
        return np.random.RandomState(int(seed))
    if isinstance(seed, np.random.RandomState):
        return seed
    raise ValueError(
        f"random_state must be None, an int or a numpy.random.RandomState; got {seed!r}."
    )


def check_binary_data(X, name="X", n_features=None, estimator_name="the estimator", min_samples=1):
    """Return ``X`` (a dense array or a scipy.sparse matrix of 0/1) as ``BinaryRows``.

    Values other than 0 and 1 raise a ValueError naming the first one (no thresholding);
    the user's matrix is never modified (explicit zeros and duplicates are dropped on a copy).
    """
    if _is_sparse(X):
        matrix = X.tocsr()
        if matrix is X or not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        check_shape(matrix.shape, n_features, estimator_name, min_samples)
        values = matrix.data
        bad = np.flatnonzero(~((values == 0) | (values == 1)))
        if bad.size:
            row = int(np.searchsorted(matrix.indptr, bad[0], side="right") - 1)
            _binary_error(name, row, int(matrix.indices[bad[0]]), values[bad[0]])
        matrix.eliminate_zeros()
        indices = matrix.indices.astype(np.int32 if matrix.shape[1] < 2**31 else np.int64)
        return BinaryRows(matrix.indptr.astype(np.int64), indices, matrix.shape[1])
    array = np.asarray(X)
    if array.dtype.kind not in "fiub":
        raise TypeError(f"{name} has dtype {array.dtype}; binary data must be bool or numeric 0/1.")
    if array.ndim != 2:
        raise ValueError(
            f"{name} must be a 2-D array of shape (n_samples, n_features); got a "
            f"{array.ndim}-D array of shape {array.shape}."
        )
    check_shape(array.shape, n_features, estimator_name, min_samples)
    # Checked and listed a block of rows at a time, so that the temporaries (masks and
    # int64 positions, several times the size of the data) stay block-sized.
    n_samples, width = array.shape
    index_dtype = np.int32 if width < 2**31 else np.int64
    counts = np.zeros(n_samples, dtype=np.int64)
    pieces = []
    for start in range(0, n_samples, _BINARY_BLOCK_ROWS):
        block = array[start:start + _BINARY_BLOCK_ROWS]
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            _check_finite(array, name)  # the whole-array message, with the first position
        if block.dtype.kind != "b":
            not_binary = (block != 0) & (block != 1)
            if not_binary.any():
                row, column = np.argwhere(not_binary)[0]
                _binary_error(name, start + int(row), int(column), block[row, column])
        rows, columns = np.nonzero(block)
        counts[start:start + block.shape[0]] = np.bincount(rows, minlength=block.shape[0])
        pieces.append(columns.astype(index_dtype))
    indptr = np.zeros(n_samples + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    indices = np.concatenate(pieces) if pieces else np.zeros(0, dtype=index_dtype)
    return BinaryRows(indptr, indices, width)


_BINARY_BLOCK_ROWS = 8192


def _binary_error(name, row, column, value):
    value = value.item() if isinstance(value, np.generic) else value
    raise ValueError(
        f"{name} must hold only 0 and 1 (binary data); {name}[{row}, {column}] = {value!r}. "
        "Binarise it first (e.g. X > threshold)."
    )


def check_shape(shape, n_features=None, estimator_name="the estimator", min_samples=1):
    """Check a 2-D data shape: enough samples, at least one feature, the fitted width."""
    if shape[0] < min_samples:
        raise ValueError(
            f"Found array with {shape[0]} sample(s) (shape={shape}) while a "
            f"minimum of {min_samples} is required."
        )
    if shape[1] < 1:
        raise ValueError(f"Found array with 0 feature(s) (shape={shape}) while a minimum of 1 is required.")
    if n_features is not None and shape[1] != n_features:
        raise ValueError(
            f"X has {shape[1]} features, but {estimator_name} is expecting "
            f"{n_features} features as input."
        )


def check_init_array(value, name, shape, shape_text, unit_interval=False):
    """A private float64 copy of a user-given starting array, checked for dtype, shape,
    finiteness and (``unit_interval``) values in [0, 1]."""
    array = np.asarray(value)
    if array.dtype.kind not in "fiu":
        raise TypeError(f"{name} has dtype {array.dtype}; it must be numeric.")
    array = np.array(array, dtype=np.float64)  # a private copy: the user's array is never kept
    if array.shape != shape:
        raise ValueError(f"{name} must have shape {shape_text} = {shape}; got shape {array.shape}.")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or inf.")
    if unit_interval and ((array < 0).any() or (array > 1).any()):
        raise ValueError(f"{name} must lie in [0, 1]; got min {array.min():.5g}, max {array.max():.5g}.")
    return array


def check_weights_init(value, n_components):
    """User-given mixing weights: (n_components,), in [0, 1], summing to 1."""
    weights = check_init_array(value, "weights_init", (n_components,), "(n_components,)", unit_interval=True)
    if abs(weights.sum() - 1.0) > 1e-8:
        raise ValueError(f"weights_init must sum to 1; got sum {weights.sum():.10g}.")
    return weights
