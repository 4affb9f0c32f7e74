"""The command line: ``fastem demo``, ``fastem fit DATA -k K``, ``fastem bench [--quick]``
and ``fastem warmup`` (also ``python -m fastem ...``).

A user's mistake ends the program with one line on standard error and exit status 2,
never a traceback: a command line argparse refuses, an input or output file that
cannot be opened or read (``OSError``), a CSV cell that is not a number (the message
names the file, the row and the column as an editor numbers them), and the
``ValueError`` or ``TypeError`` with which an estimator's validation refuses the
settings or the data (a bad ``-k``, NaN in the data).  Any other exception is a bug
in fastem and keeps its traceback.
"""

import argparse
import csv
import os
import sys
import time

import numpy as np

from . import __version__, _bench, _warmup

# The top-level help, in plain text: the module docstring is reST.
DESCRIPTION = """\
Fit mixture models by EM from the command line.

  demo     fit a generated data set (five 4-D Gaussians) and print the model
  fit      fit a Gaussian mixture to a .npy or .csv file, optionally save it (.npz)
  bench    seconds per EM iteration and peak memory, fastem next to its peers
  warmup   compile the common kernel signatures into Numba's disk cache
"""

EPILOG = """\
A mistake in the command line, the files or the data ends the program with one
line on standard error and exit status 2. Each command describes its options:
{prog} COMMAND --help
"""

USAGE_ERROR = 2  # argparse's exit status for a bad command line; ours for every user's mistake


class UsageError(Exception):
    """A mistake of the user's (a file, a cell, a setting): reported in one line."""


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


def program_name(argv0=None):
    """The name the program was started by, for usage lines and messages.

    Parameters
    ----------
    argv0 : str or None
        ``sys.argv[0]`` (None: read it).

    Returns
    -------
    str
        ``"python -m fastem"`` when run as a module, else the script's file name
        (``"fastem"`` for the console script).
    """
    argv0 = sys.argv[0] if argv0 is None else argv0
    name = os.path.basename(argv0 or "")
    if name in ("__main__.py", "-m", "-c", ""):
        return "python -m fastem"
    return os.path.splitext(name)[0] if name.endswith((".py", ".exe")) else name


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _csv_rows(handle):
    """(row number as an editor counts lines, cells) of every non-blank row."""
    reader = csv.reader(handle)
    for cells in reader:
        if cells and any(cell.strip() for cell in cells):
            yield reader.line_num, cells


def _first_bad_cell(path, skip_header):
    """The message for the first cell or row of ``path`` that is not a row of numbers
    of the first row's width, or None; and the number of rows of data."""
    with open(path, newline="") as handle:
        rows = _csv_rows(handle)
        if skip_header:
            next(rows, None)
        width = None
        n_rows = 0
        for row, cells in rows:
            for column, cell in enumerate(cells, start=1):
                if not cell.strip():
                    return f"{path}, row {row}, column {column}: the cell is empty", None
                if not _is_number(cell):
                    return f"{path}, row {row}, column {column}: {cell.strip()!r} is not a number", None
            if width is None:
                width = len(cells)
            elif len(cells) != width:
                return f"{path}, row {row}: {len(cells)} columns, the rows above have {width}", None
            n_rows += 1
    return None, n_rows


def _load_csv(path, header):
    """Rows of numbers from a CSV file; ``header`` is True, False or None (guess)."""
    with open(path, newline="") as handle:
        first = next(_csv_rows(handle), None)
    if first is None:
        raise UsageError(f"{path}: no rows of data (the file is empty)")
    if header is None:
        header = not all(_is_number(cell) for cell in first[1] if cell.strip())
        if header:
            # A guess the user may need to overrule: say it was made.
            print(f"{path}: first row read as a header (use --no-header to read it as data)", file=sys.stderr)
    bad, n_rows = _first_bad_cell(path, skip_header=header)
    if bad is not None:
        raise UsageError(bad)
    if n_rows == 0:
        raise UsageError(f"{path}: no rows of data below the header")
    skip = first[0] if header else first[0] - 1  # lines up to and including the header
    return np.loadtxt(path, delimiter=",", skiprows=skip, ndmin=2, dtype=np.float64)


def _load_data(path, header=None):
    """The rows of ``path`` (.npy memory-mapped, or .csv); a user's mistake raises
    ``UsageError``."""
    try:
        if path.endswith(".npy"):
            try:
                X = np.load(path, mmap_mode="r")
            except ValueError as error:  # not an .npy file, or one of Python objects
                raise UsageError(f"{path}: not a NumPy array file that can be read ({error})") from None
        elif path.endswith(".csv"):
            X = _load_csv(path, header)
        else:
            raise UsageError(f"{path} must be a .npy or .csv file.")
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not a text file ({error.reason} at byte {error.start})") from None
    if X.ndim != 2:
        raise UsageError(f"{path}: an array of shape {X.shape}; fastem fits a 2-D array, one row per sample.")
    return X


def _print_model(gm, file=sys.stdout):
    print(f"\n{gm!r}", file=file)
    print(f"converged: {gm.converged_} after {gm.n_iter_} iterations ({gm.n_passes_} passes over the data); "
          f"mean log-likelihood {gm.lower_bound_:.6f}", file=file)
    with np.printoptions(precision=3, suppress=True, linewidth=120):
        for k in np.argsort(-gm.weights_):
            print(f"  component {k}: weight {gm.weights_[k]:.3f}  mean {gm.means_[k]}", file=file)


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


def _write_picture(gm, X, path, max_points=20_000):
    """Save ``fastem.plot.plot_mixture`` of the fit to ``path``."""
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


def _positive_int(text):
    """argparse type: an integer of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _add_fit_options(parser, n_init):
    parser.add_argument("--covariance", choices=["full", "tied", "diag", "spherical"], default="full",
                        help="the covariance type, as GaussianMixture's covariance_type (default: %(default)s)")
    parser.add_argument("--algorithm", choices=["em", "hard", "monte_carlo", "generalized"], default="em",
                        help="the EM variant (see the README: Which EM variant when; default: %(default)s)")
    parser.add_argument("--accelerate", choices=["squarem"], default=None,
                        help="SQUAREM acceleration (with --algorithm em; default: none)")
    parser.add_argument("--max-iter", type=int, default=100, metavar="N",
                        help="stop after this many EM iterations (default: %(default)s)")
    parser.add_argument("--tol", type=float, default=1e-3, metavar="TOL",
                        help="stop when the mean log-likelihood gains less than this in an iteration "
                             "(default: %(default)s)")
    parser.add_argument("--n-init", type=int, default=n_init, metavar="N",
                        help="starts from different random seeds; the best fit is kept (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="random seed of the starts, as random_state (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=None, metavar="N",
                        help="threads for the kernels (default: Numba's, one per core)")


def build_parser(prog):
    """The argument parser of the command line, its usage lines naming ``prog``."""
    parser = argparse.ArgumentParser(
        prog=prog, description=DESCRIPTION, epilog=EPILOG.format(prog=prog),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"fastem {__version__}",
                        help="print fastem's version and exit")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    demo = commands.add_parser("demo", help="fit a built-in generated data set",
                               description="Fit a generated data set of five 4-D Gaussians and print the "
                                           "model next to the mixture that generated it.")
    demo.add_argument("--n-samples", type=_positive_int, default=200_000, metavar="N",
                      help="rows to generate (default: %(default)s)")
    demo.add_argument("-k", "--n-components", type=int, default=5, metavar="K",
                      help="components to fit (default: %(default)s)")
    demo.add_argument("--plot", metavar="FILE.png",
                      help='write a picture of the fit here (features 0 and 1; needs pip install "fastem[plot]")')
    _add_fit_options(demo, n_init=3)
    fit = commands.add_parser("fit", help="fit a mixture to a .npy or .csv file",
                              description="Fit a Gaussian mixture to the rows of a .npy file (read "
                                          "memory-mapped) or a .csv file of numbers.")
    fit.add_argument("data", help="DATA.npy or DATA.csv, one row per sample")
    fit.add_argument("-k", "--n-components", type=int, required=True, metavar="K",
                     help="components to fit")
    fit.add_argument("--out", metavar="MODEL.npz", help="write the fitted model here (read it with fastem.load)")
    header = fit.add_mutually_exclusive_group()
    header.add_argument("--header", action="store_true", default=None,
                        help="CSV: the first row is a header; skip it")
    header.add_argument("--no-header", dest="header", action="store_false", default=None,
                        help="CSV: the first row is data (default: a header if a cell of it is not a number, "
                             "which is reported)")
    _add_fit_options(fit, n_init=1)
    _add_select_command(commands)
    _bench.add_arguments(commands.add_parser(
        "bench", help="seconds per EM iteration and peak memory, fastem next to its peers"))
    _warmup.add_arguments(commands.add_parser(
        "warmup", help="compile the common kernel signatures into Numba's disk cache"))
    return parser


def main(argv=None, prog=None):
    """Run the command line.

    Parameters
    ----------
    argv : list of str or None
        The arguments (None: ``sys.argv[1:]``).
    prog : str or None
        The program name for usage lines and messages (None: from ``sys.argv[0]``).

    Returns
    -------
    int
        The exit status: 0, or 2 after a user's mistake (see the module docstring).
    """
    prog = program_name() if prog is None else prog
    args = build_parser(prog).parse_args(argv)
    if args.command == "bench":
        return _bench.command(args)
    if args.command == "warmup":
        return _warmup.command(args)
    try:
        return _select(args) if args.command == "select" else _run_fit(args)
    except UsageError as error:
        print(f"{prog} {args.command}: {error}", file=sys.stderr)
        return USAGE_ERROR


def _run_fit(args):
    """``demo`` and ``fit``; a user's mistake raises ``UsageError``."""
    if args.command == "demo":
        X, true_means = _demo_data(args.n_samples, args.seed)
        print(f"fastem demo: {X.shape[0]} x {X.shape[1]} generated samples from "
              f"{len(true_means)} Gaussians; fitting {args.n_components} components "
              f"({args.covariance} covariance)")
    else:
        folder = os.path.dirname(args.out or "")
        if folder and not os.path.isdir(folder):  # say so before the fit, not after it
            raise UsageError(f"{args.out}: no folder {folder}")
        X = _load_data(args.data, args.header)
        print(f"fastem fit: {args.data}, {X.shape[0]} x {X.shape[1]}; fitting "
              f"{args.n_components} components ({args.covariance} covariance)")
    try:
        gm, seconds = _fit(X, args.n_components, args.covariance, args)
    except (ValueError, TypeError) as error:  # validation refused the settings or the data
        raise UsageError(str(error)) from None
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
        try:
            gm.save(args.out)
        except OSError as error:
            raise UsageError(f"{args.out}: {error.strerror or error}") from None
        print(f"model written to {args.out}")
    return 0


def _add_select_command(commands):
    select = commands.add_parser(
        "select", help="fit every K and covariance type of a grid (sharing passes) and keep the best",
        description="Fit a GaussianMixture for every number of components and covariance type of a grid, "
                    "the candidates sharing their passes over the data, and print the table of criteria.")
    select.add_argument("data", help="DATA.npy or DATA.csv, one row per sample")
    select.add_argument("-k", "--n-components", default="1-9", metavar="KS",
                        help="numbers of components: a range such as 1-9, or a list such as 2,4,8 (default 1-9)")
    select.add_argument("--covariance", nargs="+", choices=["full", "tied", "diag", "spherical"],
                        default=["full", "diag"], help="covariance types to try (default: full diag)")
    select.add_argument("--criterion", choices=["bic", "aic", "icl"], default="bic",
                        help="the criterion the best model is chosen by (lower is better; default bic)")
    select.add_argument("--max-iter", type=int, default=100, help="most EM iterations per candidate (default 100)")
    select.add_argument("--tol", type=float, default=1e-3,
                        help="EM's tolerance on the mean log-likelihood per row (default 1e-3)")
    select.add_argument("--seed", type=int, default=0, help="random_state of every candidate (default 0)")
    select.add_argument("--threads", type=int, default=None, help="kernel threads (default: all cores)")
    select.add_argument("--out", metavar="MODEL.npz", help="write the best model here (read it with fastem.load)")
    header = select.add_mutually_exclusive_group()
    header.add_argument("--header", action="store_true", default=None, help="CSV: the first row is a header; skip it")
    header.add_argument("--no-header", dest="header", action="store_false", default=None,
                        help="CSV: the first row is data")


def _component_counts(text):
    """``1-9`` or ``2,4,8`` as a list of ints; a ``UsageError`` otherwise."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-"))
            return list(range(low, high + 1))
        return [int(part) for part in text.split(",")]
    except ValueError:
        raise UsageError(f"-k takes a range such as 1-9 or a list such as 2,4,8; got {text!r}.") from None


def _select(args):
    """``select``: the grid's table and its best model; a user's mistake raises ``UsageError``."""
    from ._selection import select_model

    counts = _component_counts(args.n_components)
    X = _load_data(args.data, args.header)
    print(f"fastem select: {args.data}, {X.shape[0]} x {X.shape[1]}; K in {counts}, "
          f"covariance {' '.join(args.covariance)}, by {args.criterion}")
    try:
        best, table = select_model(
            X, n_components=counts, covariance_types=args.covariance, criterion=args.criterion,
            max_iter=args.max_iter, tol=args.tol, random_state=args.seed, n_threads=args.threads,
        )
    except (ValueError, TypeError) as error:
        raise UsageError(str(error)) from None
    print(table.format())
    print(f"best: {best.n_components} components, {best.covariance_type} covariance")
    if args.out:
        try:
            best.save(args.out)
        except OSError as error:
            raise UsageError(f"{args.out}: {error.strerror or error}") from None
        print(f"model written to {args.out}")
    return 0
