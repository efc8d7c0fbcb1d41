"""The measurement harness: sweeps of cells, metrics in NumPy, Parquet results, reports."""

# installed plug-in problems join bench.problems.PROBLEMS whenever the harness is imported (bench.plugins)
from bench.problems import plugins as _plugins

_plugins.load()
