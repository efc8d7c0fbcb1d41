"""`python -m bench compare OLD NEW`: two results folders side by side, as `asv continuous` and pytest-benchmark's
`--benchmark-compare-fail` compare two runs, with an exit code for CI.

Cells are matched by cell id (the same Cell, hence the same Parquet file name), else by their configuration:
suite, problem, problem_params, estimator, backend, device, depth, batch_size, n_samples and options (so a run
with another estimate count or seed still meets its reference), with experiment and seed to tell apart cells
that share one. For every matched pair, on the whole gradient (param_group "all"):

  variance  ratio new / old and z = (new - old) / sqrt(se_old^2 + se_new^2). A regression when the ratio is
            above `max_variance_ratio` and z above `z`; an improvement in the mirror case.
  bias_sq   each side's test of unbiasedness, z_b = bias_sq / SE (its stored SE is the one under no bias, so
            this is the suite's own z-test). A regression when a cell becomes biased (z_b below `z` in OLD, at
            or above it in NEW, and bias_sq up); when biased on both sides, when bias_sq grows by more than
            `max_bias_ratio` with the change's z above `z`. The change's SE takes each side's full standard
            error, max(SE under no bias, 2 bias SE(bias)) (the delta method through the `bias` row, which
            carries the covariance term 4 d'Cd that the SE under no bias leaves out).
  time      speed cells (suite "speed"), metric `time` (or `time_ratio_to_floor`, which compares machines of
            different speeds): ratio new / old, counted only where both timings are stable (metric `stable`
            is 1); a regression above `max_time_ratio`. The protocol's stability bounds are the significance
            test here: an unstable time is reported, never judged (as asv and pytest-benchmark judge ratios).
  status    a cell that ran (`ok`) in OLD and failed in NEW is a regression; one that now runs, an improvement.

Each change names the code that differs between the two rows (estimator_version, problem_version,
suite_version): a change with none is the machine, the libraries or chance. `main` renders a Markdown report
(summary, regressions, improvements, optionally every comparison) and returns 1 when a regression passes the
thresholds, else 0; bad input is one line naming the valid choices, and 2. Training cells are compared by
status alone (their curves are the report's).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pandas as pd

from bench.store.parquet import read_results

KEY = ("suite", "problem", "problem_params", "estimator", "backend", "device", "depth", "batch_size", "n_samples",
       "options")
TIEBREAK = ("experiment", "seed")
VERSIONS = ("estimator_version", "problem_version", "suite_version")
TIME_METRICS = ("time", "time_ratio_to_floor")
GRADIENT_METRICS = ("variance", "bias_sq", "bias")
VALUE_METRICS = (*GRADIENT_METRICS, *TIME_METRICS, "stable")
VERDICTS = ("regression", "improvement", "unchanged", "not judged")


class UsageError(ValueError):
    """Bad input: one line naming the valid choices; `main` prints it and returns 2."""


@dataclass(frozen=True)
class Thresholds:
    """What counts as a regression (the command's options)."""

    max_variance_ratio: float = 1.5
    max_bias_ratio: float = 1.5
    max_time_ratio: float = 1.2
    z: float = 4.0
    time_metric: str = "time"
    atol: float = 1e-8  # squared gradient units: standard errors of variance and bias_sq are floored at it

    def describe(self) -> str:
        return (f"variance up more than {self.max_variance_ratio:g}x at z > {self.z:g}; bias_sq newly beyond "
                f"z = {self.z:g} (its test of unbiasedness), or up more than {self.max_bias_ratio:g}x at z > "
                f"{self.z:g}; `{self.time_metric}` up more than {self.max_time_ratio:g}x, stable timings only; "
                f"a cell that ran and now fails (standard errors of variance and bias_sq floored at {self.atol:g})")


@dataclass(frozen=True)
class Change:
    """One compared figure of one matched pair of cells."""

    metric: str
    old: float
    new: float
    old_se: float = math.nan
    new_se: float = math.nan
    ratio: float = math.nan
    z: float = math.nan
    verdict: str = "unchanged"
    what: str = ""


@dataclass
class Pair:
    """A cell of OLD and its match in NEW, with what changed between them."""

    old: pd.Series
    new: pd.Series
    matched_by: str  # "cell id" or "configuration"
    changes: list[Change] = field(default_factory=list)

    @property
    def code_changed(self) -> list[str]:
        return [v.removesuffix("_version") for v in VERSIONS if _text(self.old.get(v)) != _text(self.new.get(v))]

    def code(self) -> str:
        """The version change that may explain a difference, e.g. `estimator 8c04562f -> 1a2b3c4d`."""
        moved = [f"{name} {_text(self.old.get(name + '_version'))[:8] or '?'} -> "
                 f"{_text(self.new.get(name + '_version'))[:8] or '?'}" for name in self.code_changed]
        return "; ".join(moved) if moved else "none (machine, libraries or chance)"


@dataclass
class Comparison:
    old_path: Path
    new_path: Path
    old_cells: int
    new_cells: int
    pairs: list[Pair]
    only_old: int
    only_new: int
    ambiguous: int
    thresholds: Thresholds

    def changes(self, verdict: str) -> list[tuple[Pair, Change]]:
        return [(p, c) for p in self.pairs for c in p.changes if c.verdict == verdict]

    @property
    def regressions(self) -> list[tuple[Pair, Change]]:
        return self.changes("regression")


def _text(value: Any) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _finite(*values: float) -> bool:
    return all(v is not None and math.isfinite(v) for v in values)


def _ratio(new: float, old: float) -> float:
    if old == 0:
        return 1.0 if new == 0 else math.inf * (1 if new > 0 else -1)
    return new / old


def _z(new: float, old: float, new_se: float, old_se: float) -> float:
    """(new - old) over the standard error of the difference; +-inf when both SEs are 0 and the values differ."""
    se = math.hypot(old_se if _finite(old_se) else math.nan, new_se if _finite(new_se) else math.nan)
    if not math.isfinite(se):
        return math.nan
    if se == 0:
        return 0.0 if new == old else math.copysign(math.inf, new - old)
    return (new - old) / se


# --- reading ----------------------------------------------------------------------------------------------------


def cells(df: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: its configuration, versions and status, and the figures compared (value and SE of
    variance, bias_sq and bias on group "all"; the speed metrics), indexed by cell id."""
    if df.empty:
        return pd.DataFrame(columns=[*KEY, *TIEBREAK, *VERSIONS, "status", "message"])
    df = df.copy()
    for col in (*KEY, *TIEBREAK, *VERSIONS, "status", "message"):
        if col not in df:
            df[col] = ""
    meta = df.groupby("cell_id", sort=True)[[*KEY, *TIEBREAK, *VERSIONS]].first()
    failed = df[df["status"].fillna("ok") != "ok"].groupby("cell_id")[["status", "message"]].first()
    meta["status"] = failed["status"].reindex(meta.index).fillna("ok")
    meta["message"] = failed["message"].reindex(meta.index).fillna("")
    figures = df[df["metric"].isin(VALUE_METRICS) & (df["param_group"].fillna("all") == "all")
                 & df["step"].isna()]
    if not figures.empty:
        last = figures.groupby(["cell_id", "metric"])[["value", "stderr"]].last().unstack("metric")
        for metric in last["value"].columns:
            meta[metric] = last["value"][metric].reindex(meta.index)
            meta[f"{metric}_se"] = last["stderr"][metric].reindex(meta.index)
    for metric in VALUE_METRICS:
        for col in (metric, f"{metric}_se"):
            if col not in meta:
                meta[col] = math.nan
    return meta


def load(folder: Path, name: str) -> pd.DataFrame:
    """The cells of a results folder; a folder that is missing or holds no readable result is a UsageError."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UsageError(f"{name} {str(folder)!r} is not a folder; valid: a results folder, e.g. "
                         f"{_examples(folder)}")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        df = read_results(folder)
    for w in caught:  # an unreadable file is named and skipped, as `bench report` does
        print(f"bench compare: warning: {w.message}", file=sys.stderr)
    if df.empty:
        raise UsageError(f"{name} {str(folder)!r} holds no readable results file (*.parquet); valid: a results "
                         f"folder, e.g. {_examples(folder)}")
    return cells(df)


def _examples(near: Path) -> str:
    """Results folders that exist (under results/ and results/reference/), to name in an error."""
    from bench.store.meta import RESULTS

    found = sorted({str(p.parent.relative_to(RESULTS.parent)) for p in RESULTS.glob("*/*.parquet")}
                   | {str(p.parent.relative_to(RESULTS.parent)) for p in RESULTS.glob("reference/*/*.parquet")})
    return ", ".join(found[:6]) if found else "results/reference/<machine> or results/<machine>"


# --- matching ---------------------------------------------------------------------------------------------------


def _key(row: pd.Series, columns: tuple[str, ...]) -> tuple:
    return tuple(_text(row.get(c)) for c in columns)


def match(old: pd.DataFrame, new: pd.DataFrame) -> tuple[list[Pair], int, int, int]:
    """Pairs of cells: by cell id first, then the rest by configuration (KEY), by KEY and TIEBREAK where one
    configuration holds several cells. Returns (pairs, only in OLD, only in NEW, left unmatched although their
    configuration is on both sides: ambiguous)."""
    common = old.index.intersection(new.index)
    pairs = [Pair(old.loc[i], new.loc[i], "cell id") for i in common]
    left_old, left_new = old.drop(index=common), new.drop(index=common)
    for columns in (KEY, KEY + TIEBREAK):
        by_old: dict[tuple, list[str]] = {}
        by_new: dict[tuple, list[str]] = {}
        for i, row in left_old.iterrows():
            by_old.setdefault(_key(row, columns), []).append(i)
        for i, row in left_new.iterrows():
            by_new.setdefault(_key(row, columns), []).append(i)
        done_old, done_new = [], []
        for key, ids in by_old.items():
            other = by_new.get(key, [])
            if len(ids) == 1 and len(other) == 1:
                pairs.append(Pair(left_old.loc[ids[0]], left_new.loc[other[0]], "configuration"))
                done_old.append(ids[0])
                done_new.append(other[0])
        left_old, left_new = left_old.drop(index=done_old), left_new.drop(index=done_new)
    keys_old = [_key(row, KEY) for _, row in left_old.iterrows()]
    keys_new = [_key(row, KEY) for _, row in left_new.iterrows()]
    shared = set(keys_old) & set(keys_new)
    ambiguous = sum(k in shared for k in keys_old)
    pairs.sort(key=lambda p: (_key(p.new, KEY), _key(p.new, TIEBREAK)))
    return pairs, len(keys_old) - ambiguous, sum(k not in shared for k in keys_new), ambiguous


# --- judging ----------------------------------------------------------------------------------------------------


def _get(row: pd.Series, metric: str) -> tuple[float, float]:
    value, se = row.get(metric, math.nan), row.get(f"{metric}_se", math.nan)
    return (float(value) if value is not None else math.nan), (float(se) if se is not None else math.nan)


def _variance(pair: Pair, t: Thresholds) -> Change | None:
    (old, old_se), (new, new_se) = _get(pair.old, "variance"), _get(pair.new, "variance")
    if not _finite(old, new):
        return None
    ratio, z = _ratio(new, old), _z(new, old, _floor(new_se, t), _floor(old_se, t))
    verdict, what = "unchanged", ""
    if math.isnan(z):
        verdict, what = "not judged", "no standard error"
    elif ratio > t.max_variance_ratio and z > t.z:
        verdict, what = "regression", f"variance {ratio:.3g}x"
    elif ratio < 1 / t.max_variance_ratio and z < -t.z:
        verdict, what = "improvement", f"variance {ratio:.3g}x"
    return Change("variance", old, new, old_se, new_se, ratio, z, verdict, what)


def _floor(se: float, t: Thresholds) -> float:
    """A standard error of variance or bias_sq floored at `atol`: zero-variance estimators (exact, deterministic)
    report SE 0, and their float32 rounding must not pass for a change."""
    return max(se, t.atol) if _finite(se) else se


def _full_se(row: pd.Series, t: Thresholds) -> float:
    """bias_sq's standard error with the bias's own term: max(SE under no bias, 2 bias SE(bias)), floored."""
    _, se0 = _get(row, "bias_sq")
    bias, bias_se = _get(row, "bias")
    full = 2 * bias * bias_se if _finite(bias, bias_se) else math.nan
    return _floor(max(se0, full) if _finite(se0, full) else se0, t)


def _bias(pair: Pair, t: Thresholds) -> Change | None:
    (old, old_se), (new, new_se) = _get(pair.old, "bias_sq"), _get(pair.new, "bias_sq")
    if not _finite(old, new):
        return None
    zb_old = old / _floor(old_se, t) if _finite(old_se) else math.nan
    zb_new = new / _floor(new_se, t) if _finite(new_se) else math.nan
    if math.isnan(zb_old) or math.isnan(zb_new):
        return Change("bias_sq", old, new, old_se, new_se, _ratio(new, old), math.nan, "not judged",
                      "no standard error")
    biased_old, biased_new = zb_old >= t.z, zb_new >= t.z
    ratio = _ratio(new, old)
    z = _z(new, old, _full_se(pair.new, t), _full_se(pair.old, t))
    verdict, what = "unchanged", f"bias z {zb_old:.2f} -> {zb_new:.2f}"
    if not biased_old and biased_new and new > old:
        verdict, what = "regression", f"newly biased: bias_sq / SE {zb_old:.2f} -> {zb_new:.2f}"
    elif biased_old and not biased_new and new < old:
        verdict, what = "improvement", f"no longer biased: bias_sq / SE {zb_old:.2f} -> {zb_new:.2f}"
    elif biased_old and biased_new and ratio > t.max_bias_ratio and z > t.z:
        verdict, what = "regression", f"more biased: bias_sq {ratio:.3g}x"
    elif biased_old and biased_new and ratio < 1 / t.max_bias_ratio and z < -t.z:
        verdict, what = "improvement", f"less biased: bias_sq {ratio:.3g}x"
    return Change("bias_sq", old, new, old_se, new_se, ratio, z, verdict, what)


def _time(pair: Pair, t: Thresholds) -> Change | None:
    metric = t.time_metric
    (old, old_se), (new, new_se) = _get(pair.old, metric), _get(pair.new, metric)
    if not _finite(old, new):
        return None
    ratio, z = _ratio(new, old), _z(new, old, new_se, old_se)
    stable_old, stable_new = _get(pair.old, "stable")[0] == 1, _get(pair.new, "stable")[0] == 1
    if not (stable_old and stable_new):
        side = " and ".join(s for s, ok in (("OLD", stable_old), ("NEW", stable_new)) if not ok)
        return Change(metric, old, new, old_se, new_se, ratio, z, "not judged", f"unstable timing in {side}")
    verdict, what = "unchanged", ""
    if ratio > t.max_time_ratio:
        verdict, what = "regression", f"{ratio:.3g}x slower"
    elif ratio < 1 / t.max_time_ratio:
        verdict, what = "improvement", f"{1 / ratio:.3g}x faster"
    return Change(metric, old, new, old_se, new_se, ratio, z, verdict, what)


def _status(pair: Pair) -> Change | None:
    old, new = _text(pair.old.get("status")) or "ok", _text(pair.new.get("status")) or "ok"
    if old == new == "ok":
        return None
    if old == "ok":
        return Change("status", math.nan, math.nan, verdict="regression",
                      what=f"now {new}: {_text(pair.new.get('message'))[:120]}")
    if new == "ok":
        return Change("status", math.nan, math.nan, verdict="improvement", what=f"was {old}, now runs")
    return Change("status", math.nan, math.nan, verdict="not judged", what=f"failed in both ({old} -> {new})")


def judge(pair: Pair, t: Thresholds) -> list[Change]:
    found = [_status(pair)]
    if (_text(pair.old.get("status")) or "ok") == "ok" and (_text(pair.new.get("status")) or "ok") == "ok":
        found += [_variance(pair, t), _bias(pair, t), _time(pair, t)]
    return [c for c in found if c is not None]


def _holds(cells: pd.DataFrame) -> str:
    """What a folder's cells are, in a few words: `537 cells: audit, gradients, speed, training of bnn, bsn, ...`."""
    problems = sorted({_text(p) for p in cells["problem"]})
    shown = ", ".join(problems[:6]) + (f" and {len(problems) - 6} more" if len(problems) > 6 else "")
    suites = ", ".join(sorted({_text(s) for s in cells["suite"]}))
    return f"{len(cells)} cell{'s' if len(cells) != 1 else ''}: {suites} of {shown}"


def compare(old_folder: Path, new_folder: Path, thresholds: Thresholds = Thresholds()) -> Comparison:
    """Reads both folders, matches their cells and judges every pair (see the module's docstring). Two folders
    without a cell in common are a UsageError that says what each holds."""
    old, new = load(old_folder, "OLD"), load(new_folder, "NEW")
    pairs, only_old, only_new, ambiguous = match(old, new)
    if not pairs:
        raise UsageError(f"no cell of NEW {str(new_folder)!r} ({_holds(new)}) matches one of OLD "
                         f"{str(old_folder)!r} ({_holds(old)}) by cell id or configuration; valid: two results "
                         f"folders with cells of the same suites, problems and estimators")
    for pair in pairs:
        pair.changes = judge(pair, thresholds)
    return Comparison(Path(old_folder), Path(new_folder), len(old), len(new), pairs, only_old, only_new, ambiguous,
                      thresholds)


# --- rendering --------------------------------------------------------------------------------------------------


def _num(value: float, se: float = math.nan) -> str:
    if not _finite(value):
        return "" if value is None or math.isnan(value) else f"{value}"
    return f"{value:.4g} ± {se:.2g}" if _finite(se) else f"{value:.4g}"


def _params(text: str) -> str:
    try:
        params = json.loads(text) if text else {}
    except json.JSONDecodeError:
        return text
    return ",".join(f"{k}={v}" for k, v in params.items() if v != "")


def _cell(row: pd.Series) -> list[str]:
    params = _params(_text(row.get("problem_params")))
    problem = f"{row.get('problem')}:{params}" if params else _text(row.get("problem"))
    options = _params(_text(row.get("options")))
    extra = _text(row.get("experiment"))
    return [_text(row.get("suite")), problem, _text(row.get("estimator")) + (f":{options}" if options else ""),
            _text(row.get("backend")), _text(row.get("device")), _text(row.get("depth")),
            _text(row.get("batch_size")), _text(row.get("n_samples")), extra]


HEADER = ["suite", "problem", "estimator", "backend", "device", "depth", "batch", "draws", "experiment", "metric",
          "old", "new", "ratio", "z", "what", "code changed"]


def _table(rows: list[tuple[Pair, Change]]) -> list[str]:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    for pair, c in rows:
        ratio = f"{c.ratio:.3g}" if c.ratio is not None and not math.isnan(c.ratio) else ""
        z = f"{c.z:.2f}" if c.z is not None and not math.isnan(c.z) else ""
        cols = [*_cell(pair.new), c.metric, _num(c.old, c.old_se), _num(c.new, c.new_se), ratio, z, c.what,
                pair.code()]
        lines.append("| " + " | ".join(col.replace("|", "\\|") for col in cols) + " |")
    return lines


def markdown(result: Comparison, every: bool = False) -> str:
    """The report: a summary, the regressions, the improvements and, with `every`, every comparison."""
    by_id = sum(p.matched_by == "cell id" for p in result.pairs)
    regressions, improvements = result.regressions, result.changes("improvement")
    unjudged = result.changes("not judged")
    moved = {name: sum(name in p.code_changed for p in result.pairs) for name in ("estimator", "problem", "suite")}
    lines = [
        "# Results compared",
        "",
        f"OLD `{result.old_path}` ({result.old_cells} cells) against NEW `{result.new_path}` "
        f"({result.new_cells} cells): {len(result.pairs)} matched ({by_id} by cell id, "
        f"{len(result.pairs) - by_id} by configuration), {result.only_old} only in OLD, {result.only_new} only in "
        f"NEW" + (f", {result.ambiguous} left unmatched (several cells share a configuration)"
                  if result.ambiguous else "") + ".",
        "",
        f"Code that changed between matched cells: estimator in {moved['estimator']}, problem in "
        f"{moved['problem']}, suite in {moved['suite']}.",
        "",
        f"Regression thresholds: {result.thresholds.describe()}.",
        "",
        (f"**{len(regressions)} regression(s)** in {len({id(p) for p, _ in regressions})} cell(s)."
         if regressions else "**No regression.**")
        + f" {len(improvements)} improvement(s); {len(unjudged)} figure(s) not judged (unstable timings, "
          "missing standard errors, cells failing on both sides" + ("" if every else "; `--all` lists them") + ").",
    ]
    if regressions:
        lines += ["", "## Regressions", "", *_table(regressions)]
    if improvements:
        lines += ["", "## Improvements", "", *_table(improvements)]
    if every:
        if unjudged:
            lines += ["", "## Not judged", "", *_table(unjudged)]
        lines += ["", "## Every comparison", "", *_table([(p, c) for p in result.pairs for c in p.changes])]
    return "\n".join(lines) + "\n"


# --- the reference folder ---------------------------------------------------------------------------------------


def _machine_parts(name: str) -> tuple[str, str, set[str]]:
    """(backend versions, cores, hardware words) of a machine name (bench.store.meta.machine), e.g.
    intel-xeon-processor-2cpu-torch2.13.0-cpu-jax0.10.1 -> ("torch2.13.0-cpu-jax0.10.1", "2", {intel, ...})."""
    match = re.search(r"-(\d+)cpu(?:-|$)", name)
    if match is None:
        return "", "", set(name.split("-"))
    return name[match.end():], match.group(1), set(name[:match.start()].split("-"))


def pick_reference(root: Path, machine: str) -> Path:
    """The reference folder under `root` (results/reference/) to compare a run on `machine` with: the folder of
    that name when it exists, else the closest: the same torch and JAX versions first (they decide the
    numbers), then the same core count, then the most words of the CPU's name in common (ties: the first by
    name). Timings then come from different machines: compare `time_ratio_to_floor`, which the floor
    normalises, rather than `time`."""
    root = Path(root)
    candidates = sorted(p for p in root.iterdir() if p.is_dir() and any(p.rglob("*.parquet"))) \
        if root.is_dir() else []
    if not candidates:
        raise UsageError(f"no reference results under {str(root)!r}; valid: a folder holding results/<machine>/ "
                         f"folders of Parquet files (commit one, e.g. results/reference/{machine})")
    exact = root / machine
    if exact in candidates:
        return exact
    versions, cores, hardware = _machine_parts(machine)

    def closeness(path: Path) -> tuple[bool, bool, int]:
        v, c, h = _machine_parts(path.name)
        return v == versions, c == cores, len(h & hardware)

    best = max(closeness(p) for p in candidates)
    return next(p for p in candidates if closeness(p) == best)


# --- command line -----------------------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive_ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 1):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number >= 1 (a factor, e.g. 1.2)")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number (standard errors, e.g. 4)")
    return value


def parser() -> argparse.ArgumentParser:
    defaults = Thresholds()
    p = _Parser(prog="python -m bench compare",
                description="Compare two results folders; exit 1 on a regression past the thresholds.")
    p.add_argument("old", metavar="OLD", help="the reference results folder, e.g. results/reference/<machine>")
    p.add_argument("new", metavar="NEW", help="the results folder to judge, e.g. results/<machine>")
    p.add_argument("--max-variance-ratio", type=_positive_ratio, default=defaults.max_variance_ratio,
                   help="a variance up by more than this factor (at z above --z) is a regression (default 1.5)")
    p.add_argument("--max-bias-ratio", type=_positive_ratio, default=defaults.max_bias_ratio,
                   help="an already biased cell's bias_sq up by more than this factor (at z above --z) is a "
                        "regression (default 1.5)")
    p.add_argument("--max-time-ratio", type=_positive_ratio, default=defaults.max_time_ratio,
                   help="a stable time up by more than this factor is a regression (default 1.2)")
    p.add_argument("--z", type=_positive, default=defaults.z,
                   help="standard errors a change must pass, and the bound of the test of unbiasedness (default 4)")
    p.add_argument("--atol", type=_positive, default=defaults.atol,
                   help="floor of the standard errors of variance and bias_sq, in squared gradient units: float32 "
                        "rounding of zero-variance estimators (exact, deterministic) is no change (default 1e-8)")
    p.add_argument("--time-metric", choices=TIME_METRICS, default=defaults.time_metric,
                   help="time (seconds, same machine) or time_ratio_to_floor (normalised by the problem's floor, "
                        "for machines of different speeds); default time")
    p.add_argument("--all", action="store_true", help="list every comparison, not only the changes")
    p.add_argument("--out", help="also write the Markdown report to this file")
    return p


def main(argv: list[str] | None = None) -> int:
    """`python -m bench compare OLD NEW [options]`: prints the report; 1 on a regression, 0 otherwise, 2 on bad
    input (one line on stderr)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = parser().parse_args(argv)
        thresholds = Thresholds(args.max_variance_ratio, args.max_bias_ratio, args.max_time_ratio, args.z,
                                args.time_metric, args.atol)
        out = Path(args.out) if args.out else None
        if out is not None and not out.parent.is_dir():
            raise UsageError(f"--out {args.out!r}: its folder does not exist; valid: a file in an existing folder")
        result = compare(Path(args.old), Path(args.new), thresholds)
    except UsageError as exc:
        print(f"bench compare: error: {exc}", file=sys.stderr)
        return 2
    text = markdown(result, every=args.all)
    print(text, end="")
    if out is not None:
        out.write_text(text)
    return 1 if result.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
