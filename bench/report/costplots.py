"""What an estimator costs: work-normalised variance and the variance/time Pareto front; time and memory by
device and backend (torch runs eagerly, JAX jit-compiled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from bench.report import style
from bench.report.data import STABLE, describe, hold, mark
from bench.report.doc import Image
from bench.report.markup import lit


def pareto(frame: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both time and variance, fastest first."""
    ordered = frame.sort_values(["time", "variance"])
    return ordered[ordered.variance < ordered.variance.cummin().shift(fill_value=np.inf)]


def front(eff: pd.DataFrame) -> pd.DataFrame:
    """The Pareto front of the rows that may be ranked: stable timings, positive variance (a zero-variance
    estimator, exact or deterministic, has no place on the log axes the front is drawn on)."""
    ranked = eff["ranked"] if "ranked" in eff else eff.stability == STABLE
    return pareto(eff[ranked.astype(bool) & (eff.variance > 0)])


def _row_label(r: pd.Series) -> str:
    return f"{r.label} · {r.backend}"


def _looks(frame: pd.DataFrame) -> list[dict[str, str]]:
    """Each row's colour (shaded per variant), marker and face: hollow for an unstable or unknown timing."""
    shades = style.variants(frame)
    out = []
    for r in frame.itertuples():
        look = style.look(r.estimator, r.backend, *shades[r.estimator, r.variant])
        out.append({"color": look["color"], "marker": look["marker"],
                    "mfc": look["color"] if r.stability == STABLE else "white",
                    "gid": style.series_id(r.estimator, r.variant, r.backend)})
    return out


def _point(ax, x: float, y: float, look: dict[str, str], **more) -> None:
    """One marker (a Line2D, so its colour and marker can be read back), drawn above the grid."""
    ax.plot([x], [y], ls="", ms=6, mew=1.2, zorder=3, **look, **more)


def _hollow_note(frame: pd.DataFrame) -> list[Line2D]:
    """A legend entry for hollow markers, where the plot has any."""
    if (frame.stability == STABLE).all():
        return []
    return [Line2D([], [], color="0.3", marker="o", ls="", markerfacecolor="none",
                   label="hollow: unstable or unknown\ntiming (not ranked)")]


def efficiency(eff: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    frame, held = hold(eff, [], ("device", "depth", "batch_size", "n_samples"))
    if frame.empty:
        return None
    # stable rows ordered by work-normalised variance (the ranking, best on top); unranked ones below them
    frame = frame.assign(_unranked=frame.stability != STABLE).sort_values(
        ["_unranked", "work_variance"], ascending=[False, False])
    fig, axes = style.figure(1, 2, width=5.2, height=max(3.4, 0.22 * len(frame) + 1.2))
    bars, scatter = axes[0]
    rel = np.sqrt((frame.variance_se / frame.variance) ** 2 + (frame.time_se / frame.time) ** 2)
    # dots, not bars: a bar starts at 0, which a log axis cannot show
    for y, r, err, look in zip(range(len(frame)), frame.itertuples(), (frame.work_variance * rel).fillna(0),
                               _looks(frame)):
        bars.errorbar(r.work_variance, y, xerr=err, color=look["color"], capsize=2, elinewidth=0.8, ls="")
        _point(bars, r.work_variance, y, look)
    bars.set_yticks(np.arange(len(frame)), [style.plain(_row_label(r) + mark(r.stability))
                                            for r in frame.itertuples()], fontsize="small")
    style.set_scale(bars, frame.work_variance, "x", always=True)
    bars.set_xlabel(style.LABELS["work_variance"] + "\n(lower is better)")
    bars.grid(axis="x", alpha=0.3)
    frame = frame[frame.variance > 0]  # a zero-variance estimator (exact, deterministic) has no place on log axes
    for r, look in zip(frame.itertuples(), _looks(frame)):
        _point(scatter, r.time, r.variance, look)
    on = front(frame)
    scatter.step(on.time, on.variance, where="post", color="0.4", ls=":", lw=1.2, zorder=2)
    style.set_scale(scatter, frame.time, "x")
    style.set_scale(scatter, frame.variance, always=True)
    scatter.set_xlabel(style.LABELS["time"])
    scatter.set_ylabel(style.LABELS["variance"])
    scatter.grid(alpha=0.3)
    style.legend(scatter, frame, [Line2D([], [], color="0.4", ls=":", label="Pareto front (stable timings)"),
                                  *_hollow_note(frame)], lines=False)
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    on_front = ", ".join(lit(_row_label(r)) for r in on.itertuples())
    left = ", ".join(lit(_row_label(r) + mark(r.stability)) for r in frame[frame.stability != STABLE].itertuples())
    return Image(f"plots/{name}.png", lit(title),
                 f"Held fixed: {describe(held)}. On the Pareto front (no other is both faster and lower-variance, "
                 f"among stable timings): {on_front or 'none'}. "
                 + (f"Hollow, unstable (†) or of unknown stability (‡), so left off the front: {left}. " if left
                    else "")
                 + "Zero-variance estimators (exact, deterministic) are left off the scatter.")


SPEED_PANELS = ["time", "time_ratio_to_floor", "estimate_memory", "compile_time", "peak_host_memory",
                "peak_device_memory"]
SPEED_COLUMNS = 3
TIMED = {"time", "time_ratio_to_floor"}  # the panels the stability verdict is about
# labels the style module may not have yet; its own win where it has them
LABELS = {"time_ratio_to_floor": "time / floor (deterministic pass)", "estimate_memory": "one estimate's memory (MiB)",
          **style.LABELS}


def speed(speeds: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    """Per estimator (and device, where there are several), one marker per backend: shape = backend; on the
    timing panels a hollow marker is an unstable or unknown timing."""
    frame, held = hold(speeds, [], ("depth", "batch_size", "n_samples"))
    panels = [m for m in SPEED_PANELS if m in frame and frame[m].notna().any()] if len(frame) else []
    if not panels:
        return None
    devices = sorted(frame.device.unique())
    frame = frame.assign(row_=frame.label + (" · " + frame.device if len(devices) > 1 else ""), i_=range(len(frame)))
    looks = _looks(frame)
    rows = [r for e in style.estimator_order(list(frame.estimator))
            for r in sorted(frame[frame.estimator == e].row_.unique())]
    backends = style.backend_order(list(frame.backend))
    offsets = np.linspace(-0.2, 0.2, len(backends)) if len(backends) > 1 else [0.0]
    # at most three panels a row: six side by side shrink to unreadable on a page 1200 pixels wide
    cols = min(SPEED_COLUMNS, len(panels))
    fig, axes = style.figure(-(-len(panels) // cols), cols, width=4.0, height=max(3.0, 0.3 * len(rows) + 1.2))
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for i, (ax, metric) in enumerate(zip(axes.flat, panels)):
        scale = 1 / style.MIB if "memory" in metric else 1.0
        for backend, dy in zip(backends, offsets):
            part = frame[(frame.backend == backend) & frame[metric].notna()]
            for r in part.itertuples():
                look = looks[r.i_] if metric in TIMED else {**looks[r.i_], "mfc": looks[r.i_]["color"]}
                _point(ax, getattr(r, metric) * scale, rows.index(r.row_) + dy, look)
        if metric == "time_ratio_to_floor":
            ax.axvline(1.0, color="0.5", lw=0.8, ls=":")  # the floor itself
        ax.set_yticks(range(len(rows)), [style.plain(r) for r in rows] if i % cols == 0 else [""] * len(rows),
                      fontsize="small")
        ax.set_ylim(len(rows) - 0.5, -0.5)
        style.set_scale(ax, frame[metric] * scale, "x")
        ax.set_xlabel(LABELS.get(metric, metric))
        ax.grid(axis="x", alpha=0.3)
    style.legend(axes[0][-1], frame, _hollow_note(frame), lines=False)
    fig.suptitle(style.plain(title))
    style.save(fig, out / f"{name}.png")
    return Image(f"plots/{name}.png", lit(title),
                 f"Held fixed: {describe(held)}. Compile time is apart from the time per estimate; the floor is the "
                 "same model's gradient with every stochastic node replaced by its mean (no sampling); one "
                 "estimate's memory is the peak of what a single estimate allocates; host memory is the worker "
                 "process's peak resident set. Hollow markers on the time and ratio panels: unstable or unknown "
                 "timing.")
