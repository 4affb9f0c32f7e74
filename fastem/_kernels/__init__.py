"""Numba kernels: arrays in, arrays out, no Python objects.  Nothing here knows about
estimators; the families bind their parameters to these entry points.  Importing the
package installs the notice printed once when a first run compiles them (``notice``)."""

from . import notice  # noqa: F401  (registers the compile notice)
