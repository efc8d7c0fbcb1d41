"""The torch-compile backend: the torch estimators' surrogates, their evaluation under torch.compile.

What is compiled. Every torch surrogate is a `Split` (estimators.torch.driver): `draw(n_rows)` takes its
uniforms from the torch.Generator, `evaluate(rep, state, u, n_rows)` is a pure function of them. The uniforms
are drawn eagerly, outside the compiled code (draw-then-evaluate): generator draws inside a graph would break
it, and this way compiled and eager code see the same uniforms, so any row of a chunk can be recomputed op by
op (`Rows.eager`) and compared. `evaluate`, summed over rows, is compiled by torch.compile(fullgraph=True)
with inductor, its rows axis marked dynamic so one graph serves every chunk size; AOTAutograd compiles its
backward pass with it, which torch.autograd.grad runs, as in eager torch. Estimator states (EMA baselines,
trained REBAR/RELAX parameters) are warmed up eagerly: that prepares what is measured, it is not measured.

Compile time apart. `timed` compiles for exactly the timed number of rows (static shapes, as JAX compiles for
its arguments' shapes) and times that first call alone; its run() then runs the compiled code only.

Recompilations. Every graph a compiled function captures goes through a counting backend: each one after
its first is a recompilation (a guard failed on a new shape, dtype or constant). `recompilations(surrogate)`
gives one surrogate's, `recompilations()` the whole process's.

What cannot compile. fullgraph=True turns any graph break into an error, raised as a `CompileError` whose one
line says why (stochastic-depth's define-by-run skip branches on the sampled values, for one). Nothing falls
back to eager: past dynamo's recompile limit the call fails too, where dynamo would otherwise run eagerly.
"""

from __future__ import annotations

import re
import time
import types
import weakref
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch._dynamo
from torch import Tensor

from estimators.spec import Spec
from estimators.torch import driver as eager
from estimators.torch.driver import (  # noqa: F401 - the rest of the driver interface, unchanged
    WARM_NOISE,
    Split,
    build_single_node,
    frozen_states,
    gradient_rows,
    uniforms,
)

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
    """One surrogate's evaluation, summed over rows, under torch.compile(fullgraph=True); graphs counted."""

    def __init__(self, split: Split, dynamic_rows: bool) -> None:
        if not isinstance(split, Split):
            raise TypeError(f"torch-compile needs a surrogate built as a driver.Split (uniforms drawn before "
                            f"evaluating), got {type(split).__name__}")
        self.dynamic_rows, self.graphs = dynamic_rows, 0
        evaluate = split.evaluate

        def total(rep: dict[str, Tensor], state: Any, u: list[Tensor]) -> Tensor:
            return evaluate(rep, state, u, next(iter(rep.values())).shape[0])[0]

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

    def __call__(self, rep: dict[str, Tensor], state: Any, u: list[Tensor]) -> Tensor:
        if self.dynamic_rows:  # maybe_: a size the code specialises on costs a recompilation, counted, not an error
            for t in rep.values():
                torch._dynamo.maybe_mark_dynamic(t, 0)
            for t in u:
                torch._dynamo.maybe_mark_dynamic(t, 1)
        try:
            return self.fn(rep, state, u)
        except torch._dynamo.exc.TorchDynamoException as exc:
            raise CompileError(f"torch.compile could not compile this surrogate (fullgraph=True): "
                               f"{_reason(exc)}") from exc


_COMPILED: weakref.WeakKeyDictionary[Split, dict[bool, Compiled]] = weakref.WeakKeyDictionary()


def compiled_of(surrogate: Split, dynamic_rows: bool = True) -> Compiled:
    """The surrogate's compiled evaluation, made once: the Rows of its states share it (states are inputs)."""
    per_mode = _COMPILED.setdefault(surrogate, {})
    if dynamic_rows not in per_mode:
        per_mode[dynamic_rows] = Compiled(surrogate, dynamic_rows)
    return per_mode[dynamic_rows]


def recompilations(surrogate: Split | None = None) -> int:
    """Graphs compiled after the first, for one surrogate (its rows and its timed call), or in the process."""
    if surrogate is None:
        return _process_recompilations
    return sum(c.recompilations for c in _COMPILED.get(surrogate, {}).values())


def _rows_with(compiled: Compiled | Callable, theta: dict[str, Tensor], state: Any, u: list[Tensor],
               n_rows: int) -> dict[str, Tensor]:
    """Gradient rows of an evaluation of fixed uniforms: the eager driver's, with `compiled` as the surrogate."""
    return gradient_rows(lambda rep, st, n: (compiled(rep, st, u), st), theta, n_rows, state)


class Rows:
    """Gradient rows of one frozen state, compiled: `rows(start, n)` draws the next n rows' uniforms and runs
    the compiled code; `eager(indices)` recomputes rows of that last chunk op by op from the same uniforms."""

    def __init__(self, surrogate: Split, theta: dict[str, Tensor], state: Any, same_rows: bool = False) -> None:
        self.split, self.theta, self.state = surrogate, theta, state
        self.same_rows = same_rows  # the exact family: one row computed per chunk stands for all of them
        self.compiled = compiled_of(surrogate)
        self.last: tuple[int, int, list[Tensor]] | None = None

    def __call__(self, start: int, n: int) -> dict[str, np.ndarray]:
        padded = max(n, 2)  # dynamo specialises a size-1 axis: one more graph, for nothing
        u = self.split.draw(padded)
        self.last = (start, n, u)
        out = _rows_with(self.compiled, self.theta, self.state, u, padded)
        return {k: g[:n].cpu().numpy() for k, g in out.items()}

    def eager(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        if self.last is None:
            raise ValueError("eager() recomputes rows of the last chunk; no chunk was computed yet")
        start, n, u = self.last
        pos = np.asarray(indices) - start
        if self.same_rows:
            pos = np.zeros_like(pos)
        if len(pos) == 0 or pos.min() < 0 or pos.max() >= n:
            raise ValueError(f"eager() recomputes rows {start}..{start + n - 1} (the last chunk); got {indices}")
        idx = torch.as_tensor(pos, device=u[0].device)
        sub = [x[:, idx] for x in u]
        evaluate = self.split.evaluate
        out = _rows_with(lambda rep, st, v: evaluate(rep, st, v, len(pos))[0], self.theta, self.state, sub,
                         len(pos))
        return {k: g.cpu().numpy() for k, g in out.items()}


def chunks(spec: Spec, *args: Any, **kwargs: Any) -> Iterator[tuple[int, int, Rows, dict[str, np.ndarray]]]:
    """The eager driver's chunks (states warmed up eagerly), their rows compiled."""
    return eager.chunks(spec, *args, make_rows=partial(Rows, same_rows=spec.family == "exact"), **kwargs)


def estimate(spec: Spec, *args: Any, **kwargs: Any) -> dict[str, np.ndarray]:
    return eager.estimate(spec, *args, make_rows=partial(Rows, same_rows=spec.family == "exact"), **kwargs)


single_node = partial(eager.single_node, make_rows=Rows)


def timed(surrogate: Split, theta: dict[str, Tensor], n_rows: int, state: Any) -> tuple[float, Callable[[], Any]]:
    """(seconds of the first call, which compiles, a call that computes n_rows estimates and returns once the
    device is done). Compiled for exactly n_rows rows: static shapes, the code a fixed-size loop would run."""
    compiled = compiled_of(surrogate, dynamic_rows=False)
    sync = torch.cuda.synchronize if next(iter(theta.values())).is_cuda else (lambda: None)

    def run() -> Any:
        out = _rows_with(compiled, theta, state, surrogate.draw(n_rows), n_rows)
        sync()
        return out

    start = time.perf_counter()
    run()
    return time.perf_counter() - start, run
