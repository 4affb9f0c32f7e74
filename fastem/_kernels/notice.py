"""Tell the user, once per process, that fastem's kernels are being compiled.

Numba compiles a kernel the first time a process calls it with new argument types, and
caches the machine code on disk, per CPU.  Only a cache miss is slow (tens of seconds
for a first fit on 2 cores), and it is silent; this module listens to Numba's compile
events and writes one line to standard error when the first fastem kernel starts to
compile, so that a first run does not look hung.  Cache hits raise no event.
"""

import sys
import threading

from numba.core import event

from .target import CPU_NAME


# Seconds a first fit spends compiling with an empty cache on a 2-core machine, rounded
# up (the README's start-up section has the measured figures).
FIRST_FIT_SECONDS = 40

_lock = threading.Lock()
_told = False


def is_fastem_kernel(ev):
    """Whether a ``numba:compile`` event compiles one of fastem's kernels."""
    module = getattr(ev.data["dispatcher"].py_func, "__module__", "") or ""
    return module.startswith("fastem.")


class _CompileNotice(event.Listener):
    def on_start(self, ev):
        global _told
        if _told:
            return
        if not is_fastem_kernel(ev):
            return
        with _lock:
            if _told:
                return
            _told = True
        print(
            f"fastem: compiling kernels for this CPU ({CPU_NAME}); first run only, "
            f"up to about {FIRST_FIT_SECONDS} s. Later runs load them from Numba's cache.",
            file=sys.stderr,
            flush=True,
        )

    def on_end(self, ev):
        pass


def silence():
    """Never print the notice in this process (a warm-up worker, whose parent says
    what it compiles)."""
    global _told
    with _lock:
        _told = True


event.register("numba:compile", _CompileNotice())  # once: a module is imported once
