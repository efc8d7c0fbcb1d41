"""Gradient rows streamed chunk by chunk into Moments, within a memory budget, with the other paths checked.

Chunks are sized by `bench.measure.budget.plan`; a chunk that still runs out of memory restarts the stream
with half the chunk, twice at most, then the cell is `oom`. Two paths check every streamed cell's rows on a
random sample of them (CHECK_ROWS), computed again from the same randomness, once per frozen state (the sampled
rows of every chunk at that state together):

- one backend against another: the rows of the same uniforms in a second backend, eagerly (`cross`: its driver
  and objective, given by the caller; JAX cells on cpu in torch), on the state the rows were computed at;
- compiled against eager: in a compiled backend (torch-compile, JAX without a second backend, a JAX black box),
  the rows op by op (`Driver.eager`); where the second backend already checks them, only when it finds rows
  that differ, to tell which path they come from.

Rows that differ beyond float32 rounding are counted, and the caller turns a cell with too many into a
`mismatch`, never a published number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.measure import budget as mem
from bench.stats.metrics import COLUMNS
from bench.stats.moments import Moments
from estimators import sampling
from estimators.driver import Driver, tree_map
from estimators.rng import Rng

CHECK_ROWS = 16  # rows per cell recomputed on each other path
CHECK_RTOL = 1e-3  # a row differs when max |a - b| > CHECK_RTOL * max |b| + CHECK_ATOL
CHECK_ATOL = 1e-5
RETRIES = 2


@dataclass
class Check:
    """One path's comparison with the streamed rows."""

    checked: int = 0
    differing: list[int] = field(default_factory=list)  # rows whose values differ between the paths
    max_difference: float = 0.0

    def add(self, rows: np.ndarray, other: np.ndarray, indices: list[int]) -> None:
        diff = np.abs(rows.astype(np.float64) - other).max(1)
        scale = np.abs(other).max(1)
        self.checked += len(indices)
        self.differing += [i for i, d, s in zip(indices, diff, scale) if d > CHECK_RTOL * s + CHECK_ATOL]
        self.max_difference = max(self.max_difference, float(diff.max()))


@dataclass
class Streamed:
    """What streaming a cell's rows did, beside the statistics themselves."""

    moments: Moments
    plan: mem.Plan
    eager: Check = field(default_factory=Check)  # compiled against eager
    cross: Check = field(default_factory=Check)  # this backend against another on the same uniforms


def flatten(rows: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Rows of every parameter side by side, in the parameters' order (JAX returns dicts sorted by key)."""
    return np.concatenate([rows[k].reshape(len(rows[k]), -1) for k in names], 1)


def is_oom(exc: BaseException) -> bool:
    """Memory exhaustion however the allocator reports it: Python, torch (CPU and CUDA), XLA, the C library."""
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or any(s in text for s in (
        "out of memory", "can't allocate", "cannot allocate", "resource_exhausted", "resource exhausted",
        "failed to allocate", "bad_alloc", "std::bad_alloc", "allocation of", "memory allocation"))


def stream(driver: Driver, obj: Any, rng: Rng, *, n_rows: int, options: dict[str, Any], budget: int,
           new_moments: Callable[[int], Moments], check: bool = False,
           cross: tuple[Driver, Any] | None = None, stop: Callable[[Moments], bool] | None = None,
           max_chunk: int | None = None) -> Streamed:
    """Stream n_rows gradient rows (or fewer, once stop(moments) says so) into new_moments(chunk_rows).
    `check`: compare sampled rows with the eager path; `cross`: with another backend's (driver, objective)."""
    n_params = sum(int(np.prod(v.shape)) for v in obj.theta.values())
    reserved = 8.0 * n_params * 130  # Moments: ~100 batch sums, unit vectors and per-coordinate sums, float64
    plan = mem.plan(budget, lambda n: driver.chunk_bytes(obj, obj.state, n),
                    lambda n: driver.rows(obj, obj.state, rng, 0, n), n_params, reserved, n_rows, driver.probe_sizes)
    chunk = min(plan.chunk_rows, max_chunk or n_rows)
    for attempt in range(RETRIES + 1):
        try:
            moments = new_moments(chunk)
            governor = chunk if getattr(driver, "rows_depend_on_chunks", False) else \
                mem.Governor(plan, chunk, lambda: statistics_to_come(moments, n_rows))
            return _run(driver, obj, rng, n_rows, options, moments, governor, plan, check, cross, stop)
        except Exception as exc:  # noqa: BLE001 - only memory exhaustion is retried
            if isinstance(exc, mem.OutOfBudget) or not is_oom(exc) or attempt == RETRIES or chunk == 1:
                raise
            chunk = max(1, chunk // 2)
    raise AssertionError("unreachable")


def statistics_to_come(moments: Moments, n_rows: int) -> float:
    """Bytes the statistics will still allocate: the batch sums not yet opened (one float64 row of P each, a
    few more for clusters), and summarize's working set (bench.stats.metrics.COLUMNS-wide blocks, vectors)."""
    batches = -(-n_rows // moments.batch_rows) + 4
    width = 8.0 * moments.n_params
    return width * (max(batches - len(moments.sums), 0) + 12) + 8.0 * 4 * batches * COLUMNS


def _run(driver, obj, rng, n_rows, options, moments, governor, plan, check, cross, stop) -> Streamed:
    out = Streamed(moments, plan)
    names = list(obj.theta)
    picked = np.random.default_rng(rng.seed + 77).choice(n_rows, min(CHECK_ROWS, n_rows), replace=False)
    sample = set(picked.tolist()) if check or cross else set()
    pending = Sampled()
    largest = 0
    for part in sampling.chunks(driver, obj, n_rows, options, governor, rng):
        flat = flatten(part.rows, names)
        if not np.all(np.isfinite(flat)):
            raise FloatingPointError(f"non-finite estimates in rows {part.start}..{part.start + len(flat) - 1}")
        if pending.indices and pending.cluster != part.cluster:
            _recompute(pending, driver, obj, rng, names, check, cross, out)
            pending = Sampled()
        mine = sorted(i for i in sample if part.start <= i < part.start + len(flat))
        if mine:
            pending.add(part.cluster, part.state, mine, flat[np.array(mine) - part.start])
        moments.add(flat, part.cluster)
        largest = max(largest, len(flat))
        if stop is not None and stop(moments):
            break
    if pending.indices:
        _recompute(pending, driver, obj, rng, names, check, cross, out)
    out.plan = mem.Plan(plan.budget, plan.per_row, plan.fixed, largest, plan.measured)
    return out


@dataclass
class Sampled:
    """Sampled rows of one frozen state, gathered across chunks so each other path runs once per state: an op by
    op JAX pass compiles every operation it meets for each new shape, seconds per call."""

    cluster: int = -1
    state: Any = None
    indices: list[int] = field(default_factory=list)
    rows: list[np.ndarray] = field(default_factory=list)

    def add(self, cluster: int, state: Any, indices: list[int], rows: np.ndarray) -> None:
        self.cluster, self.state = cluster, state
        self.indices += indices
        self.rows.append(rows)


def _recompute(sampled: Sampled, driver, obj, rng, names, check, cross, out: Streamed) -> None:
    """The sampled rows on the other paths. With a second backend, the same rows recomputed there eagerly from the
    same uniforms already check the compiled path, so the op-by-op pass runs only to say which path a difference
    comes from (it is seconds per call in JAX, against milliseconds in torch)."""
    here, rows = np.concatenate(sampled.rows), np.array(sampled.indices)
    agreed = True
    if cross is not None:
        other, other_obj = cross
        u = driver.uniforms(obj, rng, rows)
        state = tree_map(driver.ops.to_numpy, sampled.state)
        before = len(out.cross.differing)
        out.cross.add(here, flatten(other.rows_on(other_obj, state, u), names), sampled.indices)
        agreed = len(out.cross.differing) == before
    if check and (cross is None or not agreed):
        out.eager.add(here, flatten(driver.eager(obj, sampled.state, rng, rows), names), sampled.indices)
