"""The gradients suite: bias, variance, mse, snr and cosine of one estimator on one problem, with standard errors.

Rows are streamed in chunks that fit the cell's memory budget (bench.stats.stream) into float64 moments
(bench.stats.moments), and compared with the problem's truth (bench.stats.truths) by bench.stats.metrics. Two
other paths recompute a sample of rows from the same randomness: JAX cells in torch (when installed, on cpu)
from the same uniforms, and compiled cells (torch-compile, a JAX black box, JAX where torch cannot check it or
finds rows that differ) op by op; too many differing rows make the cell a `mismatch`. A torch-compile cell also
records its recompilations (graphs compiled after the first). Besides the metrics, each cell records how it was
measured: the truth's relative standard error and estimates, rows per chunk, the process's peak resident memory,
and the rows checked on each path.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.measure import budget as mem
from bench.plan.cell import Cell
from bench.problems import PROBLEMS
from bench.stats import truths
from bench.stats.metrics import batch_rows, summarize
from bench.stats.moments import Moments
from bench.stats.stream import Check, stream
from bench.suites.common import cell_objective, estimator_options, rng, row, theta
from estimators import available_backends, plugins

COMPILED = ("jax", "torch-compile")
MISMATCH_SHARE = 0.25  # of the checked rows; a few may differ legitimately (a sample flipped by a rounding)
# readings of the process and machine, not of the estimator: rows per chunk follow from what the process holds
PROCESS_METRICS = ("peak_memory", "memory_budget", "chunk_rows")


def truth_settings(cell: Cell) -> truths.TruthSettings:
    return truths.TruthSettings(rel_se=float(cell.setting("truth_rel_se", 0.05)),
                                max_estimates=int(cell.setting("truth_max_estimates", 100_000)),
                                cache_dir=str(cell.setting("cache_dir", "")),
                                budget=int(cell.setting("memory_budget", 0)))


def cross_backend(cell: Cell) -> str | None:
    """The backend a cell's rows are recomputed in from the same uniforms: torch, for JAX cells on cpu."""
    black_box = plugins.is_black_box(cell.estimator)
    ok = cell.backend == "jax" and cell.device == "cpu" and not black_box and "torch" in available_backends()
    return "torch" if ok else None


def _mismatch(what: str, check: Check) -> str:
    if check.checked and len(check.differing) > MISMATCH_SHARE * check.checked:
        return (f"{what} differ in {len(check.differing)} of {check.checked} rows checked (rows "
                f"{check.differing[:5]}); largest difference {check.max_difference:.3g}")
    return ""


def gradients(cell: Cell) -> list[dict[str, Any]]:
    mem.start_high_water()
    settings = truth_settings(cell)
    target = truths.Target(cell.problem, cell.params, cell.depth, cell.seed, cell.point, cell.batch_size,
                           cell.device, theta(cell))
    truth = truths.truth(target, settings)
    driver, obj = cell_objective(cell)
    sizes = {k: int(np.prod(v.shape)) for k, v in obj.theta.items()}
    groups = {"all": list(sizes), **PROBLEMS[cell.problem].groups(cell.params, cell.depth, obj.theta)}
    other = cross_backend(cell)
    check_compiled = cell.backend in COMPILED or (plugins.is_black_box(cell.estimator) and cell.backend == "jax")
    streamed = stream(
        driver, obj, rng(cell), n_rows=cell.n_estimates, options=estimator_options(cell),
        budget=settings.budget or mem.default_budget(),
        new_moments=lambda chunk: Moments(sizes, groups, batch_rows(cell.n_estimates), truth.mean),
        check=check_compiled, cross=cell_objective(cell, backend=other) if other else None,
        max_chunk=int(cell.setting("max_chunk_rows", 0)) or None)
    e, x = streamed.eager, streamed.cross
    checks = [row(cell, "checked_rows", e.checked), row(cell, "differing_rows", len(e.differing)),
              row(cell, "max_difference", e.max_difference), row(cell, "cross_checked_rows", x.checked),
              row(cell, "cross_differing_rows", len(x.differing)), row(cell, "cross_max_difference", x.max_difference)]
    if cell.backend == "torch-compile":
        from estimators.backends.torch_compile import recompilations

        checks.append(row(cell, "recompilations", recompilations(obj)))
    message = _mismatch("compiled and eager results", e) or _mismatch(f"{cell.backend} and {other} results on the "
                                                                      f"same uniforms", x)
    if message:
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
