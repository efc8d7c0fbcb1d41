"""`python -m bench report`: a results folder rendered as index.md, a self-contained index.html and plots/*.png.

It opens with the answer: a table with one row per problem at its standard configuration (the unbiased
estimator with the least variance × time and the runner-up, the best biased one with its bias), one figure of
every problem's variance/time Pareto front, the audit's findings, and a short block counting what to be wary
of (stale, mixed-version and failed cells). Then the details, per problem (and per gradient point): estimators
ranked by mse and by work-normalised variance, torch beside JAX, variance/bias/time against depth, batch size
and n_samples, per-layer variance, the cost plot, time and memory by device and backend; the papers' claims, the
audit's whole table, variance along a training run, training curves with every held-out metric the problems
declare, the environment, and at the end the warnings' full tables. A plot appears only when the results hold
its data. Unstable timings are marked and never ranked on. Files the benchmark did not write are skipped with
a warning; `render` returns None when nothing is left.

Modules: files (reading), data (tidy, join), labels (names from the problems), style (colours, markers,
scales, ticks), gradplots / costplots / trainplots / trajectory / fronts (the figures), tables, headline (the
opening table), audit, caveats (warnings), doc and markup (the blocks and their inline text) with to_markdown /
to_html (the two renderings of the same blocks).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.literature.experiments import EXPERIMENTS
from bench.report import (
    audit,
    caveats,
    costplots,
    data,
    fronts,
    gradplots,
    headline,
    tables,
    to_html,
    to_markdown,
    trainplots,
    trajectory,
)
from bench.report.doc import Block, Bullets, Heading, Image, Para
from bench.report.markup import code, lit

TITLE = "Monte Carlo gradient estimators: results"
READING = [  # one point a line: a reader scans for the one term they need
    "**Colours and lines.** Each estimator has one colour in every plot, its option variants shades of it; past "
    "the palette's 24 colours, generated colours come with another family of markers, so colour and marker "
    "together tell any two estimators apart. torch (eager) is a solid line, torch.compile a dash-dot line, JAX "
    "(jit-compiled) a dashed one, each with a marker of its own; a legend shows each estimator's markers in the "
    "backend order its title names. Axes are logarithmic where values span decades.",
    "**Variance** is the trace of the covariance of one gradient estimate (squared gradient units). **Bias** is "
    "‖mean − truth‖, from an unbiased estimate of its square (`bias_sq`; under no bias, bias_sq / SE is the test "
    "of unbiasedness), so an unbiased estimator shows a bias consistent with 0. mse = bias² + variance.",
    "**Standard errors** come from streamed batch means with the full covariance (no diagonal shortcut) and "
    "include the truth's own error where the truth is a reference estimate.",
    "**Time** is the median seconds per gradient estimate of `batch_size` examples. Work-normalised variance is "
    "variance × time: the variance left after spending the same compute.",
    "**The floor** is the time of the same model's gradient at the same batch size with every stochastic node "
    "replaced by its mean (estimator `deterministic`: one forward and backward pass, no sampling); time / floor "
    "is what the estimator's sampling and extra passes cost on top of plain backpropagation.",
    "**A stable timing** is one whose repeats' spread stayed within bound, during which the machine's load did "
    "not change, and which is at least 0.9 × the floor (faster than the floor means a broken measurement). An "
    "unstable time is marked † in tables and drawn hollow in plots; one recorded before the check (no verdict) "
    "is marked ‡ and drawn hollow too. Neither is ranked on nor placed on a Pareto front.",
    "**Memory** of one estimate is the peak number of bytes a single gradient estimate allocates (its "
    "temporaries and saved activations, not the parameters or the process).",
]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _problem(view: str, grads: pd.DataFrame, speeds: pd.DataFrame, eff: pd.DataFrame, plots: Path) -> list[Block]:
    g, s, e = (f[f.view == view] for f in (grads, speeds, eff))
    out: list[Block] = [Heading(2, f"Problem: {lit(view)}")]
    points = sorted(g.point.unique(), key=lambda p: (p != "init", p))
    for point in points:
        gp, ep = g[g.point == point], e[e.point == point]
        overall = gp[gp.param_group == "all"]
        name, title = _slug(view) + ("" if point == "init" else f"-{_slug(point)}"), view
        if len(points) > 1:
            out.append(Heading(3, f"Gradients at the {lit(point)} point"))
            title = f"{view}, {point} point"
        # times do not depend on the gradient point: drawn once, with the first point's figures
        times = s if point == points[0] else s.iloc[0:0]
        out += tables.rankings(overall, ep)
        out += [img for img in (
            gradplots.against(overall, times, "depth", plots, f"depth-{name}", f"{title}: against depth"),
            gradplots.against(overall, times, "batch_size", plots, f"batch-{name}", f"{title}: against batch size"),
            gradplots.against(overall, times, "n_samples", plots, f"samples-{name}", f"{title}: against n_samples"),
            gradplots.layers(gp, plots, f"layers-{name}", f"{title}: variance per layer"),
            costplots.efficiency(ep, plots, f"efficiency-{name}", f"{title}: cost against variance"),
        ) if img is not None]
        out += tables.backends(overall, times)
    image = costplots.speed(s, plots, f"speed-{_slug(view)}", f"{view}: time and memory by device and backend")
    return out + tables.speed(s) + ([image] if image else [])


def _training(rows: pd.DataFrame, train: pd.DataFrame, plots: Path) -> list[Block]:
    """One figure per seed experiment (its claim in the caption), and per problem and learning rate for the
    grid of runs outside the experiments (every estimator at one learning rate is as much as a plot can hold);
    under each, where its curves ended."""
    if train.empty:
        return []
    out: list[Block] = [Heading(2, "Training")]
    figures = []
    for x in sorted(set(train.experiment) - {""}):
        claim = EXPERIMENTS[x].claim if x in EXPERIMENTS else ""
        figures.append((f"Experiment {x}", train[train.experiment == x], f"Seed's claim: {lit(claim)}. " if claim
                        else ""))
    grid = train[train.experiment == ""]
    for (view, lr), part in grid.groupby(["view", "lr"], dropna=False):
        figures.append((f"{view}: training" + ("" if pd.isna(lr) else f" at lr={lr:g}"), part, ""))
    for title, part, note in figures:
        image = trainplots.curves(part, plots, f"training-{_slug(title)}", title, note)
        ended = trainplots.final(part)
        out += ([image] if image else []) + ([Para(f"Where the curves of {lit(title)} ended:"), ended] if ended
                                             else [])
    return out + [Heading(3, "The seeds' and the DisARM paper's findings against the suite's")] + tables.findings(rows)


def blocks(results: data.Results, source: Path, plots: Path) -> list[Block]:
    """Every block of the report; writes the plots into `plots` on the way."""
    rows = results.rows
    grads, speeds, train = data.gradients(rows), data.speed(rows), data.training(rows)
    eff = data.efficiency(grads, speeds)
    cells = rows.drop_duplicates("cell_id")
    n_failed = int((cells.status != "ok").sum())
    overview = fronts.figure(grads, eff, plots)
    head: list[Block] = [
        Heading(1, TITLE),
        *headline.blocks(grads, speeds, eff),
        *([overview] if overview else []),
        *audit.findings(rows),
        *caveats.summary(rows),
        Para(f"{len(cells)} cells ({len(cells) - n_failed} ok, {n_failed} failed) from {code(source)}, "
             f"{len(set(rows.run_id))} run(s); suites: {lit(', '.join(sorted(set(rows.suite)))) or 'none'}."),
        Heading(2, "How to read"),
        Bullets(READING),
    ]
    body: list[Block] = []
    for view in sorted(set(grads.view) | set(speeds.view)):
        body += _problem(view, grads, speeds, eff, plots)
    body += [Heading(2, "Papers' claims against the suite's")] + tables.claims(rows)
    body += [Heading(2, "Audit: other libraries' estimators against exact truths")] + audit.details(rows)
    body += trajectory.blocks(rows, plots)
    body += _training(rows, train, plots)
    body += [Heading(2, "Environment")] + tables.environment(results.metas)
    body += caveats.tables(rows)
    images = [b for b in head + body if isinstance(b, Image)]
    index = [Heading(2, "Plots"), Bullets([f"[{b.title}]({b.path})" for b in images]) if images
             else Para("No plots: the successful cells hold nothing a plot can show (several values along a "
                       "plot's axis, or a timing beside a variance).")]
    return head + index + body


def render(results: Path, out: Path) -> Path | None:
    """Writes out/index.md, out/index.html and out/plots/*.png; returns the path of index.md, or None (and
    writes nothing) when no file under `results` holds rows the benchmark wrote."""
    loaded = data.load(results)
    if loaded.rows.empty:
        return None
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for stale in plots.glob("*.png"):  # plots/ belongs to the report: a plot the data no longer supports goes
        stale.unlink()
    page = blocks(loaded, results, plots)
    (out / "index.html").write_text(to_html.render(page, out, TITLE), encoding="utf-8")
    path = out / "index.md"
    path.write_text(to_markdown.render(page), encoding="utf-8")
    return path
