"""`python -m bench report`: the results folder rendered as reports/index.md (tables per problem).

Tables: per problem and suite, one row per (estimator, backend, depth, batch size, n_samples) with the
overall metrics and their standard errors; failed cells listed with their status.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.store import read_results

GRADIENT_METRICS = ["bias", "variance", "mse", "snr", "cosine"]
SPEED_METRICS = ["time", "time_iqr", "compile_time", "time_ratio_to_floor", "peak_host_memory"]
KEYS = ["estimator", "backend", "depth", "batch_size", "n_samples"]


def _fmt(value: float, stderr: float | None = None) -> str:
    if pd.isna(value):
        return "n/a"
    text = f"{value:.4g}"
    return text if stderr is None or pd.isna(stderr) else f"{text} ± {stderr:.2g}"


def _table(df: pd.DataFrame, metrics: list[str], with_se: bool) -> str:
    ok = df[(df.status == "ok") & (df.param_group == "all") & df.metric.isin(metrics)]
    if ok.empty:
        return "_no successful cells_\n"
    cells = ok.assign(text=[_fmt(v, s if with_se else None) for v, s in zip(ok.value, ok.stderr)])
    wide = cells.pivot_table(index=KEYS, columns="metric", values="text", aggfunc="last")
    wide = wide[[m for m in metrics if m in wide.columns]].reset_index()
    head = "| " + " | ".join(wide.columns) + " |\n|" + "---|" * len(wide.columns) + "\n"
    return head + "".join("| " + " | ".join(str(v) for v in row) + " |\n" for row in wide.itertuples(index=False))


def render(results: Path, out: Path) -> Path:
    df = read_results(results)
    lines = ["# Monte Carlo gradient estimators: results\n",
             f"{df.cell_id.nunique()} cells from `{results}`; runs: {', '.join(sorted(df.run_id.unique()))}.\n",
             "Bias is noise-floor corrected (an unbiased estimator shows a bias consistent with 0); "
             "values are `value ± standard error`. Time is the median seconds per gradient estimate.\n"]
    for (suite, problem), part in df.groupby(["suite", "problem"], sort=True):
        metrics = GRADIENT_METRICS if suite == "gradients" else SPEED_METRICS
        lines += [f"\n## {suite}: {problem}\n", _table(part, metrics, with_se=suite == "gradients")]
    failed = df[df.status != "ok"].drop_duplicates("cell_id")
    if not failed.empty:
        lines.append("\n## Failed cells\n")
        lines += [f"- [{r.status}] {r.suite} {r.problem} {r.estimator} {r.backend} depth={r.depth}: {r.message}\n"
                  for r in failed.itertuples()]
    path = out / "index.md"
    path.write_text("".join(lines))
    return path
