"""BernoulliMixture on row 5 of the performance table (dense) and on sparse data (row 7
of ``python -m fastem bench --rows 7``), against a vectorised NumPy EM
(``fastem._bench.numpy_em_iteration``)."""

from fastem._bench import DTYPES

from .common import RowFit, RowIteration, RowMemory, RowVersusPeer, row_labels

ROWS = row_labels(5, 7)


class BernoulliIteration(RowIteration):
    """Seconds per EM iteration from the same start."""

    params = (ROWS, DTYPES)


class BernoulliVersusNumpy(RowVersusPeer):
    """The NumPy EM from the same start, in this process."""

    params = (ROWS, DTYPES)
    peer_module = "numpy"

    def track_speedup_vs_numpy(self, label, dtype):
        """NumPy EM's seconds per iteration divided by fastem's."""
        return self._ratio()

    track_speedup_vs_numpy.unit = "ratio"


class BernoulliFit(RowFit):
    """A whole default fit (k-means initialisation, tol=1e-3) and its iterations."""

    params = (ROWS, DTYPES)


class BernoulliMemory(RowMemory):
    """Peak memory of a fit and of predict."""

    params = (ROWS, DTYPES)
