"""fastem and its command line start where no Unix-only module exists (Windows).

The child processes below make every Unix-only standard module unimportable before
anything of fastem loads (``sys.modules[name] = None`` turns ``import name`` into an
ImportError), as on Windows, so that a module-level import of one of them fails here.
"""

import json
import subprocess
import sys
import textwrap

# Standard modules that exist on Unix only.  (``posix`` itself cannot be blocked here:
# the standard library imports it on Unix where Windows takes ``nt``.)
UNIX_ONLY = ("resource", "fcntl", "termios", "tty", "pty", "pwd", "grp", "syslog")

_BLOCK = f"import sys\nfor name in {UNIX_ONLY!r}:\n    sys.modules[name] = None\n"


def _run_blocked(code, *args):
    return subprocess.run([sys.executable, "-c", _BLOCK + textwrap.dedent(code), *args],
                          capture_output=True, text=True, timeout=300)


def test_the_blocking_works():
    # The control: with the modules blocked, importing one of them does fail.
    for name in ("resource", "fcntl"):
        result = _run_blocked(f"import {name}")
        assert result.returncode != 0
        assert "ImportError" in result.stderr or "ModuleNotFoundError" in result.stderr


def test_fastem_and_its_command_line_import_without_unix_only_modules():
    result = _run_blocked("""
        import json, sys
        import fastem, fastem._cli, fastem._bench, fastem._warmup
        from fastem.mixture import GaussianMixture, KMeans, BernoulliMixture
        blocked = [name for name, module in sys.modules.items() if module is None]
        print(json.dumps(dict(blocked=sorted(blocked), peak=fastem._bench.peak_memory(lambda: None))))
    """)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(UNIX_ONLY) <= set(report["blocked"])  # still blocked: nothing undid the set-up
    # Peak memory needs resource: without it, the measurement says "unknown" (None).
    assert report["peak"][0] is None


def test_python_m_fastem_help_runs_without_unix_only_modules():
    result = _run_blocked("""
        import runpy, sys
        sys.argv = ["fastem", "--help"]
        runpy.run_module("fastem", run_name="__main__", alter_sys=True)
    """)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    for command in ("demo", "fit", "bench", "warmup"):
        assert command in result.stdout
