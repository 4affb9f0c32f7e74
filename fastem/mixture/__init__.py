"""scikit-learn-compatible mixture estimators."""

from ._gaussian import GaussianMixture

__all__ = ["GaussianMixture"]
