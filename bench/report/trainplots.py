"""Training curves: every held-out metric the problems declare (bench.problems.PROBLEMS[p].metrics, beside the
loss) against optimizer steps and against training seconds, and a table of where each curve ended.

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

from bench.report import labels, style
from bench.report.data import CONFIG, parse_options
from bench.report.doc import Image, Table
from bench.report.markup import lit

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


def _variant(key: dict[str, Any]) -> str:
    """What sets a curve apart from its estimator's other curves but the backend: its shade."""
    return json.dumps({k: str(v) for k, v in key.items() if k not in ("estimator", "backend")}, sort_keys=True)


def _looks(keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per curve: colour (its estimator's, one shade per variant), marker and line style (backend)."""
    shades: dict[str, list[str]] = {}
    for k in keys:
        shades.setdefault(k["estimator"], [])
        if _variant(k) not in shades[k["estimator"]]:
            shades[k["estimator"]].append(_variant(k))
    out = []
    for k in keys:
        mine = shades[k["estimator"]]
        look = style.look(k["estimator"], k["backend"], mine.index(_variant(k)), len(mine))
        out.append({**look, "lw": 1.4, "markevery": 0.25, "ms": 4,
                    "gid": style.series_id(k["estimator"], _variant(k), k["backend"])})
    return out


def metrics(train: pd.DataFrame) -> dict[str, str]:
    """The held-out metrics these rows hold, in the problems' order, with the problems' labels."""
    declared = labels.metrics(sorted(set(train.problem)))
    declared = {**declared, **{m: label for m, label in labels.metrics().items() if m not in declared}}
    present = set(train.metric)
    return {m: label for m, label in declared.items() if m in present}


def curves(train: pd.DataFrame, out: Path, name: str, title: str, note: str = "") -> Image | None:
    shown = metrics(train)
    if not shown:
        return None
    xs = ["step"] + (["train_time"] if train.train_time.notna().any() else [])
    varying = [f for f in DISTINGUISH if train[f].astype(str).nunique() > 1]
    option_keys = _varying_options(train)
    groups = _curves(train)
    looks = _looks([k for k, _ in groups])
    fig, axes = style.figure(len(shown), len(xs), width=4.8, height=3.2)
    handles = []
    for (key, part), look in zip(groups, looks):
        handles.append(Line2D([], [], label=style.plain(_name(key, varying, option_keys)),
                              **{k: v for k, v in look.items() if k not in ("markevery", "gid")}))
        for row, metric in enumerate(shown):
            s = _summary(part[part.metric == metric])
            for col, x in enumerate(xs):
                ax = axes[row][col]
                at = s.step if x == "step" else s.clock
                ax.plot(at, s.mid, **look)
                if (s.seeds > 1).any():
                    ax.fill_between(at, s.lo, s.hi, color=look["color"], alpha=0.15, lw=0)
    for row, (metric, label) in enumerate(shown.items()):
        values = train[train.metric == metric].value
        for col, x in enumerate(xs):
            ax = axes[row][col]
            style.set_scale(ax, values)
            if x == "train_time":  # JAX's jitted steps can be far faster than torch's eager ones
                style.set_scale(ax, train.train_time, "x")
            ax.set_xlabel(style.LABELS[x])
            ax.set_ylabel(label)
            ax.grid(alpha=0.3)
    axes[0][-1].legend(handles=handles, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0,
                       fontsize="small", ncols=style.legend_columns(fig, len(handles)))
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    seeds = sorted(train.seed.unique())
    return Image(f"plots/{name}.png", lit(title),
                 f"{note}Line: median over seeds ({', '.join(map(str, seeds))}); band: minimum to maximum over "
                 "seeds. Metrics: " + "; ".join(lit(f"{m}: {label}") for m, label in shown.items()) + ".")


def final(train: pd.DataFrame) -> Table | None:
    """Where each curve ended: per held-out metric, the median over seeds at the curve's last step."""
    shown = metrics(train)
    if not shown:
        return None
    varying = [f for f in DISTINGUISH if train[f].astype(str).nunique() > 1]
    option_keys = _varying_options(train)
    rows = []
    for key, part in _curves(train):
        last = part[part.step == part.step.max()]
        cells = [lit(_name(key, varying, option_keys)), f"{int(last.step.iloc[0])}", str(last.seed.nunique())]
        for metric in shown:
            v = last[last.metric == metric].value
            cells.append(f"{v.median():.4g}" if len(v) else "n/a")
        clock = last.train_time.dropna()
        rows.append(cells + [f"{clock.mean():.3g}" if len(clock) else "n/a"])
    columns = ["curve", "last step", "seeds", *[lit(label) for label in shown.values()], "training time (s)"]
    return Table(columns, rows, [False, True, True] + [True] * (len(shown) + 1))
