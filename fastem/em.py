"""The one EM loop and its convergence monitor."""

import math
import sys
import time
from dataclasses import dataclass, field

from ._kernels._jit import MODE_SOFT


@dataclass
class ConvergenceMonitor:
    """Decides when EM stops and keeps the history of the monitored objective.

    EM has converged when the objective (the mean log-likelihood per unit of sample
    weight) changes by less than ``tol`` between two iterations.

    Parameters
    ----------
    tol : float
    max_iter : int
    verbose : int
        0 silent; 2 or more prints a line every ``verbose_interval`` iterations.
    verbose_interval : int
    previous : float
        The objective before the first iteration (-inf for a fresh start).
    stream : file-like
        Where progress lines go.
    """

    tol: float
    max_iter: int
    verbose: int = 0
    verbose_interval: int = 10
    previous: float = -math.inf
    stream: object = None
    history: list = field(default_factory=list)
    converged: bool = False

    def __post_init__(self):
        self._last = time.perf_counter()

    @property
    def n_iter(self):
        return len(self.history)

    def report(self, objective):
        """Record one iteration's objective; return True when EM should stop."""
        change = objective - (self.history[-1] if self.history else self.previous)
        self.history.append(objective)
        self.converged = abs(change) < self.tol
        if self.verbose >= 2 and (self.n_iter % self.verbose_interval == 0 or self.converged):
            now = time.perf_counter()
            print(
                f"  iteration {self.n_iter:4d}  log-likelihood {objective: .8g}  "
                f"change {change: .3e}  {now - self._last:7.3f} s",
                file=self.stream or sys.stdout,
                flush=True,
            )
            self._last = now
        return self.converged or self.n_iter >= self.max_iter


@dataclass(frozen=True)
class EMResult:
    """What a run of EM produced.

    Attributes
    ----------
    params : the family's parameter container after the last M-step
    lower_bounds : list of float, the objective of every iteration
    converged : bool
    n_iter : int
    """

    params: object
    lower_bounds: list
    converged: bool
    n_iter: int

    @property
    def lower_bound(self):
        return self.lower_bounds[-1] if self.lower_bounds else -math.inf


def fit_em(source, family, params, monitor):
    """Run EM from ``params`` until ``monitor`` says stop.

    Each iteration is one pass over the data: ``source.estep`` returns the summed
    statistics under the current parameters (and their log-likelihood, the objective of
    this iteration), then ``family.m_step`` maps them to the next parameters.  As in
    scikit-learn, ``lower_bounds[i]`` is the objective of the parameters *entering*
    iteration ``i``.

    Parameters
    ----------
    source : DataSource
        Anything with ``estep(family, params, mode) -> stats`` (see ``fastem.data``).
    family : the model family (``m_step(stats) -> params``)
    params : the starting parameters
    monitor : ConvergenceMonitor

    Returns
    -------
    EMResult
    """
    if monitor.max_iter < 1:
        return EMResult(params, [], False, 0)
    while True:
        stats = source.estep(family, params, MODE_SOFT)
        objective = stats.loglik / stats.weight
        params = family.m_step(stats)
        if monitor.report(objective):
            break
    return EMResult(params, list(monitor.history), monitor.converged, monitor.n_iter)
