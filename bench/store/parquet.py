"""Results on disk: one long-format Parquet file per cell, written atomically, read back as one DataFrame.

Columns are listed in SCHEMA (README documents them). Run metadata (git sha, versions, devices, CLI args)
travels in the Arrow schema metadata under b"bench". A file is written to a temporary name and renamed,
so a killed run leaves only complete cells behind; `--resume` skips cells whose file exists.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SCHEMA = pa.schema([
    ("run_id", pa.string()), ("cell_id", pa.string()), ("suite", pa.string()), ("problem", pa.string()),
    ("problem_params", pa.string()), ("estimator", pa.string()), ("estimator_version", pa.string()),
    ("backend", pa.string()), ("device", pa.string()), ("depth", pa.int64()), ("batch_size", pa.int64()),
    ("n_samples", pa.int64()), ("seed", pa.int64()), ("metric", pa.string()), ("param_group", pa.string()),
    ("step", pa.int64()), ("value", pa.float64()), ("stderr", pa.float64()), ("unit", pa.string()),
    ("status", pa.string()), ("message", pa.string()), ("wall_s", pa.float64()),
    ("lr", pa.float64()), ("options", pa.string()), ("experiment", pa.string()),
    ("problem_version", pa.string()), ("suite_version", pa.string()),
])


def cell_path(out: Path, cell_id: str) -> Path:
    return out / f"{cell_id}.parquet"


def write_cell(out: Path, cell_id: str, rows: list[dict[str, Any]], meta: dict[str, Any]) -> Path:
    table = pa.Table.from_pylist(rows, schema=SCHEMA).replace_schema_metadata({b"bench": json.dumps(meta).encode()})
    path = cell_path(out, cell_id)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    pq.write_table(table, tmp)
    os.replace(tmp, path)
    return path


def remove_orphans(out: Path) -> int:
    """Delete temporary files that killed writers left behind (their process is gone); returns how many."""
    removed = 0
    for tmp in out.glob("*.tmp*"):
        pid = tmp.suffix.removeprefix(".tmp")
        if pid.isdigit() and not Path(f"/proc/{pid}").exists() and int(pid) != os.getpid():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def read_results(folder: Path) -> pd.DataFrame:
    """Every readable cell file under `folder`; an unreadable one is named in a warning and skipped."""
    frames = []
    for path in sorted(Path(folder).rglob("*.parquet")):
        try:
            frames.append(pq.read_table(path).to_pandas())
        except Exception as exc:  # noqa: BLE001 - any corrupt file is skipped, never fatal
            warnings.warn(f"skipping unreadable results file {path}: {exc}", stacklevel=2)
    return pd.concat(frames, ignore_index=True) if frames else SCHEMA.empty_table().to_pandas()


def read_meta(path: Path) -> dict[str, Any]:
    return json.loads(pq.read_schema(path).metadata[b"bench"])


def read_results_file(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()
