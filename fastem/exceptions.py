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
    """EM stopped at ``max_iter`` before the objective changed by less than ``tol``."""


_SKLEARN_COMPATIBLE = {}


def not_fitted_error(message):
    """A :class:`NotFittedError` carrying ``message``.

    scikit-learn is not a runtime dependency, so it is never imported here; but where it
    is already loaded (the only case in which someone can be catching its
    ``NotFittedError``), the returned error's class also derives from scikit-learn's.
    """
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    sklearn_error = getattr(sklearn_exceptions, "NotFittedError", None)
    if sklearn_error is None:
        return NotFittedError(message)
    cls = _SKLEARN_COMPATIBLE.get(sklearn_error)
    if cls is None:
        cls = type("NotFittedError", (NotFittedError, sklearn_error), {"__module__": __name__})
        _SKLEARN_COMPATIBLE[sklearn_error] = cls
    return cls(message)
