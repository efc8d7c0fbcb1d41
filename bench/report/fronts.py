"""The opening figure: every problem's variance-against-time Pareto front, one small panel per problem.

Each panel holds the problem's stable timings at its standard configuration (bench.report.headline.standard):
a point per estimator and backend, the unbiased estimators' front as a solid line and the biased ones' as a
dashed line (each drawn among its own kind), points off both fronts faded. One legend serves every panel.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from bench.report import style
from bench.report.costplots import pareto
from bench.report.doc import Image
from bench.report.headline import contenders, standard
from bench.report.markup import lit

COLUMNS = 4
TITLE_WIDTH = 34  # characters a panel title holds at this width before it wraps (long problem labels)


def panels(grads: pd.DataFrame, eff: pd.DataFrame) -> list[tuple[str, pd.DataFrame, pd.DataFrame]]:
    """(view, unbiased rows, biased rows) of each problem with something to draw, in the table's order."""
    overall = grads[grads.param_group == "all"]
    out = []
    for view in sorted(set(overall.view)):
        frame, _, _ = standard(overall[overall.view == view], eff[eff.view == view])
        good, bad = contenders(frame)
        if len(good) or len(bad):
            out.append((view, good, bad))
    return out


def _draw(ax, good: pd.DataFrame, bad: pd.DataFrame) -> None:
    both = pd.concat([good, bad])
    shades = style.variants(both)
    on = set()
    for part, ls in ((good, "-"), (bad, "--")):
        front = pareto(part) if len(part) else part
        on |= set(zip(front.label, front.backend))
        if len(front):
            ax.step(front.time, front.variance, where="post", color="0.25" if ls == "-" else "0.55", ls=ls, lw=1.1,
                    zorder=2)
    for r in both.itertuples():
        look = style.look(r.estimator, r.backend, *shades[r.estimator, r.variant])
        faded = (r.label, r.backend) not in on
        line, = ax.plot([r.time], [r.variance], ls="", marker=look["marker"], color=look["color"], ms=6,
                        alpha=0.35 if faded else 1.0, zorder=3)
        line.set_gid(style.series_id(r.estimator, r.variant, r.backend))
    style.set_scale(ax, both.time, "x", always=True)
    style.set_scale(ax, both.variance, always=True)
    ax.grid(alpha=0.3)


def figure(grads: pd.DataFrame, eff: pd.DataFrame, out: Path, name: str = "fronts") -> Image | None:
    drawn = panels(grads, eff)
    if not drawn:
        return None
    cols = min(COLUMNS, len(drawn))
    rows = int(np.ceil(len(drawn) / cols))
    fig, axes = style.figure(rows, cols, width=3.3, height=2.8)
    for i, ax in enumerate(axes.flat):
        if i >= len(drawn):
            ax.set_visible(False)
            continue
        view, good, bad = drawn[i]
        _draw(ax, good, bad)
        ax.set_title(textwrap.fill(style.plain(view), TITLE_WIDTH), fontsize="medium")
        if i % cols == 0:
            ax.set_ylabel("variance (grad²)")
        if i + cols >= len(drawn):
            ax.set_xlabel(style.LABELS["time"])
    every = pd.concat([pd.concat([g, b]) for _, g, b in drawn])
    style.legend(axes[0][-1], every, [Line2D([], [], color="0.25", ls="-", label="front, unbiased"),
                                      Line2D([], [], color="0.55", ls="--", label="front, biased"),
                                      Line2D([], [], color="0.3", marker="o", ls="", alpha=0.35,
                                             label="off the fronts")], lines=False)
    fig.suptitle("Variance against time per estimate, each problem at its standard configuration")
    style.save(fig, out / f"{name}.png")
    views = ", ".join(lit(v) for v, _, _ in drawn)
    return Image(f"plots/{name}.png", "Pareto fronts, every problem",
                 f"One panel per problem with a stable timing ({views}), at the configuration the table above names; "
                 "both axes logarithmic, lower left is better. A point is an estimator on one backend (colour: "
                 "estimator, marker: backend); the solid line is the unbiased estimators' front (none other of "
                 "them both faster and lower-variance), the dashed line the biased ones'; faded points are on "
                 "neither. Stable timings only; zero-variance estimators left off.")
