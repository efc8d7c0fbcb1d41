"""Training a model problem with one estimator: minibatch steps with a named optimizer, held-out metrics
against steps and against training wall-clock time (evaluation excluded).

The estimator's surrogate gives each step's gradient; running estimator state (EMA baselines) is carried
from step to step. Trained state (REBAR's temperature and eta, RELAX's control variate, NVIL's baseline) is
trained jointly, as the papers do: each step also takes an Adam step (STATE_LR) on the squared norm of that
step's gradient estimate, whose gradient with respect to the state is the estimate's variance's (the mean does
not depend on the state of an unbiased estimator).
Seed 002's slope annealing multiplies the `slope` option by `slope_anneal` after every epoch.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from bench.problems import batch, dataset
from bench.problems.model import AbstractModel, forward, surrogate
from bench.problems.ops import ops
from estimators import PARAM_NAMES
from estimators.registry import get
from estimators.spec import OPTION_RANGES, SPECS, surrogate_options

OPTIMIZERS = ("sgd", "adam")
STATE_LR = 0.01  # Adam on the trained estimator state
# integer options (gumbel-rao's k) set array shapes: the JAX step takes them as static arguments, not traced
STATIC_OPTIONS = frozenset(k for k, r in OPTION_RANGES.items() if r.integer)
EVAL_MODES = ("stochastic", "deterministic", "mean")


@dataclass
class TrainRun:
    params: dict[str, np.ndarray]
    compile_time: float = 0.0  # the first step (tracing, jit compilation, warm-up), kept out of train_time
    history: list[dict[str, float]] = field(default_factory=list)  # step, train_time, loss, accuracy | elbo


def eval_mode(estimator: str, requested: str = "") -> str:
    """The deterministic sigmoid net feeds probabilities on; everything else samples unless told otherwise."""
    return "mean" if estimator == "deterministic" else (requested or "stochastic")


def train(problem: str, pp: dict[str, Any], model: AbstractModel, name: str, *, backend: str, device: str,
          seed: int, lr: float, optimizer: str, steps: int, batch_size: int, n_samples: int, eval_every: int,
          options: dict[str, Any], slope_anneal: float = 1.0, mode: str = "", train_subset: int = 0) -> TrainRun:
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
    if backend not in ("torch", "jax"):  # torch-compile is refused by the CLI too: no compiled training loop
        raise ValueError(f"training runs on torch (eager) or jax, not {backend!r}")
    data = dataset(pp)
    x_train, y_train = data.x_train, data.y_train
    if train_subset:
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    test = batch(problem, pp, data.x_test, data.y_test)
    rng = np.random.default_rng(seed + 7)
    epoch_steps = max(1, len(x_train) // batch_size)
    spec = SPECS[name]
    opts = surrogate_options(spec, options)
    step_fn, evaluate, params = (_torch_loop if backend == "torch" else _jax_loop)(
        model, name, device, seed, lr, optimizer, n_samples, mode=eval_mode(name, mode))
    run, elapsed = TrainRun({}), 0.0
    for step in range(steps + 1):
        if eval_every and (step % eval_every == 0 or step == steps):
            run.history.append({"step": step, "train_time": elapsed, **evaluate(test, opts.get("slope", 1.0))})
        if step == steps:
            break
        idx = rng.choice(len(x_train), batch_size, replace=False)
        minibatch = batch(problem, pp, x_train[idx], y_train[idx])
        start = time.perf_counter()
        loss = step_fn(minibatch, opts)
        if step == 0:
            run.compile_time = time.perf_counter() - start
        else:
            elapsed += time.perf_counter() - start
        if not np.isfinite(loss):
            raise FloatingPointError(f"training loss became {loss} at step {step}")
        if (step + 1) % epoch_steps == 0 and "slope" in opts:
            opts["slope"] *= slope_anneal
    run.params = params()
    return run


def _n_draws(name: str, n_samples: int) -> tuple[int, int]:
    spec = SPECS[name]
    return (1, n_samples) if spec.multi_sample else (n_samples, spec.uniforms)


def _torch_loop(model: AbstractModel, name: str, device: str, seed: int, lr: float, optimizer: str,
                n_samples: int, mode: str):
    import torch

    from estimators.torch.driver import leaves, uniforms

    o, dev = ops("torch", device), torch.device(device)
    theta = {k: o.asarray(v).requires_grad_() for k, v in model.init_params(seed).items()}
    opt = (torch.optim.SGD if optimizer == "sgd" else torch.optim.Adam)(list(theta.values()), lr=lr)
    gen, eval_gen = torch.Generator(dev).manual_seed(seed), torch.Generator(dev).manual_seed(seed + 1)
    spec, est = SPECS[name], get(name, "torch")
    states = [est.init_state({k: model.event_shape(m) for k in PARAM_NAMES[model.dist]}, seed + m, device)
              if spec.state else None for m in range(model.n_stochastic)]
    n_draws, n_u = _n_draws(name, n_samples)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    state_params = [t.requires_grad_() for t in leaves(states)] if spec.state == "trained" else []
    state_opt = torch.optim.Adam(state_params, lr=STATE_LR) if state_params else None

    def step(data: dict[str, np.ndarray], opts: dict[str, Any]) -> float:
        nonlocal states
        draws = n_draws * len(data["x"]) if model.per_draw_data else n_draws
        ctx = {k: o.asarray(np.concatenate([v] * n_draws) if model.per_draw_data else v) for k, v in data.items()}
        u = [uniforms(gen, (n_u, 1, *model.node_shape(m, draws)), dev) for m in range(model.n_stochastic)]
        out, new_states = surrogate(model, o, name, {k: v[None] for k, v in theta.items()}, u, states, ctx, opts)
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
            states = [{k: tuple(t.detach() for t in v) for k, v in s.items()} for s in new_states]
        sync()
        return float(loss.detach())

    def evaluate(data: dict[str, np.ndarray], slope: float) -> dict[str, float]:
        n = len(data["x"])
        with torch.no_grad():
            ctx = {k: o.asarray(v) for k, v in data.items()}
            u = [uniforms(eval_gen, model.node_shape(m, n if model.per_draw_data else 1), dev)
                 for m in range(model.n_stochastic)]
            out = forward(model, o, {k: v.detach() for k, v in theta.items()}, ctx, u, mode, slope)
        return {k: float(v.mean()) for k, v in out.items()}

    return step, evaluate, lambda: {k: v.detach().cpu().numpy() for k, v in theta.items()}


def _jax_loop(model: AbstractModel, name: str, device: str, seed: int, lr: float, optimizer: str, n_samples: int,
              mode: str):
    import jax
    import optax

    driver = importlib.import_module("estimators.jax.driver")
    o = ops("jax", device)
    theta = {k: o.asarray(v) for k, v in model.init_params(seed).items()}
    tx = optax.sgd(lr) if optimizer == "sgd" else optax.adam(lr)
    spec, est = SPECS[name], get(name, "jax")
    states = [est.init_state({k: model.event_shape(m) for k in PARAM_NAMES[model.dist]}, seed + m, device)
              if spec.state else None for m in range(model.n_stochastic)]
    n_draws, n_u = _n_draws(name, n_samples)
    state_tx = optax.adam(STATE_LR)
    box = {"theta": theta, "opt": tx.init(theta), "states": states, "key": jax.random.PRNGKey(seed),
           "eval_key": jax.random.PRNGKey(seed + 1), "state_opt": state_tx.init(states)}

    def loss_fn(th, st, key, ctx, opts):
        draws = ctx["x"].shape[0] if model.per_draw_data else n_draws
        keys = jax.random.split(key, model.n_stochastic)
        u = [driver.uniforms(keys[m], (n_u, 1, *model.node_shape(m, draws))) for m in range(model.n_stochastic)]
        out, st = surrogate(model, o, name, {k: v[None] for k, v in th.items()}, u, st, ctx, opts)
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
        keys = jax.random.split(key, model.n_stochastic)
        u = [driver.uniforms(keys[m], model.node_shape(m, n)) for m in range(model.n_stochastic)]
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
