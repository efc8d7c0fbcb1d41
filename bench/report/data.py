"""Results folder -> tidy frames the plots and tables share.

Long rows become one row per configuration with a column per metric (and `<metric>_se`); seeds are averaged;
gradients and speed rows are joined on their configuration to give work-normalised variance (variance × time
per estimate). Columns added to the schema later (`lr`, `options`, `experiment`) default when a file lacks them,
so results written by older code still render.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.report import files, labels
from bench.report.markup import lit

GRADIENT_METRICS = ["bias", "bias_sq", "variance", "mse", "snr", "cosine"]
SPEED_METRICS = ["time", "time_iqr", "compile_time", "peak_host_memory", "peak_device_memory", "time_ratio_to_floor",
                 "floor_time", "ratio_iqr", "stable", "threads", "load", "estimate_memory"]
# the held-out metrics every problem declares (bench.problems.PROBLEMS[p].metrics), after the loss
TRAINING_METRICS = list(labels.metrics())
# A configuration: what stays fixed while seeds vary. `variant` is the options other than the gradient point.
CONFIG = ["view", "problem", "problem_params", "estimator", "variant", "label", "backend", "device", "depth",
          "batch_size", "n_samples"]
DEFAULTS: dict[str, Any] = {"lr": np.nan, "options": "{}", "experiment": ""}
# issue 11's speed figures: the stability verdict, the floor, one estimate's memory, the run's conditions.
# Kept apart from the list above (and deduplicated) so another branch adding names there merges cleanly.
SPEED_METRICS = list(dict.fromkeys(SPEED_METRICS + [
    "stable", "floor_time", "time_ratio_to_floor", "ratio_iqr", "estimate_memory", "recompilations", "load",
    "threads"]))
# A speed configuration's timing verdict. Unknown: the cell predates the check (no `stable` row).
STABLE, UNSTABLE, UNKNOWN = "stable", "unstable", "unknown"
MARKS = {STABLE: "", UNSTABLE: " †", UNKNOWN: " ‡"}


@dataclass
class Results:
    rows: pd.DataFrame  # every row, normalised
    metas: list[dict[str, Any]]  # run metadata, one per readable file


def parse_options(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) and text else {}
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _compact(d: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items()))


def _views(df: pd.DataFrame) -> pd.Series:
    """The problem's name, plus the parameters that differ from its defaults (bench.report.labels)."""
    out = df.problem.astype(object).copy()
    for problem, part in df.groupby("problem"):
        names = labels.views(str(problem), [str(p) for p in part.problem_params.unique()])
        out[part.index] = part.problem_params.astype(str).map(names)
    return out.astype(str)


def normalise(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    for column, default in DEFAULTS.items():
        df[column] = df[column].fillna(default) if column in df else default
    df["lr"] = df.lr.astype(float)
    df["step"] = df.step.astype(float)
    opts = df.options.map(parse_options)
    # the gradient point (init / partly trained) splits sections; the other options make an estimator variant
    df["point"] = opts.map(lambda d: str(d.get("point", "init")))
    df["variant"] = opts.map(lambda d: _compact({k: v for k, v in d.items() if k != "point"}))
    df["label"] = np.where(df.variant == "", df.estimator, df.estimator + " (" + df.variant + ")")
    df["view"] = _views(df) if len(df) else df.problem
    return df


def load(folder: Path) -> Results:
    """Every bench results file's rows and metadata; each file skipped is named in a warning (bench.report.files)."""
    rows, metas = files.read(folder)
    return Results(normalise(rows), metas)


def wide(rows: pd.DataFrame, metrics: list[str], extra: list[str]) -> pd.DataFrame:
    """One row per configuration (+extra keys), seeds averaged; a mean's stderr combines the seeds' stderrs."""
    keys = CONFIG + extra
    ok = rows[(rows.status == "ok") & rows.metric.isin(metrics)]
    if ok.empty:
        return pd.DataFrame(columns=keys + metrics + [f"{m}_se" for m in metrics])
    # the mean of n seeds' values has stderr sqrt(sum se^2) / n; NaN when no seed has a stderr
    ok = ok.assign(se2=ok.stderr**2, has_se=ok.stderr.notna())
    per = ok.groupby(keys + ["metric"], dropna=False).agg(
        value=("value", "mean"), se2=("se2", "sum"), n=("value", "size"), has_se=("has_se", "any"))
    per = per.assign(se=np.sqrt(per.se2) / per.n).drop(columns=["se2", "n"])
    per.loc[~per.has_se, "se"] = np.nan
    per = per.drop(columns="has_se")
    out = per.unstack("metric")
    out.columns = [m if stat == "value" else f"{m}_se" for stat, m in out.columns]
    for m in metrics:
        for c in (m, f"{m}_se"):
            if c not in out:
                out[c] = np.nan
    return out.reset_index()


def gradients(rows: pd.DataFrame) -> pd.DataFrame:
    """Gradient metrics per configuration, gradient point and parameter group; the papers' claims' cells
    (tagged with their claim) have their own table, so they never double a configuration of the grid."""
    own = rows.experiment.fillna("") == "" if "experiment" in rows else True
    return wide(rows[(rows.suite == "gradients") & own], GRADIENT_METRICS, ["point", "param_group"])


def stability(frame: pd.DataFrame) -> pd.Series:
    """Per speed configuration: stable when every seed's timing was (the seeds' mean of 1/0 verdicts is 1),
    unstable when one was not, unknown when no seed recorded a verdict."""
    verdict = frame["stable"] if "stable" in frame else pd.Series(np.nan, index=frame.index)
    verdict = verdict.astype(float)
    labels = np.select([verdict.isna(), verdict >= 1 - 1e-9], [UNKNOWN, STABLE], UNSTABLE)
    return pd.Series(labels, index=frame.index, dtype=object)


def mark(verdict: str) -> str:
    """The suffix a speed figure carries in tables: none when stable, † unstable, ‡ unknown."""
    return MARKS.get(verdict, "")


def speed(rows: pd.DataFrame) -> pd.DataFrame:
    """Speed metrics per configuration, with `stability` (STABLE / UNSTABLE / UNKNOWN)."""
    frame = wide(rows[rows.suite == "speed"], SPEED_METRICS, [])
    return frame.assign(stability=stability(frame))


def efficiency(grads: pd.DataFrame, speeds: pd.DataFrame) -> pd.DataFrame:
    """Overall gradient metrics joined with time per estimate on the same configuration: variance × time.

    `ranked` is whether the time may be ranked on (its timing was stable): the others are shown, marked, and
    left out of every ranking and Pareto front.
    """
    overall = grads[grads.param_group == "all"].drop(columns="param_group")
    if "stability" not in speeds:
        speeds = speeds.assign(stability=stability(speeds))
    joined = overall.merge(speeds[CONFIG + ["time", "time_se", "stability"]], on=CONFIG, how="inner")
    joined = joined[joined.variance.notna() & joined.time.notna()]
    return joined.assign(work_variance=joined.variance * joined.time, ranked=joined.stability == STABLE)


def training(rows: pd.DataFrame) -> pd.DataFrame:
    """Training rows with their seed's training time at the same step beside each metric value."""
    train = rows[(rows.suite == "training") & (rows.status == "ok") & rows.step.notna()]
    keys = CONFIG + ["lr", "options", "experiment", "seed", "step"]
    values = train[train.metric.isin(TRAINING_METRICS)]
    clock = train[train.metric == "train_time"].groupby(keys, dropna=False).value.mean().rename("train_time")
    return values.merge(clock.reset_index(), on=keys, how="left")


def pick(frame: pd.DataFrame, column: str) -> Any:
    """The value of `column` most configurations share (ties: the largest): the slice plots hold fixed."""
    counts = frame[column].value_counts()
    return max(counts[counts == counts.max()].index)


def hold(frame: pd.DataFrame, free: list[str], fixed: tuple[str, ...] = ("depth", "batch_size", "n_samples"),
         prefer: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict[str, str]]:
    """Rows where each `fixed` dimension (but the `free` ones) is at its usual value, and those values as text.

    The usual value is the one most rows share (ties: the largest) in `prefer` if given and it has that value
    among `frame`'s, else in `frame`: a table of gradients can so sit where speed was measured too.
    An estimator that never ran at that value (rloo needs n_samples >= 2) keeps its own usual value instead,
    named in the text, so a plot or table never silently drops it.
    """
    held: dict[str, str] = {}
    for c in fixed:
        if c in free or c not in frame or frame.empty:
            continue
        usual = pick(frame, c)
        if prefer is not None and len(prefer) and pick(prefer, c) in set(frame[c]):
            usual = pick(prefer, c)
        parts, own = [], {}
        for (label, _), line in frame.groupby(["label", "backend"], sort=False):
            value = usual if (line[c] == usual).any() else pick(line, c)
            parts.append(line[line[c] == value])
            if value != usual:
                own[label] = value
        frame = pd.concat(parts)
        held[c] = f"{usual}" + (f" ({', '.join(f'{k}: {v}' for k, v in sorted(own.items()))})" if own else "")
    return frame, held


def varies(frame: pd.DataFrame, column: str) -> bool:
    """Whether some estimator's line has several values of `column` (so a plot against it shows a trend)."""
    return len(frame) > 0 and frame.groupby(["label", "backend"])[column].nunique().max() > 1


def describe(held: dict[str, str]) -> str:
    """What a plot or table holds fixed, as block text (the values are from results: literal)."""
    return ", ".join(f"{k} = {lit(v)}" for k, v in held.items())
