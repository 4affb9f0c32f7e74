"""The one EM loop and its convergence monitor."""

import math
import sys
import time
from dataclasses import dataclass, field

from ._variants import StandardEM


@dataclass
class ConvergenceMonitor:
    """Decides when EM stops and keeps the history of the monitored objective.

    EM has converged when the objective (the mean log-likelihood per unit of sample
    weight, or the variant's own objective) changes by less than ``tol`` between two
    iterations, or when the variant reports a fixed point (hard EM: no row changed
    component).  A variant that is still refining itself (Monte-Carlo EM growing its
    number of draws) reports ``settled=False`` and is not stopped by a small change.

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
    note : callable or None
        ``note()`` returns text appended to each progress line (the data source's:
        chunks read so far).
    objective_name : str
        How progress lines name the objective.
    """

    tol: float
    max_iter: int
    verbose: int = 0
    verbose_interval: int = 10
    previous: float = -math.inf
    stream: object = None
    objective_name: str = "log-likelihood"
    note: object = None
    history: list = field(default_factory=list)
    converged: bool = False

    def __post_init__(self):
        self._last = time.perf_counter()

    @property
    def n_iter(self):
        return len(self.history)

    def report(self, objective, fixed_point=False, settled=True):
        """Record one iteration's objective; return True when EM should stop."""
        change = objective - (self.history[-1] if self.history else self.previous)
        self.history.append(objective)
        self.converged = fixed_point or (settled and abs(change) < self.tol)
        if self.verbose >= 2 and (self.n_iter % self.verbose_interval == 0 or self.converged):
            now = time.perf_counter()
            note = self.note() if self.note is not None else ""
            print(
                f"  iteration {self.n_iter:4d}  {self.objective_name} {objective: .8g}  "
                f"change {change: .3e}  {now - self._last:7.3f} s" + (f"  {note}" if note else ""),
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
    params : the family's parameter container the run ends with
    lower_bounds : list of float, the objective of every iteration
    converged : bool
    n_iter : int
    n_passes : int, passes over the data (E-steps) the run took
    lower_bound : float, the objective the result is reported with
    """

    params: object
    lower_bounds: list
    converged: bool
    n_iter: int
    n_passes: int
    lower_bound: float


def fit_em(source, family, params, monitor, variant=None):
    """Run an EM variant from ``params`` until ``monitor`` says stop.

    The variant (``fastem._variants``; standard EM when None) yields one ``Iterate`` per
    iteration: the objective of the parameters entering it and the parameters it moved
    to.  As in scikit-learn, ``lower_bounds[i]`` is the objective of the parameters
    *entering* iteration ``i`` and the result holds the parameters after the last step;
    a variant with ``keep_best`` (Monte-Carlo EM) returns instead the iterate with the
    highest objective.

    Parameters
    ----------
    source : DataSource
        Anything with ``estep(family, params, mode, seed, n_draws) -> stats`` (see ``fastem._data``).
    family : the model family (``m_step(stats) -> params``)
    params : the starting parameters
    monitor : ConvergenceMonitor
    variant : a variant from ``fastem._variants``, default StandardEM()

    Returns
    -------
    EMResult
    """
    variant = StandardEM() if variant is None else variant
    if monitor.max_iter < 1:
        return EMResult(params, [], False, 0, 0, -math.inf)
    best = None
    n_passes = 0
    for step in variant.steps(source, family, params):
        n_passes += step.passes
        if best is None or step.objective > best.objective:
            best = step
        if monitor.report(step.objective, step.fixed_point, step.settled):
            break
    if variant.keep_best:
        params, lower_bound = best.params, best.objective
    else:
        params, lower_bound = step.next, step.objective
    return EMResult(params, list(monitor.history), monitor.converged, monitor.n_iter, n_passes, lower_bound)
