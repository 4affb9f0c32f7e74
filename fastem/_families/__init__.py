"""Model families: parameter containers, M-steps from statistics, densities, sampling."""

from .gaussian import COVARIANCE_TYPES, GaussianFamily, GaussianParams

__all__ = ["COVARIANCE_TYPES", "GaussianFamily", "GaussianParams"]
