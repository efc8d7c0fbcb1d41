"""Results on disk: Parquet files per cell, run metadata, and the code versions every row carries."""
