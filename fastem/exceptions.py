"""Exceptions and warnings raised by fastem."""

import sys


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``.

    When scikit-learn is loaded, the error raised is also an instance of
    ``sklearn.exceptions.NotFittedError`` (see :func:`not_fitted_error`), so code written
    for scikit-learn's estimators catches it too.
    """


class ComponentError(ValueError):
    """A component's covariance is not positive definite (usually a collapsed component)."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the objective changed by less than ``tol``.

    Warned with the category of :func:`convergence_warning_category`, which is also
    scikit-learn's ``ConvergenceWarning`` when scikit-learn is loaded.
    """


_SKLEARN_COMPATIBLE = {}  # (fastem's class, scikit-learn's class) -> the class deriving from both


def _sklearn_compatible(ours, name):
    """``ours``, or where ``sklearn.exceptions`` is already loaded a class deriving from
    both ``ours`` and scikit-learn's class of the same ``name``.

    scikit-learn is not a runtime dependency, so it is never imported here.  Only code
    that has loaded ``sklearn.exceptions`` can name scikit-learn's classes (in an
    ``except`` clause, a warnings filter, ``pytest.warns``, even a ``-W`` option, which
    Python resolves by importing the module), so looking in ``sys.modules`` finds every
    case in which the dual class matters, at no cost to the import of fastem.
    """
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(sklearn_exceptions, name, None)
    if theirs is None:
        return ours
    cls = _SKLEARN_COMPATIBLE.get((ours, theirs))
    if cls is None:
        cls = type(name, (ours, theirs), {"__module__": __name__, "__doc__": ours.__doc__})
        _SKLEARN_COMPATIBLE[(ours, theirs)] = cls
    return cls


def not_fitted_error(message):
    """A :class:`NotFittedError` carrying ``message``.

    Where scikit-learn is loaded (the only case in which someone can be catching its
    ``NotFittedError``), the returned error's class also derives from scikit-learn's.
    """
    return _sklearn_compatible(NotFittedError, "NotFittedError")(message)


def convergence_warning_category():
    """The category to warn with where fastem would warn :class:`ConvergenceWarning`.

    The category is chosen at warn time: :class:`ConvergenceWarning` itself, or, where
    ``sklearn.exceptions`` is loaded, a subclass of it and of scikit-learn's
    ``ConvergenceWarning``, so that ``warnings.simplefilter("ignore",
    sklearn.exceptions.ConvergenceWarning)`` and ``pytest.warns`` on either class both
    catch fastem's warning.  A warning recorded before scikit-learn was imported stays
    fastem's class only.

    Returns
    -------
    type
        A subclass of :class:`ConvergenceWarning` (or that class).
    """
    return _sklearn_compatible(ConvergenceWarning, "ConvergenceWarning")
