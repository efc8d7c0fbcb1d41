"""Gradient-quality plots of one problem at one gradient point: against depth, batch size, n_samples; per layer.

Each function returns the Image it wrote, or None when the results lack what the plot needs (one depth only,
no per-layer groups, ...): a plot is drawn only from data, never from an empty frame.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
from matplotlib.axes import Axes
from matplotlib.lines import Line2D

from bench.report import style
from bench.report.data import STABLE, describe, hold, varies
from bench.report.doc import Image
from bench.report.markup import lit

GRADIENT_FIXED = ("device", "depth", "batch_size", "n_samples")
SPEED_FIXED = ("device", "depth", "batch_size", "n_samples")


def against(overall: pd.DataFrame, speeds: pd.DataFrame, x: str, out: Path, name: str, title: str
            ) -> Image | None:
    """Variance and bias (gradients) and time per estimate (speed) against `x`, each panel where `x` varies."""
    grads, held_g = hold(overall, [x], GRADIENT_FIXED)
    times, held_s = hold(speeds, [x], SPEED_FIXED)
    panels = []
    if varies(grads, x):
        panels += [(grads, "variance", held_g)] + ([(grads, "bias", held_g)] if x == "depth" else [])
    if varies(times, x):
        panels.append((times, "time", held_s))
    if not panels:
        return None
    fig, axes = style.figure(1, len(panels))
    for ax, (frame, metric, _) in zip(axes[0], panels):
        style.lines(ax, frame, x, metric, f"{metric}_se")
        if metric == "time":
            _hollow_unstable(ax, frame, x)
        style.set_scale(ax, frame[metric], zero_ok=metric == "bias", always=metric == "variance")
        style.integer_ticks(ax, list(frame[x]))
        ax.set_xlabel(style.LABELS[x])
        ax.set_ylabel(style.LABELS[metric])
        ax.grid(alpha=0.3)
    shaky = any(m == "time" and (f.stability != STABLE).any() for f, m, _ in panels)
    hollow = [Line2D([], [], color="0.3", marker="o", ls="", markerfacecolor="white",
                     label="hollow: unstable or unknown\ntiming")] if shaky else []
    style.legend(axes[0][-1], pd.concat([p[0] for p in panels]), hollow)
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    fixed = "; ".join(f"{m}: {describe(h)}" for _, m, h in panels if h)
    note = " Hollow time markers: unstable or unknown-stability timings." if shaky else ""
    return Image(f"plots/{name}.png", lit(title), f"Error bars: ±1 standard error. Held fixed — {fixed}.{note}")


def _hollow_unstable(ax: Axes, frame: pd.DataFrame, x: str) -> None:
    """Over the line's markers, a white-faced one at each unstable or unknown timing: the point stays on its
    line (the trend is still worth seeing) but reads as not to be trusted."""
    shades = style.variants(frame)
    shaky = frame[frame.stability != STABLE]
    for (estimator, variant, backend), part in shaky.groupby(["estimator", "variant", "backend"]):
        look = style.look(estimator, backend, *shades[estimator, variant])
        ax.plot(part[x].to_numpy(float), part.time.to_numpy(float), ls="", marker=look["marker"], ms=4.5,
                mfc="white", mec=look["color"], mew=1.2, zorder=4)


def _layer(name: str) -> int | None:
    m = re.fullmatch(r"layer(\d+)", name)
    return int(m.group(1)) if m else None


def layers(grads: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    """Variance of each stochastic layer's parameters (groups layer0, layer1, ...) at the deepest model."""
    per = grads.assign(layer=grads.param_group.map(_layer)).dropna(subset=["layer"])
    if per.empty:
        return None
    per = per[per.depth == per.depth.max()]
    per, held = hold(per, [], ("device", "batch_size", "n_samples"))
    if per.layer.nunique() < 2:
        return None
    fig, axes = style.figure(1, 1, width=5.5)
    ax = axes[0][0]
    style.lines(ax, per, "layer", "variance", "variance_se")
    style.set_scale(ax, per.variance, always=True)
    ax.set_xticks(sorted(per.layer.astype(int).unique()))
    ax.set_xlabel(style.LABELS["layer"] + " (0 = sampled first)")
    ax.set_ylabel(style.LABELS["variance"])
    ax.grid(alpha=0.3)
    style.legend(ax, per)
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    depth = int(per.depth.iloc[0])
    return Image(f"plots/{name}.png", lit(title),
                 f"Depth {depth}; held fixed: {describe(held)}. Error bars: ±1 standard error.")
