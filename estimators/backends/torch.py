"""Eager PyTorch: rows vectorised over estimates by batching, one backward pass per chunk.

Parameters are replicated to [n_rows, *shape] and the objective's surrogate summed over rows, so one
`torch.autograd.grad` gives every row's estimate. Uniforms come from one torch.Generator per block of rows
and noise array (estimators.rng). Trained states take Adam steps (torch.optim) on the estimate's second moment.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import Tensor

from estimators.backends.torch_ops import TorchOps
from estimators.driver import WARMUP_LR, WARMUP_ROWS, Objective, leaves, tree_map
from estimators.rng import BLOCK, Rng, blocks

_WINDOW = "estimators.backends.torch.allocated_peak"


def allocated_peak(run: Callable[[], Any], device: str = "cpu") -> float:
    """Peak bytes of tensor memory one call of run() allocates beyond what was live before it: torch.cuda's
    resettable counters on cuda; on cpu (torch keeps no CPU allocator statistics) the peak of the running sum
    of a torch.profiler allocation trace of the call (bench/measure/memory.py says what the figure is)."""
    return _cuda_peak(run) if device == "cuda" else _cpu_trace_peak(run)


def _cuda_peak(run: Callable[[], Any]) -> float:
    torch.cuda.synchronize()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    out = run()
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_allocated()
    del out
    return float(peak - before)


def _cpu_trace_peak(run: Callable[[], Any]) -> float:
    from torch.profiler import ProfilerActivity, profile, record_function

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        with record_function(_WINDOW):
            out = run()
    del out
    return float(peak_of_trace(prof.profiler.kineto_results.experimental_event_tree(), _WINDOW))


def peak_of_trace(roots: list[Any], window: str) -> int:
    """Peak running sum of (allocations - frees) inside the profiler node named `window`, in time order.

    A free counts only if its block was allocated inside the window: torch reports frees of blocks it saw
    allocated in any earlier profiling session, and those were live before the call. Matching by address
    (popped at its free) stays right when the allocator reuses an address.
    """
    from torch._C._profiler import _EventType

    nodes, stack = [], list(reversed(roots))
    while stack:  # pre-order, siblings in recorded order, so the stable sort below keeps it for equal times
        node = stack.pop()
        nodes.append(node)
        stack.extend(reversed(node.children))
    spans = [(n.start_time_ns, n.end_time_ns) for n in nodes if n.tag == _EventType.TorchOp and n.name == window]
    if len(spans) != 1:
        raise RuntimeError(f"expected one {window!r} node in the profile, found {len(spans)}")
    start, end = spans[0]
    events = sorted((n for n in nodes if n.tag == _EventType.Allocation and start <= n.start_time_ns <= end),
                    key=lambda n: n.start_time_ns)
    live: dict[int, int] = {}
    total = peak = 0
    for node in events:
        f = node.extra_fields
        if f.alloc_size > 0:
            live[f.ptr] = f.alloc_size
            total += f.alloc_size
        else:
            total -= live.pop(f.ptr, 0)
        peak = max(peak, total)
    return peak


def replicate(theta: dict[str, Tensor], n_rows: int) -> dict[str, Tensor]:
    return {k: v.expand(n_rows, *v.shape).clone().requires_grad_() for k, v in theta.items()}


class Driver:
    name = "torch"

    def __init__(self, device: str = "cpu") -> None:
        self.ops = TorchOps(device)
        self.device = self.ops.device
        self.sync = torch.cuda.synchronize if self.device.type == "cuda" else (lambda: None)

    # uniforms
    def _block(self, shape: tuple[int, ...], seed: int) -> Tensor:
        gen = torch.Generator(self.device).manual_seed(seed)
        return torch.rand(shape, generator=gen, device=self.device).clamp_(min=self.ops.tiny)

    def _uniforms(self, obj: Objective, rng: Rng, start: int, n: int) -> list[Tensor]:
        """The uniforms of rows start .. start + n - 1: each block's drawn whole, then cut."""
        first = start // BLOCK * BLOCK
        out = []
        for m, shape in enumerate(obj.noise(BLOCK)):
            parts = [self._block(shape, rng.block_seed(b, m)) for b in blocks(start, n)]
            # a fresh tensor with strides of its own (a view keeps the blocks'; compiled code guards on strides)
            cut = torch.cat(parts, 1)[:, start - first:start - first + n]
            out.append(cut.clone(memory_format=torch.contiguous_format))
        return out

    def uniforms(self, obj: Objective, rng: Rng, rows: np.ndarray) -> list[np.ndarray]:
        out = []
        for m, shape in enumerate(obj.noise(BLOCK)):
            made = {b: self._block(shape, rng.block_seed(b, m)) for b in {int(r) // BLOCK for r in rows}}
            out.append(np.stack([made[int(r) // BLOCK][:, int(r) % BLOCK].cpu().numpy() for r in rows], 1))
        return out

    # memory
    probe_sizes = (4, 16)  # rows per probe of a chunk's memory: cheap, and the difference gives bytes per row

    def chunk_bytes(self, obj: Objective, state: Any, n: int) -> float | None:
        """Peak tensor bytes computing n rows allocates on cuda (the budget's plan sizes chunks by it); None on
        cpu, where the plan reads the process's own peak around the rows instead (a profiler trace would cost
        more than the rows, and print)."""
        if str(self.device) != "cuda":
            return None
        return allocated_peak(lambda: self.rows(obj, state, Rng(0), 0, n), str(self.device))

    # rows
    def _grads(self, obj: Objective, state: Any, u: list[Tensor], n: int,
               evaluate: Callable[..., Any] | None = None) -> dict[str, Tensor]:
        rep = replicate(obj.theta, n)
        total, _ = (evaluate or obj.evaluate)(rep, u, state)
        if not total.requires_grad:  # the surrogate does not depend on the parameters: its gradient is 0
            return {k: torch.zeros_like(v) for k, v in rep.items()}
        grads = torch.autograd.grad(total, list(rep.values()), allow_unused=True)
        return {k: torch.zeros_like(rep[k]) if g is None else g.detach() for k, g in zip(rep, grads)}

    def _gradients(self, obj: Objective, state: Any, u: list[Tensor], n: int,
                   evaluate: Callable[..., Any] | None = None) -> dict[str, np.ndarray]:
        return {k: g.cpu().numpy() for k, g in self._grads(obj, state, u, n, evaluate).items()}

    def rows(self, obj: Objective, state: Any, rng: Rng, start: int, n: int) -> dict[str, np.ndarray]:
        return self._gradients(obj, state, self._uniforms(obj, rng, start, n), n)

    def eager(self, obj: Objective, state: Any, rng: Rng, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self.rows_on(obj, state, self.uniforms(obj, rng, rows))

    def rows_on(self, obj: Objective, state: Any, u: list[np.ndarray]) -> dict[str, np.ndarray]:
        u = [torch.as_tensor(np.asarray(a, np.float32), device=self.device) for a in u]
        return self._gradients(obj, self.asstate(state), u, u[0].shape[1])

    def asstate(self, state: Any) -> Any:
        """A state from another backend or NumPy, in this one's tensors."""
        return tree_map(lambda a: a if isinstance(a, Tensor) else self.ops.asarray(np.asarray(a)), state)

    # state
    def warm_up(self, obj: Objective, state: Any, rng: Rng, steps: int, rows: int = WARMUP_ROWS) -> Any:
        """Adapt the estimator's state at fixed parameters, `rows` estimates per step, then return it for freezing.

        running (EMA baselines): the estimator's own updates. trained (REBAR, RELAX): Adam steps on the
        estimate's second moment, mean over rows of ||g||^2, which has the variance's gradient."""
        target = obj.warm or obj
        state = tree_map(lambda t: t.detach().clone(), state)
        if obj.spec.state == "running":
            with torch.no_grad():
                for i in range(steps):
                    u = self._uniforms(target, rng, i * rows, rows)
                    _, state = target.evaluate(replicate(target.theta, rows), u, state)
            return tree_map(lambda t: t.detach(), state)
        if obj.spec.state == "trained" and steps:
            params = [t.requires_grad_() for t in leaves(state)]
            opt = torch.optim.Adam(params, lr=WARMUP_LR)
            for i in range(steps):
                rep = replicate(target.theta, rows)
                total, _ = target.evaluate(rep, self._uniforms(target, rng, i * rows, rows), state)
                grads = torch.autograd.grad(total, list(rep.values()), create_graph=True, allow_unused=True)
                second_moment = sum((g**2).sum() for g in grads if g is not None) / rows
                opt.zero_grad()
                second_moment.backward(inputs=params)
                opt.step()
            for t in params:
                t.requires_grad_(False)
        return state

    # timing
    def timed(self, obj: Objective, state: Any, n_rows: int) -> tuple[float, Callable[[], Any]]:
        """(compile seconds: 0 for eager torch, a call computing n_rows estimates, synchronised): the uniforms
        are drawn inside the call, from one generator, as a training step would."""
        gen = torch.Generator(self.device).manual_seed(0)
        shapes = obj.noise(n_rows)

        def run() -> Any:
            u = [torch.rand(s, generator=gen, device=self.device).clamp_(min=self.ops.tiny) for s in shapes]
            out = self._grads(obj, state, u, n_rows)
            self.sync()
            return out

        return 0.0, run
