"""Turns a surrogate into rows of gradient estimates, vectorised over estimates by batching.

A problem supplies `surrogate(rep, state, n_rows) -> (scalar, state)`, where `rep` holds each parameter
replicated to [n_rows, *shape] and the scalar is the sum over rows of each row's surrogate: the gradient
with respect to `rep` is then one independent estimate per row, computed in one backward pass.
The builders return it as a `Split`: its uniforms drawn from the generator first, then evaluated, so the
compiled driver (estimators.torch.compiled) can draw eagerly and compile the evaluation alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from estimators.registry import get
from estimators.spec import Spec, draw_counts, driver_options, even_chunks, surrogate_options
from estimators.torch.common import Downstream

Surrogate = Callable[[dict[str, Tensor], Any, int], tuple[Tensor, Any]]
WARMUP_ROWS = 256
WARMUP_LR = 0.02
WARM_NOISE = 5_003  # trained states draw their warm-up noise apart from the estimates'


def uniforms(gen: torch.Generator, shape: tuple[int, ...], device: torch.device) -> Tensor:
    """U(0, 1) without 0, so logit, log and the normal quantile stay finite."""
    return torch.rand(shape, generator=gen, device=device).clamp_(min=torch.finfo(torch.float32).tiny)


@dataclass(frozen=True)
class Split:
    """A surrogate in two steps: `draw(n_rows)` takes every uniform it needs from the generator, in the
    order eager code always took them; `evaluate(rep, state, u, n_rows)` is then a pure function of them.
    Calling it does both, so eager code sees an ordinary surrogate."""

    draw: Callable[[int], list[Tensor]]
    evaluate: Callable[[dict[str, Tensor], Any, list[Tensor], int], tuple[Tensor, Any]]

    def __call__(self, rep: dict[str, Tensor], state: Any, n_rows: int) -> tuple[Tensor, Any]:
        return self.evaluate(rep, state, self.draw(n_rows), n_rows)


def replicate(theta: dict[str, Tensor], n_rows: int) -> dict[str, Tensor]:
    return {k: v.expand(n_rows, *v.shape).clone().requires_grad_() for k, v in theta.items()}


def copy_tree(tree: Any) -> Any:
    """A copy of a state made of dicts, lists and tuples of tensors: warm-up never mutates the caller's."""
    if isinstance(tree, Tensor):
        return tree.detach().clone()
    if isinstance(tree, dict):
        return {k: copy_tree(v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return type(tree)(copy_tree(v) for v in tree)
    return tree


def leaves(tree: Any) -> list[Tensor]:
    if isinstance(tree, Tensor):
        return [tree]
    if isinstance(tree, dict):
        return [t for v in tree.values() for t in leaves(v)]
    if isinstance(tree, (list, tuple)):
        return [t for v in tree for t in leaves(v)]
    return []


def gradient_rows(surrogate: Surrogate, theta: dict[str, Tensor], n_rows: int, state: Any) -> dict[str, Tensor]:
    rep = replicate(theta, n_rows)
    total, _ = surrogate(rep, state, n_rows)
    grads = torch.autograd.grad(total, list(rep.values()), allow_unused=True)
    return {k: (torch.zeros_like(rep[k]) if g is None else g.detach()) for k, g in zip(rep, grads)}


def warm_up(spec: Spec, surrogate: Surrogate, theta: dict[str, Tensor], state: Any, steps: int) -> Any:
    """Adapt the estimator's state at fixed parameters, then return it for freezing.

    running (EMA baselines): the estimator's own updates. trained (REBAR, RELAX): Adam steps on the
    estimate's second moment, mean over rows of ||g||^2, which has the variance's gradient.
    """
    if spec.state == "running":
        with torch.no_grad():
            for _ in range(steps):
                _, state = surrogate(replicate(theta, WARMUP_ROWS), state, WARMUP_ROWS)
        return state
    state = copy_tree(state)
    if spec.state == "trained" and steps:
        params = [t.requires_grad_() for t in leaves(state)]
        opt = torch.optim.Adam(params, lr=WARMUP_LR)
        for _ in range(steps):
            rep = replicate(theta, WARMUP_ROWS)
            total, _ = surrogate(rep, state, WARMUP_ROWS)
            grads = torch.autograd.grad(total, list(rep.values()), create_graph=True, allow_unused=True)
            second_moment = sum((g**2).sum() for g in grads if g is not None) / WARMUP_ROWS
            opt.zero_grad()
            second_moment.backward(inputs=params)
            opt.step()
        for t in params:
            t.requires_grad_(False)
    return state


def frozen_states(spec: Spec, surrogate: Surrogate, theta: dict[str, Tensor], state: Any, options: dict[str, Any],
                  warm_surrogate: Surrogate | None = None) -> list[Any]:
    """The states estimates are drawn from: one, or `states` independently trained ones (trained state);
    each training draws its own noise from the surrogate's generator."""
    opts = driver_options(spec, options)
    n = int(opts.get("states", 1)) if spec.state == "trained" else 1
    return [warm_up(spec, warm_surrogate or surrogate, theta, state, int(opts.get("warmup", 0))) for _ in range(n)]


class Rows:
    """Gradient rows of one frozen state: `rows(start, n)` draws the next n rows from the generator (eager
    torch computes them in order, so `start` only documents which rows they are)."""

    def __init__(self, surrogate: Surrogate, theta: dict[str, Tensor], state: Any) -> None:
        self.surrogate, self.theta, self.state = surrogate, theta, state

    def __call__(self, start: int, n: int) -> dict[str, np.ndarray]:
        return {k: g.cpu().numpy() for k, g in gradient_rows(self.surrogate, self.theta, n, self.state).items()}


def chunks(spec: Spec, surrogate: Surrogate, theta: dict[str, Tensor], n_estimates: int, state: Any,
           options: dict[str, Any], chunk_rows: int, warm_surrogate: Surrogate | None = None,
           make_rows: Callable[..., Any] = Rows) -> Iterator[tuple[int, int, Any, dict[str, np.ndarray]]]:
    """(cluster, first row, the Rows it came from, rows) for every chunk of n_estimates rows, state by state.
    `make_rows(surrogate, theta, state)` makes the Rows (the compiled driver passes its own)."""
    states = frozen_states(spec, surrogate, theta, state, options, warm_surrogate)
    bounds = np.linspace(0, n_estimates, len(states) + 1).astype(int)
    chunk_rows = even_chunks(int(np.diff(bounds).max()), chunk_rows)
    for c, st in enumerate(states):
        rows = make_rows(surrogate, theta, st)
        for start in range(bounds[c], bounds[c + 1], chunk_rows):
            n = min(chunk_rows, bounds[c + 1] - start)
            out = rows(start, 1 if spec.family == "exact" else n)  # every row of the exact gradient is the same
            yield c, start, rows, {k: np.broadcast_to(v, (n, *v.shape[1:])) for k, v in out.items()}


def estimate(spec: Spec, surrogate: Surrogate, theta: dict[str, Tensor], n_estimates: int, state: Any,
             options: dict[str, Any], warm_surrogate: Surrogate | None = None,
             make_rows: Callable[..., Any] = Rows) -> dict[str, np.ndarray]:
    """All n_estimates rows in memory (the single-node API and tests; the harness streams `chunks`)."""
    parts = [rows for *_, rows in chunks(spec, surrogate, theta, n_estimates, state, options,
                                         max(n_estimates, 1), warm_surrogate, make_rows)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def timed(surrogate: Surrogate, theta: dict[str, Tensor], n_rows: int, state: Any) -> tuple[float, Callable[[], Any]]:
    """(compile seconds, a call that computes n_rows estimates and returns once the device is done)."""
    sync = torch.cuda.synchronize if next(iter(theta.values())).is_cuda else (lambda: None)

    def run() -> Any:
        out = gradient_rows(surrogate, theta, n_rows, state)
        sync()
        return out

    return 0.0, run


def build_single_node(spec: Spec, f: Callable[[Tensor], Tensor], arrays: dict[str, np.ndarray], *, dist: str,
                      n_samples: int, seed: int, device: str, state: Any = None, batch_size: int = 1,
                      **options: Any) -> tuple[Surrogate, dict[str, Tensor], Any]:
    """(surrogate, parameters, state) of one node; an estimate averages batch_size examples."""
    est = get(spec.name, "torch")
    dev = torch.device(device)
    gen = torch.Generator(dev).manual_seed(seed)
    theta = {k: torch.as_tensor(v, device=dev) for k, v in arrays.items()}
    shape = next(iter(arrays.values())).shape
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size

    def value(z: Tensor) -> Tensor:
        with torch.no_grad():
            return f(z)

    down = Downstream(main=f, value=value, relaxed=lambda h, temperature: f(h), mean=f)
    opts = surrogate_options(spec, options)

    def draw(n_rows: int) -> list[Tensor]:
        return [uniforms(gen, (n_u, n_rows, n_draws, *shape), dev)]

    def evaluate(rep: dict[str, Tensor], st: Any, u: list[Tensor], n_rows: int) -> tuple[Tensor, Any]:
        node = {k: v[:, None].expand(n_rows, n_draws, *shape) for k, v in rep.items()}
        out, st = est.surrogate(node, down, u[0], st, dist=dist, event_ndim=len(shape), **opts)
        return out.mean(1).sum(), st

    if spec.state and state is None:
        state = est.init_state({k: shape for k in arrays}, seed, device)
    return Split(draw, evaluate), theta, state


def single_node(spec: Spec, f: Callable, arrays: dict[str, np.ndarray], *, n_estimates: int,
                make_rows: Callable[..., Any] = Rows, **kwargs: Any) -> dict[str, np.ndarray]:
    surrogate, theta, state = build_single_node(spec, f, arrays, **kwargs)
    options = {k: v for k, v in kwargs.items() if k in spec.options}
    warm = None
    if spec.state == "trained":  # states trained on single draws whatever n_samples is (one state distribution)
        one = {**kwargs, "n_samples": 2 if spec.multi_sample else 1, "seed": kwargs["seed"] + WARM_NOISE}
        warm = build_single_node(spec, f, arrays, **{**one, "state": state})[0]
    return estimate(spec, surrogate, theta, n_estimates, state, options, warm, make_rows)
