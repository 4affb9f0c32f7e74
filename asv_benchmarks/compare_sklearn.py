"""Seconds per EM iteration, fastem against scikit-learn, measured side by side.

    python asv_benchmarks/compare_sklearn.py            # the full-size rows
    python asv_benchmarks/compare_sklearn.py --quick    # 20x fewer rows

Both estimators start from the same parameters (weights_init, means_init,
precisions_init) and run with tol=0; the time per iteration is the difference between a
4-iteration and a 1-iteration fit (best of three runs each), divided by 3, so set-up and
validation cancel out.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

if "--quick" not in sys.argv:
    os.environ.setdefault("FASTEM_BENCH_PROFILE", "regular")

from benchmarks.gaussian import WORKLOADS, _fit, _same_start, gaussian_seconds_per_iteration  # noqa: E402


def main():
    import numba
    from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

    import fastem

    print(f"threads: {numba.get_num_threads()}  (NUMBA_NUM_THREADS to change)")
    print(f"{'workload':<28}{'dtype':<9}{'fastem s/it':>12}{'sklearn s/it':>14}{'ratio':>8}")
    for n_samples, n_features, n_components, covariance_type in WORKLOADS:
        for dtype in ("float64", "float32"):
            X, init = _same_start(n_samples, n_features, n_components, covariance_type, dtype)
            _fit(fastem.GaussianMixture, X[:256], covariance_type, n_components, init, 1)
            ours = gaussian_seconds_per_iteration(fastem.GaussianMixture, X, covariance_type, n_components, init)
            theirs = gaussian_seconds_per_iteration(SklearnGaussianMixture, X, covariance_type, n_components, init)
            name = f"{X.shape[0]}x{n_features} K={n_components} {covariance_type}"
            print(f"{name:<28}{dtype:<9}{ours:>12.3f}{theirs:>14.3f}{theirs / ours:>8.1f}", flush=True)


if __name__ == "__main__":
    main()
