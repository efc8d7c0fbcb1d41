"""One audit cell: an adapter's gradient rows on one problem, streamed against the exact truth, with both
z-tests the suite applies to itself.

  bias_sq z   bias_sq / its SE under no bias: the test every gradients cell carries (bench.metrics), powerful
              when the bias is spread over many coordinates; its null tail is a chi-square's, heavy when few
              coordinates dominate (P(z > 4) is about 1% with one), so it is reported, not the verdict.
  max |z|     the largest per-coordinate z = (mean - truth) / SE over the P coordinates, SEs from about 100
              batch means (rows within one adapter call may share state, e.g. a decaying baseline), against
              the Bonferroni bound for P tests at ALPHA: the tests' criterion (tests/test_models.py). The verdict.

Power. Unless a count is asked for, a cell draws estimates (in chunks of CHUNK) until a scale error of DETECT (the
library's gradient (1 + DETECT) times the true one) would show in some coordinate beyond the bound with power 1 -
BETA, or until its caps (bench.audit.MAX_ESTIMATES estimates, MAX_SECONDS of drawing). It records
`detectable_bias`, the smallest such relative scale error at the estimates it drew: min over coordinates of (bound
+ z_(1-BETA)) SE_i / |g_i|. A claimed-unbiased verdict then reads "no bias above X%" with X that figure.

The cell runs as suite "audit" through bench.execute.cell's fault handling, so a library that fails is a
failed cell.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy import stats

from bench.measure import budget as mem
from bench.plan.cell import Cell
from bench.problems import PROBLEMS
from bench.stats import truths
from bench.stats.metrics import batch_rows, summarize
from bench.stats.moments import Moments
from bench.stats.stream import stream
from bench.suites.common import cell_objective, rng, row, theta
from bench.suites.gradients import MISMATCH_SHARE

ALPHA = 1e-3  # per cell: a false alarm about once in a thousand cells of an unbiased implementation
DETECT, BETA = 0.10, 0.01  # the relative scale error every default cell must be able to see, with power 0.99
MIN_ESTIMATES, CHUNK = 1_000, 1_000
MAX_SECONDS = 300.0  # per cell: a slow library (TFP's VIMCO unjitted, ~0.1 s an estimate) stops here; its
# `detectable_bias` then says what its estimates could see


def coordinate_z(m: Moments, truth: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """(per-coordinate z of the mean against the truth, the Bonferroni bound for that many coordinates, the
    mean's per-coordinate standard errors), standard errors from the batch means (t with K - 1 degrees of
    freedom)."""
    counts = np.asarray(m.counts, float)
    means = np.stack(m.sums) / counts[:, None]  # batch means of g - shift
    overall = counts @ means / counts.sum()
    k = len(counts)
    var_of_mean = (counts @ (means - overall) ** 2) / (k - 1) / counts.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(var_of_mean > 0, (overall + m.shift - truth) / np.sqrt(var_of_mean), 0.0)
    return z, float(stats.t.ppf(1 - ALPHA / (2 * len(z)), k - 1)), np.sqrt(var_of_mean)


def detectable(se: np.ndarray, truth: np.ndarray, bound: float) -> float:
    """The smallest relative scale error c (estimates of (1 + c) g) the max-|z| test finds with power 1 - BETA:
    the coordinate where it stands out most decides."""
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(np.abs(truth) > 0, (bound + stats.norm.ppf(1 - BETA)) * se / np.abs(truth), np.inf)
    return float(np.min(ratio)) if ratio.size else float("inf")


def precise_enough(truth: np.ndarray) -> Any:
    """The stream's stop rule: enough estimates that a DETECT scale error shows."""

    start = time.perf_counter()

    def stop(m: Moments) -> bool:
        if len(m.counts) > 200:  # batches of MIN_ESTIMATES / 100 rows at first: merged as the rows grow
            m.compact(100)
        if m.n_rows < MIN_ESTIMATES or len(m.counts) < 3:
            return False
        _, bound, se = coordinate_z(m, truth)
        return detectable(se, truth, bound) <= DETECT or time.perf_counter() - start > MAX_SECONDS

    return stop


def audit_cell(cell: Cell) -> list[dict[str, Any]]:
    mem.start_high_water()
    settings = truths.TruthSettings(budget=int(cell.setting("memory_budget", 0)))
    if truths.kind(cell.problem, cell.params, cell.depth) == "reference":
        raise ValueError(f"{cell.problem} at depth {cell.depth} has no exact truth; the audit needs one")
    target = truths.Target(cell.problem, cell.params, cell.depth, cell.seed, "init", cell.batch_size, cell.device,
                           theta(cell))
    truth = truths.truth(target, settings)
    driver, call = cell_objective(cell)
    sizes = {k: int(np.prod(v.shape)) for k, v in call.theta.items()}
    groups = {"all": list(sizes), **PROBLEMS[cell.problem].groups(cell.params, cell.depth, call.theta)}
    adaptive = bool(cell.setting("audit_stop", False))
    streamed = stream(driver, call, rng(cell), n_rows=cell.n_estimates, options={},
                      budget=settings.budget or mem.default_budget(),
                      new_moments=lambda chunk: Moments(sizes, groups, batch_rows(MIN_ESTIMATES if adaptive
                                                                                  else cell.n_estimates), truth.mean),
                      check=cell.backend == "jax", stop=precise_enough(truth.mean) if adaptive else None,
                      max_chunk=CHUNK if adaptive else None)
    e = streamed.eager
    checks = [row(cell, "checked_rows", e.checked), row(cell, "differing_rows", len(e.differing))]
    if e.checked and len(e.differing) > MISMATCH_SHARE * e.checked:
        return [row(cell, "error", float("nan"), status="mismatch", message=f"jitted and eager rows differ in "
                    f"{len(e.differing)} of {e.checked} checked"), *checks]
    z, bound, se = coordinate_z(streamed.moments, truth.mean)
    out = [row(cell, metric, value, err, group=group) for group, metrics in summarize(streamed.moments, truth).items()
           for metric, (value, err) in metrics.items()]
    return out + [row(cell, "max_abs_z", float(np.abs(z).max()), bound), row(cell, "coordinates", len(z)),
                  row(cell, "estimates", streamed.moments.n_rows),
                  row(cell, "detectable_bias", detectable(se, truth.mean, bound)), *checks]
