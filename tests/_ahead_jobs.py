"""Jobs for the helper processes of ``test_ahead.py``: a helper imports its job by name,
so they live in a module of their own (the tests put this folder on its path)."""

import os
import time

import numpy as np


def touch(path):
    """Create the empty file ``path``."""
    open(path, "w").close()


def fail():
    raise RuntimeError("a job that fails")


def record_pid_and_sleep(path, seconds):
    """Write this process's id to ``path`` (whole when the file appears), then sleep."""
    with open(path + ".part", "w") as file:
        file.write(str(os.getpid()))
    os.replace(path + ".part", path)
    time.sleep(float(seconds))


def compile_unit_factors_float32():
    """Compile (or load) ``unit_factors`` for float32 factors."""
    from fastem._kernels.gaussian_nearest import unit_factors

    unit_factors(np.ones((1, 1), dtype=np.float32))
