"""Gradient rows streamed chunk by chunk into Moments, within a memory budget, compiled code checked.

Chunks are sized by `bench.budget.plan`; a chunk that still runs out of memory restarts the stream with
half the chunk, twice at most, then the cell is `oom`. In a compiled backend (JAX, torch-compile), a random
sample of rows is recomputed eagerly from the same noise (JAX: the rows' keys; torch-compile: the chunk's
uniforms): rows that differ beyond float32 rounding are
counted, and the caller turns a cell with too many into a `mismatch`, never a published number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench import budget as mem
from bench.moments import Moments

CHECK_ROWS = 16  # rows per cell recomputed eagerly
CHECK_RTOL = 1e-3  # a row differs when max |jit - eager| > CHECK_RTOL * max |eager| + CHECK_ATOL
CHECK_ATOL = 1e-5
RETRIES = 2


@dataclass
class Streamed:
    """What streaming a cell's rows did, beside the statistics themselves."""

    moments: Moments
    plan: mem.Plan
    checked: int = 0
    differing: list[int] = field(default_factory=list)  # rows whose compiled and eager values differ
    max_difference: float = 0.0


def flatten(rows: dict[str, np.ndarray], names: list[str]) -> np.ndarray:
    """Rows of every parameter side by side, in the parameters' order (JAX returns dicts sorted by key)."""
    return np.concatenate([rows[k].reshape(len(rows[k]), -1) for k in names], 1)


def _is_oom(exc: BaseException) -> bool:
    text = str(exc).lower()
    return isinstance(exc, MemoryError) or any(s in text for s in ("out of memory", "can't allocate",
                                                                   "resource_exhausted", "cannot allocate"))


def stream(driver: Any, spec: Any, surrogate: Any, theta: Any, state: Any, key: tuple, *, n_rows: int,
           options: dict[str, Any], budget: int, new_moments: Callable[[int], Moments],
           warm_surrogate: Any = None, check: bool = False, seed: int = 0,
           stop: Callable[[Moments], bool] | None = None, max_chunk: int | None = None) -> Streamed:
    """Stream n_rows gradient rows (or fewer, once stop(moments) says so) into new_moments(chunk_rows).

    `key` is () for torch and (jax key,) for JAX; `check` recomputes CHECK_ROWS sampled rows eagerly."""
    sizes = {k: int(np.prod(v.shape)) for k, v in theta.items()}
    n_params = sum(sizes.values())
    probe_rows = driver.Rows(surrogate, theta, state, *key)
    reserved = 8.0 * n_params * 130  # Moments: ~100 batch sums, unit vectors and per-coordinate sums, float64
    plan = mem.plan(budget, lambda n: probe_rows(0, n), n_params, reserved, n_rows)
    chunk = min(plan.chunk_rows, max_chunk or n_rows)
    for attempt in range(RETRIES + 1):
        try:
            return _run(driver, spec, surrogate, theta, state, key, n_rows, options, new_moments(chunk),
                        chunk, plan, warm_surrogate, check, seed, stop)
        except Exception as exc:  # noqa: BLE001 - only memory exhaustion is retried
            if not _is_oom(exc) or attempt == RETRIES or chunk == 1:
                raise
            chunk = max(1, chunk // 2)
    raise AssertionError("unreachable")


def _run(driver, spec, surrogate, theta, state, key, n_rows, options, moments, chunk, plan, warm_surrogate,
         check, seed, stop) -> Streamed:
    out = Streamed(moments, mem.Plan(plan.budget, plan.per_row, plan.fixed, chunk, plan.measured))
    names = list(theta)
    sample = set(np.random.default_rng(seed + 77).choice(n_rows, min(CHECK_ROWS, n_rows), replace=False).tolist()
                 ) if check else set()
    for cluster, start, rows_of, rows in driver.chunks(spec, surrogate, theta, n_rows, state, *key, options, chunk,
                                                       warm_surrogate):
        flat = flatten(rows, names)
        if not np.all(np.isfinite(flat)):
            raise FloatingPointError(f"non-finite estimates in rows {start}..{start + len(flat) - 1}")
        mine = sorted(i for i in sample if start <= i < start + len(flat))
        if mine:
            _compare(out, flat[np.array(mine) - start], flatten(rows_of.eager(np.array(mine)), names), mine)
        moments.add(flat, cluster)
        if stop is not None and stop(moments):
            break
    return out


def _compare(out: Streamed, compiled: np.ndarray, eager: np.ndarray, indices: list[int]) -> None:
    diff = np.abs(compiled.astype(np.float64) - eager).max(1)
    scale = np.abs(eager).max(1)
    out.checked += len(indices)
    out.differing += [i for i, d, s in zip(indices, diff, scale) if d > CHECK_RTOL * s + CHECK_ATOL]
    out.max_difference = max(out.max_difference, float(diff.max()))
