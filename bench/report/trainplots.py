"""Training curves: held-out loss / accuracy / ELBO against optimizer steps and against training seconds.

A curve is one configuration (estimator, backend, device, depth, batch size, learning rate, options) trained
under several seeds: the line is the median over seeds and the band spans their minimum to maximum, so a
single lucky or unlucky seed cannot pass for a trend.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
from matplotlib.lines import Line2D

from bench.report import style
from bench.report.data import CONFIG, TRAINING_METRICS, parse_options
from bench.report.doc import Image

CURVE = CONFIG + ["lr", "options"]
# Fields that may tell curves apart within one figure, besides estimator and backend (always named).
DISTINGUISH = ["view", "device", "depth", "batch_size", "n_samples", "lr"]


def _name(key: dict[str, Any], varying: list[str], option_keys: list[str]) -> str:
    """'st-sigmoid · torch · lr=0.3 · slope_anneal=1.1': only what differs between the figure's curves."""
    parts = [key["estimator"], key["backend"]]
    parts += [str(key[f]) if f == "view" else f"{f}={key[f]:g}" if isinstance(key[f], float) else f"{f}={key[f]}"
              for f in varying]
    opts = parse_options(key["options"])
    parts += [f"{k}={opts[k]}" for k in option_keys if k in opts]
    return " · ".join(parts)


def _varying_options(train: pd.DataFrame) -> list[str]:
    dicts = [parse_options(o) for o in train.options.unique()]
    keys = sorted({k for d in dicts for k in d})
    return [k for k in keys if len({json.dumps(d.get(k)) for d in dicts}) > 1]


def _summary(curve: pd.DataFrame) -> pd.DataFrame:
    """Per step: median, min and max over seeds of the metric, and the seeds' mean training time."""
    return curve.groupby("step").agg(mid=("value", "median"), lo=("value", "min"), hi=("value", "max"),
                                     clock=("train_time", "mean"), seeds=("seed", "nunique")).reset_index()


def _curves(train: pd.DataFrame) -> list[tuple[dict[str, Any], pd.DataFrame]]:
    """Each curve's key and rows, estimators in catalog order, torch before JAX (legends read the same way)."""
    groups = [(dict(zip(CURVE, values)), part) for values, part in train.groupby(CURVE, dropna=False)]
    order = style.estimator_order([k["estimator"] for k, _ in groups])
    backends = style.backend_order([k["backend"] for k, _ in groups])
    return sorted(groups, key=lambda g: (order.index(g[0]["estimator"]), backends.index(g[0]["backend"]),
                                         str(g[0])))


def curves(train: pd.DataFrame, out: Path, name: str, title: str, note: str = "") -> Image | None:
    metrics = [m for m in TRAINING_METRICS if (train.metric == m).any()]
    if not metrics:
        return None
    xs = ["step"] + (["train_time"] if train.train_time.notna().any() else [])
    varying = [f for f in DISTINGUISH if train[f].astype(str).nunique() > 1]
    option_keys = _varying_options(train)
    groups = _curves(train)
    # an estimator's curves share its hue: its variants (learning rates, options) differ in shade and marker
    pairs = [(k["estimator"], k["backend"]) for k, _ in groups]
    index = [pairs[:i].count(p) for i, p in enumerate(pairs)]
    fig, axes = style.figure(len(metrics), len(xs), width=4.8, height=3.2)
    handles = []
    for (key, part), pair, i in zip(groups, pairs, index):
        n = pairs.count(pair)
        look = {"color": style.shade(style.colour(key["estimator"]), i, n), "ls": style.linestyle(key["backend"]),
                "lw": 1.4, "marker": style.VARIANT_MARKERS[i % len(style.VARIANT_MARKERS)] if n > 1 else None,
                "markevery": 0.25, "ms": 4}
        handles.append(Line2D([], [], label=_name(key, varying, option_keys),
                              **{k: v for k, v in look.items() if k != "markevery"}))
        for row, metric in enumerate(metrics):
            s = _summary(part[part.metric == metric])
            for col, x in enumerate(xs):
                ax = axes[row][col]
                at = s.step if x == "step" else s.clock
                ax.plot(at, s.mid, **look)
                if (s.seeds > 1).any():
                    ax.fill_between(at, s.lo, s.hi, color=look["color"], alpha=0.15, lw=0)
    for row, metric in enumerate(metrics):
        values = train[train.metric == metric].value
        for col, x in enumerate(xs):
            ax = axes[row][col]
            style.set_scale(ax, values)
            if x == "train_time":  # JAX's jitted steps can be far faster than torch's eager ones
                style.set_scale(ax, train.train_time, "x")
            ax.set_xlabel(style.LABELS[x])
            ax.set_ylabel(style.LABELS[metric])
            ax.grid(alpha=0.3)
    axes[0][-1].legend(handles=handles, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0,
                       fontsize="small")
    fig.suptitle(title)
    style.save(fig, out / f"{name}.png")
    seeds = sorted(train.seed.unique())
    return Image(f"plots/{name}.png", title, f"{note}Line: median over seeds ({', '.join(map(str, seeds))}); "
                                             "band: minimum to maximum over seeds.")
