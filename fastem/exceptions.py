"""Exceptions and warnings raised by fastem."""


class NotFittedError(ValueError, AttributeError):
    """A method that needs a fitted estimator was called before ``fit``."""


class ComponentError(ValueError):
    """A component's covariance is not positive definite (usually a collapsed component)."""


class ConvergenceWarning(UserWarning):
    """EM stopped at ``max_iter`` before the objective changed by less than ``tol``."""
