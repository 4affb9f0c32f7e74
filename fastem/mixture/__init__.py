"""scikit-learn-compatible estimators."""

from ._bayesian import BayesianGaussianMixture
from ._bernoulli import BernoulliMixture
from ._gaussian import GaussianMixture
from ._kmeans import KMeans

__all__ = ["BayesianGaussianMixture", "BernoulliMixture", "GaussianMixture", "KMeans"]
