"""One look for every plot: a colour per estimator, a line style per backend, a marker per backend and palette
round, units on axes, ticks that never collide.

Colours follow the estimator catalog's order (`estimators.names()`), so an estimator keeps its colour in every
plot and every report, whatever subset a run contains. The first 24 are hand-picked; past them colours are
generated (never one already used), and each further round of 24 draws its markers from another family, so
two estimators are told apart by colour and marker however large the catalog grows. An estimator's option
variants are shades of its colour; a legend shows each estimator's own markers, and takes more columns (the
figure wider) rather than outgrow its figure. Legends go outside the axes; tick labels that would touch are
thinned.
"""

from __future__ import annotations

import colorsys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; no display on CI machines

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.axis import Axis  # noqa: E402
from matplotlib.colors import to_hex, to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.legend_handler import HandlerTuple  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import FixedLocator, FuncFormatter, LogLocator, MaxNLocator, NullFormatter  # noqa: E402

from estimators import catalog  # noqa: E402

# tab10 first (the most distinguishable ten), then further hues far from those, all dark enough for white paper
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf", "#000000", "#b8860b", "#000080", "#ff00ff", "#008080", "#7fbf00", "#800000", "#808000",
           "#ff6f91", "#c71585", "#6a5acd", "#2f4f4f", "#e6a000", "#4b0082"]
CATALOG = catalog.names()
# torch-compile sits between eager torch and JAX: the same framework as one, the same execution mode as the other
LINESTYLES = {"torch": "-", "torch-compile": "-.", "jax": "--"}
BACKEND_NAMES = {"torch": "torch (eager)", "torch-compile": "torch.compile (inductor)", "jax": "JAX (jit-compiled)"}
# per palette round, a marker for torch, torch-compile, JAX and any other backend (all filled: hollow = unstable)
MARKER_FAMILIES = ["oDs*", "^Pv8", "pXh<", "dH>o"]
MARKERS = {b: MARKER_FAMILIES[0][i] for i, b in enumerate(LINESTYLES)}

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
_SEEN: dict[str, int] = {}  # names outside the catalog, numbered after it in the order first drawn


def plain(text: object) -> str:
    """Text from results, as matplotlib draws it literally: a `$` would start mathtext (and can fail to parse)."""
    return str(text).replace("$", r"\$")


def _index(estimator: str) -> int:
    if estimator in CATALOG:
        return CATALOG.index(estimator)
    return len(CATALOG) + _SEEN.setdefault(estimator, len(_SEEN))


def _generated(j: int) -> str:
    """The j-th colour past the palette: golden-ratio hues at alternating lightness, none the palette's."""
    taken = set(PALETTE)
    while True:
        hue = (0.13 + j * 0.618034) % 1.0
        light, sat = (0.35, 0.75) if j % 2 else (0.55, 0.6)
        text = to_hex(colorsys.hls_to_rgb(hue, light + 0.08 * ((j // 2) % 2), sat))
        if text not in taken:
            return text
        j += 997  # a generated colour equal to a hand-picked one (never seen, but cheap to rule out)


def colour(estimator: str) -> str:
    """The estimator's colour: the palette's in catalog order, then generated ones (names outside the catalog
    after it); no two estimators share one."""
    i = _index(estimator)
    return PALETTE[i] if i < len(PALETTE) else _generated(i - len(PALETTE))


def family(estimator: str) -> int:
    """Which round of the palette the estimator's colour is from: its markers come from that family."""
    return (_index(estimator) // len(PALETTE)) % len(MARKER_FAMILIES)


def shade(base: str, i: int, n: int) -> str:
    """The i-th of n shades of `base`, from darker to lighter: variants of one estimator keep its hue."""
    rgb = np.array(to_rgb(base))
    if n < 2:
        return to_hex(rgb)
    t = -0.45 + 0.9 * i / (n - 1)  # < 0 mixes in black, > 0 white
    return to_hex(rgb * (1 + t) if t < 0 else rgb + (1 - rgb) * t)


def linestyle(backend: str) -> str:
    return LINESTYLES.get(backend, ":")


def marker(backend: str, estimator: str | None = None) -> str:
    """The backend's marker, from the family of the estimator's palette round (the first without one)."""
    slot = list(LINESTYLES).index(backend) if backend in LINESTYLES else len(LINESTYLES)
    return MARKER_FAMILIES[family(estimator) if estimator else 0][slot]


def look(estimator: str, backend: str, variant: int = 0, variants: int = 1) -> dict[str, str]:
    """A series' colour, marker and line style: estimator (and variant shade), backend, palette round."""
    return {"color": shade(colour(estimator), variant, variants), "marker": marker(backend, estimator),
            "ls": linestyle(backend)}


def series_id(estimator: str, variant: str, backend: str) -> str:
    """The gid a data series carries, so a test can find every series of a figure and what it looks like."""
    return f"series:{estimator}|{variant}|{backend}"


def backend_name(backend: str) -> str:
    return BACKEND_NAMES.get(backend, backend)


def estimator_order(names: list[str]) -> list[str]:
    """Catalog order, then any unknown names alphabetically: legends list estimators the same way everywhere."""
    known = [n for n in CATALOG if n in names]
    return known + sorted(set(names) - set(known))


def backend_order(names: list[str]) -> list[str]:
    return [b for b in LINESTYLES if b in names] + sorted(set(names) - set(LINESTYLES))


def variants(frame: pd.DataFrame) -> dict[tuple[str, str], tuple[int, int]]:
    """(estimator, variant) -> (its index, how many): an estimator's option variants are shades of its colour."""
    out = {}
    for estimator, part in frame.groupby("estimator"):
        names = sorted(part.variant.unique())
        out.update({(estimator, v): (i, len(names)) for i, v in enumerate(names)})
    return out


def _superscript(n: int) -> str:
    return str(n).translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


def tick_text(value: float, _pos: object = None) -> str:
    """A short log-axis label: 0.02, 500, 10⁻⁵, 2×10⁻⁵ (no mathtext, nothing wider than it needs)."""
    if value <= 0 or not np.isfinite(value):
        return f"{value:g}"
    if 1e-3 <= value < 1e4:
        return f"{value:g}"
    exponent = int(np.floor(np.log10(value) + 1e-9))
    mantissa = round(value / 10.0**exponent, 6)
    return ("" if mantissa == 1 else f"{mantissa:g}×") + "10" + _superscript(exponent)


def log_ticks(axis: Axis, low: float, high: float) -> None:
    """Labels at decades; at 1, 2, 5 × 10ᵏ (or every digit) where the data span too little for decades to show."""
    span = np.log10(high / low) if low > 0 and high > low else 0.0
    subs = tuple(range(1, 10)) if span < 0.5 else (1.0, 2.0, 5.0) if span < 1.5 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs, numticks=7))
    axis.set_major_formatter(FuncFormatter(tick_text))
    axis.set_minor_locator(LogLocator(base=10, subs=tuple(range(2, 10)), numticks=12))
    axis.set_minor_formatter(NullFormatter())


def set_scale(ax: Axes, values: np.ndarray | pd.Series | list[float], axis: str = "y", zero_ok: bool = False,
              always: bool = False) -> None:
    """Log scale where positive values span more than ~1.5 decades, or `always` (variances: ratios matter).

    Values <= 0 are left off a log axis (a variance of 0 is the exact estimator's); with `zero_ok` (bias, where
    0 is the finding) the axis is symlog from 0 instead, linear below the smaller positive values.
    """
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    pos = v[v > 0]
    target = ax.yaxis if axis == "y" else ax.xaxis
    if len(pos) < 2 or pos.max() / pos.min() < (1 if always else 30):
        # linear: small or large numbers get one shared power of ten, not long overlapping tick labels
        target.set_major_locator(MaxNLocator(nbins=5 if axis == "x" else "auto"))
        ax.ticklabel_format(axis=axis, style="sci", scilimits=(-3, 4), useMathText=True)
        return
    setter = ax.set_yscale if axis == "y" else ax.set_xscale
    if zero_ok and (v <= 0).any():
        setter("symlog", linthresh=float(np.percentile(pos, 10)))
        (ax.set_ylim if axis == "y" else ax.set_xlim)(0, None)
    else:
        setter("log", nonpositive="mask")
        log_ticks(target, float(pos.min()), float(pos.max()))


def integer_ticks(ax: Axes, values: list[int], axis: str = "x") -> None:
    ticks = sorted(set(int(v) for v in values))
    (ax.set_xticks if axis == "x" else ax.set_yticks)(ticks)
    if axis == "x" and len(ticks) > 1 and ticks[-1] / max(ticks[0], 1) >= 8:
        ax.set_xscale("log", base=2)
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()


def lines(ax: Axes, frame: pd.DataFrame, x: str, y: str, se: str | None = None) -> None:
    """One line per (estimator variant, backend) through `frame`'s points, with standard-error bars if given."""
    shades = variants(frame)
    for (estimator, variant, backend), part in frame.groupby(["estimator", "variant", "backend"]):
        part = part.sort_values(x)
        err = part[se].to_numpy(float) if se and part[se].notna().any() else None
        bars = ax.errorbar(part[x].to_numpy(float), part[y].to_numpy(float), yerr=err, ms=4, lw=1.5, capsize=2,
                           elinewidth=0.8, **look(estimator, backend, *shades[estimator, variant]))
        bars.lines[0].set_gid(series_id(estimator, variant, backend))


def legend(ax: Axes, frame: pd.DataFrame, extra: list[Line2D] | tuple = (), lines: bool = True) -> None:
    """One legend right of `ax`: colour = estimator, line style = backend, variants by shade; `lines` False
    for a plot of points only, whose backends are told apart by marker alone (no line-style entries, which
    would read as the plot's other lines, a Pareto front).

    Past the palette's first round an estimator's markers come from another family (`marker`), so one marker
    per backend in the legend would be wrong for it: with several backends each estimator's entry shows its
    own markers side by side, in the backend order the title names."""
    backends = backend_order(list(frame.backend))
    names = estimator_order(list(frame.estimator))
    if len(backends) > 1 or not lines:
        handles = [tuple(Line2D([], [], color=colour(e), ls="", marker=marker(b, e), ms=5) for b in backends)
                   for e in names]
    else:
        first = backends[0] if backends else "torch"
        handles = [Line2D([], [], color=colour(e), lw=2, marker=marker(first, e), ms=5) for e in names]
    labels = [plain(e) for e in names]
    one_family = all(family(e) == 0 for e in names)
    for b in backends if lines else []:  # a marker here only where it is every estimator's marker for that backend
        handles.append(Line2D([], [], color="0.3", ls=linestyle(b), marker=marker(b) if one_family else None))
        labels.append(backend_name(b))
    if "variant" in frame:
        for (e, v), (i, n) in variants(frame).items():
            if n > 1:
                handles.append(Line2D([], [], color=shade(colour(e), i, n), ls="", marker="s", ms=6))
                labels.append(plain(f"{e} ({v})"))
    handles += list(extra)
    labels += [h.get_label() for h in extra]
    title = f"markers: {' / '.join(backend_name(b).split(' ')[0] for b in backends)}" \
        if len(backends) > 1 or not lines else None
    ax.legend(handles=handles, labels=labels, bbox_to_anchor=(1.02, 1), loc="upper left", borderaxespad=0,
              fontsize="small", title=title, title_fontsize="small", ncols=legend_columns(ax.figure, len(handles)),
              handler_map={tuple: HandlerTuple(ndivide=None, pad=0.2)})


LEGEND_ROW = 0.19  # inches per legend entry at fontsize "small"
LEGEND_COLUMN = 1.9  # inches a further column of legend entries takes


def legend_columns(fig: Figure, entries: int) -> int:
    """Legend columns enough for `entries` to fit the figure's height, the figure widened to hold them: a
    legend taller than its figure would squeeze the axes to nothing (a large catalog in one plot)."""
    width, height = fig.get_size_inches()
    fits = max(4, int((height - 0.5) / LEGEND_ROW))
    columns = -(-entries // fits)
    if columns > 1:
        fig.set_size_inches(width + LEGEND_COLUMN * (columns - 1), height)
    return columns


def figure(rows: int, cols: int, width: float = 4.6, height: float = 3.4) -> tuple[Figure, np.ndarray]:
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols + 1.8, height * rows), squeeze=False,
                             layout="constrained")
    return fig, axes


def _drawn_labels(axis: Axis) -> list:
    """The tick labels the axis draws (those inside its view), not every tick object it holds."""
    ticks = axis._update_ticks()  # the ticks Axis.draw draws
    return [t.label1 for t in ticks if t.label1.get_visible() and t.label1.get_text()]


def _crowded(axis: Axis, renderer: object) -> bool:
    boxes = [t.get_window_extent(renderer).expanded(1.0, 1.0).padded(1.5) for t in _drawn_labels(axis)]
    return any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def _thin(axis: Axis, labels: int) -> None:
    """Fewer labelled ticks: decades only on a log axis, fewer bins on a linear one."""
    if axis.get_scale() == "log":
        axis.set_major_locator(LogLocator(base=10, subs=(1.0,), numticks=max(2, labels // 2 + 1)))
        axis.set_major_formatter(FuncFormatter(tick_text))
        axis.set_minor_formatter(NullFormatter())
    elif axis.get_scale() == "linear":
        axis.set_major_locator(MaxNLocator(nbins=max(2, labels // 2), steps=[1, 2, 2.5, 5, 10]))
    elif axis.get_scale() == "symlog":  # its linear part by 0 is narrow: keep 0, drop the smallest decade
        low, high = sorted(axis.get_view_interval())
        shown = sorted(t for t in axis.get_majorticklocs() if low <= t <= high)
        positive = [t for t in shown if t > 0]
        axis.set_major_locator(FixedLocator([t for t in shown if t <= 0] + positive[1:]))


def declutter(fig: Figure, attempts: int = 4) -> None:
    """Thin out tick labels that touch (as drawn at the saved size); as a last resort turn x labels aside."""
    for attempt in range(attempts + 1):
        fig.draw_without_rendering()  # layout and ticks as savefig will have them, without rasterising
        renderer = fig.canvas.get_renderer()
        crowded = [axis for ax in fig.axes for axis in (ax.xaxis, ax.yaxis) if _crowded(axis, renderer)]
        if not crowded:
            return
        for axis in crowded:
            if attempt < attempts:
                _thin(axis, len(_drawn_labels(axis)))
            elif axis is axis.axes.xaxis:
                axis.axes.tick_params(axis="x", labelrotation=35)
                for t in _drawn_labels(axis):
                    t.set_horizontalalignment("right")


def save(fig: Figure, path: Path) -> Path:
    """PNG with the outside legend included (bbox_inches='tight'); the figure is closed to bound memory."""
    declutter(fig)
    fig.savefig(path, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return path
