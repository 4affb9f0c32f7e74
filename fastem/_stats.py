"""Additive sufficient statistics of the E-step.

Statistics of two disjoint sets of rows, taken under the same parameters, add: that is
what lets chunks, threads, Dask blocks and streams all reduce to one sum.
"""

from dataclasses import dataclass, fields, replace

import numpy as np


class _Additive:
    """``a + b`` adds every field; fields named in ``_FIXED`` must agree and are kept;
    the fingerprint adds modulo 2**64."""

    _FIXED = ()

    def __add__(self, other):
        summed = {}
        for field in fields(self):
            mine, theirs = getattr(self, field.name), getattr(other, field.name)
            if field.name in self._FIXED:
                if not np.array_equal(mine, theirs):
                    raise ValueError(
                        f"Statistics about different {field.name}s do not add; take both E-steps "
                        "with the same parameters."
                    )
                summed[field.name] = mine
            elif field.name == "fingerprint":
                summed[field.name] = (mine + theirs) % 2**64
            else:
                summed[field.name] = mine + theirs
        return type(self)(**summed)

    def scaled(self, factor):
        """Every summed field times ``factor`` (the fingerprint, which does not scale, is 0)."""
        scaled = {
            field.name: getattr(self, field.name) * factor
            for field in fields(self)
            if field.name not in self._FIXED and field.name != "fingerprint"
        }
        return replace(self, fingerprint=0, **scaled)

    def like(self, other):
        """These statistics expressed with ``other``'s fixed fields, so that the two add."""
        return self


@dataclass(frozen=True)
class GaussianStats(_Additive):
    """E-step statistics of a Gaussian mixture, second moments about ``shift``.

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        Sum of sample weight times weight of the point for each component.
    sx : ndarray of shape (n_components, n_features)
        Sum of those weights times ``x - shift[k]``.
    sxx : ndarray of shape (n_components, n_features, n_features) or (n_components, n_features)
        Sum of those weights times ``(x - shift[k])`` outer itself (full) or squared (diag).
        A tied covariance's M-step reads only the sum over components, and its E-step
        keeps only that sum (in the first slot).
    shift : ndarray of shape (n_components, n_features)
        The point each component's moments are taken about (the means of the E-step),
        so that data far from the origin does not lose its precision.
    loglik : float
        Sum of sample weight times the point's log-likelihood (soft) or the log of its
        best weighted component density (hard).
    weight : float
        Sum of sample weights (the number of rows when unweighted).
    fingerprint : int
        Hard E-steps only: a 64-bit hash of which component each row went to (hashes of
        rows add modulo 2**64), so equal fingerprints mean the assignment did not change.
        Rows are hashed by their position in the whole data set (the kernels'
        ``first_row``), so blocks of rows add up to the hash of one pass.
    """

    nk: np.ndarray
    sx: np.ndarray
    sxx: np.ndarray
    shift: np.ndarray
    loglik: float
    weight: float
    fingerprint: int = 0

    _FIXED = ("shift",)

    @classmethod
    def zeros(cls, shift, covariance_type):
        """Empty statistics about ``shift`` (a float64 array of shape (K, D))."""
        n_components, n_features = shift.shape
        sxx_shape = (n_components, n_features)
        if covariance_type == "full":
            sxx_shape += (n_features,)
        return cls(
            nk=np.zeros(n_components),
            sx=np.zeros((n_components, n_features)),
            sxx=np.zeros(sxx_shape),
            shift=shift,
            loglik=0.0,
            weight=0.0,
        )

    def like(self, other):
        """The same statistics about ``other.shift``: with ``d = shift - other.shift``,
        ``sum w (x - s')  = sx + nk d`` and
        ``sum w (x - s')(x - s')^T = sxx + d sx^T + sx d^T + nk d d^T``."""
        delta = self.shift - other.shift
        nk = self.nk[:, None]
        if self.sxx.ndim == 3:
            cross = delta[:, :, None] * self.sx[:, None, :]
            sxx = self.sxx + cross + cross.transpose(0, 2, 1) + nk[:, :, None] * delta[:, :, None] * delta[:, None, :]
        else:
            sxx = self.sxx + 2.0 * delta * self.sx + nk * delta**2
        return replace(self, sx=self.sx + nk * delta, sxx=sxx, shift=other.shift)


@dataclass(frozen=True)
class BernoulliStats(_Additive):
    """E-step statistics of a Bernoulli mixture (the same fields, no second moments).

    Attributes
    ----------
    nk : ndarray of shape (n_components,)
        Sum of sample weight times weight of the row for each component.
    sx : ndarray of shape (n_components, n_features)
        Sum of those weights times the binary row.
    loglik, weight, fingerprint : as in ``GaussianStats``.
    """

    nk: np.ndarray
    sx: np.ndarray
    loglik: float
    weight: float
    fingerprint: int = 0


@dataclass(frozen=True)
class RegressionStats:
    """Weighted moments of the rows ``z = (x, y)`` of a regression: a row's features
    followed by its target.

    They do not depend on any parameter, so a fit takes them in one pass.  Each block's
    moments are taken about its own weighted mean, and two blocks combine by the
    pairwise update of Chan, Golub & LeVeque (1979)::

        mean    = mean_a + (w_b / w) d,                d = mean_b - mean_a
        scatter = scatter_a + scatter_b + (w_a w_b / w) d d^T

    so that data far from the origin keep their digits and no shift has to be chosen
    before the pass.  The combination is exact in real arithmetic: the moments of two
    disjoint sets of rows add up to those of their union.

    Attributes
    ----------
    weight : float
        Sum of sample weights (the number of rows when unweighted).
    mean : ndarray of shape (n_features + 1,)
        Weighted mean of ``z`` (zeros when ``weight`` is 0).
    scatter : ndarray of shape (n_features + 1, n_features + 1)
        ``sum_n w_n (z_n - mean)(z_n - mean)^T``.
    """

    weight: float
    mean: np.ndarray
    scatter: np.ndarray

    @classmethod
    def zeros(cls, n_features):
        """The moments of no rows."""
        return cls(0.0, np.zeros(n_features + 1), np.zeros((n_features + 1, n_features + 1)))

    @property
    def n_features(self):
        return self.mean.shape[0] - 1

    def __add__(self, other):
        if self.mean.shape != other.mean.shape:
            raise ValueError(
                f"Regression statistics of {self.n_features} and {other.n_features} features do not add."
            )
        if other.weight == 0:
            return self
        if self.weight == 0:
            return other
        weight = self.weight + other.weight
        delta = other.mean - self.mean
        mean = self.mean + (other.weight / weight) * delta
        scatter = self.scatter + other.scatter + (self.weight * other.weight / weight) * np.outer(delta, delta)
        return RegressionStats(weight, mean, scatter)

    def moments(self, centred):
        """``(X^T W X, X^T W y, y^T W y)``: about the weighted means when ``centred``
        (a fit with an intercept), about the origin otherwise."""
        D = self.n_features
        scatter = self.scatter
        if not centred:
            scatter = scatter + self.weight * np.outer(self.mean, self.mean)
        return scatter[:D, :D], scatter[:D, D], float(scatter[D, D])
