"""The one-line notice a first run prints while fastem's kernels compile."""

import subprocess
import sys

NOTICE = "fastem: compiling kernels for this CPU"

# Two small kernels of different modules: the notice is printed once per process.
SCRIPT = """
import numpy as np
from fastem._kernels.gaussian_nearest import unit_factors
from fastem._kernels._jit import add_in_chunk_order
unit_factors(np.ones((2, 3)))
add_in_chunk_order(1, np.ones((1, 3)), np.zeros(3), 0, 3)
print("done")
"""


def _run(cache_dir):
    env_script = f"import os; os.environ['NUMBA_CACHE_DIR'] = {str(cache_dir)!r}\n" + SCRIPT
    return subprocess.run([sys.executable, "-c", env_script], capture_output=True, text=True, check=True)


def test_notice_once_on_a_cache_miss_and_never_on_a_hit(tmp_path):
    cold = _run(tmp_path)
    assert cold.stdout.strip() == "done"
    assert cold.stderr.count(NOTICE) == 1
    warm = _run(tmp_path)  # the same cache directory, now filled
    assert NOTICE not in warm.stderr
