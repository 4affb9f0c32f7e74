"""Online (stepwise) EM: one E-step per chunk of a stream, blended into running
statistics (Cappé & Moulines 2009; Liang & Klein 2009).

After chunk ``t`` the running statistics, per unit of sample weight, are

    s <- (1 - eta_t) s + eta_t stats(chunk) / weight(chunk),   eta_t = (t + 2) ** -decay

where ``t`` counts the updates after the first chunk (which sets ``s``), and the new
parameters are the M-step of ``s``.  With ``decay = 1`` ``s`` is the plain average of
the chunks' statistics; ``decay`` in (0.5, 1] makes the steps sum to infinity and their
squares converge, which is what the convergence results need.  The M-step is given
``s`` times the total weight seen, so that a prior (the Bernoulli family's) weighs
against all the data seen, as it would in a batch fit.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class StepwiseState:
    """Running statistics (per unit of weight), the weight seen and the updates made."""

    stats: object
    weight_seen: float
    n_updates: int


def step_size(n_updates, decay):
    """``eta_t`` for the update after ``n_updates`` earlier ones (the first chunk's is 1)."""
    return 1.0 if n_updates == 0 else (n_updates + 1.0) ** -decay


def stepwise_update(state, chunk_stats, decay):
    """The state after blending in one chunk's statistics (``state`` None: the first chunk)."""
    if not chunk_stats.weight > 0:
        raise ValueError("the chunk has no positive sample weight; it carries nothing to learn from.")
    per_weight = chunk_stats.scaled(1.0 / chunk_stats.weight)
    if state is None:
        return StepwiseState(per_weight, chunk_stats.weight, 1)
    eta = step_size(state.n_updates, decay)
    blended = state.stats.like(per_weight).scaled(1.0 - eta) + per_weight.scaled(eta)
    return StepwiseState(blended, state.weight_seen + chunk_stats.weight, state.n_updates + 1)


def stepwise_params(family, state, previous):
    """The M-step of the running statistics."""
    return family.m_step(state.stats.scaled(state.weight_seen), previous)
