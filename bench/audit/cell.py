"""One audit cell: an adapter's gradient rows on one problem, streamed against the exact truth, with both
z-tests the suite applies to itself.

  bias_sq z   bias_sq / its SE under no bias: the test every gradients cell carries (bench.metrics), powerful
              when the bias is spread over many coordinates; its null tail is a chi-square's, heavy when few
              coordinates dominate (P(z > 4) is about 1% with one), so it is reported, not the verdict.
  max |z|     the largest per-coordinate z = (mean - truth) / SE over the P coordinates, SEs from about 100
              batch means (rows within one adapter call may share state, e.g. a decaying baseline), against
              the Bonferroni bound for P tests at ALPHA: the tests' criterion (tests/test_models.py). The verdict.

The cell runs as suite "audit" through bench.run's fault handling, so a library that fails is a failed cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import stats

from bench import budget as mem
from bench import problems, truths
from bench.metrics import batch_rows, summarize
from bench.moments import Moments
from bench.stream import stream
from bench.suites.common import build, key, row
from bench.suites.gradients import MISMATCH_SHARE
from bench.sweep import Cell
from estimators.spec import SPECS

ALPHA = 1e-3  # per cell: a false alarm about once in a thousand cells of an unbiased implementation


def coordinate_z(m: Moments, truth: np.ndarray) -> tuple[np.ndarray, float]:
    """(per-coordinate z of the mean against the truth, the Bonferroni bound for that many coordinates),
    standard errors from the batch means (t with K - 1 degrees of freedom)."""
    counts = np.asarray(m.counts, float)
    means = np.stack(m.sums) / counts[:, None]  # batch means of g - shift
    overall = counts @ means / counts.sum()
    k = len(counts)
    var_of_mean = (counts @ (means - overall) ** 2) / (k - 1) / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_of_mean > 0, (overall + m.shift - truth) / np.sqrt(var_of_mean), 0.0)
    return z, float(stats.t.ppf(1 - ALPHA / (2 * len(z)), k - 1))


def audit_cell(cell: Cell) -> list[dict[str, Any]]:
    mem.start_high_water()
    settings = truths.TruthSettings(budget=int(cell.setting("memory_budget", 0)))
    if truths.kind(cell.problem, cell.params, cell.depth) == "reference":
        raise ValueError(f"{cell.problem} at depth {cell.depth} has no exact truth; the audit needs one")
    truth = truths.truth(cell.problem, cell.params, cell.depth, cell.seed, cell.backend, "init", cell.batch_size,
                         cell.device, settings)
    driver, call, theta, state = build(cell)
    sizes = {k: int(np.prod(v.shape)) for k, v in theta.items()}
    groups = {"all": list(sizes), **problems.groups(cell.problem, theta, cell.params, cell.depth)}
    streamed = stream(driver, SPECS[cell.estimator], call, theta, state, key(cell), n_rows=cell.n_estimates,
                      options={}, budget=settings.budget or mem.default_budget(),
                      new_moments=lambda chunk: Moments(sizes, groups, batch_rows(cell.n_estimates), truth.mean),
                      check=cell.backend == "jax", seed=cell.seed)
    checks = [row(cell, "checked_rows", streamed.checked), row(cell, "differing_rows", len(streamed.differing))]
    if streamed.checked and len(streamed.differing) > MISMATCH_SHARE * streamed.checked:
        return [row(cell, "error", float("nan"), status="mismatch", message=f"jitted and eager rows differ in "
                    f"{len(streamed.differing)} of {streamed.checked} checked"), *checks]
    z, bound = coordinate_z(streamed.moments, truth.mean)
    out = [row(cell, metric, value, se, group=group) for group, metrics in summarize(streamed.moments, truth).items()
           for metric, (value, se) in metrics.items()]
    return out + [row(cell, "max_abs_z", float(np.abs(z).max()), bound), row(cell, "coordinates", len(z)),
                  row(cell, "estimates", streamed.moments.n_rows), *checks]
