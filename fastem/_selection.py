"""Model selection: a grid of Gaussian mixtures fitted side by side, sharing passes.

``select_model`` fits one ``GaussianMixture`` per (n_components, covariance_type) and
keeps the best by BIC, AIC or ICL, as mclust's ``Mclust`` does.  Beyond a loop of
separate fits, the candidates share their passes over the data: each fit runs the one
EM driver in a thread of its own, on a data source whose E-step hands the request to a
coordinator; when every candidate still running has asked for an E-step, the
coordinator makes one pass over the data in which every block's statistics are taken
for all of them (``_Requests``).  So a grid reads a memory-mapped file or a Dask array
about as many times as its longest fit, not as many times as all fits together, and
every candidate is exactly the fit it would be alone (the same statistics of the same
blocks).
"""

import math
import threading
from dataclasses import dataclass, replace
from functools import partial

import numpy as np

from ._kernels._jit import MODE_SOFT
from ._validation import check_option
from ._data import make_source
from .mixture import GaussianMixture

CRITERIA = ("bic", "aic", "icl")


class ModelTable(list):
    """The candidates of ``select_model``, one dict per row, best first is not implied:
    rows follow the grid's order.

    Each row holds ``n_components``, ``covariance_type``, ``bic``, ``aic``, ``icl``
    (lower is better; NaN for a fit that failed), ``log_likelihood`` (total, at the
    fitted parameters), ``n_parameters``, ``n_iter``, ``n_passes`` (the fit's own E-steps),
    ``converged``, ``error`` (the message of a failed fit, else None) and ``model``
    (the fitted estimator, or None).

    Attributes
    ----------
    criterion : str
        The criterion the best model was chosen by.
    n_passes : int
        Passes over the data the whole grid took (shared E-steps, the initial data
        pass of a prior's defaults and the final pass that scores every model).
    """

    criterion = "bic"
    n_passes = 0

    def format(self):
        """The table as text, a line per candidate (what ``fastem select`` prints)."""
        lines = [f"{'K':>3}  {'covariance':<10} {'bic':>14} {'aic':>14} {'icl':>14} {'log-lik':>14} "
                 f"{'params':>6} {'iter':>5} {'passes':>6}  converged"]
        for row in self:
            if row["error"] is not None:
                lines.append(f"{row['n_components']:>3}  {row['covariance_type']:<10} failed: {row['error']}")
                continue
            lines.append(
                f"{row['n_components']:>3}  {row['covariance_type']:<10} {row['bic']:>14.6g} {row['aic']:>14.6g} "
                f"{row['icl']:>14.6g} {row['log_likelihood']:>14.6g} {row['n_parameters']:>6d} "
                f"{row['n_iter']:>5d} {row['n_passes']:>6d}  {'yes' if row['converged'] else 'no'}"
            )
        lines.append(f"{self.n_passes} passes over the data for the whole grid; best by {self.criterion}.")
        return "\n".join(lines)


def select_model(X, n_components=range(1, 10), covariance_types=("full", "diag"), criterion="bic",
                 sample_weight=None, **settings):
    """Fit a ``GaussianMixture`` for every number of components and covariance type, and
    keep the best by ``criterion``.

    Parameters
    ----------
    X : array-like, np.memmap or dask.array.Array of shape (n_samples, n_features)
        As ``GaussianMixture.fit`` takes it.
    n_components : iterable of int, default=range(1, 10)
    covariance_types : iterable of {"full", "tied", "diag", "spherical"}, default=("full", "diag")
    criterion : {"bic", "aic", "icl"}, default="bic"
        Lower is better.  ICL (Biernacki, Celeux and Govaert 2000) is BIC plus twice the
        entropy of the responsibilities, which favours well-separated components; the
        entropy comes from the statistics of the final pass (the log-likelihood less
        the expected complete-data log-likelihood), without an (n_samples, K) array.
    sample_weight : array-like of shape (n_samples,), default=None
    **settings
        Any other ``GaussianMixture`` parameter (``random_state``, ``n_init``, ``tol``,
        ``max_iter``, ``algorithm``, ``prior``, ...), the same for every candidate.

    Returns
    -------
    best_model : GaussianMixture
        The fitted candidate with the lowest criterion (the first of equal ones).
    table : ModelTable
        Every candidate's criteria, log-likelihood, parameter count, iterations, passes
        and convergence (see ``ModelTable``); ``table.n_passes`` counts the passes of
        the whole grid.

    Notes
    -----
    The criteria use the log-likelihood of the fitted parameters (one final shared
    pass) and ``n_samples`` rows (the sample weights' sum, where given, is the number
    of rows they stand for only when they are counts, so BIC's ``log n`` uses the
    number of rows, as scikit-learn's ``bic`` does).
    """
    criterion = check_option(criterion, "criterion", "select_model", CRITERIA)
    grid = [(int(k), str(kind)) for kind in covariance_types for k in n_components]
    if not grid:
        raise ValueError("select_model needs at least one number of components and one covariance type.")
    if "n_components" in settings or "covariance_type" in settings:
        raise TypeError("select_model takes n_components and covariance_types as the grid, not as settings.")
    candidates = [GaussianMixture(k, covariance_type=kind, **settings) for k, kind in grid]
    # Every candidate's settings are checked before any data is read.
    for candidate in candidates:
        candidate._checked_settings()
    shared = _SharedPasses(_open_source(candidates[0], X, sample_weight))
    outcomes = shared.run([partial(_fit_candidate, candidate, X) for candidate in candidates])
    fitted = [c for c, outcome in zip(candidates, outcomes) if outcome is None]
    scores = shared.final_pass(fitted)
    table = ModelTable()
    table.criterion = criterion
    n_rows = shared.source.n_samples
    for candidate, outcome, (k, kind) in zip(candidates, outcomes, grid):
        row = dict(n_components=k, covariance_type=kind, bic=math.nan, aic=math.nan, icl=math.nan,
                   log_likelihood=math.nan, n_parameters=None, n_iter=None, n_passes=None, converged=False,
                   error=None if outcome is None else str(outcome), model=None)
        if outcome is None:
            loglik, entropy = scores[id(candidate)]
            n_parameters = candidate._n_parameters()
            row.update(
                bic=-2 * loglik + n_parameters * math.log(n_rows),
                aic=-2 * loglik + 2 * n_parameters,
                log_likelihood=loglik,
                n_parameters=n_parameters,
                n_iter=candidate.n_iter_,
                n_passes=candidate.n_passes_,
                converged=bool(candidate.converged_),
                model=candidate,
            )
            row["icl"] = row["bic"] + 2 * entropy
        table.append(row)
    table.n_passes = shared.n_passes
    usable = [row for row in table if row["error"] is None]
    if not usable:
        raise ValueError(f"every candidate of select_model failed; the first: {table[0]['error']}")
    best = min(usable, key=lambda row: row[criterion])
    return best["model"], table


def _open_source(candidate, X, sample_weight):
    """The data source of the grid, opened and checked once."""
    settings = candidate._checked_settings()
    check = partial(candidate._DATA_CHECK, estimator_name="select_model", **candidate._data_check_options())
    return make_source(X, sample_weight, check, None, settings["n_threads"], settings["verbose"])


def _fit_candidate(candidate, X, client):
    """Fit ``candidate`` on its client's view of the shared source; None, or the error."""
    try:
        candidate._fit_or_forget(lambda check, n_features, settings: client, data=X)
    except (ValueError, ArithmeticError) as error:  # a candidate the data cannot carry
        return error
    return None


@dataclass(frozen=True)
class _Request:
    family: object
    params: object
    mode: int
    seed: int
    n_draws: int


class _Requests:
    """A family whose E-step takes several candidates' E-steps on the same rows."""

    def __init__(self, requests):
        self.requests = requests

    def estep(self, X, sample_weight, params, mode=MODE_SOFT, seed=0, n_draws=0, first_row=0, known_labels=None):
        return _StatsList([
            r.family.estep(X, sample_weight, r.params, r.mode, r.seed, r.n_draws, first_row, known_labels)
            for r in self.requests
        ])


class _StatsList(list):
    """Statistics of several candidates, added candidate by candidate."""

    def __add__(self, other):
        return _StatsList([mine + theirs for mine, theirs in zip(self, other)])


class _ClientSource:
    """One candidate's view of the shared source: its E-steps go to the coordinator,
    everything else to the source itself."""

    def __init__(self, shared, client):
        self._shared = shared
        self._client = client

    def estep(self, family, params, mode=MODE_SOFT, seed=0, n_draws=0):
        return self._shared.estep(self._client, _Request(family, params, mode, seed, n_draws))

    def init_sample(self, n_components):
        with self._shared.source_lock:  # a chunked source reads its sample in a pass of its own
            return self._shared.source.init_sample(n_components)

    def peek(self):
        with self._shared.source_lock:
            return self._shared.source.peek()

    def __getattr__(self, name):
        return getattr(self._shared.source, name)


class _SharedPasses:
    """The coordinator: one pass over ``source`` per round of E-step requests."""

    def __init__(self, source):
        self.source = source
        self.source_lock = threading.Lock()
        self.n_passes = 0
        self._condition = threading.Condition()
        self._requests = {}
        self._results = {}
        self._live = 0

    def run(self, fits):
        """Run ``fit(client)`` for every fit in a thread of its own, serving their
        E-steps; returns what each returned."""
        outcomes = [None] * len(fits)
        self._live = len(fits)

        def run_one(index):
            try:
                outcomes[index] = fits[index](_ClientSource(self, index))
            finally:
                with self._condition:
                    self._live -= 1
                    self._condition.notify_all()

        threads = [threading.Thread(target=run_one, args=(i,), daemon=True) for i in range(len(fits))]
        for thread in threads:
            thread.start()
        self._serve()
        for thread in threads:
            thread.join()
        return outcomes

    def estep(self, client, request):
        """A candidate's E-step: wait for the pass that takes it."""
        with self._condition:
            self._requests[client] = request
            self._condition.notify_all()
            while client not in self._results:
                self._condition.wait()
            result = self._results.pop(client)
        if isinstance(result, BaseException):
            raise result
        return result

    def _serve(self):
        while True:
            with self._condition:
                while self._live > 0 and len(self._requests) < self._live:
                    self._condition.wait()
                if self._live == 0:
                    return
                batch, self._requests = self._requests, {}
            clients = list(batch)
            try:
                with self.source_lock:
                    stats = self.source.estep(_Requests([batch[c] for c in clients]), None)
                results = dict(zip(clients, stats))
            except Exception as error:  # every candidate of the pass gets the error
                results = dict.fromkeys(clients, error)
            with self._condition:
                self.n_passes += 1
                self._results.update(results)
                self._condition.notify_all()

    def final_pass(self, models):
        """(total log-likelihood, entropy of the responsibilities) of every fitted model
        at its parameters, from one pass; keyed by ``id(model)``."""
        if not models:
            return {}
        requests = [
            _Request(model._fitted_family(), model._fitted_params(), MODE_SOFT, 0, 0) for model in models
        ]
        stats = self.source.estep(_Requests(requests), None)
        self.n_passes += 1
        return {
            id(model): (s.loglik, s.loglik - _expected_complete_loglik(r.family, r.params, s))
            for model, r, s in zip(models, requests, stats)
        }


def _expected_complete_loglik(family, params, stats):
    """``sum_n w_n sum_k r_nk log(pi_k N(x_n | k))`` from soft statistics: each
    component's scatter about its mean gives the quadratic forms (``tr(P_k S_k)``)."""
    about_means = stats.like(replace(stats, shift=np.asarray(params.means, dtype=np.float64)))
    nk, scatter = about_means.nk, about_means.sxx
    n_components, n_features = params.means.shape
    factors = params.precisions_cholesky
    kind = family.covariance_type
    if kind == "full":
        precisions = factors @ np.swapaxes(factors, 1, 2)
        quadratic = np.einsum("kde,kde->k", precisions, scatter)
    elif kind == "tied":
        quadratic = np.full(n_components, np.nan)
        total = float(np.einsum("de,de->", factors @ factors.T, scatter.sum(axis=0)))
    elif kind == "diag":
        quadratic = (factors**2 * scatter).sum(axis=1)
    else:
        quadratic = factors**2 * scatter.sum(axis=1)
    log_det = family.log_det_precisions_cholesky(factors, n_components, n_features)
    with np.errstate(divide="ignore"):
        log_weights = np.where(nk > 0, np.log(params.weights), 0.0)
    constant = float((nk * (log_weights + log_det - 0.5 * n_features * math.log(2 * math.pi))).sum())
    if kind == "tied":
        return constant - 0.5 * total
    return constant - 0.5 * float(quadratic.sum())
