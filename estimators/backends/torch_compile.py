"""The torch-compile backend: the torch estimators' surrogates, their evaluation under torch.compile.

What is compiled. An objective's `evaluate(rep, u, state)` is a pure function of its uniforms, which the eager
torch driver draws first, outside the compiled code: generator draws inside a graph would break it, and this way
compiled and eager code see the same uniforms, so any row can be recomputed op by op (`rows_on`) and compared.
`evaluate`, summed over rows, is compiled by torch.compile(fullgraph=True) with inductor, its rows axis marked
dynamic so one graph serves every chunk size; AOTAutograd compiles its backward pass with it, which
torch.autograd.grad runs, as in eager torch. Estimator states (EMA baselines, trained REBAR/RELAX parameters)
are warmed up eagerly: that prepares what is measured, it is not measured.

Compile time apart. `timed` compiles for exactly the timed number of rows (static shapes, as JAX compiles for
its arguments' shapes) and times that first call alone; its run() then runs the compiled code only.

Recompilations. Every graph a compiled function captures goes through a counting backend: each one after
its first is a recompilation (a guard failed on a new shape, dtype or constant). `recompilations(obj)`
gives one objective's, `recompilations()` the whole process's.

What cannot compile. fullgraph=True turns any graph break into an error, raised as a `CompileError` whose one
line says why (stochastic-depth's define-by-run skip branches on the sampled values, for one). Nothing falls
back to eager: past dynamo's recompile limit the call fails too, where dynamo would otherwise run eagerly.
"""

from __future__ import annotations

import re
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo
from torch import Tensor

from estimators.backends import torch as eager
from estimators.driver import Objective
from estimators.rng import Rng

ROOT = Path(__file__).resolve().parents[2]  # error messages name files relative to the repository
torch._dynamo.config.fail_on_recompile_limit_hit = True  # never the silent eager fallback past the limit


class CompileError(RuntimeError):
    """torch.compile could not compile a surrogate; the message is one line saying why."""


_process_recompilations = 0  # over every compiled function of this process


def _fresh(fn: Callable) -> Callable:
    """fn with a code object of its own. Dynamo keeps compiled graphs per code object and guards on closure
    contents, so every cell's function (one code, new closures) would otherwise share one cache: each new
    cell a recompilation of the last, and past the recompile limit a failure."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__, fn.__defaults__, fn.__closure__)


def _reason(exc: BaseException) -> str:
    """One line from a dynamo/inductor error (theirs run to pages): what broke, and the last user frame."""
    text = str(exc)
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    first = lines[0] if lines else type(exc).__name__
    first = first.replace("Consider annotating your code using torch._check*(). ", "")  # a hint, not the cause
    # symbolic-shape bookkeeping, e.g. "(unhinted: Eq(u0, 1)).  (Size-like symbols: none)"
    first = re.sub(r"\s*\((?:unhinted|Size-like symbols):.*?\)(?=[.\s]|$)\.?", "", first).rstrip(". ")
    explanation = next((s for s in lines if s.startswith("Explanation:")), "")
    if explanation and explanation not in first:
        first = f"{first} ({explanation})"
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)', text.split("from user code:")[-1])
    if frames:
        path, line, fn = frames[-1]
        where = Path(path).resolve()
        first += f" at {where.relative_to(ROOT) if where.is_relative_to(ROOT) else where}:{line} ({fn})"
    return first


class Compiled:
    """One objective's evaluation, summed over rows, under torch.compile(fullgraph=True); graphs counted."""

    def __init__(self, obj: Objective, dynamic_rows: bool) -> None:
        self.dynamic_rows, self.graphs = dynamic_rows, 0
        evaluate = obj.evaluate

        def total(rep: dict[str, Tensor], state: Any, u: list[Tensor]) -> Tensor:
            return evaluate(rep, u, state)[0]

        # dynamic=None: the axes marked below are dynamic, any other changing size becomes so on recompiling
        self.fn = torch.compile(_fresh(total), fullgraph=True, dynamic=None if dynamic_rows else False,
                                backend=self._count)

    def _count(self, gm: torch.fx.GraphModule, example_inputs: list[Any]) -> Callable:
        global _process_recompilations
        self.graphs += 1
        _process_recompilations += self.graphs > 1
        return torch._dynamo.lookup_backend("inductor")(gm, example_inputs)

    @property
    def recompilations(self) -> int:
        return max(self.graphs - 1, 0)

    def __call__(self, rep: dict[str, Tensor], u: list[Tensor], state: Any) -> tuple[Tensor, Any]:
        if self.dynamic_rows:  # maybe_: a size the code specialises on costs a recompilation, counted, not an error
            for t in rep.values():
                torch._dynamo.maybe_mark_dynamic(t, 0)
            for t in u:
                torch._dynamo.maybe_mark_dynamic(t, 1)
        try:
            return self.fn(rep, state, u), state
        except torch._dynamo.exc.TorchDynamoException as exc:
            raise CompileError(f"torch.compile could not compile this surrogate (fullgraph=True): "
                               f"{_reason(exc)}") from exc


def compiled_of(obj: Objective, dynamic_rows: bool = True) -> Compiled:
    """The objective's compiled evaluation, made once: its rows and its states share it (states are inputs)."""
    key = f"torch-compile:{'dynamic' if dynamic_rows else 'static'}"
    if key not in obj.cache:
        obj.cache[key] = Compiled(obj, dynamic_rows)
    return obj.cache[key]


def recompilations(obj: Objective | None = None) -> int:
    """Graphs compiled after the first, for one objective (its rows and its timed call), or in the process."""
    if obj is None:
        return _process_recompilations
    return sum(c.recompilations for k, c in obj.cache.items() if k.startswith("torch-compile:"))


class Driver(eager.Driver):
    """Eager torch's driver, with each objective's evaluation compiled: rows and timing compiled, states
    warmed up eagerly (that prepares what is measured; it is not measured), `rows_on` op by op."""

    name = "torch-compile"

    def rows(self, obj: Objective, state: Any, rng: Rng, start: int, n: int) -> dict[str, np.ndarray]:
        padded = max(n, 2)  # dynamo specialises a size-1 axis: one more graph, for nothing
        u = self._uniforms(obj, rng, start, padded)
        out = self._gradients(obj, state, u, padded, compiled_of(obj))
        return {k: g[:n] for k, g in out.items()}

    def timed(self, obj: Objective, state: Any, n_rows: int) -> tuple[float, Callable[[], Any]]:
        """(seconds of the first call, which compiles, a call that computes n_rows estimates and returns once
        the device is done). Compiled for exactly n_rows rows: static shapes, the code a fixed-size loop runs."""
        compiled = compiled_of(obj, dynamic_rows=False)
        gen = torch.Generator(self.device).manual_seed(0)
        shapes = obj.noise(n_rows)

        def run() -> Any:
            u = [torch.rand(s, generator=gen, device=self.device).clamp_(min=self.ops.tiny) for s in shapes]
            out = self._grads(obj, state, u, n_rows, compiled)
            self.sync()
            return out

        start = time.perf_counter()
        run()
        return time.perf_counter() - start, run
