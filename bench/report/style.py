"""One look for every plot: a fixed colour per estimator, a line style and marker per backend, units on axes.

Colours follow the estimator catalog's order (`estimators.names()`), so an estimator keeps its colour in
every plot and every report, whatever subset a run contains. Legends go outside the axes so they cover no data.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI machines

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from estimators import catalog  # noqa: E402

# tab10 first (the most distinguishable ten), then further hues far from those: 24 >= the catalog's 23.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000000", "#b8860b", "#000080", "#ff00ff", "#008080", "#7fbf00", "#800000", "#808000",
           "#aaffc3", "#ffd8b1", "#dcbeff", "#fabed4", "#ffe119", "#4b0082"]
CATALOG = catalog.names()
# torch-compile sits between eager torch and JAX: the same framework as one, the same execution mode as the other
LINESTYLES = {"torch": "-", "torch-compile": "-.", "jax": "--"}
MARKERS = {"torch": "o", "torch-compile": "D", "jax": "s"}
BACKEND_NAMES = {"torch": "torch (eager)", "torch-compile": "torch.compile (inductor)", "jax": "JAX (jit-compiled)"}
VARIANT_MARKERS = ["o", "^", "v", "D", "P", "X", "*", "<", ">"]

# Axis labels with their units. Variance is the trace of the estimate's covariance, in squared gradient units.
LABELS = {
    "variance": "variance (trace of covariance, grad²)",
    "bias": "bias ‖mean − truth‖ (grad units)",
    "mse": "mse (grad²)",
    "time": "time per estimate (s)",
    "compile_time": "compile time (s)",
    "peak_host_memory": "peak host memory (MiB)",
    "peak_device_memory": "peak device memory (MiB)",
    "work_variance": "variance × time per estimate (grad² · s)",
    "depth": "depth (stochastic layers)",
    "batch_size": "batch size (examples per estimate)",
    "n_samples": "n_samples (draws per example)",
    "layer": "layer index",
    "step": "optimizer steps",
    "train_time": "training time (s, evaluation excluded)",
    "loss": "held-out loss (nats per example)",
    "accuracy": "held-out accuracy (fraction)",
    "elbo": "held-out ELBO (nats per example)",
}
MIB = 2.0**20


def colour(estimator: str) -> str:
    """The estimator's colour; names outside the catalog get the colours after it, in a stable order."""
    if estimator in CATALOG:
        return PALETTE[CATALOG.index(estimator) % len(PALETTE)]
    return PALETTE[(len(CATALOG) + sum(map(ord, estimator))) % len(PALETTE)]


def shade(base: str, i: int, n: int) -> tuple[float, float, float]:
    """The i-th of n shades of `base`, from darker to lighter: variants of one estimator keep its hue."""
    rgb = np.array(to_rgb(base))
    if n < 2:
        return tuple(rgb)
    t = -0.45 + 0.9 * i / (n - 1)  # < 0 mixes in black, > 0 white
    return tuple(rgb * (1 + t) if t < 0 else rgb + (1 - rgb) * t)


def linestyle(backend: str) -> str:
    return LINESTYLES.get(backend, ":")


def marker(backend: str) -> str:
    return MARKERS.get(backend, "^")


def backend_name(backend: str) -> str:
    return BACKEND_NAMES.get(backend, backend)


def estimator_order(names: list[str]) -> list[str]:
    """Catalog order, then any unknown names alphabetically: legends list estimators the same way everywhere."""
    known = [n for n in CATALOG if n in names]
    return known + sorted(set(names) - set(known))


def backend_order(names: list[str]) -> list[str]:
    return [b for b in LINESTYLES if b in names] + sorted(set(names) - set(LINESTYLES))


def set_scale(ax: Axes, values: np.ndarray | pd.Series | list[float], axis: str = "y", zero_ok: bool = False,
              always: bool = False) -> None:
    """Log scale where positive values span more than ~1.5 decades, or `always` (variances: ratios matter).

    Values <= 0 are left off a log axis (a variance of 0 is the exact estimator's); with `zero_ok` (bias, where
    0 is the finding) the axis is symlog from 0 instead, linear below the smaller positive values.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    pos = v[v > 0]
    if len(pos) < 2 or pos.max() / pos.min() < (1 if always else 30):
        # linear: small or large numbers get one shared power of ten, not long overlapping tick labels
        ax.ticklabel_format(axis=axis, style="sci", scilimits=(-3, 4), useMathText=True)
        return
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if zero_ok and (v <= 0).any():
        setter("symlog", linthresh=float(np.percentile(pos, 10)))
        (ax.set_ylim if axis == "y" else ax.set_xlim)(0, None)
    else:
        setter("log", nonpositive="mask")


def integer_ticks(ax: Axes, values: list[int], axis: str = "x") -> None:
    ticks = sorted(set(int(v) for v in values))
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks)
    if axis == "x" and len(ticks) > 1 and ticks[-1] / max(ticks[0], 1) >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()


def variant_markers(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(estimator, variant) -> marker: an estimator's option variants share its colour, so markers tell them apart."""
    out = {}
    for estimator, part in frame.groupby("estimator"):
        variants = sorted(part.variant.unique())
        for i, v in enumerate(variants):
            out[estimator, v] = None if len(variants) == 1 else VARIANT_MARKERS[i % len(VARIANT_MARKERS)]
    return out


def lines(ax: Axes, frame: pd.DataFrame, x: str, y: str, se: str | None = None) -> None:
    """One line per (estimator variant, backend) through `frame`'s points, with standard-error bars if given."""
    markers = variant_markers(frame)
    for (estimator, variant, backend), part in frame.groupby(["estimator", "variant", "backend"]):
        part = part.sort_values(x)
        err = part[se].to_numpy(float) if se and part[se].notna().any() else None
        ax.errorbar(part[x].to_numpy(float), part[y].to_numpy(float), yerr=err, color=colour(estimator),
                    ls=linestyle(backend), marker=markers[estimator, variant] or marker(backend), ms=4, lw=1.5,
                    capsize=2, elinewidth=0.8)


def legend(ax: Axes, frame: pd.DataFrame, extra: list[Line2D] | tuple = ()) -> None:
    """One legend right of `ax`: colour = estimator, line style/marker = backend (proxies, so it is complete)."""
    handles = [Line2D([], [], color=colour(e), lw=2, label=e) for e in estimator_order(list(frame.estimator))]
    handles += [Line2D([], [], color="0.3", ls=linestyle(b), marker=marker(b), label=backend_name(b))
                for b in backend_order(list(frame.backend))]
    handles += [Line2D([], [], color=colour(e), ls="", marker=m, label=f"{e} ({v})")
                for (e, v), m in variant_markers(frame).items() if m]
    handles += list(extra)
    ax.legend(handles=handles, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0, fontsize="small")


def figure(rows: int, cols: int, width: float = 4.6, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 1.8, height * rows), squeeze=False,
                             layout="constrained")
    return fig, axes


def save(fig: Figure, path: Path) -> Path:
    """PNG with the outside legend included (bbox_inches='tight'); the figure is closed to bound memory."""
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
