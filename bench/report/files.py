"""Reading a results folder for the report: every file the benchmark wrote, and a one-line warning for each
file it cannot read (not Parquet, truncated) or did not write (a Parquet file with other columns).

A results file is a bench one when it holds the columns every version of the store has written, of types that
convert to the store's schema (bench.store.parquet.SCHEMA); columns added later (`lr`, `options`, ...) may be
missing, columns the store does not know are dropped. Its run metadata (schema metadata b"bench") is read
where present.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from bench.store.parquet import SCHEMA

# the columns of the first store; later ones default (bench.report.data.normalise)
REQUIRED = ["run_id", "cell_id", "suite", "problem", "problem_params", "estimator", "backend", "device", "depth",
            "batch_size", "n_samples", "seed", "metric", "param_group", "step", "value", "stderr", "status",
            "message"]


class SkippedFile(UserWarning):
    """A file under the results folder the report did not use."""


def _skip(path: Path, why: str) -> None:
    # an explicit location at line 0: one line on stderr, with no line of this module's source after it
    why = " ".join(why.split())
    warnings.warn_explicit(f"skipped {path}: {why[:300]}", SkippedFile, "bench report", 0)


def _table(path: Path) -> pa.Table | None:
    """The file's rows in the store's types, or None (warned) when it is not a bench results file."""
    try:
        table = pq.read_table(path)
    except Exception as exc:  # noqa: BLE001 - anything unreadable is skipped, never fatal
        _skip(path, f"not readable as Parquet: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}")
        return None
    missing = [c for c in REQUIRED if c not in table.column_names]
    if missing:
        _skip(path, f"not a bench results file: no column {', '.join(missing[:6])}"
                    + (f" (and {len(missing) - 6} more)" if len(missing) > 6 else ""))
        return None
    fields = [f for f in SCHEMA if f.name in table.column_names]
    try:
        return pa.Table.from_arrays([table.column(f.name).cast(f.type) for f in fields], schema=pa.schema(fields))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
        _skip(path, f"not a bench results file: a column has another type ({str(exc).splitlines()[0]})")
        return None


def _meta(path: Path) -> dict[str, Any] | None:
    try:
        raw = (pq.read_schema(path).metadata or {}).get(b"bench")
        meta = json.loads(raw) if raw else None
    except Exception:  # noqa: BLE001 - metadata is for the environment table only
        return None
    return meta if isinstance(meta, dict) else None


def read(folder: Path) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """Every bench results file's rows under `folder` (one frame) and the run metadata of each."""
    frames, metas = [], []
    for path in sorted(Path(folder).rglob("*.parquet")) if Path(folder).is_dir() else []:
        table = _table(path)
        if table is None:
            continue
        frames.append(table.to_pandas())
        meta = _meta(path)
        metas += [meta] if meta is not None else []
    frames = [f for f in frames if len(f)]
    rows = pd.concat(frames, ignore_index=True) if frames else SCHEMA.empty_table().to_pandas()
    return rows, metas
