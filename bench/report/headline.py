"""The report's opening answer: per problem, which estimators are worth their time.

One line per problem names the estimators on the variance-against-time Pareto front, unbiased and biased apart
(each front drawn among its own kind: a biased estimator's low variance says nothing about an unbiased one's
worth), from stable timings only, at the configuration the problem's section holds fixed (`data.hold`, as
the cost plot does) and on one backend, all of them named in the line. A problem without a stable speed cell
there says so instead of being left out.
"""

from __future__ import annotations

import pandas as pd

from bench.report import style
from bench.report.costplots import front
from bench.report.data import STABLE, UNKNOWN, UNSTABLE, hold
from bench.report.doc import Block, Bullets, Heading, Para
from estimators import catalog

FIXED = ("device", "depth", "batch_size", "n_samples")
INTRO = ("Per problem: the estimators on the variance-against-time Pareto front (none other of their kind is both "
         "faster and lower-variance), unbiased and biased apart, each with its variance (trace of the covariance of "
         "one gradient estimate) and its median time per estimate; a biased one's bias too. Variance comes from "
         "the gradients suite, time from the speed suite on the same configuration, stable timings only; the "
         "configuration is the one the problem's section holds fixed.")


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


def unbiased(estimator: str) -> bool:
    """The catalog's word; an estimator outside it is not claimed unbiased."""
    return estimator in catalog.names() and catalog.spec(estimator).unbiased


def _entries(frame: pd.DataFrame, biased: bool) -> str:
    on = front(frame)
    if on.empty:
        return "none timed" if frame.empty else "none with positive variance"
    bias = (lambda r: f", bias {sci(r.bias)}" if pd.notna(r.bias) else "") if biased else (lambda r: "")
    return ", ".join(f"{r.label} (var {sci(r.variance)}{bias(r)}, {seconds(r.time)})" for r in on.itertuples())


def _backend(stable: pd.DataFrame) -> str:
    """The backend with the most stable timings at the held configuration (ties: torch, JAX, then by name)."""
    counts = stable.backend.value_counts()
    return next(b for b in style.backend_order(list(counts.index)) if counts[b] == counts.max())


def line(view: str, overall: pd.DataFrame, eff: pd.DataFrame) -> str:
    """The headline for one problem: `overall` its gradients' "all" group, `eff` its gradients joined with time."""
    name = f"**{view}**"
    if overall.empty:
        return f"{name} — no gradient results to set time against: no stable speed cell is on a front."
    point = sorted(overall.point.unique(), key=lambda p: (p != "init", p))[0]
    at = "" if point == "init" else f", {point} point"
    frame, held = hold(eff[eff.point == point], [], FIXED)
    if frame.empty:
        return f"{name} — no stable speed cell: no speed cell was measured on the gradients' configurations."
    config = f"depth {held['depth']}, batch {held['batch_size']}, n_samples {held['n_samples']}"
    stable = frame[frame.stability == STABLE]
    if stable.empty:
        counts = frame.stability.value_counts()
        why = ", ".join(f"{counts[v]} {text}" for v, text in ((UNSTABLE, "unstable †"),
                                                               (UNKNOWN, "of unknown stability ‡")) if v in counts)
        return (f"{name} ({config}, {held['device']}{at}) — no stable speed cell at this configuration ({why}): "
                "no estimator is placed on the front.")
    backend = _backend(stable)
    part = stable[stable.backend == backend]
    kind = part.estimator.map(unbiased).astype(bool)
    return (f"{name} ({config}, {backend} {held['device']}{at}) — unbiased: {_entries(part[kind], False)}; "
            f"biased: {_entries(part[~kind], True)}.")


def blocks(grads: pd.DataFrame, speeds: pd.DataFrame, eff: pd.DataFrame) -> list[Block]:
    """The headline section: an intro, one line per problem, and (once) a note on timings of unknown stability."""
    views = sorted(set(grads.view) | set(speeds.view))
    if not views:
        return []
    overall = grads[grads.param_group == "all"]
    lines = [line(v, overall[overall.view == v], eff[eff.view == v]) for v in views]
    out: list[Block] = [Heading(2, "Headline"), Para(INTRO), Bullets(lines)]
    unknown = int((speeds.stability == UNKNOWN).sum()) if len(speeds) else 0
    if unknown:
        out.append(Para(f"{unknown} of {len(speeds)} speed configurations carry no stability verdict (their "
                        "results predate the check): their times are marked ‡ and, like unstable ones (†), shown "
                        "but never ranked on nor placed on a Pareto front."))
    return out
