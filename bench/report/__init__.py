"""`python -m bench report`: a results folder rendered as index.md, a self-contained index.html and plots/*.png.

It opens with a headline: per problem, the estimators on the variance/time Pareto front (stable timings only).
Then per problem (and per gradient point, when gradients were measured at initialisation and at a trained
point): estimators ranked by mse and by work-normalised variance, torch beside JAX, variance/bias/time against
depth, batch size and n_samples, per-layer variance, the variance/time Pareto front, time and memory by device
and backend with each time's stability, its ratio to the floor and one estimate's memory. Then training curves
per experiment, seed 002's findings against the suite's, failed cells, and the environment of every run. A plot
appears only when the results hold its data; the page lists those that exist. Unstable timings are marked and
never ranked on.

Modules: data (load, tidy, join), style (colours, scales, legends), gradplots / costplots / trainplots (the
figures), tables, headline (the opening answer), doc (the blocks) with to_markdown / to_html (the two
renderings of the same blocks).
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from bench.literature.experiments import EXPERIMENTS
from bench.report import costplots, data, gradplots, headline, tables, to_html, to_markdown, trainplots
from bench.report.doc import Block, Bullets, Heading, Image, Para

TITLE = "Monte Carlo gradient estimators: results"
READING = ("How to read: each estimator has one colour in every plot; torch (eager) is a solid line with circles, "
           "JAX (jit-compiled) a dashed line with squares. Variance is the trace of the covariance of one gradient "
           "estimate (squared gradient units); bias is ‖mean − truth‖, from an unbiased estimate of its square "
           "(bias_sq, whose standard error under no bias makes bias_sq / SE the test of unbiasedness), so an "
           "unbiased estimator shows a bias consistent with 0; mse = bias² + variance. Standard errors come from "
           "streamed batch means with the full covariance (no diagonal shortcut) and include the truth's own "
           "error where the truth is a reference estimate. Time is the median seconds "
           "per gradient estimate of `batch_size` examples; work-normalised variance is variance × time, the "
           "variance left after spending the same compute. A timing is stable when its repeats' spread stayed within "
           "bound, the machine's load did not change while it ran, and it was at least 0.9 × the floor (faster than "
           "the floor means a broken measurement); an "
           "unstable time is marked † in tables and drawn hollow in plots, one recorded before the check (no "
           "verdict) is marked ‡ and drawn hollow too, and neither is ranked on nor placed on a Pareto front. The "
           "floor is the time of the same model's gradient at the same batch size with every stochastic node "
           "replaced by its mean (estimator `deterministic`: one forward and backward pass, no sampling): "
           "time / floor is what the estimator's sampling and extra passes cost on top of plain backpropagation. "
           "One estimate's memory is the peak number of bytes a single gradient estimate allocates (its "
           "temporaries and saved activations, not the parameters or the process). Axes are logarithmic where "
           "values span decades.")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _problem(view: str, grads: pd.DataFrame, speeds: pd.DataFrame, eff: pd.DataFrame, plots: Path) -> list[Block]:
    g, s, e = (f[f.view == view] for f in (grads, speeds, eff))
    out: list[Block] = [Heading(2, f"Problem: {view}")]
    points = sorted(g.point.unique(), key=lambda p: (p != "init", p))
    for point in points:
        gp, ep = g[g.point == point], e[e.point == point]
        overall = gp[gp.param_group == "all"]
        name, title = _slug(view) + ("" if point == "init" else f"-{_slug(point)}"), view
        if len(points) > 1:
            out.append(Heading(3, f"Gradients at the {point} point"))
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
    grid of runs outside the experiments (every estimator at one learning rate is as much as a plot can hold)."""
    if train.empty:
        return []
    out: list[Block] = [Heading(2, "Training")]
    figures = []
    for x in sorted(set(train.experiment) - {""}):
        claim = EXPERIMENTS[x].claim if x in EXPERIMENTS else ""
        figures.append((f"Experiment {x}", train[train.experiment == x], f"Seed's claim: {claim}. " if claim else ""))
    grid = train[train.experiment == ""]
    for (view, lr), part in grid.groupby(["view", "lr"], dropna=False):
        figures.append((f"{view}: training" + ("" if pd.isna(lr) else f" at lr={lr:g}"), part, ""))
    for title, part, note in figures:
        image = trainplots.curves(part, plots, f"training-{_slug(title)}", title, note)
        out += [image] if image else []
    return out + [Heading(3, "The seeds' and the DisARM paper's findings against the suite's")] + tables.findings(rows)


def blocks(results: data.Results, source: Path, plots: Path) -> list[Block]:
    """Every block of the report; writes the plots into `plots` on the way."""
    rows = results.rows
    grads, speeds, train = data.gradients(rows), data.speed(rows), data.training(rows)
    eff = data.efficiency(grads, speeds)
    cells = rows.drop_duplicates("cell_id")
    n_failed = int((cells.status != "ok").sum())
    head: list[Block] = [
        Heading(1, TITLE),
        *headline.blocks(grads, speeds, eff),
        Para(f"{len(cells)} cells ({len(cells) - n_failed} ok, {n_failed} failed) from `{source}`, "
             f"{len(set(rows.run_id))} run(s); suites: {', '.join(sorted(set(rows.suite))) or 'none'}."),
        Para(READING),
        *tables.mixed_versions(data.mixed_versions(rows)),
        *tables.outdated(data.outdated(rows), cells),
    ]
    body: list[Block] = []
    for view in sorted(set(grads.view) | set(speeds.view)):
        body += _problem(view, grads, speeds, eff, plots)
    body += [Heading(2, "Papers' claims against the suite's")] + tables.claims(rows)
    body += [Heading(2, "Audit: other libraries' estimators against exact truths")] + tables.audit(rows)
    body += _training(rows, train, plots)
    body += [Heading(2, "Failed cells")] + tables.failed(data.failed(rows))
    body += [Heading(2, "Environment")] + tables.environment(results.metas)
    images = [b for b in body if isinstance(b, Image)]
    index = [Heading(2, "Plots"), Bullets([f"[{b.title}]({b.path})" for b in images]) if images
             else Para("No plots: the results hold no successful cells.")]
    return head + index + body


def render(results: Path, out: Path) -> Path:
    """Writes out/index.md, out/index.html and out/plots/*.png; returns the path of index.md."""
    plots = out / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    for stale in plots.glob("*.png"):  # plots/ belongs to the report: a plot the data no longer supports goes
        stale.unlink()
    page = blocks(data.load(results), results, plots)
    (out / "index.html").write_text(to_html.render(page, out, TITLE), encoding="utf-8")
    path = out / "index.md"
    path.write_text(to_markdown.render(page), encoding="utf-8")
    return path
