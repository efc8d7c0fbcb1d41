"""What an estimator costs: work-normalised variance and the variance/time Pareto front; time and memory by
device and backend (torch runs eagerly, JAX jit-compiled)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from bench.report import style
from bench.report.data import describe, hold
from bench.report.doc import Image


def pareto(frame: pd.DataFrame) -> pd.DataFrame:
    """Points no other point beats on both time and variance, fastest first."""
    ordered = frame.sort_values(["time", "variance"])
    return ordered[ordered.variance < ordered.variance.cummin().shift(fill_value=np.inf)]


def _row_label(r: pd.Series) -> str:
    return f"{r.label} · {r.backend}"


def efficiency(eff: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    frame, held = hold(eff, [], ("device", "depth", "batch_size", "n_samples"))
    if frame.empty:
        return None
    frame = frame.sort_values("work_variance", ascending=False)
    fig, axes = style.figure(1, 2, width=5.2, height=max(3.4, 0.22 * len(frame) + 1.2))
    bars, scatter = axes[0]
    rel = np.sqrt((frame.variance_se / frame.variance) ** 2 + (frame.time_se / frame.time) ** 2)
    # dots, not bars: a bar starts at 0, which a log axis cannot show
    for y, r, err in zip(range(len(frame)), frame.itertuples(), (frame.work_variance * rel).fillna(0)):
        bars.errorbar(r.work_variance, y, xerr=err, color=style.colour(r.estimator), marker=style.marker(r.backend),
                      ms=6, capsize=2, elinewidth=0.8)
    bars.set_yticks(np.arange(len(frame)), [_row_label(r) for r in frame.itertuples()], fontsize="small")
    style.set_scale(bars, frame.work_variance, "x", always=True)
    bars.set_xlabel(style.LABELS["work_variance"] + "\n(lower is better)")
    bars.grid(axis="x", alpha=0.3)
    frame = frame[frame.variance > 0]  # a zero-variance estimator (exact, deterministic) has no place on log axes
    for r in frame.itertuples():
        scatter.scatter(r.time, r.variance, color=style.colour(r.estimator), marker=style.marker(r.backend), s=30,
                        zorder=3)
    front = pareto(frame)
    scatter.step(front.time, front.variance, where="post", color="0.4", ls=":", lw=1.2, zorder=2)
    style.set_scale(scatter, frame.time, "x")
    style.set_scale(scatter, frame.variance, always=True)
    scatter.set_xlabel(style.LABELS["time"])
    scatter.set_ylabel(style.LABELS["variance"])
    scatter.grid(alpha=0.3)
    style.legend(scatter, frame, [Line2D([], [], color="0.4", ls=":", label="Pareto front")])
    fig.suptitle(title)
    style.save(fig, out / f"{name}.png")
    on_front = ", ".join(_row_label(r) for r in front.itertuples())
    return Image(f"plots/{name}.png", title,
                 f"Held fixed: {describe(held)}. On the Pareto front (no other is both faster and lower-variance): "
                 f"{on_front or 'none'}. Zero-variance estimators (exact, deterministic) are left off the scatter.")


SPEED_PANELS = ["time", "compile_time", "peak_host_memory", "peak_device_memory"]


def speed(speeds: pd.DataFrame, out: Path, name: str, title: str) -> Image | None:
    """Per estimator, one marker per (backend, device): shape = backend, filled = cpu, hollow = cuda."""
    frame, held = hold(speeds, [], ("depth", "batch_size", "n_samples"))
    panels = [m for m in SPEED_PANELS if frame[m].notna().any()] if len(frame) else []
    if not panels:
        return None
    labels = [lab for e in style.estimator_order(list(frame.estimator))
              for lab in sorted(frame[frame.estimator == e].label.unique())]
    combos = sorted({(b, d) for b, d in zip(frame.backend, frame.device)})
    offsets = np.linspace(-0.2, 0.2, len(combos)) if len(combos) > 1 else [0.0]
    fig, axes = style.figure(1, len(panels), width=4.0, height=max(3.0, 0.3 * len(labels) + 1.2))
    for ax, metric in zip(axes[0], panels):
        scale = 1 / style.MIB if "memory" in metric else 1.0
        for (backend, device), dy in zip(combos, offsets):
            part = frame[(frame.backend == backend) & (frame.device == device) & frame[metric].notna()]
            y = [labels.index(lab) + dy for lab in part.label]
            colours = [style.colour(e) for e in part.estimator]
            ax.scatter(part[metric] * scale, y, marker=style.marker(backend), s=30, zorder=3,
                       facecolors=colours if device == "cpu" else "none", edgecolors=colours)
        ax.set_yticks(range(len(labels)), labels if ax is axes[0][0] else [""] * len(labels), fontsize="small")
        ax.set_ylim(len(labels) - 0.5, -0.5)
        style.set_scale(ax, frame[metric] * scale, "x")
        ax.set_xlabel(style.LABELS[metric])
        ax.grid(axis="x", alpha=0.3)
    devices = [Line2D([], [], color="0.3", marker="o", ls="", markerfacecolor="0.3" if d == "cpu" else "none",
                      label=f"device {d}") for d in sorted(frame.device.unique())]
    style.legend(axes[0][-1], frame, devices)
    fig.suptitle(title)
    style.save(fig, out / f"{name}.png")
    return Image(f"plots/{name}.png", title,
                 f"Held fixed: {describe(held)}. Torch runs eagerly, JAX jit-compiled (compile time apart); host "
                 "memory is the worker process's peak resident set.")
