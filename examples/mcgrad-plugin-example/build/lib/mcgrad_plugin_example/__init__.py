"""An example plug-in for mcgrad-bench (see README.md beside this package)."""
