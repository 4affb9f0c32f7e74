"""Pictures of fitted models, drawn with matplotlib.

matplotlib is an optional extra (``pip install "fastem[plot]"``). It is imported
here, when this module is imported, and nowhere else: ``import fastem`` does not
import it.

Every function draws on the Axes it is given (``ax``) or on a new figure when
``ax`` is None, and returns what it drew on, so a caller can add titles, limits or
more artists and save the figure as it likes.
"""

import math
from collections.abc import Mapping

import numpy as np

from .mixture._gaussian import fitted_covariance_type

try:
    import matplotlib.pyplot as plt
    from matplotlib.patches import Ellipse
    from matplotlib.ticker import MaxNLocator
except ImportError as error:  # the extra is optional: say how to get it
    raise ImportError(
        'fastem.plot needs matplotlib, which fastem does not install by default. '
        'Install it with: pip install "fastem[plot]"'
    ) from error

__all__ = ["plot_mixture", "plot_convergence", "plot_criterion", "plot_probabilities"]

CRITERIA = ("bic", "aic", "icl")
SIGMAS = (1, 2)


def _axes(ax):
    if ax is None:
        _, ax = plt.subplots()
    return ax


def _palette(n_components):
    # The colour cycle's colours while they last; past them, distinct colours from a
    # colour map, so that no two components share a colour.
    colours = plt.rcParams["axes.prop_cycle"].by_key().get("color", [])
    if n_components <= len(colours):
        return list(colours[:n_components])
    return [tuple(c) for c in plt.get_cmap("turbo")(np.linspace(0.05, 0.95, n_components))]


def _fitted(model, attribute, function):
    if getattr(model, attribute, None) is None:
        raise ValueError(
            f"{function} needs a fitted model; {type(model).__name__} has no {attribute}. "
            "Call fit first."
        )


def component_covariances(model, dims):
    """Each component's covariance restricted to two dimensions.

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        Fitted; ``covariances_`` is read by the type of the fitted parameters
        (their shapes; ``covariance_type`` may have been set since the fit):
        full (K, D, D), tied (D, D) shared by every component, diag (K, D) or
        spherical (K,).
    dims : pair of int
        The two feature indices.

    Returns
    -------
    ndarray of shape (n_components, 2, 2), float64
    """
    i, j = dims
    covariances = np.asarray(model.covariances_, dtype=np.float64)
    n_components = len(model.weights_)
    kind = fitted_covariance_type(model)
    if kind == "full":
        return covariances[:, [i, j]][:, :, [i, j]]
    if kind == "tied":
        return np.broadcast_to(covariances[np.ix_([i, j], [i, j])], (n_components, 2, 2)).copy()
    if kind == "diag":
        return np.stack([np.diag(c[[i, j]]) for c in covariances])
    if kind == "spherical":
        return covariances[:, None, None] * np.eye(2)
    raise ValueError(f"Unknown covariance_type {kind!r}; expected 'full', 'tied', 'diag' or 'spherical'.")


def ellipse_geometry(covariance, n_sigma):
    """Width, height and angle of the ``n_sigma`` ellipse of a 2x2 covariance.

    The ellipse's semi-axes are ``n_sigma * sqrt(eigenvalue)`` along the
    eigenvectors; matplotlib's Ellipse takes full axes and the first axis's angle.

    Parameters
    ----------
    covariance : array_like of shape (2, 2)
    n_sigma : float

    Returns
    -------
    width, height, angle : float
        ``2 * n_sigma * sqrt(lambda_1)``, ``2 * n_sigma * sqrt(lambda_2)`` and the
        angle in degrees of the eigenvector of ``lambda_1`` (the larger eigenvalue).
    """
    values, vectors = np.linalg.eigh(np.asarray(covariance, dtype=np.float64))
    values, vectors = values[::-1], vectors[:, ::-1]  # eigh sorts ascending; width is the major axis
    # Rounding can leave a tiny negative eigenvalue on a singular covariance.
    values = np.maximum(values, 0.0)
    width, height = 2.0 * n_sigma * np.sqrt(values)
    angle = math.degrees(math.atan2(vectors[1, 0], vectors[0, 0]))
    return float(width), float(height), angle


def plot_mixture(model, X, ax=None, dims=(0, 1)):
    """Points coloured by component, with each component's 1- and 2-sigma ellipses.

    Parameters
    ----------
    model : GaussianMixture or BayesianGaussianMixture
        Fitted, any covariance type.
    X : array_like of shape (n_samples, n_features)
        The points to draw; each is coloured by ``model.predict(X)``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    dims : pair of int, default (0, 1)
        The two features shown (x, then y). Each ellipse is that of the component's
        covariance restricted to these two features (the marginal's, not a slice).

    Returns
    -------
    matplotlib.axes.Axes
        Holds one scatter (a PathCollection) and, per component k, two
        ``matplotlib.patches.Ellipse`` (1 then 2 sigma), in component order; the
        1-sigma ellipse carries the legend label ``"component k (w=0.31)"``.
    """
    _fitted(model, "covariances_", "plot_mixture")
    dims = tuple(int(d) for d in dims)
    n_features = model.means_.shape[1]
    if len(dims) != 2 or not all(0 <= d < n_features for d in dims):
        raise ValueError(f"dims must be two feature indices in [0, {n_features}); got {dims}.")
    ax = _axes(ax)
    X = np.asarray(X)
    labels = model.predict(X)
    palette = _palette(len(model.weights_))
    ax.scatter(X[:, dims[0]], X[:, dims[1]], s=4, alpha=0.4, c=[palette[k] for k in labels], linewidths=0)
    for k, (mean, covariance) in enumerate(zip(model.means_, component_covariances(model, dims))):
        centre = (mean[dims[0]], mean[dims[1]])
        for n_sigma in SIGMAS:
            width, height, angle = ellipse_geometry(covariance, n_sigma)
            label = f"component {k} (w={model.weights_[k]:.2f})" if n_sigma == 1 else None
            ax.add_patch(Ellipse(centre, width, height, angle=angle, fill=False, edgecolor=palette[k],
                                 linewidth=1.5 if n_sigma == 1 else 1.0,
                                 linestyle="-" if n_sigma == 1 else "--", label=label))
        ax.plot(*centre, marker="+", color="black", markersize=8)
    ax.set_xlabel(f"feature {dims[0]}")
    ax.set_ylabel(f"feature {dims[1]}")
    ax.legend(loc="best", fontsize="small")
    ax.set_title("1- and 2-sigma ellipses per component")
    return ax


def plot_convergence(model, ax=None):
    """The lower bound (mean log-likelihood) against the EM iteration.

    Parameters
    ----------
    model : fitted mixture
        Anything with ``lower_bounds_`` (one value per iteration) and ``converged_``.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.

    Returns
    -------
    matplotlib.axes.Axes
        Its first line is ``lower_bounds_`` against iterations 1, 2, ...; its second
        a single marker at the last iteration, labelled ``"converged"`` or
        ``"stopped at max_iter"``.
    """
    _fitted(model, "lower_bounds_", "plot_convergence")
    ax = _axes(ax)
    bounds = np.asarray(model.lower_bounds_, dtype=np.float64)
    iterations = np.arange(1, len(bounds) + 1)
    ax.plot(iterations, bounds, marker=".", label="lower bound")
    label = "converged" if model.converged_ else "stopped at max_iter"
    ax.plot(iterations[-1:], bounds[-1:], marker="o", markersize=9, linestyle="none",
            color="tab:green" if model.converged_ else "tab:red", label=label)
    ax.set_xlabel("iteration")
    ax.set_ylabel("lower bound (per sample)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    # The last iterations differ in late digits; an offset above the axis hides the values.
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.legend(loc="lower right")
    return ax


def _criterion_rows(result):
    # A (best_model, table) pair as well as the table alone: the pair is what a
    # selection function naturally returns, and the model is not needed here.
    if isinstance(result, tuple) and len(result) == 2 and not isinstance(result[0], Mapping):
        result = result[1]
    rows = list(result)
    for position, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise ValueError(f"plot_criterion expects rows that are mappings (dicts); row {position} is "
                             f"{type(row).__name__}.")
    if not rows:
        raise ValueError("plot_criterion got an empty table; it needs at least one row.")
    return rows


def plot_criterion(result, ax=None, criterion=None):
    """An information criterion against the number of components, per covariance type.

    Parameters
    ----------
    result : iterable of mappings, or (best_model, table)
        The table of a model selection, one row per fit (a list of dicts, or any
        iterable of mappings). Each row holds

        - ``"n_components"`` : int, the K of that fit;
        - ``"covariance_type"`` : str;
        - the criterion's value under its name, ``"bic"``, ``"aic"`` or ``"icl"``
          (lower is better); a row may hold several of them;
        - optionally ``"criterion"`` : str, the name of the criterion the selection
          used (``"bic"``, ``"aic"`` or ``"icl"``).

        Other keys are ignored. A pair ``(best_model, table)`` is accepted too.
    ax : matplotlib.axes.Axes, optional
        Where to draw; a new figure when None.
    criterion : {"bic", "aic", "icl"}, optional
        The value drawn. When None: the rows' ``"criterion"`` entry, else the first
        of bic, aic, icl that the first row holds.

    Returns
    -------
    matplotlib.axes.Axes
        One line per covariance type, in order of first appearance, labelled by the
        type, with its points sorted by ``n_components``; the lowest value of the
        whole table is marked by a star.
    """
    rows = _criterion_rows(result)
    if criterion is None:
        criterion = rows[0].get("criterion")
    if criterion is None:
        criterion = next((name for name in CRITERIA if name in rows[0]), None)
        if criterion is None:
            raise ValueError(f"plot_criterion: the rows hold none of {', '.join(CRITERIA)}; "
                             "pass criterion= or add one of these keys.")
    criterion = str(criterion).lower()
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}; got {criterion!r}.")
    curves = {}
    for position, row in enumerate(rows):
        for key in ("n_components", "covariance_type", criterion):
            if key not in row:
                raise ValueError(f"plot_criterion: row {position} has no {key!r} (its keys: {sorted(row)}).")
        curves.setdefault(row["covariance_type"], []).append((row["n_components"], float(row[criterion])))
    ax = _axes(ax)
    best = None
    for covariance_type, points in curves.items():
        points.sort()
        ks, values = zip(*points)
        ax.plot(ks, values, marker="o", label=str(covariance_type))
        low = int(np.argmin(values))
        if best is None or values[low] < best[1]:
            best = (ks[low], values[low])
    ax.plot([best[0]], [best[1]], marker="*", markersize=14, color="black", linestyle="none",
            label=f"lowest {criterion.upper()}")
    ax.set_xlabel("n_components")
    ax.set_ylabel(criterion.upper())
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="best")
    return ax


def plot_probabilities(bernoulli_model, image_shape, ax=None):
    """Each component's probabilities as an image, titled with its weight.

    Parameters
    ----------
    bernoulli_model : BernoulliMixture
        Fitted; ``probabilities_`` has shape (n_components, n_features).
    image_shape : tuple of int
        The shape each row of ``probabilities_`` is reshaped to (its product must
        be n_features), such as (28, 28) for MNIST digits.
    ax : array_like of matplotlib.axes.Axes, optional
        At least n_components Axes, drawn on in order (flattened); a new figure
        with a grid of subplots when None.

    Returns
    -------
    ndarray of matplotlib.axes.Axes, shape (n_components,)
        Axes k shows component k's probabilities (one image, gray scale from 0 to
        1) titled ``"k: w=0.12"``. Axes of a new grid beyond n_components are
        hidden and not returned.
    """
    _fitted(bernoulli_model, "probabilities_", "plot_probabilities")
    probabilities = np.asarray(bernoulli_model.probabilities_)
    n_components, n_features = probabilities.shape
    image_shape = tuple(int(n) for n in np.atleast_1d(image_shape))
    if math.prod(image_shape) != n_features:
        raise ValueError(f"image_shape {image_shape} holds {math.prod(image_shape)} values; the model has "
                         f"{n_features} features per component.")
    if ax is None:
        columns = min(n_components, 8)
        rows = -(-n_components // columns)
        figure, grid = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.8 * rows), squeeze=False)
        axes = grid.ravel()
        for extra in axes[n_components:]:
            extra.set_visible(False)
    else:
        axes = np.ravel(np.asarray(ax, dtype=object))
        if len(axes) < n_components:
            raise ValueError(f"plot_probabilities needs {n_components} Axes (one per component); got {len(axes)}.")
    axes = axes[:n_components]
    for k, axis in enumerate(axes):
        axis.imshow(probabilities[k].reshape(image_shape), cmap="gray_r", vmin=0.0, vmax=1.0)
        axis.set_title(f"{k}: w={bernoulli_model.weights_[k]:.2f}", fontsize="small")
        axis.set_xticks([])
        axis.set_yticks([])
    return axes
