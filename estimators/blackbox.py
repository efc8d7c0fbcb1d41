"""Black-box estimators: functions that draw their own samples and return rows of gradient estimates.

For libraries that sample by themselves (Pyro, NumPyro, storchastic), and for plug-ins declared as
`estimators.plugins.BlackBoxEstimator`. Two levels of call, in the backend's arrays:

node   fn(f, params, *, dist, n_estimates, seed, device, **options) -> {name: array [n_estimates, *shape]}
       estimators.grad_samples's call without a name: f maps samples [..., *event] to values [...];
       params are NumPy arrays named as estimators.PARAM_NAMES[dist] says. Only single-node problems.

model  fn(program, params, *, n_estimates, seed, device, **options) -> {name: array [n_estimates, *shape]}
       program(sample, params) -> per-example losses [E], params in the backend's arrays; the objective is
       their mean. The program asks for each random value by calling sample(site, dist, node): a site name,
       a distribution ("bernoulli", "categorical", "gaussian") and its parameters ({"logits": ...}, or
       {"loc": ..., "scale": ...}) shaped [E, *event], and goes on with what the estimator returns (Bernoulli:
       0/1 floats shaped like the logits; categorical: one-hot floats shaped like the logits; Gaussian:
       shaped like loc). The leading axis of every site is the example axis of the losses, so an estimator
       may use each example's own loss as that example's learning signal (Pyro's and storchastic's plates);
       the whole batch's mean is unbiased too, only noisier. Sites come in the order the program asks for
       them, each given the values drawn before it. `params` arrive as NumPy arrays.

Options: the spec's options (as the cell sets them) and `n_samples`, the draws one estimate averages.
Either way the estimator returns n_estimates independent rows of the gradient of E[loss] with respect to
params; calls with different seeds must be independent. The harness calls fn once per chunk of rows, with
a seed made from the cell's seed and the chunk's first row, and streams the rows into the same statistics
as every other estimator (bench.stats.stream; `Driver` below is its driver).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Sample = Callable[[str, str, dict[str, Any]], Any]
Program = Callable[[Sample, dict[str, Any]], Any]


def resolve(target: str) -> Callable[..., Any]:
    """'package.module:function' -> the function (imports the module now)."""
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


def chunk_seed(seed: int, start: int) -> int:
    """The seed of the chunk whose first row is `start`: distinct for every chunk of a cell."""
    return (int(seed) * 1_000_003 + int(start)) % 2**31


@dataclass(frozen=True)
class Call:
    """One cell's black box, ready to produce rows: `call(start, n)` -> n rows as NumPy arrays."""

    name: str
    fn: Callable[..., dict[str, Any]]
    level: str  # "node" or "model"
    problem: Any  # f (node) or program (model)
    params: dict[str, np.ndarray]
    seed: int
    device: str = "cpu"
    dist: str = ""  # node level
    options: dict[str, Any] = field(default_factory=dict)
    spec: Any = None  # the plug-in's Spec (sampling reads its family and state)
    state: Any = None  # a black box keeps none

    @property
    def theta(self) -> dict[str, np.ndarray]:
        return self.params

    def __call__(self, start: int, n: int) -> dict[str, np.ndarray]:
        kwargs = {"n_estimates": n, "seed": chunk_seed(self.seed, start), "device": self.device, **self.options}
        if self.level == "node":
            kwargs["dist"] = self.dist
        out = self.fn(self.problem, {k: v.copy() for k, v in self.params.items()}, **kwargs)
        return self._checked(out, n)

    def _checked(self, out: Any, n: int) -> dict[str, np.ndarray]:
        missing = set(self.params) - set(out if isinstance(out, dict) else {})
        if missing:
            raise ValueError(f"black box {self.name} returned no rows for {', '.join(sorted(missing))}")
        rows = {}
        for k, v in self.params.items():
            a = np.asarray(_numpy(out[k]))
            if a.shape != (n, *v.shape):
                raise ValueError(f"black box {self.name} returned {k} rows of shape {a.shape}; expected "
                                 f"{(n, *v.shape)}")
            rows[k] = a
        return rows


def _numpy(x: Any) -> Any:
    return x.detach().cpu().numpy() if hasattr(x, "detach") else x


class Driver:
    """The driver protocol (estimators.driver) for black boxes: `rows` calls the box once per chunk, with a seed
    made from the cell's seed and the chunk's first row; `eager` reruns the last chunk with JAX's jit disabled
    (a JAX black box's compiled code checked against its op-by-op run, as the built-ins are). A black box
    keeps no state and is not timed (the speed suite times through surrogates)."""

    name = "black box"
    ops = None

    def __init__(self) -> None:
        self.last: tuple[int, int] = (0, 0)

    def rows(self, call: Call, state: Any, rng: Any, start: int, n: int) -> dict[str, np.ndarray]:
        self.last = (start, n)
        return call(start, n)

    def eager(self, call: Call, state: Any, rng: Any, rows: np.ndarray) -> dict[str, np.ndarray]:
        import jax

        start, n = self.last
        with jax.disable_jit():
            out = call(start, n)
        return {k: v[np.asarray(rows) - start] for k, v in out.items()}

    def uniforms(self, call: Call, rng: Any, rows: np.ndarray) -> list[np.ndarray]:
        raise NotImplementedError("a black box draws its own randomness: its uniforms are not exposed")

    def rows_on(self, call: Call, state: Any, u: list[np.ndarray]) -> dict[str, np.ndarray]:
        raise NotImplementedError("a black box draws its own randomness: it cannot run on given uniforms")

    probe_sizes = (4, 16)
    # a black box draws its own samples per call: its rows depend on how many one call asks for, so a cell's
    # chunks must not vary with memory measurements (bench.stats.stream keeps them fixed)
    rows_depend_on_chunks = True

    def chunk_bytes(self, call: Call, state: Any, n: int) -> None:
        """Unknown: a black box allocates through its own library (the plan reads the process's peak instead)."""
        return None

    def warm_up(self, call: Call, state: Any, rng: Any, steps: int, rows: int = 0) -> Any:
        return state

    def timed(self, call: Call, state: Any, n_rows: int) -> tuple[float, Any]:
        raise NotImplementedError("black boxes are not timed: the speed suite times through surrogates")
