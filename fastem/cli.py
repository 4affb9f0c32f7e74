"""Command line: ``python -m fastem demo``, ``python -m fastem fit DATA -k K``,
``python -m fastem bench [--quick]`` and ``python -m fastem warmup``."""

import argparse
import sys
import time

import numpy as np

from . import bench, warmup

DEMO_WEIGHTS = np.array([0.3, 0.25, 0.2, 0.15, 0.1])


def _demo_data(n_samples, seed):
    """A 5-component, 4-feature Gaussian mixture with unequal shapes and weights."""
    rng = np.random.RandomState(seed)
    weights = DEMO_WEIGHTS
    means = 1.5 * np.array([[0, 0, 0, 0], [6, 0, 2, 0], [0, 7, 0, 2], [6, 7, -3, 0], [3, 3, 6, 6]], float)
    counts = rng.multinomial(n_samples, weights)
    blocks = []
    for mean, count in zip(means, counts):
        mixing = rng.normal(scale=0.7, size=(4, 4)) + np.eye(4)
        blocks.append(mean + rng.standard_normal((count, 4)) @ mixing.T)
    X = np.vstack(blocks)
    return X[rng.permutation(len(X))], means


def _load_data(path):
    if path.endswith(".npy"):
        return np.load(path, mmap_mode="r")
    if path.endswith(".csv"):
        with open(path) as handle:
            first = handle.readline()
        has_header = any(c.isalpha() for c in first.replace("e", "").replace("E", ""))
        return np.loadtxt(path, delimiter=",", skiprows=1 if has_header else 0, ndmin=2)
    raise SystemExit(f"fastem fit: {path} must be a .npy or .csv file.")


def _print_model(gm, file=sys.stdout):
    print(f"\n{gm!r}", file=file)
    print(f"converged: {gm.converged_} after {gm.n_iter_} iterations ({gm.n_passes_} passes over the data); "
          f"mean log-likelihood {gm.lower_bound_:.6f}", file=file)
    with np.printoptions(precision=3, suppress=True, linewidth=120):
        for k in np.argsort(-gm.weights_):
            print(f"  component {k}: weight {gm.weights_[k]:.3f}  mean {gm.means_[k]}", file=file)


def _write_picture(gm, X, path, max_points=20_000):
    """Save ``fastem.plot.plot_mixture`` of the fit to ``path``."""
    import os

    try:
        import matplotlib
    except ImportError:
        raise SystemExit('fastem demo --plot needs matplotlib: pip install "fastem[plot]"') from None
    # A file is all that is asked for: without a display, or with no backend chosen,
    # pick the file-only backend before pyplot is imported, so no window is needed.
    if not os.environ.get("DISPLAY") and not os.environ.get("MPLBACKEND"):
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from .plot import plot_mixture

    # Every point would only darken the picture and slow the drawing; a sample shows the same.
    rows = np.random.RandomState(0).permutation(len(X))[:max_points]
    figure, ax = plt.subplots(figsize=(7, 6))
    plot_mixture(gm, X[np.sort(rows)], ax=ax)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    print(f"picture written to {path}")


def _fit(X, n_components, covariance, args):
    from .mixture import GaussianMixture

    gm = GaussianMixture(
        n_components, covariance_type=covariance, tol=args.tol, max_iter=args.max_iter,
        n_init=args.n_init, random_state=args.seed, verbose=2, verbose_interval=1,
        n_threads=args.threads, algorithm=args.algorithm, accelerate=args.accelerate,
    )
    started = time.perf_counter()
    gm.fit(X)
    return gm, time.perf_counter() - started


def _add_fit_options(parser, n_init):
    parser.add_argument("--covariance", choices=["full", "tied", "diag", "spherical"], default="full",
                        help="the covariance type (as GaussianMixture's covariance_type)")
    parser.add_argument("--algorithm", choices=["em", "hard", "monte_carlo", "generalized"], default="em",
                        help="the EM variant (see the README: Which EM variant when)")
    parser.add_argument("--accelerate", choices=["squarem"], default=None,
                        help="SQUAREM acceleration (with --algorithm em)")
    parser.add_argument("--max-iter", type=int, default=100)
    parser.add_argument("--tol", type=float, default=1e-3)
    parser.add_argument("--n-init", type=int, default=n_init, help="starts; the best is kept")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)


def _add_select_command(commands):
    select = commands.add_parser(
        "select", help="fit every K and covariance type of a grid (sharing passes) and keep the best")
    select.add_argument("data", help="DATA.npy or DATA.csv, one row per sample")
    select.add_argument("-k", "--n-components", default="1-9",
                        help="numbers of components: a range such as 1-9, or a list such as 2,4,8 (default 1-9)")
    select.add_argument("--covariance", nargs="+", choices=["full", "tied", "diag", "spherical"],
                        default=["full", "diag"], help="covariance types to try (default: full diag)")
    select.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic",
                        help="the criterion the best model is chosen by (lower is better)")
    select.add_argument("--max-iter", type=int, default=100, help="most EM iterations per candidate")
    select.add_argument("--tol", type=float, default=1e-3, help="EM's tolerance on the log-likelihood per row")
    select.add_argument("--seed", type=int, default=0, help="random_state of every candidate")
    select.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    select.add_argument("--out", help="write the best model here (.npz)")


def _component_counts(text):
    """``1-9`` or ``2,4,8`` as a list of ints; a clean error otherwise."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-"))
            return list(range(low, high + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise SystemExit(f"fastem select: -k takes a range such as 1-9 or a list such as 2,4,8; got {text!r}.") from None


def _select(args):
    from .selection import select_model

    X = _load_data(args.data)
    counts = _component_counts(args.n_components)
    print(f"fastem select: {args.data}, {X.shape[0]} x {X.shape[1]}; K in {counts}, "
          f"covariance {' '.join(args.covariance)}, by {args.criterion}")
    try:
        best, table = select_model(
            X, n_components=counts, covariance_types=args.covariance, criterion=args.criterion,
            max_iter=args.max_iter, tol=args.tol, random_state=args.seed, n_threads=args.threads,
        )
    except ValueError as error:
        raise SystemExit(f"fastem select: {error}") from None
    print(table.format())
    print(f"best: {best.n_components} components, {best.covariance_type} covariance")
    if args.out:
        best.save(args.out)
        print(f"model written to {args.out}")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastem", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="fit a built-in generated data set")
    demo.add_argument("--n-samples", type=int, default=200_000)
    demo.add_argument("-k", "--n-components", type=int, default=5)
    demo.add_argument("--plot", metavar="FILE.png",
                      help='write a picture of the fit here (features 0 and 1; needs pip install "fastem[plot]")')
    _add_fit_options(demo, n_init=3)
    fit = commands.add_parser("fit", help="fit a mixture to a .npy or .csv file")
    fit.add_argument("data", help="DATA.npy or DATA.csv, one row per sample")
    fit.add_argument("-k", "--n-components", type=int, required=True)
    fit.add_argument("--out", help="write the fitted model here (.npz)")
    _add_fit_options(fit, n_init=1)
    _add_select_command(commands)
    bench.add_arguments(commands.add_parser(
        "bench", help="seconds per EM iteration and peak memory, fastem next to its peers"))
    warmup.add_arguments(commands.add_parser(
        "warmup", help="compile the common kernel signatures into Numba's disk cache"))
    args = parser.parse_args(argv)
    if args.command == "bench":
        return bench.command(args)
    if args.command == "warmup":
        return warmup.command(args)
    if args.command == "select":
        return _select(args)

    if args.command == "demo":
        X, true_means = _demo_data(args.n_samples, args.seed)
        print(f"fastem demo: {X.shape[0]} x {X.shape[1]} generated samples from "
              f"{len(true_means)} Gaussians; fitting {args.n_components} components "
              f"({args.covariance} covariance)")
    else:
        X = _load_data(args.data)
        print(f"fastem fit: {args.data}, {X.shape[0]} x {X.shape[1]}; fitting "
              f"{args.n_components} components ({args.covariance} covariance)")
    try:
        gm, seconds = _fit(X, args.n_components, args.covariance, args)
    except ValueError as error:  # bad settings or data: the message says what to change
        raise SystemExit(f"fastem {args.command}: {error}") from None
    _print_model(gm)
    print(f"fit time: {seconds:.3f} s (includes Numba compilation on a cold cache)")
    if args.command == "demo":
        with np.printoptions(precision=3, suppress=True, linewidth=120):
            print("the generating mixture:")
            for weight, mean in zip(DEMO_WEIGHTS, true_means):
                print(f"  weight {weight:.3f}  mean {mean}")
    if args.command == "demo" and args.plot:
        _write_picture(gm, X, args.plot)
    if args.command == "fit" and args.out:
        gm.save(args.out)
        print(f"model written to {args.out}")
    return 0
