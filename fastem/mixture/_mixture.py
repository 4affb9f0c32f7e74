"""What every mixture estimator shares: settings checks, the n_init / warm-start loop
around the EM driver for every kind of data source (in memory, memory-mapped, chunks,
Dask), online EM, and the methods of a fitted model.

A subclass supplies its family and data handling:
``_FITTED_ATTRIBUTE``, ``_DATA_CHECK`` (and ``_data_check_options``),
``_checked_family_settings``, ``_make_family``, ``_start_function``,
``_params_attributes``, ``_fitted_params``, ``_fitted_family``.
"""

import math
import time
import warnings
from functools import partial

import numpy as np

from .._validation import (
    check_float,
    check_int,
    check_is_fitted,
    check_known_labels,
    check_random_state,
    check_sample_weight,
)
from .._data import ArraySource, ChunkedSource, make_source
from .._em import ConvergenceMonitor, fit_em
from ..exceptions import convergence_warning_category
from .._init import check_enough_rows
from .._online import step_size, stepwise_params, stepwise_update
from .._variants import check_variant_settings, make_variant
from ._base import EstimatorBase, feature_names

class MixtureBase(EstimatorBase):
    """Shared behaviour of fastem's mixture estimators (not used directly)."""

    _OBJECTIVE_NAME = "log-likelihood"  # how verbose progress lines name the objective
    _SAVED_ATTRIBUTES = ("converged_", "n_iter_", "n_passes_", "lower_bound_", "lower_bounds_", "n_features_in_")
    _SAVED_IF_PRESENT = EstimatorBase._SAVED_IF_PRESENT + ("n_steps_",)  # n_steps_: after partial_fit

    # -- fitting --------------------------------------------------------------------
    def fit(self, X, y=None, sample_weight=None, known_labels=None):
        """Estimate the parameters with EM (``n_init`` starts, the best one kept).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored, as scikit-learn's clusterers ignore it (so that pipelines can pass
            it); the components of rows known in advance go in ``known_labels``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; a weight of 2 counts a row twice.
        known_labels : array-like of int of shape (n_samples,), default=None
            Partial labels (semi-supervised EM): ``known_labels[n]`` is the component
            of row n when it is known, in ``[0, n_components)``, and -1 when it is not.
            In every E-step (of every ``algorithm``) a labelled row's responsibilities
            are its component's indicator, and its term of the log-likelihood is
            ``log pi_k + log p(x_n | k)``; unlabelled rows are as without labels.  With
            every row labelled, one M-step gives each class's (weighted) fraction,
            mean and covariance (plus ``reg_covar``).  None, or every entry -1, fits
            exactly as without labels.  Initialisation does not use the labels, so a
            data-driven start numbers its components arbitrarily; with few labels,
            start from the labelled rows (``means_init``, ``probabilities_init``).

        X may also be a ``np.memmap`` (or ``np.load(path, mmap_mode="r")``), read chunk
        by chunk so that memory holds one chunk and not the data, or a row-chunked
        ``dask.array.Array``, whose blocks are processed where they live (see
        "Big data" in the README); ``sample_weight`` and ``known_labels`` are then
        NumPy arrays over all the rows.

        Returns
        -------
        self
        """
        return self._fit_or_forget(
            lambda check, n_features, settings: make_source(
                X, sample_weight, check, n_features, settings["n_threads"], settings["verbose"], known_labels,
                settings["n_components"],
            ),
            data=X,
        )

    def fit_chunks(self, chunks, y=None):
        """Fit on data read chunk by chunk, afresh for every pass of EM.

        Parameters
        ----------
        chunks : callable
            ``chunks()`` returns a fresh iterable of chunks on each call (EM reads the
            data several times); a chunk is a 2-D array of rows, a pair
            ``(rows, sample_weight)`` or a triple ``(rows, sample_weight,
            known_labels)`` (either may be None; ``known_labels`` as in :meth:`fit`,
            the chunk's rows' entries).  Initialisation uses a bounded uniform sample
            of the rows (every row when there are few), without labels.  A bad chunk
            raises an error that names its index, and leaves the estimator unfitted.
        y : None
            Ignored.

        Returns
        -------
        self
        """
        if not callable(chunks):
            raise TypeError(
                f"fit_chunks takes a callable that returns a fresh iterable of chunks on each call; "
                f"got {type(chunks).__name__}."
            )
        return self._fit_or_forget(
            lambda check, n_features, settings: ChunkedSource(
                chunks, check, n_features, settings["n_threads"], settings["verbose"], settings["n_components"]
            )
        )

    def fit_predict(self, X, y=None, sample_weight=None, known_labels=None):
        """Fit (``y`` ignored; ``sample_weight`` and ``known_labels`` as in :meth:`fit`),
        then return the most probable component of each row of ``X`` under the fitted
        model, as :meth:`predict` does (a labelled row's prediction may differ from its
        label)."""
        return self.fit(X, sample_weight=sample_weight, known_labels=known_labels).predict(X)

    def _family_attributes(self, family):
        """Fitted attributes that come from the family rather than its parameters."""
        return {}

    def _is_fitted(self):
        return hasattr(self, self._FITTED_ATTRIBUTE)

    def _checked_settings(self):
        owner = type(self).__name__
        settings = dict(
            n_components=check_int(self.n_components, "n_components", owner, 1),
            tol=check_float(self.tol, "tol", owner, 0.0),
            max_iter=check_int(self.max_iter, "max_iter", owner, 0),
            n_init=check_int(self.n_init, "n_init", owner, 1),
            verbose=check_int(self.verbose, "verbose", owner, 0),
            verbose_interval=check_int(self.verbose_interval, "verbose_interval", owner, 1),
            n_threads=None if self.n_threads is None else check_int(self.n_threads, "n_threads", owner, 1),
        )
        settings.update(self._checked_variant_settings(owner))
        settings.update(self._checked_family_settings(owner))
        return settings

    def _checked_variant_settings(self, owner):
        """The EM variant (``algorithm``, ``mc_samples``, ``gem_step``, ``accelerate``) and
        online EM's ``learning_decay``; an estimator without them overrides this."""
        return dict(
            variant=check_variant_settings(owner, self.algorithm, self.mc_samples, self.gem_step, self.accelerate),
            learning_decay=check_float(self.learning_decay, "learning_decay", owner, 0.5, 1.0, low_open=True),
        )

    def _data_check_options(self):
        """Further keyword arguments of ``_DATA_CHECK`` that the settings decide."""
        return {}

    def _checked_data(self, X, n_features=None, min_samples=1):
        return self._DATA_CHECK(
            X, n_features=n_features, estimator_name=type(self).__name__, min_samples=min_samples,
            **self._data_check_options(),
        )

    def _fit(self, open_source):
        """The fitted attributes from EM on ``open_source(check, n_features, settings)``."""
        settings = self._checked_settings()
        n_components = settings["n_components"]
        warm = bool(self.warm_start) and self._is_fitted()
        # a partial of a module function pickles, for Dask workers
        check = partial(self._DATA_CHECK, estimator_name=type(self).__name__, **self._data_check_options())
        source = open_source(check, self.n_features_in_ if warm else None, settings)
        if source.n_features is None:
            source.peek()
        n_features = source.n_features
        if source.n_samples is not None:
            check_enough_rows(source.n_samples, n_components)
        family = self._make_family(settings, source)
        start = self._start_function(family, settings, n_features)
        rng = check_random_state(self.random_state)

        best = None
        for trial in range(1 if warm else settings["n_init"]):
            started = time.perf_counter()
            if settings["verbose"]:
                print(f"Initialization {trial}")
            if warm:
                params, previous = self._fitted_params(), self.lower_bound_
            else:
                params, previous = start(source, rng), -math.inf
            monitor = ConvergenceMonitor(
                settings["tol"], settings["max_iter"], settings["verbose"],
                settings["verbose_interval"], previous, note=source.note, objective_name=self._OBJECTIVE_NAME,
            )
            variant = make_variant(*settings["variant"], settings["tol"], rng)
            result = fit_em(source, family, params, monitor, variant)
            if settings["verbose"]:
                state = "converged" if result.converged else "did not converge"
                print(
                    f"Initialization {state}. time lapse {time.perf_counter() - started:.5f}s\t "
                    f"lower bound {result.lower_bound:.5f}"
                )
            if best is None or result.lower_bound > best.lower_bound:
                best = result

        if not best.converged and settings["max_iter"] > 0:
            warnings.warn(  # scikit-learn's words first, so that filters matching them catch it
                "Best performing initialization did not converge. Try different init parameters, "
                "or increase max_iter, tol, or check for degenerate data. "
                f"(max_iter={settings['max_iter']}, tol={settings['tol']:g})",
                convergence_warning_category(),
                stacklevel=4,  # the caller of fit
            )
        fitted = self._params_attributes(best.params)
        fitted.update(self._family_attributes(family))
        fitted.update(
            converged_=best.converged,
            n_iter_=best.n_iter,
            n_passes_=best.n_passes,
            lower_bound_=best.lower_bound,
            lower_bounds_=list(best.lower_bounds),
            n_features_in_=n_features,
        )
        return fitted

    # -- online EM ------------------------------------------------------------------
    def partial_fit(self, X, y=None, sample_weight=None, known_labels=None):
        """One step of online (stepwise) EM on the chunk ``X``.

        The chunk's E-step statistics, per unit of sample weight, are blended into
        running statistics with step ``(t + 2) ** -learning_decay`` (``t``: updates
        after the first chunk) and the parameters become their M-step (see
        ``fastem._online``).  The first call initialises from ``X`` (``init_params``, the
        ``*_init`` parameters and ``random_state`` as in :meth:`fit`); after
        :meth:`fit`, the stream continues from the fitted parameters.  A chunk that
        fails its checks raises and leaves the model as it was.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.
        sample_weight : array-like of shape (n_samples,), default=None
        known_labels : array-like of int of shape (n_samples,), default=None
            The chunk's partial labels, as in :meth:`fit` (not used to initialise).

        Returns
        -------
        self
        """
        for name, value in self._partial_fit(X, sample_weight, known_labels).items():
            setattr(self, name, value)
        return self

    def _partial_fit(self, X, sample_weight, known_labels=None):
        """The attributes after one stepwise update; raises before anything is set."""
        settings = self._checked_settings()
        algorithm, _, _, accelerate = settings["variant"]
        if algorithm != "em" or accelerate is not None:
            raise ValueError(
                f"partial_fit runs stepwise (soft) EM; it does not take algorithm={algorithm!r}"
                + (f" with accelerate={accelerate!r}" if accelerate else "")
                + ". Use algorithm='em' and accelerate=None."
            )
        fitted = self._is_fitted()
        if fitted:
            self._check_feature_names(X)  # against the names the first call set
        names = None if fitted else feature_names(X)
        X = self._checked_data(X, self.n_features_in_ if fitted else None)
        weights = check_sample_weight(sample_weight, X.shape[0])
        labels = check_known_labels(known_labels, X.shape[0], settings["n_components"])
        source = ArraySource(X, weights, settings["n_threads"], labels)
        family = self._make_family(settings, source, continuing=fitted)
        if fitted:
            params, state = self._fitted_params(), getattr(self, "_stepwise_", None)  # None after fit
            history = list(self.lower_bounds_) if state is not None else []
        else:
            check_enough_rows(X.shape[0], settings["n_components"])
            start = self._start_function(family, settings, X.shape[1])
            params, state, history = start(source, check_random_state(self.random_state)), None, []
        stats = source.estep(family, params)
        state = stepwise_update(state, stats, settings["learning_decay"])
        objective = family.objective(stats, params)
        if settings["verbose"] >= 2:
            eta = step_size(state.n_updates - 1, settings["learning_decay"])
            print(f"  step {state.n_updates:5d}  {X.shape[0]} rows  log-likelihood {objective: .8g}  step size {eta:.4f}")
        attributes = self._params_attributes(stepwise_params(family, state, params))
        attributes.update(self._family_attributes(family))
        attributes.update(
            _stepwise_=state,
            n_steps_=state.n_updates,
            converged_=False,
            n_iter_=state.n_updates,
            n_passes_=state.n_updates,
            lower_bound_=objective,
            lower_bounds_=history + [objective],
            n_features_in_=X.shape[1],
        )
        if names is not None:
            attributes.update(feature_names_in_=names)
        return attributes

    # -- using the fitted model -----------------------------------------------------
    def _fitted_model(self):
        """(family, params) of the fitted model."""
        check_is_fitted(self, self._FITTED_ATTRIBUTE)
        return self._fitted_family(), self._fitted_params()

    def _posterior(self, X, **wanted):
        family, params = self._fitted_model()
        self._check_feature_names(X)
        X = self._checked_data(X, self.n_features_in_)
        return ArraySource(X, None, self.n_threads).posterior(family, params, **wanted)

    def predict(self, X):
        """Most probable component of each row of ``X``, shape (n_samples,)."""
        return self._posterior(X, label=True)[2]

    def predict_proba(self, X):
        """Posterior probability of each component for each row, shape (n_samples, n_components)."""
        return self._posterior(X, resp=True)[0]

    def score_samples(self, X):
        """Log-likelihood ``log p(x)`` of each row of ``X``, shape (n_samples,)."""
        return self._posterior(X, log_prob=True)[1]

    def estimate_weighted_log_prob(self, X):
        """``log pi_k + log p(x | k)`` for each row of ``X`` and component.

        The terms whose log-sum-exp is :meth:`score_samples` and whose softmax is
        :meth:`predict_proba`, as the E-step forms them (in X's dtype), so they stay
        finite and exact where ``predict_proba`` underflows to 0 (rows far from every
        component).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        ndarray of shape (n_samples, n_components), float64
        """
        return self._posterior(X, weighted_log_prob=True)[3]

    def score(self, X, y=None, sample_weight=None):
        """Mean log-likelihood per sample of ``X`` (weighted by ``sample_weight`` if given)."""
        log_prob = self.score_samples(X)
        weights = check_sample_weight(sample_weight, log_prob.shape[0])
        return float(np.average(log_prob, weights=weights))

    def _n_parameters(self):
        family, params = self._fitted_model()
        return family.n_parameters(params)

    def bic(self, X):
        """Bayesian information criterion on ``X`` (lower is better)."""
        n_samples = np.shape(X)[0]
        return -2 * self.score(X) * n_samples + self._n_parameters() * math.log(n_samples)

    def aic(self, X):
        """Akaike information criterion on ``X`` (lower is better)."""
        return -2 * self.score(X) * np.shape(X)[0] + 2 * self._n_parameters()

    def sample(self, n_samples=1):
        """Draw ``n_samples`` points; returns ``(X, labels)``, seeded by ``random_state``."""
        family, params = self._fitted_model()
        n_samples = check_int(n_samples, "n_samples", f"{type(self).__name__}.sample", 1)
        return family.sample(params, n_samples, check_random_state(self.random_state))
