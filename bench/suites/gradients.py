"""The gradients suite: bias, variance, mse, snr and cosine of one estimator on one problem, with standard errors.

Rows are streamed in chunks that fit the cell's memory budget (bench.stream) into float64 moments
(bench.moments), and compared with the problem's truth (bench.truths) by bench.metrics. Compiled cells
(JAX, torch-compile) recompute a sample of rows eagerly from the same noise; too many differing rows make the
cell a `mismatch`. A torch-compile cell also records its recompilations (graphs compiled after the first).
Besides the metrics, each cell records how it was measured: the truth's relative standard error and
estimates, rows per chunk, the process's peak resident memory, and the rows checked against eager code.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench import budget as mem
from bench import problems, truths
from bench.metrics import batch_rows, summarize
from bench.moments import Moments
from bench.stream import stream
from bench.suites.common import build, estimator_options, key, row
from bench.sweep import Cell
from estimators.spec import SPECS

COMPILED = ("jax", "torch-compile")
MISMATCH_SHARE = 0.25  # of the checked rows; a few may differ legitimately (a sample flipped by a rounding)
# readings of the process and machine, not of the estimator: rows per chunk follow from what the process holds
PROCESS_METRICS = ("peak_memory", "memory_budget", "chunk_rows")


def truth_settings(cell: Cell) -> truths.TruthSettings:
    return truths.TruthSettings(rel_se=float(cell.setting("truth_rel_se", 0.05)),
                                max_estimates=int(cell.setting("truth_max_estimates", 100_000)),
                                cache_dir=str(cell.setting("cache_dir", "")),
                                budget=int(cell.setting("memory_budget", 0)))


def gradients(cell: Cell) -> list[dict[str, Any]]:
    mem.start_high_water()
    spec = SPECS[cell.estimator]
    point = cell.opts.get("point", "init")
    settings = truth_settings(cell)
    truth = truths.truth(cell.problem, cell.params, cell.depth, cell.seed, cell.backend, point, cell.batch_size,
                         cell.device, settings)
    driver, surrogate, theta, state = build(cell)
    warm = None
    if spec.state == "trained":  # trained on single draws whatever n_samples is: one state distribution for all
        warm = build(cell, n_samples=2 if spec.multi_sample else 1, noise_seed=cell.seed + driver.WARM_NOISE)[1]
    sizes = {k: int(np.prod(v.shape)) for k, v in theta.items()}
    groups = {"all": list(sizes), **problems.groups(cell.problem, theta, cell.params, cell.depth)}
    streamed = stream(
        driver, spec, surrogate, theta, state, key(cell), n_rows=cell.n_estimates,
        options=estimator_options(cell, cell.estimator), budget=settings.budget or mem.default_budget(),
        new_moments=lambda chunk: Moments(sizes, groups, batch_rows(cell.n_estimates), truth.mean),
        warm_surrogate=warm, check=cell.backend in COMPILED, seed=cell.seed,
        max_chunk=int(cell.setting("max_chunk_rows", 0)) or None)
    checks = [row(cell, "checked_rows", streamed.checked), row(cell, "differing_rows", len(streamed.differing)),
              row(cell, "max_difference", streamed.max_difference)]
    if cell.backend == "torch-compile":
        checks.append(row(cell, "recompilations", driver.recompilations(surrogate)))
    if streamed.checked and len(streamed.differing) > MISMATCH_SHARE * streamed.checked:
        message = (f"compiled and eager results differ in {len(streamed.differing)} of {streamed.checked} rows "
                   f"checked (rows {streamed.differing[:5]}); largest difference {streamed.max_difference:.3g}")
        return [row(cell, "error", float("nan"), status="mismatch", message=message), *checks]
    out = []
    for group, stats in summarize(streamed.moments, truth).items():
        out += [row(cell, metric, value, se, group=group) for metric, (value, se) in stats.items()]
    norm = float(np.linalg.norm(truth.mean))
    rel_se = float(np.sqrt(np.sum(truth.se**2)) / norm) if truth.se is not None and norm > 0 else 0.0
    peak = mem.high_water()
    out += [
        row(cell, "truth_rel_se", rel_se), row(cell, "truth_estimates", truth.n),
        row(cell, "chunk_rows", streamed.plan.chunk_rows), row(cell, "memory_budget", streamed.plan.budget, unit="B"),
        row(cell, "peak_memory", float("nan") if peak is None else peak, unit="B"), *checks,
    ]
    return out
