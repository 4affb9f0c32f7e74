"""Linear models whose hidden part is the weights (scikit-learn's ``linear_model``)."""

from ._bayes import BayesianLinearRegression

__all__ = ["BayesianLinearRegression"]
