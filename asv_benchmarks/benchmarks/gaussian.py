"""GaussianMixture on rows 1-4 of the performance table (``python -m fastem bench``):
time per iteration, whole fit, peak memory, iterations, and the ratio to scikit-learn."""

from fastem._bench import DTYPES

from .common import RowFit, RowIteration, RowMemory, RowVersusPeer, row_labels

ROWS = row_labels(1, 2, 3, 4)


class GaussianIteration(RowIteration):
    """Seconds per EM iteration from the same start."""

    params = (ROWS, DTYPES)


class GaussianVersusSklearn(RowVersusPeer):
    """scikit-learn's GaussianMixture from the same start, in this process."""

    params = (ROWS, DTYPES)

    def track_speedup_vs_sklearn(self, label, dtype):
        """scikit-learn's seconds per iteration divided by fastem's."""
        return self._ratio()

    track_speedup_vs_sklearn.unit = "ratio"


class GaussianFit(RowFit):
    """A whole default fit (k-means initialisation, tol=1e-3) and its iterations."""

    params = (ROWS, DTYPES)


class GaussianMemory(RowMemory):
    """Peak memory of a fit and of predict."""

    params = (ROWS, DTYPES)
