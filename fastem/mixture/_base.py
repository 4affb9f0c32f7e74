"""scikit-learn's estimator protocol without importing scikit-learn.

fastem's runtime needs only NumPy and Numba; these few methods are what
``sklearn.base.clone``, ``Pipeline``, ``GridSearchCV`` and ``check_estimator`` use.
"""

import inspect
import os
import sys
import warnings

import numpy as np

# How ``save`` writes a model file: ``write(estimator, path)``.  The module that writes
# and reads model files (fastem._persistence) sits above the estimators and imports them,
# so they do not import it; it hands its writer over here when it is imported, and
# fastem/__init__.py imports it, so the writer is set before any estimator exists.
_model_writer = None


def set_model_writer(write):
    """Make ``write(estimator, path)`` the function every estimator's ``save`` calls."""
    global _model_writer
    _model_writer = write


class EstimatorBase:
    """``get_params`` / ``set_params`` / ``repr`` from the ``__init__`` signature, ``save``,
    and scikit-learn's ``feature_names_in_``."""

    # What a model file holds (fastem._persistence), besides every constructor parameter:
    # the fitted attributes every fitted estimator has, and those it may have.
    _SAVED_ATTRIBUTES = ()
    _SAVED_IF_PRESENT = ("feature_names_in_",)

    @classmethod
    def _param_names(cls):
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values() if p.name != "self")

    def get_params(self, deep=True):
        """Constructor parameters of this estimator, by name."""
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        """Set constructor parameters; returns self."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {valid!r}."
                )
            setattr(self, name, value)
        return self

    def save(self, path):
        """Write the fitted estimator to ``path``, read back by ``fastem.load(path)``.

        The file is an ``.npz`` archive (written to exactly ``path``) holding the
        constructor parameters and the fitted attributes; loading it never executes
        code.  A ``RandomState`` given as ``random_state`` is saved as None.

        Parameters
        ----------
        path : str or path-like
        """
        if _model_writer is None:  # only if fastem/__init__.py has not run to its end
            raise RuntimeError("fastem's model-file writer is not registered; import fastem first.")
        _model_writer(self, path)

    def _fit_or_forget(self, *args, data=None):
        """Set the attributes that ``self._fit(*args)`` returns and return self; a fit that
        raises leaves the estimator unfitted, not half-fitted.  ``data`` is the ``X`` that
        ``fit`` was given (None for chunks): a DataFrame's column names become
        ``feature_names_in_``."""
        try:
            names = feature_names(data)
            fitted = self._fit(*args)
        finally:
            self._forget_fit()  # a fit replaces the whole fitted state, or leaves none
        if names is not None:
            fitted["feature_names_in_"] = names
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    def _check_feature_names(self, X):
        """scikit-learn's check of ``X``'s column names against those seen in ``fit``
        (``sklearn.utils.validation._check_feature_names`` with ``reset=False``): a
        ValueError if both have names and they differ, a UserWarning if only one has."""
        fitted = getattr(self, "feature_names_in_", None)
        given = feature_names(X)
        if fitted is None and given is None:
            return
        name = type(self).__name__
        if fitted is None:
            warnings.warn(
                f"X has feature names, but {name} was fitted without feature names",
                stacklevel=_stacklevel_outside_fastem(),
            )
            return
        if given is None:
            warnings.warn(
                f"X does not have valid feature names, but {name} was fitted with feature names",
                stacklevel=_stacklevel_outside_fastem(),
            )
            return
        if len(fitted) == len(given) and np.all(fitted == given):
            return
        message = "The feature names should match those that were passed during fit.\n"
        unexpected = sorted(set(given) - set(fitted))
        missing = sorted(set(fitted) - set(given))
        if unexpected:
            message += "Feature names unseen at fit time:\n" + _listed(unexpected)
        if missing:
            message += "Feature names seen at fit time, yet now missing:\n" + _listed(missing)
        if not unexpected and not missing:
            message += "Feature names must be in the same order as they were in fit.\n"
        raise ValueError(message)

    def _forget_fit(self):
        """Drop every fitted attribute (scikit-learn's convention: names ending in "_";
        private fitted state, such as online EM's, is named ``_..._``)."""
        for name in [name for name in vars(self) if name.endswith("_")]:
            delattr(self, name)

    def __repr__(self):
        defaults = {
            p.name: p.default for p in inspect.signature(type(self).__init__).parameters.values()
        }
        changed = []
        for name, value in self.get_params().items():
            default = defaults.get(name)
            if value is default or (_is_scalar(value) and _is_scalar(default) and value == default):
                continue
            changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self):
        # Only scikit-learn calls this, so scikit-learn is importable here.
        from sklearn.utils import InputTags, Tags, TargetTags

        return Tags(
            estimator_type="density_estimator",
            target_tags=TargetTags(required=False),
            input_tags=InputTags(),
        )


def _is_scalar(value):
    return value is None or isinstance(value, (str, int, float, bool))


def feature_names(X):
    """The column names of a DataFrame ``X`` as an object array of str, or None.

    scikit-learn's rule (``sklearn.utils.validation._get_feature_names``) without
    scikit-learn or pandas: an ``X`` with a ``columns`` attribute (a pandas or polars
    DataFrame) whose column names are all strings has names; arrays, names of other
    types and no columns give None; string and non-string names mixed raise TypeError.
    """
    if X is None or isinstance(X, np.ndarray) or not hasattr(X, "columns"):
        return None
    names = np.asarray(list(X.columns), dtype=object)
    if len(names) == 0:
        return None
    types = sorted(t.__qualname__ for t in {type(name) for name in names})
    if len(types) > 1 and "str" in types:
        raise TypeError(
            "Feature names are only supported if all input features have string names, "
            f"but your input has {types} as feature name / column name types. "
            "If you want feature names to be stored and validated, you must convert "
            "them all to strings, by using X.columns = X.columns.astype(str) for "
            "example. Otherwise you can remove feature / column names from your input "
            "data, or convert them all to a non-string data type."
        )
    return names if types == ["str"] else None


def _listed(names, most=5):
    """scikit-learn's list of feature names in a mismatch message: at most ``most``."""
    lines = [f"- {name}\n" for name in names[:most]]
    return "".join(lines) + ("- ...\n" if len(names) > most else "")


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def _stacklevel_outside_fastem():
    """The ``stacklevel`` at which a warning raised by the caller points at the first
    frame outside fastem (a method reaches the check at different depths)."""
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    return level
