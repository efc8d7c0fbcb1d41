"""What the reader should know before trusting the figures: cells made by code that has changed since, results
of one estimator and problem from several code versions, and failed cells.

Near the top of the report they are one short block of counts (`summary`); their tables come at the end
(`tables`), so the warnings are seen first and the detail does not push the answer down.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.report.doc import Block, Bullets, Heading, Para, Table
from bench.report.markup import lit

VERSION_COLUMNS = ["estimator_version", "problem_version", "suite_version"]
MIXED_COLUMNS = ["suite", "problem", "estimator", "backend", "versions", "cells"]
OUTDATED_COLUMNS = ["suite", "changed", "cells", "estimators", "problems"]
FAILED_COLUMNS = ["status", "suite", "problem", "estimator", "backend", "device", "depth", "batch_size",
                  "n_samples", "seed", "message"]
HEADING = "Warnings in full"


def mixed_versions(rows: pd.DataFrame) -> pd.DataFrame:
    """(suite, problem, estimator, backend) whose cells carry more than one set of code versions."""
    present = [c for c in VERSION_COLUMNS if c in rows]
    if rows.empty or not present:
        return pd.DataFrame(columns=MIXED_COLUMNS)
    cells = rows.drop_duplicates("cell_id").fillna({c: "?" for c in present})
    cells = cells.assign(code=cells[present].astype(str).agg("/".join, axis=1))
    out = []
    for (suite, problem, estimator, backend), part in cells.groupby(["suite", "problem", "estimator", "backend"]):
        if part.code.nunique() > 1:
            counts = part.code.value_counts()
            out.append({"suite": suite, "problem": problem, "estimator": estimator, "backend": backend,
                        "versions": ", ".join(counts.index), "cells": ", ".join(map(str, counts.values))})
    return pd.DataFrame(out, columns=MIXED_COLUMNS)


def _changed(stored: dict[str, Any], suite: str, problem: str, estimator: str, backend: str) -> list[str]:
    """Which of estimator, problem and suite has code other than the stored versions say (the comparison
    `--resume` makes); an estimator or problem this process does not know (an audited library's adapter, a
    plug-in not installed) is not compared."""
    from bench.problems import PROBLEMS
    from bench.store import versions
    from estimators import catalog

    now = {"suite": lambda: versions.suite_version(suite)}
    if estimator in catalog.names():
        now["estimator"] = lambda: versions.estimator_version(estimator, backend)
    if problem in PROBLEMS:
        now["problem"] = lambda: versions.problem_version(problem, backend)
    out = []
    for key in ("estimator", "problem", "suite"):
        try:
            if key in now and stored.get(f"{key}_version") != now[key]():
                out.append(key)
        except Exception:  # noqa: BLE001 - a version that cannot be computed here is not compared
            continue
    return out


def outdated(rows: pd.DataFrame) -> pd.DataFrame:
    """Cells whose stored code versions differ from this checkout's, by suite and by what changed; a cell
    without versions predates them."""
    if rows.empty or not set(VERSION_COLUMNS) <= set(rows):
        return pd.DataFrame(columns=OUTDATED_COLUMNS)
    cells = rows.drop_duplicates("cell_id")
    keys = ["suite", "problem", "estimator", "backend", *VERSION_COLUMNS]
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for (suite, problem, estimator, backend, *stored), n in cells.groupby(keys, dropna=False).size().items():
        if all(pd.isna(v) for v in stored):
            changed = "none recorded (written before code versions)"
        else:
            changed = " and ".join(_changed(dict(zip(VERSION_COLUMNS, stored)), suite, problem, estimator, backend))
        if changed:
            entry = found.setdefault((suite, changed), {"cells": 0, "estimators": set(), "problems": set()})
            entry["cells"] += int(n)
            entry["estimators"].add(estimator)
            entry["problems"].add(problem)
    return pd.DataFrame([{"suite": suite, "changed": changed, "cells": e["cells"],
                          "estimators": ", ".join(sorted(e["estimators"])),
                          "problems": ", ".join(sorted(e["problems"]))}
                         for (suite, changed), e in sorted(found.items())], columns=OUTDATED_COLUMNS)


def failed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows.status != "ok"].drop_duplicates("cell_id")


def _cells(n: int) -> str:
    return f"{n} cell" + ("s" if n != 1 else "")


def _whole(stale: pd.DataFrame, cells: pd.DataFrame) -> list[str]:
    """Suites none of whose cells were made by this checkout's code."""
    total = cells.groupby("suite").size()
    return sorted(s for s, part in stale.groupby("suite") if part.cells.sum() >= total.get(s, 0))


def summary(rows: pd.DataFrame) -> list[Block]:
    """One short block of counts, each line naming what is wrong and pointing at its table."""
    cells = rows.drop_duplicates("cell_id")
    stale, mixed, bad = outdated(rows), mixed_versions(rows), failed(rows)
    items = []
    if len(stale):
        whole = _whole(stale, cells)
        items.append(f"{stale.cells.sum()} of {_cells(len(cells))} were made by code that has changed since"
                     + (f" (all of suite {lit(', '.join(whole))})" if whole else "")
                     + ": their figures may not be what this checkout computes.")
    if len(mixed):
        items.append(f"{len(mixed)} estimator/problem/backend combination{'s' * (len(mixed) > 1)} hold"
                     f"{'s' * (len(mixed) == 1)} results of several code versions.")
    if len(bad):
        kinds = bad.status.astype(str).value_counts()
        items.append(f"{_cells(len(bad))} failed ({lit(', '.join(f'{n} {k}' for k, n in kinds.items()))}).")
    if not items:
        return []
    link = "#" + HEADING.lower().replace(" ", "-")
    return [Para(f"**Warnings** (their tables: [{HEADING}]({link}), at the end):"), Bullets(items)]


def tables(rows: pd.DataFrame) -> list[Block]:
    """The warnings' tables: stale cells by suite, mixed versions, failed cells."""
    cells = rows.drop_duplicates("cell_id")
    stale, mixed, bad = outdated(rows), mixed_versions(rows), failed(rows)
    out: list[Block] = [Heading(2, HEADING)]
    out += [Heading(3, "Results from code that has changed since")] + _outdated(stale, cells)
    out += [Heading(3, "Results from several code versions")] + _mixed(mixed)
    out += [Heading(3, "Failed cells")] + _failed(bad)
    return out


def _outdated(stale: pd.DataFrame, cells: pd.DataFrame) -> list[Block]:
    if stale.empty:
        return [Para("None: every cell was made by this checkout's code.")]
    total = cells.groupby("suite").size()
    rows = [[lit(r.suite), lit(r.changed), f"{r.cells} of {total.get(r.suite, r.cells)}", lit(r.estimators),
             lit(r.problems)] for r in stale.itertuples()]
    whole = _whole(stale, cells)
    return [Para(f"**{stale.cells.sum()} cells were made by code that has changed since**"
                 + (f" (all of suite {lit(', '.join(whole))})" if whole else "")
                 + ": their figures may not be what this checkout computes. `python -m bench run <suite> ... "
                 "--resume` with the arguments that made them reruns exactly these cells."),
            Table(["suite", "code changed", "cells", "estimators", "problems"], rows)]


def _mixed(mixed: pd.DataFrame) -> list[Block]:
    if mixed.empty:
        return [Para("None: each combination's cells share one code version.")]
    return [Para("These combinations have cells written by different versions of their estimator, problem or "
                 "suite code (a version is a hash of the source; `python -m bench run ... --resume` reruns the "
                 "stale cells):"),
            Table(MIXED_COLUMNS, [[lit(getattr(r, c)) for c in MIXED_COLUMNS] for r in mixed.itertuples()])]


def _failed(bad: pd.DataFrame) -> list[Block]:
    if bad.empty:
        return [Para("None: every cell finished.")]
    return [Table(FAILED_COLUMNS, [[lit(getattr(r, c)) for c in FAILED_COLUMNS] for r in bad.itertuples()])]
