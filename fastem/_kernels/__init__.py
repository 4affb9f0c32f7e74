"""Numba kernels: arrays in, arrays out, no Python objects.  Nothing here knows about
estimators; the families bind their parameters to these entry points."""
