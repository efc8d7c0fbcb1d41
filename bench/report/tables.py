"""The report's tables, as Table blocks: rankings, torch beside JAX, speed, seed findings, claims, environment.

Every value from results goes in through `markup.lit` (or `markup.code`): it is text, never markup."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from bench.report import style
from bench.report.data import STABLE, UNKNOWN, UNSTABLE, describe, hold, mark
from bench.report.doc import Block, Para, Table
from bench.report.markup import code, lit

FIXED = ("device", "depth", "batch_size", "n_samples")


def fmt(value: Any, se: Any = None) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    text = f"{value:.3g}"
    return text if se is None or pd.isna(se) else f"{text} ± {se:.2g}"


def _order(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    rank = {e: i for i, e in enumerate(style.estimator_order(list(frame.estimator)))}
    return frame.assign(_cat=frame.estimator.map(rank)).sort_values([by, "_cat", "backend"], na_position="last")


def _listed(frame: pd.DataFrame) -> pd.DataFrame:
    """Catalog order, then label and backend: for rows shown without a rank."""
    rank = {e: i for i, e in enumerate(style.estimator_order(list(frame.estimator)))}
    columns = ["_cat", "label", "backend"] + (["device"] if "device" in frame else [])
    return frame.assign(_cat=frame.estimator.map(rank)).sort_values(columns)


def timed(value: Any, verdict: str, se: Any = None) -> str:
    """A speed figure with its stability mark († unstable, ‡ unknown); n/a carries none."""
    text = fmt(value, se)
    return text if text == "n/a" else text + mark(verdict)


def rankings(overall: pd.DataFrame, eff: pd.DataFrame) -> list[Block]:
    """Estimators ranked by mse, and (where times exist for the same configuration) by variance × time.

    Only stable timings are ranked on; the others are listed after the ranked rows, marked, without a rank.
    """
    grads, held = hold(overall, [], FIXED, prefer=eff)
    if grads.empty:
        return []
    keys = ["label", "backend", *FIXED]  # each line's own held values (rloo keeps n_samples >= 2)
    grads = grads.merge(eff[keys + ["time", "work_variance", "stability"]], on=keys, how="left")
    has_time = grads[grads.work_variance.notna()]
    columns = ["rank", "estimator", "backend", "mse", "bias", "variance", "snr", "cosine"]
    columns += ["time / estimate (s)", "variance × time (grad²·s)"] if len(has_time) else []

    def table(frame: pd.DataFrame, ranks: list[str]) -> Table:
        rows = [[rank, lit(r.label), lit(r.backend), fmt(r.mse, r.mse_se), fmt(r.bias, r.bias_se),
                 fmt(r.variance, r.variance_se), fmt(r.snr, r.snr_se), fmt(r.cosine, r.cosine_se)]
                + ([timed(r.time, r.stability), timed(r.work_variance, r.stability)] if len(has_time) else [])
                for rank, r in zip(ranks, frame.itertuples())]
        return Table(columns, rows, [True, False, False] + [True] * (len(columns) - 3))

    by_mse = _order(grads, "mse")
    out: list[Block] = [Para(f"Ranked by mse ({describe(held)}); values are `value ± standard error`:"),
                        table(by_mse, [str(i + 1) for i in range(len(by_mse))])]
    if len(has_time):
        stable = _order(has_time[has_time.stability == STABLE], "work_variance")
        rest = _listed(has_time[has_time.stability != STABLE])  # not ranked, so not in a ranking's order
        text = ("Ranked by work-normalised variance (variance × time per estimate: the variance one second of "
                "compute buys, lower is better), stable timings only")
        text += (": unstable (†) or unknown-stability (‡) timings follow, unranked." if len(rest) else ":")
        if stable.empty:  # the table above already holds every figure: a second copy would only repeat it
            return out + [Para("Not ranked by work-normalised variance: no timing at this configuration was "
                               "stable († unstable, ‡ unknown stability); the times and variance × time above are "
                               "for reference only.")]
        out += [Para(text), table(pd.concat([stable, rest]), [str(i + 1) for i in range(len(stable))]
                                  + ["–"] * len(rest))]
    return out


def _clock(times: pd.DataFrame, backend: str, label: str, column: str) -> tuple[Any, str]:
    """(value, stability) of `label`'s `column` in `backend`'s speed row; (None, STABLE) when it has none."""
    row = times[(times.backend == backend) & (times.label == label)]
    if row.empty or column not in row:
        return None, STABLE
    return row[column].iloc[0], row.stability.iloc[0]


def _worst(*verdicts: str) -> str:
    """The mark a figure derived from several timings carries: unstable over unknown over stable."""
    return next((v for v in (UNSTABLE, UNKNOWN) if v in verdicts), STABLE)


def backends(overall: pd.DataFrame, speeds: pd.DataFrame) -> list[Block]:
    """The same estimator in torch and in JAX, side by side (only when both backends ran); torch-compile's time
    beside them where the speed suite ran it."""
    if set(overall.backend) < {"torch", "jax"}:
        return []
    grads, held_g = hold(overall, [], FIXED)
    times, held_s = hold(speeds, [], FIXED) if len(speeds) else (speeds, {})
    per = {b: grads[grads.backend == b].set_index("label") for b in ("torch", "jax")}
    labels = [lab for lab in per["torch"].index if lab in per["jax"].index]
    if not labels:
        return []
    estimator = per["torch"].estimator
    order = style.estimator_order(list(estimator))
    labels.sort(key=lambda lab: (order.index(estimator[lab]), lab))
    compiled = len(times) > 0 and (times.backend == "torch-compile").any()
    rows = []
    for lab in labels:
        t, j = per["torch"].loc[lab], per["jax"].loc[lab]
        tt, st = _clock(times, "torch", lab, "time")
        tj, sj = _clock(times, "jax", lab, "time")
        cj, _ = _clock(times, "jax", lab, "compile_time")
        ratio = tt / tj if tt is not None and tj and pd.notna(tt) else None
        row = [lit(lab), fmt(t.variance, t.variance_se), fmt(j.variance, j.variance_se), fmt(t.bias, t.bias_se),
               fmt(j.bias, j.bias_se)]
        row += [timed(tt, st), timed(tj, sj), fmt(cj), timed(ratio, _worst(st, sj))] if len(times) else []
        if compiled:
            tc, sc = _clock(times, "torch-compile", lab, "time")
            row.append(timed(tc, sc))
        rows.append(row)
    columns = ["estimator", "variance torch", "variance JAX", "bias torch", "bias JAX"]
    columns += ["time torch (s)", "time JAX (s)", "JAX compile (s)", "time torch / JAX"] if len(times) else []
    columns += ["time torch-compile (s)"] if compiled else []
    note = f"Torch (eager) beside JAX (jit-compiled). Gradients: {describe(held_g)}"
    note += f"; times: {describe(held_s)}." if held_s else "; no speed results."
    if len(times) and (times.stability != STABLE).any():
        note += " Times marked † were unstable, ‡ of unknown stability: compare them with care."
    return [Para(note), Table(columns, rows, [False] + [True] * (len(columns) - 1))]


def speed(speeds: pd.DataFrame) -> list[Block]:
    """Per estimator, backend and device: time per estimate, its ratio to the floor, one estimate's memory,
    compile time (and recompilations where recorded), and the timing's stability."""
    frame, held = hold(speeds, [], ("depth", "batch_size", "n_samples")) if len(speeds) else (speeds, {})
    if frame.empty:
        return []
    frame = _listed(frame)  # catalog order, not time order: the table lists, it does not rank
    recompiles = "recompilations" in frame and frame.recompilations.notna().any()
    columns = ["estimator", "backend", "device", "time / estimate (s)", "time / floor", "floor (s)",
               "estimate memory (MiB)", "compile (s)"] + (["recompilations"] if recompiles else []) + ["timing"]
    rows = []
    for r in frame.itertuples():
        mib = r.estimate_memory / style.MIB if pd.notna(r.estimate_memory) else None
        row = [lit(r.label), lit(r.backend), lit(r.device), timed(r.time, r.stability, r.time_se),
               timed(r.time_ratio_to_floor, r.stability, r.time_ratio_to_floor_se), timed(r.floor_time, r.stability),
               fmt(mib), fmt(r.compile_time)]
        row += [fmt(r.recompilations)] if recompiles else []
        rows.append(row + [r.stability + mark(r.stability)])
    # a figure no row has (the floor, memory: not measured before the speed suite's rewrite) is left out
    keep = [i for i, c in enumerate(columns) if i < 3 or c == "timing" or any(row[i] != "n/a" for row in rows)]
    columns, rows = [columns[i] for i in keep], [[row[i] for i in keep] for row in rows]
    text = (f"Speed ({describe(held)}): time per estimate ± standard error, its ratio to the floor (the same "
            "model's gradient with every stochastic node replaced by its mean, no sampling) and the memory one "
            "estimate allocates.")
    if (frame.stability != STABLE).any():
        text += " Timings marked † were unstable, ‡ of unknown stability (recorded before the check)."
    return [Para(text), Table(columns, rows, [False, False, False] + [True] * (len(columns) - 4) + [False])]


def findings(rows: pd.DataFrame) -> list[Block]:
    """Seed 002's conclusions against what the suite found (bench.literature.findings, with the training suite)."""
    try:
        from bench.literature.findings import compare
    except ImportError:
        return [Para("The seed-findings comparison needs `bench.literature.findings`, which this checkout lacks.")]
    table = compare(rows)
    if table.empty:
        return [Para("No seed findings could be compared with these results.")]
    columns = ["seed", "experiment", "seed_conclusion", "suite_finding", "agrees"]
    return [Table(["seed", "experiment", "seed's conclusion", "suite's finding", "agrees"],
                  [[lit(v) for v in r] for r in table[columns].itertuples(index=False)])]


def claims(rows: pd.DataFrame) -> list[Block]:
    """The recent estimators' papers' claims against what the gradients suite measured (bench.literature.claims)."""
    from bench.literature.claims import compare

    table = compare(rows)
    if (table.agrees == "n/a").all():
        return [Para("No paper's claim could be checked with these results (`bench run gradients` with a preset "
                     "runs their cells).")]
    columns = ["seed", "experiment", "seed_conclusion", "suite_finding", "agrees"]
    return [Para("Each claim's arms run at one small size with an exact truth (bench/literature/claims.py); a "
                 "claim holds when every ordering it states is beyond two standard errors of the difference. The "
                 "metric is the whole gradient's, averaged over backends."),
            Table(["paper", "claim", "paper's claim", "suite's finding", "agrees"],
                  [[lit(v) for v in r] for r in table[columns].itertuples(index=False)])]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
        v = _dict(m.get("versions"))
        sha = str(m.get("git_sha") or "?")[:10] + (" (dirty)" if m.get("git_dirty") is True else "")
        names = _dict(m.get("device_names"))
        device = str(m.get("device", "?")) + (f" ({', '.join(f'{k}: {n}' for k, n in names.items())})"
                                              if names else "")
        argv = m.get("argv")
        argv = " ".join(map(str, argv)) if isinstance(argv, list) else str(argv or "")
        rows.append([lit(x) for x in (run, files[run], sha, m.get("python", "?"), v.get("torch"), v.get("jax"),
                                      v.get("jaxlib"), v.get("numpy"), m.get("cpu", "?"), device)]
                    + [code(argv) if argv else ""])
    columns = ["run", "files", "git sha", "python", "torch", "jax", "jaxlib", "numpy", "cpu", "device", "arguments"]
    return [Table(columns, rows)]
