"""scikit-learn-compatible estimators."""

from ._bernoulli import BernoulliMixture
from ._gaussian import GaussianMixture
from ._kmeans import KMeans

__all__ = ["BernoulliMixture", "GaussianMixture", "KMeans"]
