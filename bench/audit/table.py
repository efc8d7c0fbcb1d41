"""The audit's table: one row per (implementation, estimator, problem), its claim, bias and verdict.

Read from the audit cells' rows (suite "audit"), so `bench report` renders it from a results folder and
`bench audit` prints it after a run. The verdicts are explained in bench/audit/__init__.py.
"""

from __future__ import annotations

import importlib
import json

import numpy as np
import pandas as pd

from bench.audit import ADAPTER_MODULES, PROBLEMS
from estimators import catalog

COLUMNS = ["implementation", "estimator", "problem", "estimates", "claimed", "bias_sq ± SE (z)", "max |z| / bound",
           "variance", "verdict"]
NUMERIC = [False, False, False, True, False, True, True, True, False]


def verdict(claims_unbiased: bool, max_z: float, bound: float) -> str:
    if not np.isfinite(max_z):
        return "no result"
    if claims_unbiased:
        return "unbiased, as claimed" if max_z <= bound else "BIASED, claims unbiased"
    return "biased, as documented" if max_z > bound else "no bias detected"


def _variant(problem: str, params: str) -> str:
    pp = json.loads(params)
    own = PROBLEMS.get(problem, {})
    return problem + "".join(f":{k}={pp[k]}" for k in own if k in pp)


def command(estimator: str, problem: str, estimates: int = 2000) -> str:
    """The command that reruns one row of the table."""
    more = f" --n-estimates {estimates}" if estimates != 2000 else ""
    return f"python -m bench audit --adapters {estimator} --problems {problem}{more}"


def _value(cell: pd.DataFrame, metric: str) -> int:
    found = cell[cell.metric == metric].value
    return int(found.iloc[0]) if len(found) and np.isfinite(found.iloc[0]) else 0


def audit_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The table as a frame (one row per audit cell), failed cells included with their message."""
    audit = rows[rows.suite == "audit"]
    out = []
    for _, cell in audit.groupby("cell_id"):
        first = cell.iloc[0]
        claimed = _claims_unbiased(first.estimator)
        ok = (cell.status == "ok").all()
        bias = cell[(cell.metric == "bias_sq") & (cell.param_group == "all")]
        var = cell[(cell.metric == "variance") & (cell.param_group == "all")]
        worst = cell[cell.metric == "max_abs_z"]
        value, se = (float(bias.value.iloc[0]), float(bias.stderr.iloc[0])) if ok and len(bias) else (np.nan, np.nan)
        max_z, bound = (float(worst.value.iloc[0]), float(worst.stderr.iloc[0])) if ok and len(worst) else (
            np.nan, np.nan)
        out.append({
            "implementation": first.estimator_version.split("+")[0], "estimator": first.estimator,
            "problem": _variant(first.problem, first.problem_params), "depth": int(first.depth),
            "estimates": _value(cell, "estimates"),
            "claimed": "unbiased" if claimed else "biased", "bias_sq": value, "se": se,
            "z": value / se if se > 0 else np.nan, "max_z": max_z, "bound": bound,
            "variance": float(var.value.iloc[0]) if ok and len(var) else np.nan,
            "verdict": verdict(claimed, max_z, bound) if ok else f"failed ({first.status}): {first.message}",
            "command": command(first.estimator, first.problem, _value(cell, "estimates") or 2000),
        })
    frame = pd.DataFrame(out)
    return frame.sort_values(["implementation", "estimator", "problem"]) if len(frame) else frame


def _claims_unbiased(estimator: str) -> bool:
    """What the implementation claims: its adapter's declaration (read whether or not its library is installed),
    else the catalog's spec (a plug-in audited the same way)."""
    for name in ADAPTER_MODULES:
        try:
            declared = importlib.import_module(f"bench.audit.{name}").ADAPTERS
        except Exception:  # noqa: BLE001 - a broken adapter is a note of `bench audit`, not the report's concern
            continue
        for adapter in declared:
            if adapter.name == estimator:
                return adapter.estimator.spec.unbiased
    return catalog.spec(estimator).unbiased if estimator in catalog.names() else True


def cells_of(frame: pd.DataFrame) -> list[list[str]]:
    """The table's text cells, as the report and the CLI print them."""
    def num(x: float, digits: int = 3) -> str:
        return "—" if not np.isfinite(x) else f"{x:.{digits}g}"

    return [[r.implementation, r.estimator, r.problem, str(r.estimates), r.claimed,
             "—" if not np.isfinite(r.bias_sq) else f"{r.bias_sq:.3g} ± {r.se:.2g} ({r.z:.1f})",
             "—" if not np.isfinite(r.max_z) else f"{r.max_z:.2f} / {r.bound:.2f}", num(r.variance), r.verdict]
            for r in frame.itertuples()]


def markdown(frame: pd.DataFrame) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells_of(frame)]
    return "\n".join(lines)
