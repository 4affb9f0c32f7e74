"""scikit-learn-compatible estimators."""

from ._gaussian import GaussianMixture
from ._kmeans import KMeans

__all__ = ["GaussianMixture", "KMeans"]
