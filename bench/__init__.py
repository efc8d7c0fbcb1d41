"""The measurement harness: sweeps of cells, metrics in NumPy, Parquet results, reports."""
