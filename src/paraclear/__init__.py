"""paraclear: a clearing house for crypto options and perpetuals with parallel block execution."""

__version__ = "0.1.0"
