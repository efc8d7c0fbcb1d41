"""The training suite: a model trained with one estimator, held-out metrics against steps and training time.

Minibatch steps with a named optimizer; the estimator's surrogate gives each step's gradient, and running state
(EMA baselines, NVIL's) is carried from step to step. Trained state (REBAR's temperature and eta, RELAX's
control variate) is trained jointly, as the papers do: each step also takes an Adam step (STATE_LR) on the
squared norm of that step's gradient estimate, whose gradient with respect to the state is the estimate's
variance's (the mean does not depend on the state of an unbiased estimator). Seed 002's slope annealing
multiplies the `slope` option by `slope_anneal` after every epoch. Evaluation and the first (compiling) step
are kept out of `train_time`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from bench.plan.cell import OPTIMIZERS, Cell, Training
from bench.problems import PROBLEMS, dataset
from bench.problems.engine import Model, forward, initial_states, surrogate
from bench.suites.common import row
from estimators import catalog, driver
from estimators.driver import leaves, tree_map
from estimators.spec import OPTION_RANGES, draw_counts, surrogate_options

STATE_LR = 0.01  # Adam on the trained estimator state
# integer options (gumbel-rao's k) set array shapes: the JAX step takes them as static arguments, not traced
STATIC_OPTIONS = frozenset(k for k, r in OPTION_RANGES.items() if r.integer)


@dataclass
class TrainRun:
    params: dict[str, np.ndarray]
    compile_time: float = 0.0  # the first step (tracing, jit compilation, warm-up), kept out of train_time
    history: list[dict[str, float]] = field(default_factory=list)  # step, train_time, loss, and the metrics
    snapshots: dict[int, dict[str, np.ndarray]] = field(default_factory=dict)  # train(keep=...)'s parameters


def eval_mode(estimator: str, requested: str = "") -> str:
    """The deterministic sigmoid net feeds probabilities on; everything else samples unless told otherwise."""
    return "mean" if estimator == "deterministic" else (requested or "stochastic")


def training(cell: Cell) -> list[dict[str, Any]]:
    run = train(cell.problem, cell.params, cell.estimator, depth=cell.depth, backend=cell.backend,
                device=cell.device, seed=cell.seed, settings=cell.training, batch_size=cell.batch_size,
                n_samples=cell.n_samples, options=cell.options)
    out = [row(cell, "compile_time", run.compile_time, unit="s")]
    for point in run.history:
        for metric, value in point.items():
            if metric != "step":
                r = row(cell, metric, value, unit="s" if metric == "train_time" else "")
                out.append({**r, "step": int(point["step"])})
    return out


def train(problem: str, pp: dict[str, Any], name: str, *, depth: int, backend: str, device: str, seed: int,
          settings: Training, batch_size: int, n_samples: int, options: dict[str, Any],
          keep: frozenset[int] = frozenset()) -> TrainRun:
    """Train; `keep`: steps whose parameters (before that step's update) are kept in `run.snapshots`."""
    if settings.optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {settings.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if backend not in ("torch", "jax"):  # torch-compile is refused by the CLI too: no compiled training loop
        raise ValueError(f"training runs on torch (eager) or jax, not {backend!r}")
    spec = PROBLEMS[problem]
    model = spec.model(pp, depth, batch_size, name)
    data = dataset(pp)
    x_train, y_train = data.x_train, data.y_train
    if settings.train_subset:
        x_train, y_train = x_train[:settings.train_subset], y_train[:settings.train_subset]
    test = spec.batch(data.x_test, data.y_test)
    rng = np.random.default_rng(seed + 7)
    epoch_steps = max(1, len(x_train) // batch_size)
    opts = surrogate_options(catalog.spec(name), options)
    step_fn, evaluate, params = (_torch_loop if backend == "torch" else _jax_loop)(
        model, name, device, seed, settings, n_samples, mode=eval_mode(name, settings.eval))
    run, elapsed = TrainRun({}), 0.0
    for step in range(settings.steps + 1):
        if step in keep:
            run.snapshots[step] = {k: np.array(v, copy=True) for k, v in params().items()}
        if settings.eval_every and (step % settings.eval_every == 0 or step == settings.steps):
            run.history.append({"step": step, "train_time": elapsed, **evaluate(test, opts.get("slope", 1.0))})
        if step == settings.steps:
            break
        idx = rng.choice(len(x_train), batch_size, replace=False)
        minibatch = spec.batch(x_train[idx], y_train[idx])
        start = time.perf_counter()
        loss = step_fn(minibatch, opts)
        if step == 0:
            run.compile_time = time.perf_counter() - start
        else:
            elapsed += time.perf_counter() - start
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at step {step}")
        if (step + 1) % epoch_steps == 0 and "slope" in opts:
            opts["slope"] *= settings.slope_anneal
    run.params = params()
    return run


def _torch_loop(model: Model, name: str, device: str, seed: int, settings: Training, n_samples: int, mode: str):
    import torch

    d = driver("torch", device)
    o, dev = d.ops, d.device
    theta = {k: o.asarray(v).requires_grad_() for k, v in model.init_params(seed).items()}
    opt = (torch.optim.SGD if settings.optimizer == "sgd" else torch.optim.Adam)(list(theta.values()), lr=settings.lr)
    gen, eval_gen = torch.Generator(dev).manual_seed(seed), torch.Generator(dev).manual_seed(seed + 1)
    spec, estimator = catalog.spec(name), catalog.module(name)
    states = initial_states(model, o, spec, seed)
    n_draws, n_u = draw_counts(spec, n_samples)
    state_params = [t.requires_grad_() for t in leaves(states)] if spec.state == "trained" else []
    state_opt = torch.optim.Adam(state_params, lr=STATE_LR) if state_params else None

    def uniforms(shape: tuple[int, ...], g: torch.Generator) -> torch.Tensor:
        return torch.rand(shape, generator=g, device=dev).clamp_(min=o.tiny)

    def step(data: dict[str, np.ndarray], opts: dict[str, Any]) -> float:
        nonlocal states
        draws = n_draws * len(data["x"]) if model.per_draw_data else n_draws
        ctx = {k: o.asarray(np.concatenate([v] * n_draws) if model.per_draw_data else v) for k, v in data.items()}
        u = [uniforms((n_u, 1, *model.node_shape(m, draws)), gen) for m in range(model.n_stochastic)]
        out, new_states = surrogate(model, o, estimator, {k: v[None] for k, v in theta.items()}, u, states, ctx,
                                    opts)
        loss = out.mean()
        opt.zero_grad()
        if state_opt is None:
            loss.backward()
        else:  # the estimate's own gradient with respect to the state: its variance, minimised jointly
            grads = torch.autograd.grad(loss, list(theta.values()), create_graph=True, allow_unused=True)
            state_opt.zero_grad()
            sum((g**2).sum() for g in grads if g is not None).backward(inputs=state_params)
            state_opt.step()
            for t, g in zip(theta.values(), grads):
                t.grad = None if g is None else g.detach()
        opt.step()
        if spec.state == "running":
            states = tree_map(lambda t: t.detach(), new_states)
        d.sync()
        return float(loss.detach())

    def evaluate(data: dict[str, np.ndarray], slope: float) -> dict[str, float]:
        n = len(data["x"])
        with torch.no_grad():
            ctx = {k: o.asarray(v) for k, v in data.items()}
            u = [uniforms(model.node_shape(m, n if model.per_draw_data else 1), eval_gen)
                 for m in range(model.n_stochastic)]
            out = forward(model, o, {k: v.detach() for k, v in theta.items()}, ctx, u, mode, slope)
        return {k: float(v.mean()) for k, v in out.items()}

    return step, evaluate, lambda: {k: v.detach().cpu().numpy() for k, v in theta.items()}


def _jax_loop(model: Model, name: str, device: str, seed: int, settings: Training, n_samples: int, mode: str):
    import jax
    import optax

    from estimators.backends.jax import draw

    o = driver("jax", device).ops
    theta = {k: o.asarray(v) for k, v in model.init_params(seed).items()}
    tx = optax.sgd(settings.lr) if settings.optimizer == "sgd" else optax.adam(settings.lr)
    spec, estimator = catalog.spec(name), catalog.module(name)
    states = initial_states(model, o, spec, seed)
    n_draws, n_u = draw_counts(spec, n_samples)
    state_tx = optax.adam(STATE_LR)
    box = {"theta": theta, "opt": tx.init(theta), "states": states, "key": jax.random.PRNGKey(seed),
           "eval_key": jax.random.PRNGKey(seed + 1), "state_opt": state_tx.init(states)}

    def loss_fn(th, st, key, ctx, opts):
        draws = ctx["x"].shape[0] if model.per_draw_data else n_draws
        u = draw(key, [(n_u, 1, *model.node_shape(m, draws)) for m in range(model.n_stochastic)], o.tiny)
        out, st = surrogate(model, o, estimator, {k: v[None] for k, v in th.items()}, u, st, ctx, opts)
        return out.mean(), st

    def estimate(th, st, key, ctx, opts):
        (loss, new_st), grads = jax.value_and_grad(loss_fn, has_aux=True)(th, st, key, ctx, opts)
        second_moment = sum((g**2).sum() for g in jax.tree_util.tree_leaves(grads))
        return second_moment, (loss, new_st, grads)

    @partial(jax.jit, static_argnames="fixed")
    def jit_step(th, opt_state, st, state_opt, key, ctx, opts, fixed=()):
        opts = {**opts, **dict(fixed)}
        if spec.state == "trained":  # the estimate's own gradient with respect to the state: its variance
            state_grads, (loss, new_st, grads) = jax.grad(estimate, argnums=1, has_aux=True)(th, st, key, ctx, opts)
            state_updates, state_opt = state_tx.update(state_grads, state_opt, st)
            new_st = optax.apply_updates(st, state_updates)
        else:
            _, (loss, new_st, grads) = estimate(th, st, key, ctx, opts)
            new_st = new_st if spec.state == "running" else st
        updates, opt_state = tx.update(grads, opt_state, th)
        return optax.apply_updates(th, updates), opt_state, new_st, state_opt, loss

    @jax.jit
    def jit_eval(th, ctx, key, slope):
        n = ctx["x"].shape[0] if model.per_draw_data else 1
        u = draw(key, [model.node_shape(m, n) for m in range(model.n_stochastic)], o.tiny)
        return {k: v.mean() for k, v in forward(model, o, th, ctx, u, mode, slope).items()}

    def step(data: dict[str, np.ndarray], opts: dict[str, Any]) -> float:
        box["key"], key = jax.random.split(box["key"])
        ctx = {k: o.asarray(np.concatenate([v] * n_draws) if model.per_draw_data else v) for k, v in data.items()}
        traced = {k: float(v) for k, v in opts.items() if k not in STATIC_OPTIONS}  # slope anneals: no recompiling
        fixed = tuple(sorted((k, int(v)) for k, v in opts.items() if k in STATIC_OPTIONS))
        box["theta"], box["opt"], box["states"], box["state_opt"], loss = jit_step(
            box["theta"], box["opt"], box["states"], box["state_opt"], key, ctx, traced, fixed=fixed)
        return float(jax.block_until_ready(loss))

    def evaluate(data: dict[str, np.ndarray], slope: float) -> dict[str, float]:
        box["eval_key"], key = jax.random.split(box["eval_key"])
        out = jit_eval(box["theta"], {k: o.asarray(v) for k, v in data.items()}, key, float(slope))
        return {k: float(v) for k, v in out.items()}

    return step, evaluate, lambda: {k: np.asarray(v) for k, v in box["theta"].items()}
