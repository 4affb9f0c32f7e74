"""Data that need not fit in memory: a Dask array fitted on a 2-worker LocalCluster
against the same fit in memory, and the peak memory of a fit of a memory-mapped .npy.

Every fit is a diagonal Gaussian mixture of N = 4,000,000 x D = 16 rows (divided as
``scaled`` says in the fast profile; the memory-mapped file keeps at least 1,000,000),
K = 16, from one start (the blob centres, equal weights, unit precisions) and for a
fixed number of iterations (``tol=0``), so that the fits compared do the same arithmetic.
"""

import logging
import os
import shutil
import tempfile
import warnings

import numpy as np

from fastem._bench import blobs, peak_memory, seconds_per_iteration

from .common import Benchmark, scaled, skip_without

N_SAMPLES, N_FEATURES, N_COMPONENTS = 4_000_000, 16, 16
MAX_ITER = 5
# The memory-mapped file keeps at least 1,000,000 rows (128 MB) in the fast profile too:
# several times the rows fastem reads at once, or the peak-memory ratio means nothing.
MEMMAP_SAMPLES = max(scaled(N_SAMPLES), 1_000_000)
# Rows written (and generated) at a time, so that writing the .npy adds little to the
# process's peak memory (asv's peakmem_ is the whole process's peak, setup included).
WRITE_ROWS = 50_000


def _start(centres):
    n_components, n_features = centres.shape
    return dict(
        weights_init=np.full(n_components, 1.0 / n_components),
        means_init=np.array(centres, dtype=np.float64),
        precisions_init=np.ones((n_components, n_features)),
    )


def _fit(X, start, max_iter=MAX_ITER):
    from fastem import GaussianMixture

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tol=0 stops at max_iter on purpose
        return GaussianMixture(
            N_COMPONENTS, covariance_type="diag", tol=0.0, max_iter=max_iter, **start
        ).fit(X)


def _write_npy(path, n_samples, n_features, n_components, seed=0):
    """Blobs like ``fastem._bench.blobs`` written block by block with plain file writes
    (never the whole array in memory, no memory map); returns the centres."""
    rng = np.random.RandomState(seed)
    centres = rng.normal(scale=3.0, size=(n_components, n_features))
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f8", "fortran_order": False, "shape": (n_samples, n_features)}
        )
        for start in range(0, n_samples, WRITE_ROWS):
            rows = min(WRITE_ROWS, n_samples - start)
            labels = rng.randint(n_components, size=rows)
            f.write((centres[labels] + rng.normal(size=(rows, n_features))).tobytes())
    return centres


class DaskFit(Benchmark):
    """The same fit of a Dask array (16 row blocks held by a LocalCluster of 2 worker
    processes, one task thread each; Numba parallelises inside a block) and of the
    NumPy array in this process."""

    timeout = 1800

    def setup(self):
        skip_without("dask")
        skip_without("distributed")
        import dask.array as da
        from dask import delayed
        from distributed import Client, LocalCluster, wait

        n_samples = scaled(N_SAMPLES)
        self.X, centres = blobs(n_samples, N_FEATURES, N_COMPONENTS, "float64")
        self.start = _start(centres)
        self.cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                    dashboard_address=None, silence_logs=logging.ERROR)
        self.client = Client(self.cluster)
        # The blocks are scattered to the workers (rather than shipped inside the graph)
        # and stay there: the data already live on the cluster, as they would in use.
        block_rows = -(-n_samples // 16)
        blocks = [self.X[start:start + block_rows] for start in range(0, n_samples, block_rows)]
        futures = self.client.scatter(blocks)
        wait(futures)
        self.dX = da.concatenate([
            da.from_delayed(delayed(future), shape=block.shape, dtype=block.dtype)
            for future, block in zip(futures, blocks)
        ])
        # Compile (or load) the kernels here and in both workers before timing.
        _fit(self.X[:2048], self.start, 1)
        _fit(self.dX[: 2 * block_rows], self.start, 1)

    def teardown(self):
        self.client.close()
        self.cluster.close()

    def time_dask_fit(self):
        _fit(self.dX, self.start)

    def time_in_memory_fit(self):
        _fit(self.X, self.start)

    def track_dask_over_in_memory(self):
        """Seconds per iteration on the cluster divided by seconds per iteration in
        memory (above 1: the cluster is slower; set-up cancels out of both)."""
        on_cluster = seconds_per_iteration(lambda max_iter: _fit(self.dX, self.start, max_iter))
        in_memory = seconds_per_iteration(lambda max_iter: _fit(self.X, self.start, max_iter))
        return on_cluster / in_memory

    track_dask_over_in_memory.unit = "ratio"


class _MappedData(Benchmark):
    """Set-up shared by the memory-mapped benchmarks: the .npy in a temporary folder."""

    timeout = 1800

    def setup(self):
        self.directory = tempfile.mkdtemp(prefix="fastem-bench-")
        self.path = os.path.join(self.directory, "X.npy")
        n_samples = MEMMAP_SAMPLES
        self.data_bytes = n_samples * N_FEATURES * 8
        self.start = _start(_write_npy(self.path, n_samples, N_FEATURES, N_COMPONENTS))
        small = os.path.join(self.directory, "small.npy")
        _write_npy(small, 4096, N_FEATURES, N_COMPONENTS)
        _fit(np.load(small, mmap_mode="r"), self.start, 1)  # compiles the chunked path

    def teardown(self):
        shutil.rmtree(self.directory, ignore_errors=True)

    def _fit_mapped(self):
        return _fit(np.load(self.path, mmap_mode="r"), self.start)


class MemmapFit(_MappedData):
    """A fit of a float64 .npy opened with ``np.load(path, mmap_mode="r")``: it reads
    chunk by chunk, so its peak memory should stay near one chunk plus the model (asv's
    peakmem_ is the whole process's peak: the interpreter, NumPy and Numba included)."""

    def time_memmap_fit(self):
        self._fit_mapped()

    def peakmem_memmap_fit(self):
        self._fit_mapped()


class MemmapPeakMemory(_MappedData):
    """Peak resident memory during the memory-mapped fit above what the process held
    just before it, as a fraction of the data size.  Pages of the map that stay resident
    count, so a fit that reads the whole file through one map scores about 1."""

    def setup(self):
        if peak_memory(lambda: None)[0] is None:
            raise NotImplementedError("the resident memory of this process cannot be read here")
        super().setup()

    def track_peak_memory_over_data_size(self):
        peak, _ = peak_memory(self._fit_mapped)
        return peak / self.data_bytes

    track_peak_memory_over_data_size.unit = "ratio"
