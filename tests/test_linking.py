"""Compiled-only kernels are compiled to be linked into their callers, with no machine
code of their own (``fastem._kernels.linking``), in one process and through the cache."""

import os
import subprocess
import sys
import textwrap

import numpy as np
from numba import types
from numba.core.caching import NullCache
from numba.core.codegen import JITCodeLibrary
from numba.core.compiler import Compiler

from fastem._kernels import _jit, linking
from fastem._kernels.linking import LinkOnlyLibrary

from conftest import call_compiled


@_jit.kernel()
def _doubled_sum(a):
    s = 0.0
    for i in range(a.shape[0]):
        s += 2.0 * a[i]
    return s


@_jit.kernel(entry=True)
def _sum_of_doubled_sums(a):
    return _doubled_sum(a) + _doubled_sum(a[2:])


# Not cached, so that every run of the test compiles them.
_doubled_sum._cache = _sum_of_doubled_sums._cache = NullCache()


def _defined_in_engine(kernel):
    (result,) = kernel.overloads.values()
    names = [fn.name for fn in result.library._final_module.functions if not fn.is_declaration]
    assert names, "the library's module holds the kernel's code"
    return result.library, [result.library.codegen._engine.is_symbol_defined(name) for name in names]


def test_a_compiled_only_kernel_gets_no_machine_code_yet_runs_in_its_callers():
    _doubled_sum.compile((types.float64[::1],))  # on its own: no caller links it yet
    library, defined = _defined_in_engine(_doubled_sum)
    assert isinstance(library, LinkOnlyLibrary) and not any(defined)

    assert call_compiled(_doubled_sum, np.arange(4.0)) == 12.0
    assert _sum_of_doubled_sums(np.arange(4.0)) == 22.0
    library, defined = _defined_in_engine(_sum_of_doubled_sums)
    assert not isinstance(library, LinkOnlyLibrary) and all(defined)


MODULE = '''
import numpy as np
from fastem._kernels._jit import kernel

@kernel()
def halve(i):
    return i / 2

@kernel(entry=True)
def total(a):
    s = a.dtype.type(0)
    for i in range(a.shape[0]):
        s += a[i] * halve(i)
    return s
'''

RUN = '''
import sys
import numpy as np
sys.path.insert(0, sys.argv[1])
import linked_module as m
a = np.arange(1, 6, dtype=sys.argv[2])
print(m.total(a), sum(m.halve._cache_hits.values()), sum(m.total._cache_hits.values()))
'''


def test_a_cached_compiled_only_kernel_links_into_a_new_caller(tmp_path):
    """The first process compiles and caches both kernels; the second loads the entry
    from the cache; the third compiles a new signature of the entry, which links the
    cached compiled-only kernel (cached as bitcode, as it has no object code)."""
    (tmp_path / "linked_module.py").write_text(textwrap.dedent(MODULE))
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))

    def run(dtype):
        done = subprocess.run(
            [sys.executable, "-c", RUN, str(tmp_path), dtype],
            env=env, capture_output=True, text=True, timeout=300,
        )
        assert done.returncode == 0, done.stderr
        value, halve_hits, total_hits = done.stdout.split()
        return float(value), int(halve_hits), int(total_hits)

    expected = sum(v * (i / 2) for i, v in enumerate(range(1, 6)))
    assert run("float64") == (expected, 0, 0)
    assert run("float64") == (expected, 0, 1)  # the entry from the cache; halve untouched
    assert run("float32") == (expected, 1, 0)  # a new entry signature, halve from the cache


def test_numba_s_own_compiler_where_its_libraries_lack_a_hook():
    assert linking.PIPELINE is linking.LinkOnlyCompiler  # the Numba versions tested have them all
    for missing in linking.LIBRARY_HOOKS:
        stripped = type("Stripped", (JITCodeLibrary,), {missing: None})
        assert linking.pipeline_for(stripped) is Compiler, missing
