"""Sweeps declared as data: presets name the grid, `cells` expands it into frozen Cells with stable ids."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from bench.problems import PROBLEMS
from estimators.spec import SPECS

SUITES = ("gradients", "speed", "training")


@dataclass(frozen=True)
class Cell:
    suite: str
    problem: str
    problem_params: tuple[tuple[str, Any], ...]
    estimator: str
    backend: str
    device: str
    depth: int
    batch_size: int
    n_samples: int
    seed: int
    n_estimates: int

    @property
    def id(self) -> str:
        """Stable across runs and machines: names the cell's Parquet file, which `--resume` looks for."""
        return hashlib.sha1(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]

    @property
    def params(self) -> dict[str, Any]:
        return dict(self.problem_params)


PRESETS: dict[str, dict[str, Any]] = {
    "quick": {
        "problems": ["toy-bernoulli", "toy-gaussian", "chain"],
        "estimators": list(SPECS),
        "speed_estimators": ["reinforce", "rloo", "disarm", "st", "gumbel-softmax", "relax", "reparam"],
        "depths": [1, 3],
        "batch_sizes": [1],
        "speed_batch_sizes": [64],
        "n_samples": [1],
        "n_estimates": 2_000,
    },
    "full": {
        "problems": ["toy-bernoulli", "toy-gaussian", "chain"],
        "estimators": list(SPECS),
        "speed_estimators": list(SPECS),
        "depths": [1, 2, 3, 4, 5],
        "batch_sizes": [1, 16, 64],
        "speed_batch_sizes": [1, 64, 1024],
        "n_samples": [1, 4],
        "n_estimates": 20_000,
    },
}


def cells(suite: str, *, problems: dict[str, dict[str, Any]], estimators: list[str], backends: list[str],
          device: str, depths: list[int], batch_sizes: list[int], n_samples: list[int], seed: int,
          n_estimates: int) -> list[Cell]:
    """Every applicable cell of the grid, each once. Toy problems have depth 1; rloo takes n_samples >= 2."""
    out: dict[str, Cell] = {}
    for problem, pp in problems.items():
        for name in estimators:
            if not PROBLEMS[problem].supports(name) or (suite == "speed" and name == "exact"):
                continue
            for backend in backends:
                for depth in depths if PROBLEMS[problem].has_depth else [1]:
                    for batch in batch_sizes:
                        for n in n_samples:
                            n = max(n, 2) if SPECS[name].multi_sample else n
                            c = Cell(suite, problem, tuple(sorted(pp.items())), name, backend, device, depth,
                                     batch, n, seed, n_estimates)
                            out.setdefault(c.id, c)
    return list(out.values())
