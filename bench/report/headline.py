"""The report's opening answer: per problem, which estimator buys the most gradient quality per second.

One row per problem, at the configuration its section holds fixed (`data.hold`, as the cost plot does): the
unbiased estimator with the least work-normalised variance (variance × time per estimate, the variance left
after spending one second of compute) and the runner-up, and the biased one with the least, beside its bias.
Every figure carries its standard error and its estimator its backend. Only stable timings are ranked on, and
zero-variance estimators (exact enumeration, the deterministic pass) are left out: they are references, not
contenders. A problem without a stable speed cell there says why instead of being left out.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.report.data import STABLE, UNKNOWN, UNSTABLE, hold
from bench.report.doc import Block, Heading, Para, Table
from bench.report.markup import lit
from estimators import catalog

FIXED = ("device", "depth", "batch_size", "n_samples")
# the configuration rides in the problem's cell, and an estimator's own draws in its cell, so that the table
# fits a 1280-pixel window at the literature's label lengths (a tenth column made it scroll sideways)
COLUMNS = ["problem, configuration", "best unbiased", "variance × time", "runner-up", "variance × time",
           "best biased", "variance × time", "bias"]
NUMERIC = [False, False, True, False, True, False, True, True]
INTRO = ("Per problem, at the configuration its section holds fixed: the unbiased estimator with the least "
         "variance × time per estimate (work-normalised variance, in grad² · s: the variance left after spending "
         "the same compute; lower is better) and the runner-up, and the biased estimator with the least, with its "
         "bias ‖mean − truth‖. Figures are `value ± standard error`; each estimator is named with its backend, and "
         "with its draws per estimate where they differ from its problem's. "
         "Variance comes from the gradients suite, time from the speed suite on the same configuration, stable "
         "timings only; exact and deterministic (zero-variance) estimators are references, not ranked.")


def seconds(t: float) -> str:
    """A time with the unit that keeps it between 1 and 1000: 1.2 ms, 35 µs, 2.1 s."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(t) >= scale:
            return f"{_two(t / scale)} {unit}"
    return f"{_two(t / 1e-9)} ns"


def _two(x: float) -> str:
    """Two significant digits without an exponent: 600, 35, 1.2."""
    return f"{float(f'{x:.2g}'):g}"


def sci(v: float) -> str:
    """Two significant digits, exponent without padding: 3.1e-05 -> 3.1e-5, 0.25 -> 0.25."""
    mantissa, _, exponent = f"{v:.2g}".partition("e")
    return mantissa + (f"e{int(exponent)}" if exponent else "")


def with_se(value: Any, se: Any) -> str:
    if value is None or pd.isna(value):
        return "n/a"
    return sci(value) + ("" if se is None or pd.isna(se) else f" ± {sci(se)}")


def unbiased(estimator: str) -> bool:
    """The catalog's word; an estimator outside it is not claimed unbiased."""
    return estimator in catalog.names() and catalog.spec(estimator).unbiased


def work_se(frame: pd.DataFrame) -> pd.Series:
    """Standard error of variance × time from the two relative errors (independent measurements)."""
    rel = np.sqrt((frame.variance_se / frame.variance) ** 2 + (frame.time_se / frame.time) ** 2)
    return frame.work_variance * rel


def standard(overall: pd.DataFrame, eff: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str], str]:
    """A problem's rows at its standard configuration (its first gradient point, init before trained; the
    dimensions the section holds fixed), what is held, and the point."""
    if overall.empty:
        return eff.iloc[0:0], {}, ""
    point = sorted(overall.point.unique(), key=lambda p: (p != "init", p))[0]
    frame, held = hold(eff[eff.point == point], [], FIXED)
    return frame, held, point


def draws(n: object) -> str:
    return f"{n} draw" + ("" if str(n) == "1" else "s")


def usual_draws(held: dict[str, str]) -> str:
    """The draws most of a problem's estimators take (`hold` names the others after it, in brackets)."""
    return held.get("n_samples", "").split(" ")[0]


def configuration(held: dict[str, str], point: str) -> str:
    text = f"depth {held['depth']}, batch {held['batch_size']}, {draws(usual_draws(held))}, {held['device']}"
    return lit(text + ("" if point in ("init", "") else f", {point} point"))


def contenders(frame: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Unbiased and biased rows that may be ranked (stable timing, positive variance), best first."""
    ranked = frame[(frame.stability == STABLE) & (frame.variance > 0)]
    ranked = ranked.assign(work_se=work_se(ranked)).sort_values(["work_variance", "label", "backend"])
    kind = ranked.estimator.map(unbiased).astype(bool)
    return ranked[kind], ranked[~kind]


def _name(r: Any, usual: str) -> str:
    own = "" if str(int(r.n_samples)) == usual else f", {draws(int(r.n_samples))}"
    return f"{lit(r.label)} · {lit(r.backend)}{own}"


def _why(frame: pd.DataFrame, overall: pd.DataFrame) -> str:
    """Why a problem has no answer: no gradients, no speed cell on their configuration, or no stable timing."""
    if overall.empty:
        return "no gradient results"
    if frame.empty:
        return "no speed cell on the gradients' configurations"
    counts = frame.stability.value_counts()
    parts = [f"{counts[v]} {text}" for v, text in ((UNSTABLE, "unstable †"), (UNKNOWN, "of unknown stability ‡"))
             if v in counts]
    return "no stable timing" + (f" ({', '.join(parts)})" if parts else " with positive variance")


def row(view: str, overall: pd.DataFrame, eff: pd.DataFrame) -> list[str]:
    """The table's row for one problem: `overall` its gradients' "all" group, `eff` gradients joined with time."""
    frame, held, point = standard(overall, eff)
    good, bad = contenders(frame)
    usual = usual_draws(held)
    first = [f"**{lit(view)}**" + (f": {configuration(held, point)}" if held else "")]
    if good.empty and bad.empty:
        return first + [_why(frame, overall)] + ["—"] * 6
    cells = []
    best = good.iloc[0] if len(good) else None
    runner = good[good.label != best.label].iloc[0] if best is not None and (good.label != best.label).any() \
        else None
    for r, missing in ((best, "none stable"), (runner, "no other stable")):
        cells += [_name(r, usual), with_se(r.work_variance, r.work_se)] if r is not None else [missing, "—"]
    if len(bad):
        b = bad.iloc[0]
        cells += [_name(b, usual), with_se(b.work_variance, b.work_se), with_se(b.bias, b.bias_se)]
    else:
        cells += ["none stable", "—", "—"]
    return first + cells


def blocks(grads: pd.DataFrame, speeds: pd.DataFrame, eff: pd.DataFrame) -> list[Block]:
    """The opening answer: an intro, one row per problem, and (once) a note on timings of unknown stability."""
    views = sorted(set(grads.view) | set(speeds.view))
    if not views:
        return []
    overall = grads[grads.param_group == "all"]
    rows = [row(v, overall[overall.view == v], eff[eff.view == v]) for v in views]
    out: list[Block] = [Heading(2, "Headline"), Para(INTRO), Table(COLUMNS, rows, NUMERIC)]
    unknown = int((speeds.stability == UNKNOWN).sum()) if len(speeds) else 0
    if unknown:
        out.append(Para(f"{unknown} of {len(speeds)} speed configurations carry no stability verdict (their "
                        "results predate the check): their times are marked ‡ and, like unstable ones (†), shown "
                        "but never ranked on nor placed on a Pareto front."))
    return out
