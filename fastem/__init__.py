"""fastem: Expectation-Maximization for mixture models, on single-pass Numba kernels.

>>> import fastem
>>> gm = fastem.GaussianMixture(n_components=3).fit(X)          # doctest: +SKIP
"""

__version__ = "0.1.0"  # the one place the version is written; pyproject.toml reads it

from .exceptions import ComponentError, ConvergenceWarning, NotFittedError
from .linear_model import BayesianLinearRegression
from .mixture import BayesianGaussianMixture, BernoulliMixture, GaussianMixture, KMeans
from ._persistence import load
from ._selection import select_model

__all__ = [
    "BayesianGaussianMixture",
    "BayesianLinearRegression",
    "BernoulliMixture",
    "ComponentError",
    "ConvergenceWarning",
    "GaussianMixture",
    "KMeans",
    "NotFittedError",
    "load",
    "select_model",
    "__version__",
]
