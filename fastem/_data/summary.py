"""Data reduced once to statistics that do not depend on the parameters.

Some models read their data only through sums that no parameter changes: a Bayesian
linear regression through ``X^T W X``, ``X^T W y`` and ``y^T W y``.  Their fit makes
one pass over the data (any source's ``estep``), reduces the sums once
(``family.summarise``), and runs EM on a ``SummarySource``, whose every E-step is
computed from that summary: no E-step touches the data again.
"""

from .._kernels._jit import MODE_SOFT


class SummarySource:
    """A source for ``fit_em`` whose E-step is ``family.summary_estep(summary, params)``.

    Parameters
    ----------
    summary : what ``family.summarise`` made of the data's statistics
    """

    def __init__(self, summary):
        self.summary = summary

    def estep(self, family, params, mode=MODE_SOFT, seed=0, n_draws=0):
        """The E-step under ``params``, from the summary (``mode``, ``seed`` and
        ``n_draws`` do not apply: the E-step is exact and deterministic)."""
        return family.summary_estep(self.summary, params)

    def note(self):
        """Progress text for the iteration lines (none: no data are read)."""
        return ""
