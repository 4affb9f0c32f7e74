"""Compile the next step's kernels in a second process while this one compiles its own.

Numba compiles one function at a time in a process, and a first fit compiles its
steps one after the other: a GaussianMixture's k-means start compiles one tree of
kernels, then its EM step compiles another, independent one (two thirds of the
total).  ``compile_ahead`` wraps the first step.  When the step starts compiling a
fastem kernel (the disk cache lacks it), a helper process starts and runs a small job
that reaches the next step's kernels, so that Numba compiles them there, on another
CPU, and writes them to the disk cache.  At the end of the block this process waits
for the helper; the next step then loads those kernels instead of compiling them.
Where the block's own compiling is the shorter, this process can take a share of the
job's kernels too (``first``): those the job reaches last, compiled before the block's.
Where the block and the next step run one tree (a Bernoulli fit), the job is the
share of that tree the block reaches last (``bernoulli.sharing_first_compile``).

No helper starts when the block compiles nothing (the cache is warm), when this
process may use only one CPU, under ``NUMBA_DISABLE_JIT``, in a frozen application,
or when the environment variable ``FASTEM_COMPILE_AHEAD`` is ``0`` (as in ``warmup``'s
worker processes).  The helper
changes no result: it compiles the same code this process would.  A helper that
fails costs only the wait, as this process then compiles what it did not cache.
"""

import os
import pickle
import subprocess
import sys
import threading
from contextlib import contextmanager

from numba.core import config, event

from .notice import is_fastem_kernel

ENVIRONMENT_VARIABLE = "FASTEM_COMPILE_AHEAD"

# The longest the end of a block waits for its helper, in seconds; a helper still
# running then is stopped (it compiles for tens of seconds on a 2-core machine, so
# this leaves room for one ten times slower, and means that it hung).
HELPER_TIMEOUT = 600

# The folder this copy of fastem was imported from: the helper imports the same copy.
_FASTEM_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# What the helper runs: that folder goes first on its path unless the path holds it
# already (an installed fastem), so that nothing else on the path moves.
_HELPER_CODE = (
    "import os, sys; root = sys.argv[1]\n"
    "if not any(os.path.abspath(entry or os.curdir) == root for entry in sys.path): sys.path.insert(0, root)\n"
    "from fastem._kernels.ahead import run_helper; run_helper()"
)

_lock = threading.Lock()
_armed = None  # the _Helper the next fastem compile starts, if any


def usable_cpus():
    """The CPUs this process may run on (its affinity where the OS reports one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def enabled():
    """Whether ``compile_ahead`` may start a helper in this process."""
    return (
        os.environ.get(ENVIRONMENT_VARIABLE, "1") != "0"
        and not config.DISABLE_JIT
        and not getattr(sys, "frozen", False)
        and bool(sys.executable)
        and usable_cpus() > 1
    )


def _helper_environment():
    """This process's environment, with the Numba settings the disk cache depends on
    (set in code or in the environment), which the helper must share."""
    environment = dict(os.environ)
    environment[ENVIRONMENT_VARIABLE] = "0"  # a helper starts no helper of its own
    for name, value in (("NUMBA_CACHE_DIR", config.CACHE_DIR), ("NUMBA_CPU_NAME", config.CPU_NAME),
                        ("NUMBA_CPU_FEATURES", config.CPU_FEATURES)):
        if value is None:  # Numba's default here: the same there
            environment.pop(name, None)
        else:
            environment[name] = value
    return environment


class _Helper:
    """The process that runs ``job(*args)``, once started."""

    def __init__(self, payload, first=None):
        self.payload = payload
        self.first = first
        self.process = None

    @property
    def started(self):
        """Whether the helper process was started (the block compiled a fastem kernel)."""
        return self.process is not None

    def start(self):
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-c", _HELPER_CODE, _FASTEM_ROOT],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env=_helper_environment(),
            )
        except (OSError, ValueError):  # no helper: this process compiles everything itself
            return
        # Written from a thread: a payload larger than the pipe's buffer would otherwise
        # hold this process until the helper has imported fastem and reads it.
        threading.Thread(target=self._send, daemon=True).start()

    def run_first(self):
        """Run ``first`` in this process (``compile_ahead``), once the helper runs."""
        if self.first is None or not self.started:
            return
        try:
            self.first()
        except Exception:  # whatever it did not compile, the steps compile later, as before
            pass

    def _send(self):
        try:
            with self.process.stdin as pipe:
                pipe.write(self.payload)
        except OSError:  # the helper has gone; waiting for it returns at once
            pass

    def wait(self):
        if self.process is None:
            return
        try:
            self.process.wait(timeout=HELPER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.stop()

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


_NO_HELPER = _Helper(None)  # what a block sees where no helper is armed: never started


class _StartOnFirstCompile(event.Listener):
    """Start the armed helper when a fastem kernel starts compiling (in any thread:
    a pass compiles in whichever of its threads calls a kernel first), and run its
    ``first`` where that compile is one that Python called: its kernel is then an
    entry point, which no kernel of ``first`` calls (Numba would take such a call, of
    a kernel whose compile is under way, for recursion)."""

    def __init__(self):
        self._open = threading.local()  # compiles under way in this thread

    def on_start(self, ev):
        global _armed
        open_compiles = getattr(self._open, "count", 0)
        self._open.count = open_compiles + 1
        if _armed is None or not is_fastem_kernel(ev):
            return
        with _lock:
            helper, _armed = _armed, None
        if helper is not None:
            helper.start()
            if open_compiles == 0:
                helper.run_first()

    def on_end(self, ev):
        self._open.count = max(0, getattr(self._open, "count", 0) - 1)


event.register("numba:compile", _StartOnFirstCompile())  # once: a module is imported once


@contextmanager
def compile_ahead(job, *args, first=None):
    """Run the enclosed step; if it compiles fastem kernels, run ``job(*args)`` in a
    helper process meanwhile, and wait for the helper at the end.

    ``job`` must be a module-level function and ``args`` picklable: they are sent to
    the helper, a fresh Python that imports this copy of fastem with this process's
    Numba settings.  ``job`` should reach the kernels of the step that follows the
    block (one call on a few rows does), which then load from the disk cache.  An
    exception in the block stops the helper; one in the helper is ignored.

    ``first``, a function without arguments, runs in this process when the helper
    starts, before the compile that started it goes on: it compiles kernels that the
    job reaches last (the same signatures), so that the two processes share the job's
    tree from both ends, where the block's own compiling is the shorter.  An exception
    in it is ignored.  Yields the helper, whose ``started`` says whether it has started
    so far: a block done with its own compiling can compile more of the job's meanwhile.
    """
    global _armed
    helper = None
    if enabled():
        try:
            payload = pickle.dumps((job, args))
        except Exception:  # an argument that does not pickle: no helper
            payload = None
        if payload is not None:
            with _lock:
                if _armed is None:  # one block at a time (another thread may hold one)
                    helper = _armed = _Helper(payload, first)
    failed = True
    try:
        yield _NO_HELPER if helper is None else helper
        failed = False
    finally:
        if helper is not None:
            with _lock:  # no later compile may start it now
                if _armed is helper:
                    _armed = None
            if failed:
                helper.stop()
            else:
                helper.wait()


def compile_signatures(listed):
    """Compile (or load) each ``(kernel, argument types)`` of ``listed``: the share of a
    tree that a ``late_kernels`` list names, for a helper's job or a block's ``first``."""
    for kernel, signature in listed:
        kernel.compile(signature)


def run_helper():
    """The helper's main: read ``(job, args)`` from standard input and run it."""
    from .notice import silence

    silence()  # the parent has said that it compiles
    job, args = pickle.load(sys.stdin.buffer)
    job(*args)
