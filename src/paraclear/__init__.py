"""paraclear: a clearing house for crypto options and perpetuals with parallel block execution."""

from paraclear import numba_cache

numba_cache.install()  # before any kernel is defined: a read-only install still imports

__version__ = "0.1.0"
