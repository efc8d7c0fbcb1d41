"""Other libraries' estimators against exact truths (bench.audit, results of suite "audit").

Near the top: the findings in one short table, an implementation's estimator per row with every problem it
failed on (biased though it claims to be unbiased, or a run that did not complete) and the command that
reproduces it. In the details: the audit's whole table (bench.audit.table).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report.doc import Block, Bullets, Heading, Para, Table
from bench.report.markup import code, lit

WRONG = ("BIASED", "failed")
COLUMNS = ["implementation", "estimator", "finding", "problems (max |z| / bound)", "reproduce"]


def _table(rows: pd.DataFrame) -> pd.DataFrame:
    from bench.audit.table import audit_rows

    return audit_rows(rows)


def _counts(table: pd.DataFrame) -> str:
    kinds = table.verdict.map(lambda v: "failed" if str(v).startswith("failed") else str(v)).value_counts()
    return "; ".join(f"{n} {lit(k)}" for k, n in kinds.items())


def _where(part: pd.DataFrame) -> str:
    return ", ".join(lit(r.problem) + (f" ({r.max_z:.1f} / {r.bound:.1f})" if np.isfinite(r.max_z) else "")
                     for r in part.itertuples())


def findings(rows: pd.DataFrame) -> list[Block]:
    """The audit's findings: counts by verdict, then what it found wrong, one row per implementation."""
    from bench.audit.table import command

    table = _table(rows)
    if not len(table):
        return []
    out: list[Block] = [Heading(2, "Audit findings"),
                        Para(f"{len(table)} audited (implementation, estimator, problem) rows against exact "
                             f"gradients: {_counts(table)}. The whole table is in the details "
                             "([Audit](#audit-other-libraries-estimators-against-exact-truths)).")]
    wrong = table[table.verdict.astype(str).str.startswith(WRONG)]
    if wrong.empty:
        return out + [Para("Nothing found wrong: every implementation that claims to be unbiased is, within the "
                           "test's power, and every run completed.")]
    found = []
    for (impl, estimator, kind), part in wrong.groupby(
            ["implementation", "estimator", wrong.verdict.astype(str).str.split(":").str[0]], sort=True):
        problems = ",".join(dict.fromkeys(str(p).split(":")[0] for p in part.problem))
        estimates = int(part.estimates.max()) or 2000
        found.append([lit(impl), f"**{lit(estimator)}**", lit(kind), _where(part),
                      code(command(str(estimator), problems, estimates))])
    return out + [Table(COLUMNS, found)]


def details(rows: pd.DataFrame) -> list[Block]:
    """The audit's whole table, then each thing it found wrong with its command."""
    from bench.audit.table import COLUMNS as ALL
    from bench.audit.table import NUMERIC, cells_of

    table = _table(rows)
    if not len(table):
        return [Para("No audit results here (`python -m bench audit` writes them to results/<machine>/audit/).")]
    wrong = table[table.verdict.astype(str).str.startswith(WRONG)]
    found = [f"**{lit(r.estimator)}** on {lit(r.problem)}: {lit(r.verdict)}"
             + (f" (max |z| {r.max_z:.1f}, bound {r.bound:.1f})" if str(r.verdict).startswith("BIASED") else "")
             + f"; reproduce: {code(r.command)}" for r in wrong.itertuples()]
    right = table[table.verdict == "unbiased, as claimed"]
    return [Para(f"Each implementation samples the problem by itself (a black box, bench/audit/) and its estimates "
                 f"meet the exact gradient in two z-tests: bias_sq / SE, the test every gradients cell carries, and "
                 f"the verdict's, the largest per-coordinate |z| against its Bonferroni bound (a false alarm once in "
                 f"a thousand cells). {len(right)} of {len(table)} rows are unbiased as claimed."),
            Table([lit(c) for c in ALL], [[lit(c) for c in row] for row in cells_of(table)], NUMERIC),
            Bullets(found) if found else Para("Nothing found wrong: every implementation that claims to be "
                                              "unbiased is, within the test's power, and every run completed.")]
