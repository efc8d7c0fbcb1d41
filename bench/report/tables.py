"""The report's tables, as Table blocks: rankings, torch beside JAX, seed findings, failed cells, environment."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from bench.report import style
from bench.report.data import describe, hold
from bench.report.doc import Block, Para, Table

FIXED = ("device", "depth", "batch_size", "n_samples")


def fmt(value: Any, se: Any = None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{value:.3g}"
    return text if se is None or pd.isna(se) else f"{text} ± {se:.2g}"


def _order(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    rank = {e: i for i, e in enumerate(style.estimator_order(list(frame.estimator)))}
    return frame.assign(_cat=frame.estimator.map(rank)).sort_values([by, "_cat", "backend"], na_position="last")


def rankings(overall: pd.DataFrame, eff: pd.DataFrame) -> list[Block]:
    """Estimators ranked by mse, and (where times exist for the same configuration) by variance × time."""
    grads, held = hold(overall, [], FIXED, prefer=eff)
    if grads.empty:
        return []
    keys = ["label", "backend", *FIXED]  # each line's own held values (rloo keeps n_samples >= 2)
    grads = grads.merge(eff[keys + ["time", "work_variance"]], on=keys, how="left")
    timed = grads[grads.work_variance.notna()]
    columns = ["rank", "estimator", "backend", "mse", "bias", "variance", "snr", "cosine"]
    columns += ["time / estimate (s)", "variance × time (grad²·s)"] if len(timed) else []

    def table(frame: pd.DataFrame) -> Table:
        rows = [[str(i + 1), r.label, r.backend, fmt(r.mse, r.mse_se), fmt(r.bias, r.bias_se),
                 fmt(r.variance, r.variance_se), fmt(r.snr, r.snr_se), fmt(r.cosine, r.cosine_se)]
                + ([fmt(r.time), fmt(r.work_variance)] if len(timed) else []) for i, r in enumerate(frame.itertuples())]
        return Table(columns, rows, [True, False, False] + [True] * (len(columns) - 3))

    out: list[Block] = [Para(f"Ranked by mse ({describe(held)}); values are `value ± standard error`:"),
                        table(_order(grads, "mse"))]
    if len(timed):
        out += [Para("Ranked by work-normalised variance (variance × time per estimate: the variance one second "
                     "of compute buys, lower is better):"), table(_order(timed, "work_variance"))]
    return out


def backends(overall: pd.DataFrame, speeds: pd.DataFrame) -> list[Block]:
    """The same estimator in torch and in JAX, side by side (only when both backends ran)."""
    if set(overall.backend) < {"torch", "jax"}:
        return []
    grads, held_g = hold(overall, [], FIXED)
    times, held_s = hold(speeds, [], FIXED) if len(speeds) else (speeds, {})
    per = {b: grads[grads.backend == b].set_index("label") for b in ("torch", "jax")}
    clock = {b: times[times.backend == b].set_index("label") for b in ("torch", "jax")}
    labels = [lab for lab in per["torch"].index if lab in per["jax"].index]
    if not labels:
        return []
    estimator = per["torch"].estimator
    order = style.estimator_order(list(estimator))
    labels.sort(key=lambda lab: (order.index(estimator[lab]), lab))
    rows = []
    for lab in labels:
        t, j = per["torch"].loc[lab], per["jax"].loc[lab]
        tt = clock["torch"].time.get(lab) if len(times) else None
        tj = clock["jax"].time.get(lab) if len(times) else None
        cj = clock["jax"].compile_time.get(lab) if len(times) else None
        ratio = tt / tj if tt is not None and tj and pd.notna(tt) else None
        rows.append([lab, fmt(t.variance, t.variance_se), fmt(j.variance, j.variance_se), fmt(t.bias, t.bias_se),
                     fmt(j.bias, j.bias_se), fmt(tt), fmt(tj), fmt(cj), fmt(ratio)])
    columns = ["estimator", "variance torch", "variance JAX", "bias torch", "bias JAX", "time torch (s)",
               "time JAX (s)", "JAX compile (s)", "time torch / JAX"]
    note = f"Torch (eager) beside JAX (jit-compiled). Gradients: {describe(held_g)}"
    note += f"; times: {describe(held_s)}." if held_s else "; no speed results."
    return [Para(note), Table(columns, rows, [False] + [True] * 8)]


def findings(rows: pd.DataFrame) -> list[Block]:
    """Seed 002's conclusions against what the suite found (bench.findings, present with the training suite)."""
    try:
        from bench.findings import compare
    except ImportError:
        return [Para("_The seed-findings comparison needs `bench.findings`, which this checkout lacks._")]
    table = compare(rows)
    if table.empty:
        return [Para("_No seed findings could be compared with these results._")]
    columns = ["seed", "experiment", "seed_conclusion", "suite_finding", "agrees"]
    return [Table(["seed", "experiment", "seed's conclusion", "suite's finding", "agrees"],
                  [[str(v) for v in r] for r in table[columns].itertuples(index=False)])]


def failed(cells: pd.DataFrame) -> list[Block]:
    if cells.empty:
        return [Para("None: every cell finished.")]
    columns = ["status", "suite", "problem", "estimator", "backend", "device", "depth", "batch_size", "n_samples",
               "seed", "message"]
    return [Table(columns, [[str(getattr(r, c)) for c in columns] for r in cells.itertuples()])]


def mixed_versions(mixed: pd.DataFrame) -> list[Block]:
    """A warning when one (suite, problem, estimator, backend) has results from several code versions."""
    if mixed.empty:
        return []
    columns = ["suite", "problem", "estimator", "backend", "versions", "cells"]
    return [Para("**Warning: results from different code versions are mixed below.** These combinations have "
                 "cells written by different versions of their estimator, problem or suite code (a version is a "
                 "hash of the source; `python -m bench run ... --resume` reruns the stale cells):"),
            Table(columns, [[str(getattr(r, c)) for c in columns] for r in mixed.itertuples()])]


def environment(metas: list[dict[str, Any]]) -> list[Block]:
    """One row per run (invocation): code version, package versions, hardware and the command line."""
    runs: dict[str, dict[str, Any]] = {}
    files: Counter = Counter()
    for m in metas:
        run = str(m.get("run_id", "?"))
        runs.setdefault(run, m)
        files[run] += 1
    if not runs:
        return [Para("No run metadata found.")]
    rows = []
    for run, m in sorted(runs.items()):
        v = m.get("versions") or {}
        sha = str(m.get("git_sha") or "?")[:10] + (" (dirty)" if m.get("git_dirty") else "")
        names = m.get("device_names") or {}
        device = str(m.get("device", "?")) + (f" ({', '.join(f'{k}: {n}' for k, n in names.items())})"
                                              if names else "")
        rows.append([run, str(files[run]), sha, str(m.get("python", "?")), str(v.get("torch")), str(v.get("jax")),
                     str(v.get("jaxlib")), str(v.get("numpy")), str(m.get("cpu", "?")), device,
                     f"`{' '.join(map(str, m['argv']))}`" if m.get("argv") else ""])
    columns = ["run", "files", "git sha", "python", "torch", "jax", "jaxlib", "numpy", "cpu", "device", "arguments"]
    return [Table(columns, rows)]
