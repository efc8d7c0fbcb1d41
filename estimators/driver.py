"""One driver protocol for every backend: how an `Objective`'s surrogate becomes rows of gradient estimates.

An `Objective` is one cell's surrogate in one backend's arrays: `evaluate(rep, u, state)` maps parameters
replicated to [n_rows, *shape], uniforms shaped `noise(n_rows)` and the estimator's state to (the sum over rows
of each row's surrogate, the new state), so the gradient with respect to `rep` holds one independent estimate
per row. Problems build it with `bench.problems.engine`, the single-node API with `estimators.api`.

A `Driver` (torch, torch-compile, JAX; a black box's is in estimators.blackbox) differentiates it:

    rows(obj, state, rng, start, n)   rows start .. start + n - 1, from the uniforms `rng` gives those rows
    rows_on(obj, state, u)            rows of given uniforms (NumPy), computed op by op (eagerly): the path that
                                      checks the compiled one, and one backend against another
    uniforms(obj, rng, rows)          the uniforms (NumPy) of the given rows, as `rows` drew them
    eager(obj, state, rng, rows)      the given rows recomputed op by op from the same randomness: rows_on of
                                      their uniforms (a black box reruns its last chunk with JAX's jit disabled)
    warm_up(obj, state, rng, steps, rows)   the state adapted (running) or trained (min. second moment) at fixed params
    timed(obj, state, n_rows)         (compile seconds, a synchronised call computing n_rows estimates)
    chunk_bytes(obj, state, n)        the peak bytes computing n rows allocates (None: unknown), measured on
                                      rows of `probe_sizes`: how bench's memory budget sizes chunks

`estimators.sampling` does the rest once for all of them: frozen states, chunks, and whole estimates.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from estimators.ops import Array, Ops
from estimators.rng import Rng
from estimators.spec import Spec

BACKENDS = ("torch", "torch-compile", "jax")
PACKAGES = {"torch": "torch", "torch-compile": "torch", "jax": "jax"}  # the framework each backend runs
_MODULES = {"torch": "estimators.backends.torch", "torch-compile": "estimators.backends.torch_compile",
            "jax": "estimators.backends.jax"}
WARMUP_ROWS = 256  # rows per warm-up step (adapting or training an estimator's state)
WARMUP_LR = 0.02  # Adam's learning rate when training a state on the estimate's second moment


@dataclass(frozen=True, eq=False)
class Objective:
    """One cell's surrogate in one backend's arrays, ready for a driver (see the module docstring).

    `warm` is the objective a trained state learns on (single draws, whatever n_samples is: one state
    distribution for every n_samples), None when it is this one."""

    spec: Spec
    theta: dict[str, Array]
    evaluate: Callable[[dict[str, Array], list[Array], Any], tuple[Array, Any]]
    noise: Callable[[int], list[tuple[int, ...]]]
    state: Any = None
    warm: Objective | None = None
    cache: dict[str, Any] = field(default_factory=dict, repr=False)  # a driver's compiled code for this objective

    @property
    def n_params(self) -> int:
        return sum(int(np.prod(v.shape)) for v in self.theta.values())


class Driver(Protocol):
    name: str
    ops: Ops

    def rows(self, obj: Objective, state: Any, rng: Rng, start: int, n: int) -> dict[str, np.ndarray]: ...

    def rows_on(self, obj: Objective, state: Any, u: list[np.ndarray]) -> dict[str, np.ndarray]: ...

    def uniforms(self, obj: Objective, rng: Rng, rows: np.ndarray) -> list[np.ndarray]: ...

    def eager(self, obj: Objective, state: Any, rng: Rng, rows: np.ndarray) -> dict[str, np.ndarray]: ...

    def warm_up(self, obj: Objective, state: Any, rng: Rng, steps: int, rows: int = ...) -> Any: ...

    def timed(self, obj: Objective, state: Any, n_rows: int) -> tuple[float, Callable[[], Any]]: ...

    probe_sizes: tuple[int, int]

    def chunk_bytes(self, obj: Objective, state: Any, n: int) -> float | None: ...


def package(backend: str) -> str:
    """The framework a backend runs ("torch" for torch and torch-compile)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return PACKAGES[backend]


_DRIVERS: dict[tuple[str, str], Driver] = {}


def driver(backend: str, device: str = "cpu") -> Driver:
    """The backend's driver on a device; its framework is imported only now."""
    package(backend)
    if (backend, device) not in _DRIVERS:
        _DRIVERS[backend, device] = importlib.import_module(_MODULES[backend]).Driver(device)
    return _DRIVERS[backend, device]


def ops(backend: str, device: str = "cpu") -> Ops:
    """The backend's op set (torch-compile runs the torch ops)."""
    return driver(backend, device).ops


def tree_map(fn: Callable[[Any], Any], tree: Any) -> Any:
    """fn on every array of a state made of dicts, lists, tuples and named tuples (None stays None)."""
    if tree is None:
        return None
    if isinstance(tree, dict):
        return {k: tree_map(fn, v) for k, v in tree.items()}
    if isinstance(tree, tuple) and hasattr(tree, "_fields"):
        return type(tree)(*(tree_map(fn, v) for v in tree))
    if isinstance(tree, (list, tuple)):
        return type(tree)(tree_map(fn, v) for v in tree)
    return fn(tree)


def leaves(tree: Any) -> list[Any]:
    """The arrays of a state, in a fixed order."""
    out: list[Any] = []
    tree_map(out.append, tree)
    return out
