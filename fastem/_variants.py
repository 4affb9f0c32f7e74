"""The EM variants: how a point's weights are produced and how the M-step is taken.

Every variant is a generator of ``Iterate`` records driven by ``fastem._em.fit_em``; the
data are only ever touched through ``source.estep`` (one pass of the single-pass
kernels, in the soft, hard or sampled mode) and the parameters only through the
family's ``m_step`` (full or conditional) and its unconstrained vector form.

============================  ===========================================  =====================
variant                       objective it reports                         guarantee
============================  ===========================================  =====================
StandardEM                    log-likelihood                               never decreases
HardEM (classification EM)    classification log-likelihood                never decreases
MonteCarloEM                  log-likelihood (exact, before the draws)     none (stochastic)
ECM                           log-likelihood                               never decreases
OverRelaxedEM                 log-likelihood                               never decreases
SQUAREM(StandardEM or ECM)    log-likelihood                               never decreases
============================  ===========================================  =====================

"Never decreases" holds for exact M-steps; ``reg_covar`` perturbs an M-step by that
much, so a history can dip by rounding-size amounts on degenerate data.
"""

import itertools
import math
from dataclasses import dataclass, replace

import numpy as np

from ._kernels._jit import MODE_HARD, MODE_SAMPLE, MODE_SOFT
from .exceptions import ComponentError

# Monte-Carlo EM with mc_samples="auto": draws per point start at 1 (stochastic EM) and
# double whenever the log-likelihood stalls, up to this many.
MC_MAX_DRAWS = 1024

# Adaptive over-relaxation: the step factor grows by this much after every accepted step.
RELAXATION_GROWTH = 1.5

# SQUAREM's step-length bound grows (and shrinks after a rejected step) by this factor.
SQUAREM_STEP_FACTOR = 4.0


@dataclass(frozen=True)
class Iterate:
    """One iteration of a variant.

    Attributes
    ----------
    objective : float
        The variant's objective at ``params`` (per unit of sample weight).
    params : the parameters the iteration was evaluated at
    next : the parameters it moved to
    passes : int, passes over the data the iteration took
    fixed_point : bool, True when further iterations cannot change the parameters
    settled : bool, False while the variant is still refining itself (a small change in
        the objective must not stop it yet)
    """

    objective: float
    params: object
    next: object
    passes: int
    fixed_point: bool = False
    settled: bool = True


class StandardEM:
    """Standard EM (Dempster, Laird & Rubin 1977): soft posteriors, full M-step.

    Objective: the mean log-likelihood per unit of sample weight; it never decreases.
    """

    keep_best = False

    def evaluate(self, source, family, params):
        """One application of the EM map: (objective at params, next params, passes)."""
        stats = source.estep(family, params, MODE_SOFT)
        return family.objective(stats, params), family.m_step(stats), 1

    def steps(self, source, family, params):
        while True:
            objective, following, passes = self.evaluate(source, family, params)
            yield Iterate(objective, params, following, passes)
            params = following


class ECM(StandardEM):
    """Multicycle expectation/conditional maximisation (Meng & Rubin 1993).

    Each iteration runs the family's conditional cycles, each after its own E-step
    (Gaussian: the weights and means with the covariances held, then the covariances;
    Bernoulli: the weights, then the probabilities).  Every conditional step maximises
    the expected objective over its parameters, so the objective never decreases; the
    fixed points are EM's.
    """

    def evaluate(self, source, family, params):
        objective, current, passes = None, params, 0
        for groups in family.conditional_cycles:
            stats = source.estep(family, current, MODE_SOFT)
            if objective is None:
                objective = family.objective(stats, current)
            current = family.m_step(stats, current, groups)
            passes += 1
        return objective, current, passes


class HardEM:
    """Classification EM (Celeux & Govaert 1992): every point goes wholly to its most
    probable component and the M-step uses those hard counts.

    Objective: the classification log-likelihood ``sum_n w_n max_k log(pi_k p_k(x_n))``
    per unit of weight; it never decreases.  A fixed point is reached when no point
    changes component (detected by the kernel's assignment fingerprint).

    Parameters
    ----------
    update : tuple of str or None
        Parameter groups the M-step maximises (None: all; k-means: the means only).
    reseed_empty : bool
        Move the mean of a component that received no point to the point farthest from
        its closest mean (k-means), instead of leaving it where it was.
    shift_tol : float or None
        Also stop when the means move by at most this much (summed squared shift:
        scikit-learn's k-means criterion).
    objective : {"loglik", "inertia"}
        "inertia" reports minus the summed weighted squared distance of the points to
        their means (k-means, whose covariances are the identity).
    """

    keep_best = False

    def __init__(self, update=None, reseed_empty=False, shift_tol=None, objective="loglik"):
        self.update = update
        self.reseed_empty = reseed_empty
        self.shift_tol = shift_tol
        self.objective = objective

    def steps(self, source, family, params):
        previous_fingerprint = None
        while True:
            stats = source.estep(family, params, MODE_HARD)
            following = family.m_step(stats, params, self.update)
            empty = np.flatnonzero(stats.nk == 0)
            if self.reseed_empty and empty.size:
                means = following.means.copy()
                means[empty] = source.farthest_points(params.means, empty.size)
                following = replace(following, means=means)
            fixed_point = stats.fingerprint == previous_fingerprint
            if self.shift_tol is not None:
                fixed_point |= float(((following.means - params.means) ** 2).sum()) <= self.shift_tol
            objective = -float(stats.sxx.sum()) if self.objective == "inertia" else family.objective(stats, params)
            yield Iterate(objective, params, following, 1, fixed_point)
            previous_fingerprint = stats.fingerprint
            params = following


class MonteCarloEM:
    """Monte-Carlo EM (Wei & Tanner 1990): each point's weights are the frequencies of
    ``mc_samples`` component labels drawn from its posterior; 1 draw is stochastic EM
    (Celeux & Diebolt 1985).

    With ``mc_samples="auto"`` the draws start at 1 and double each time the
    log-likelihood fails to rise by ``tol``, up to ``MC_MAX_DRAWS``; only then may a
    small change end the run.  Draws are seeded per chunk of rows from
    ``(seed, iteration, the chunk's first row)``: the same seed gives the same fit for
    any number of threads, and for data passed in blocks whose edges fall on the
    kernels' chunks (memory-mapped files are).

    Objective: the exact log-likelihood of the parameters entering each iteration
    (computed before the draws).  It is not monotone; the run returns the iterate with
    the highest log-likelihood seen.
    """

    keep_best = True

    def __init__(self, mc_samples, tol, seed):
        self.mc_samples = mc_samples
        self.tol = tol
        self.seed = seed

    def steps(self, source, family, params):
        auto = self.mc_samples == "auto"
        draws = 1 if auto else self.mc_samples
        previous = -math.inf
        for iteration in itertools.count():
            seed = (self.seed * 1_000_003 + iteration) % 2**63
            stats = source.estep(family, params, MODE_SAMPLE, seed, draws)
            objective = family.objective(stats, params)
            settled = not auto or draws == MC_MAX_DRAWS
            if auto and objective - previous < self.tol and not settled:
                draws = min(2 * draws, MC_MAX_DRAWS)
            following = family.m_step(stats)
            yield Iterate(objective, params, following, 1, settled=settled)
            previous = objective
            params = following


class OverRelaxedEM:
    """Adaptive over-relaxed EM (Salakhutdinov & Roweis 2003), a generalized EM.

    The step ``theta + eta * (theta_EM - theta)`` is taken on the unconstrained form of
    the parameters (log-weights, means, precision Cholesky factors with log-diagonal),
    so it always gives valid parameters.  After an accepted step ``eta`` grows by
    ``RELAXATION_GROWTH``; a step that would lower the log-likelihood is replaced by the
    plain EM step (which cannot) and ``eta`` falls back to 1.  Objective: the
    log-likelihood; it never decreases.
    """

    keep_best = False

    def steps(self, source, family, params):
        stats = source.estep(family, params, MODE_SOFT)
        objective, passes, eta = family.objective(stats, params), 1, 1.0
        while True:
            em_step = family.m_step(stats)
            yield Iterate(objective, params, em_step, passes)
            passes = 0
            if eta > 1.0:
                start = family.to_vector(params)
                trial = family.from_vector(start + eta * (family.to_vector(em_step) - start), params)
                trial_stats = source.estep(family, trial, MODE_SOFT)
                passes += 1
                trial_objective = family.objective(trial_stats, trial)
                if trial_objective >= objective:
                    params, stats, objective = trial, trial_stats, trial_objective
                    eta *= RELAXATION_GROWTH
                    continue
            stats = source.estep(family, em_step, MODE_SOFT)
            passes += 1
            params, objective = em_step, family.objective(stats, em_step)
            eta = RELAXATION_GROWTH if eta == 1.0 else 1.0


class SQUAREM:
    """SQUAREM acceleration (Varadhan & Roland 2008, scheme S3) of a fixed-point map.

    One cycle takes two steps of the map from theta (r = F(theta) - theta, v = the change
    of r), extrapolates to ``theta + 2 a r + a**2 v`` with ``a = |r| / |v|`` (at least 1,
    at most an adaptive bound) on the unconstrained parameters, applies the map once more
    to stabilise, and keeps the result only if its log-likelihood is not below theta's;
    otherwise it falls back to the two plain steps.  Objective: the log-likelihood; it
    never decreases.  An iteration is one cycle (about three passes over the data).
    Its fixed points are the map's, but a long step can carry it into the basin of a
    different local maximum than the unaccelerated map would reach from the same start.

    Parameters
    ----------
    base : StandardEM or ECM
        The variant whose map is accelerated.
    """

    keep_best = False

    def __init__(self, base):
        self.base = base

    def steps(self, source, family, params):
        evaluate = self.base.evaluate
        objective, first, passes = evaluate(source, family, params)
        step_max = 1.0
        while True:
            yield Iterate(objective, params, first, passes)
            _, second, passes = evaluate(source, family, first)
            start, one, two = (family.to_vector(p) for p in (params, first, second))
            r = one - start
            v = two - one - r
            vv = float(v @ v)
            length = min(step_max, max(1.0, math.sqrt(float(r @ r) / vv))) if vv > 0 else 1.0
            accepted = False
            try:
                jumped = family.from_vector(start + 2 * length * r + length**2 * v, params)
                _, stabilised, used = evaluate(source, family, jumped)
                passes += used
                new_objective, new_first, used = evaluate(source, family, stabilised)
                passes += used
                accepted = new_objective >= objective
            except ComponentError:
                pass  # the jump led somewhere the M-step cannot handle: fall back
            if accepted:
                params, objective, first = stabilised, new_objective, new_first
            else:
                if length == step_max:
                    step_max = max(1.0, step_max / SQUAREM_STEP_FACTOR)
                objective, first, used = evaluate(source, family, second)
                passes += used
                params = second
            if length == step_max:
                step_max *= SQUAREM_STEP_FACTOR


class StepTolerance:
    """Any variant, stopped when one of its steps moves the parameters by less than
    ``tol``: an iteration whose ``distance(params, next)`` is below ``tol`` is reported
    as a fixed point.  For a criterion on the parameters rather than the objective
    (scikit-learn's ``BayesianRidge`` stops on the summed change of its coefficients);
    give the monitor ``tol=0`` so that the objective never stops the run.

    Parameters
    ----------
    base : a variant
    distance : callable, ``distance(params, next) -> float``
    tol : float
    """

    def __init__(self, base, distance, tol):
        self.base = base
        self.distance = distance
        self.tol = tol

    @property
    def keep_best(self):
        return self.base.keep_best

    def steps(self, source, family, params):
        for step in self.base.steps(source, family, params):
            small = self.distance(step.params, step.next) < self.tol
            yield replace(step, fixed_point=step.fixed_point or small)


ALGORITHMS = ("em", "hard", "monte_carlo", "generalized")
GEM_STEPS = ("overrelaxed", "ecm")
ACCELERATIONS = (None, "squarem")


def check_variant_settings(owner, algorithm, mc_samples, gem_step, accelerate):
    """Validate the variant parameters of an estimator; returns them with defaults filled
    in.  Raises ValueError naming the parameter and the valid combinations."""
    if algorithm not in ALGORITHMS:
        raise ValueError(
            f"The 'algorithm' parameter of {owner} must be one of {', '.join(map(repr, ALGORITHMS))}; "
            f"got {algorithm!r}."
        )
    if algorithm == "monte_carlo":
        mc_samples = "auto" if mc_samples is None else mc_samples
        valid = mc_samples == "auto" or (
            isinstance(mc_samples, (int, np.integer)) and not isinstance(mc_samples, bool) and mc_samples >= 1
        )
        if not valid:
            raise ValueError(
                f"The 'mc_samples' parameter of {owner} must be 'auto' or an int >= 1 (draws per "
                f"point); got {mc_samples!r}."
            )
        mc_samples = mc_samples if mc_samples == "auto" else int(mc_samples)
    elif mc_samples is not None:
        raise _unused("mc_samples", mc_samples, "monte_carlo", algorithm)
    if algorithm == "generalized":
        gem_step = "overrelaxed" if gem_step is None else gem_step
        if gem_step not in GEM_STEPS:
            raise ValueError(
                f"The 'gem_step' parameter of {owner} must be one of {', '.join(map(repr, GEM_STEPS))}; "
                f"got {gem_step!r}."
            )
    elif gem_step is not None:
        raise _unused("gem_step", gem_step, "generalized", algorithm)
    if accelerate not in ACCELERATIONS:
        raise ValueError(
            f"The 'accelerate' parameter of {owner} must be None or 'squarem'; got {accelerate!r}."
        )
    if accelerate == "squarem" and not (algorithm == "em" or (algorithm == "generalized" and gem_step == "ecm")):
        raise ValueError(
            f"accelerate='squarem' needs a deterministic, smooth EM map: use it with "
            f"algorithm='em' or with algorithm='generalized', gem_step='ecm'; got "
            f"algorithm={algorithm!r}" + (f", gem_step={gem_step!r}." if gem_step else ".")
        )
    return algorithm, mc_samples, gem_step, accelerate


def _unused(name, value, user, algorithm):
    return ValueError(
        f"{name}={value!r} is only used by algorithm={user!r}; with "
        f"algorithm={algorithm!r} leave it at None."
    )


def make_variant(algorithm, mc_samples, gem_step, accelerate, tol, rng):
    """The variant for checked settings; ``rng`` (a RandomState) seeds Monte-Carlo draws."""
    if algorithm == "hard":
        return HardEM()
    if algorithm == "monte_carlo":
        return MonteCarloEM(mc_samples, tol, int(rng.randint(2**31)))
    if algorithm == "generalized" and gem_step == "overrelaxed":
        return OverRelaxedEM()
    base = ECM() if algorithm == "generalized" else StandardEM()
    return SQUAREM(base) if accelerate == "squarem" else base
