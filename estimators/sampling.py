"""What every driver shares, written once: frozen states, chunks of rows, and whole estimates.

An estimator with state is measured at a frozen state: `running` ones (EMA baselines, NVIL) adapt for `warmup`
steps at the cell's parameters first; `trained` ones (REBAR, RELAX) take `warmup` Adam steps on the estimate's
second moment, `states` times independently, and the estimates are split among those states, so the variance
reported includes the training's randomness. Each state's warm-up draws from a stream of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from estimators.driver import WARMUP_ROWS, Driver, Objective
from estimators.rng import BLOCK, Rng, warm_up_stream
from estimators.spec import driver_options


@dataclass(frozen=True)
class Chunk:
    """Rows start .. start + n - 1 of a cell, computed at state `cluster` (of the frozen states)."""

    cluster: int
    start: int
    rows: dict[str, np.ndarray]
    state: Any


def frozen_states(driver: Driver, obj: Objective, options: dict[str, Any], rng: Rng) -> list[Any]:
    """The states estimates are drawn from: one, or `states` independently trained ones (trained state)."""
    spec = obj.spec
    if not spec.state:
        return [obj.state]
    opts = driver_options(spec, options)
    n = int(opts.get("states", 1)) if spec.state == "trained" else 1
    steps, rows = int(opts.get("warmup", 0)), int(opts.get("warmup_rows", WARMUP_ROWS))
    return [driver.warm_up(obj, obj.state, rng.stream_of(warm_up_stream(c)), steps, rows) for c in range(n)]


def chunk_size(n_rows: int, max_rows: int) -> int:
    """Rows per chunk: at most max_rows, a multiple of the random block where it can be, as few chunks as may be."""
    if max_rows >= n_rows:
        return max(n_rows, 1)
    if max_rows >= BLOCK:
        return max_rows // BLOCK * BLOCK
    return max(max_rows, 1)


def chunks(driver: Driver, obj: Objective, n_estimates: int, options: dict[str, Any],
           chunk_rows: int | Callable[[], int], rng: Rng) -> Iterator[Chunk]:
    """Every chunk of n_estimates rows, state by state: rows r of state c use the uniforms of row r, so no row
    depends on the chunking. `chunk_rows` may be a function, asked before each chunk (after the consumer has
    finished with the one before): the harness's memory governor sizes chunks from their measured peaks."""
    states = frozen_states(driver, obj, options, rng)
    bounds = np.linspace(0, n_estimates, len(states) + 1).astype(int)
    fixed = chunk_size(int(np.diff(bounds).max()), chunk_rows) if isinstance(chunk_rows, int) else None
    for c, state in enumerate(states):
        start = int(bounds[c])
        while start < bounds[c + 1]:
            left = int(bounds[c + 1]) - start
            n = min(fixed or chunk_size(left, chunk_rows()), left)
            exact = obj.spec.family == "exact"  # every row of the exact gradient is the same: one computed
            out = driver.rows(obj, state, rng, start, 1 if exact else n)
            yield Chunk(c, start, {k: np.broadcast_to(v, (n, *v.shape[1:])) for k, v in out.items()}, state)
            start += n


def estimate(driver: Driver, obj: Objective, n_estimates: int, options: dict[str, Any],
             rng: Rng) -> dict[str, np.ndarray]:
    """All n_estimates rows in memory (the single-node API and tests; the harness streams `chunks`)."""
    parts = [c.rows for c in chunks(driver, obj, n_estimates, options, max(n_estimates, 1), rng)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
