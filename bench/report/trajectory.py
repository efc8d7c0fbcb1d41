"""Variance along a training run (results of suite "trajectory"): one estimator (the driver) trains the model
with one optimiser, and at log-spaced steps of that shared trajectory every estimator's gradient is measured at
the same parameters. Rows: metric "variance" (and "bias" where a truth exists), param_group "all", `step` the
training step; the driver and the optimiser are in each row's `options` ("driver", "optimizer").

One figure per problem and trajectory: log-variance (and bias) against the step, one line per estimator and
backend, ±1 standard error; its section names the estimator and optimiser that drove the trajectory.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter

from bench.report import style
from bench.report.data import hold, parse_options, wide
from bench.report.doc import Block, Heading, Image, Para
from bench.report.markup import lit

SUITE = "trajectory"
METRICS = ["variance", "bias"]
SHARED = ("driver", "optimizer")  # what makes the trajectory, not an estimator's variant
FIXED = ("device", "depth", "batch_size", "n_samples")


def _compact(d: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(d.items()))


def rows_of(rows: pd.DataFrame) -> pd.DataFrame:
    """The suite's rows (overall group, finished cells, with a step), each tagged with its trajectory (the
    options every row of the problem shares: driver, optimiser, learning rate...) and its own variant."""
    part = rows[(rows.suite == SUITE) & (rows.status == "ok") & (rows.param_group == "all") & rows.step.notna()
                & rows.metric.isin(METRICS)]
    if part.empty:
        return part.assign(trajectory="")
    opts = part.options.map(parse_options)
    out = []
    for idx in part.groupby("view").groups.values():
        dicts = opts[idx]
        keys = sorted({k for d in dicts for k in d})
        same = [k for k in keys if len({json.dumps(d.get(k), default=str) for d in dicts}) == 1]
        shared = [k for k in keys if k in SHARED or k in same]
        mine = lambda d: {k: v for k, v in d.items() if k not in shared and k not in ("point", "steps")}  # noqa: E731
        own = dicts.map(lambda d: _compact(mine(d)))
        trajectory = dicts.map(lambda d: json.dumps({k: d.get(k) for k in shared}, sort_keys=True, default=str))
        out.append(part.loc[idx].assign(variant=own, trajectory=trajectory))
    tagged = pd.concat(out)
    return tagged.assign(label=np.where(tagged.variant == "", tagged.estimator,
                                        tagged.estimator + " (" + tagged.variant + ")"))


def _driven(trajectory: str) -> str:
    """'driven by disarm with adam (lr=0.01)': from the trajectory's shared options."""
    d = json.loads(trajectory) if trajectory else {}
    driver, optimizer = d.pop("driver", None), d.pop("optimizer", None)
    text = f"driven by {lit(driver) if driver else 'an unnamed estimator'} with " \
           f"{lit(optimizer) if optimizer else 'an unnamed optimiser'}"
    return text + (f" ({lit(_compact(d))})" if d else "")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _xscale(ax, steps: pd.Series) -> None:
    """Log-spaced steps on a log axis; with a step 0 (the initial parameters) a symlog one, linear up to 1,
    starting just left of 0 and labelled 0, 1, 10, 100, ..."""
    top = float(steps.max())
    if (steps > 0).all() and top / steps.min() >= 10:
        style.set_scale(ax, steps, "x", always=True)
    elif top >= 10:
        ax.set_xscale("symlog", linthresh=1.0, linscale=0.5)
        ax.set_xlim(-0.15, top * 1.4)
        decades = [0.0] + [10.0**k for k in range(int(np.log10(top)) + 1)]
        ax.xaxis.set_major_locator(FixedLocator(decades))
        ax.xaxis.set_major_formatter(FuncFormatter(style.tick_text))
        ax.xaxis.set_minor_locator(FixedLocator([m * d for d in decades[1:] for m in range(2, 10) if m * d < top]))
        ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("training step of the shared trajectory")


def plot(frame: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    """Variance (and bias) against step; `frame` one trajectory's wide rows (a column per metric)."""
    panels = [m for m in METRICS if m in frame and frame[m].notna().any()]
    if not panels or frame.step.nunique() < 2:
        return None
    fig, axes = style.figure(1, len(panels), width=5.0, height=3.4)
    for ax, metric in zip(axes[0], panels):
        part = frame[frame[metric].notna()]
        style.lines(ax, part, "step", metric, f"{metric}_se")
        style.set_scale(ax, part[metric], zero_ok=metric == "bias", always=metric == "variance")
        _xscale(ax, part.step)
        ax.set_ylabel(style.LABELS[metric])
        ax.grid(alpha=0.3)
    style.legend(axes[0][-1], frame)
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    return Image(f"plots/{name}.png", lit(title), "Error bars: ±1 standard error. Every estimator is measured at "
                                                  "the same parameters at each step.")


def blocks(rows: pd.DataFrame, plots: Path) -> list[Block]:
    tagged = rows_of(rows)
    if tagged.empty:
        return []
    out: list[Block] = [Heading(2, "Variance along a training run"),
                        Para("One estimator (the driver) trains the model; at log-spaced steps of that shared "
                             "trajectory every estimator's gradient is measured at the same parameters, so the "
                             "lines differ only by estimator. Variance is the trace of the covariance of one "
                             "estimate; bias (where an exact truth exists) is ‖mean − truth‖.")]
    for i, ((view, trajectory), part) in enumerate(tagged.groupby(["view", "trajectory"], sort=True)):
        frame, held = hold(wide(part, METRICS, ["trajectory", "step"]), [], FIXED)
        title = f"{view}: variance along a training run"
        image = plot(frame, plots, f"trajectory-{_slug(view)}-{i + 1}", title)
        text = f"**{lit(view)}**: the shared trajectory was {_driven(trajectory)}. Held fixed: " \
               + ", ".join(f"{k} = {lit(v)}" for k, v in held.items()) + "."
        out += [Para(text)] + ([image] if image else [Para("Fewer than two steps measured: nothing to plot.")])
    return out

