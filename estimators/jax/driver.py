"""Turns a surrogate into rows of gradient estimates, vectorised over estimates by batching, jitted.

A problem supplies `surrogate(rep, state, key, n_rows) -> (scalar, state)`, where `rep` holds each parameter
replicated to [n_rows, *shape] and the scalar is the sum over rows of each row's surrogate: the gradient
with respect to `rep` is then one independent estimate per row, from one jitted backward pass.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.lax import stop_gradient

from estimators.jax.common import Downstream
from estimators.registry import get
from estimators.spec import Spec

Surrogate = Callable[[dict[str, Array], Any, Array, int], tuple[Array, Any]]
WARMUP_ROWS = 256
WARMUP_LR = 0.02


def uniforms(key: Array, shape: tuple[int, ...]) -> Array:
    """U(0, 1) without 0, so logit, log and the normal quantile stay finite."""
    return jax.random.uniform(key, shape, jnp.float32, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)


def replicate(theta: dict[str, Array], n_rows: int) -> dict[str, Array]:
    return {k: jnp.broadcast_to(v, (n_rows, *v.shape)) for k, v in theta.items()}


def device_put(arrays: dict[str, np.ndarray], device: str) -> dict[str, Array]:
    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    return {k: jax.device_put(jnp.asarray(v), dev) for k, v in arrays.items()}


def gradient_rows(surrogate: Surrogate, theta: dict[str, Array], n_rows: int, state: Any, key: Array):
    grad = jax.jit(jax.grad(lambda rep, st, k: surrogate(rep, st, k, n_rows)[0]))
    return grad(replicate(theta, n_rows), state, key)


def warm_up(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], state: Any, steps: int, key: Array) -> Any:
    """Adapt the estimator's state at fixed parameters, then return it for freezing.

    running (EMA baselines): the estimator's own updates. trained (REBAR, RELAX): Adam steps on the
    estimate's second moment, mean over rows of ||g||^2, which has the variance's gradient.
    """
    rep = replicate(theta, WARMUP_ROWS)
    if spec.state == "running":
        update = jax.jit(lambda st, k: surrogate(rep, st, k, WARMUP_ROWS)[1])
        for k in jax.random.split(key, steps):
            state = update(state, k)
        return state
    if spec.state == "trained" and steps:
        opt = optax.adam(WARMUP_LR)

        def second_moment(st: Any, k: Array) -> Array:
            g = jax.grad(lambda r: surrogate(r, st, k, WARMUP_ROWS)[0])(rep)
            return sum((x**2).sum() for x in jax.tree_util.tree_leaves(g)) / WARMUP_ROWS

        @jax.jit
        def step(st: Any, opt_state: Any, k: Array):
            grads = jax.grad(second_moment)(st, k)
            updates, opt_state = opt.update(grads, opt_state)
            return optax.apply_updates(st, updates), opt_state

        opt_state = opt.init(state)
        for k in jax.random.split(key, steps):
            state, opt_state = step(state, opt_state, k)
    return state


def estimate(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], n_estimates: int, state: Any,
             warmup: int | None, key: Array) -> dict[str, np.ndarray]:
    warm_key, key = jax.random.split(key)
    state = warm_up(spec, surrogate, theta, state, spec.default_warmup if warmup is None else warmup, warm_key)
    rows = 1 if spec.family == "exact" else n_estimates  # every row of the exact gradient is the same
    grads = gradient_rows(surrogate, theta, rows, state, key)
    return {k: np.broadcast_to(np.asarray(g), (n_estimates, *g.shape[1:])).copy() for k, g in grads.items()}


def draw_counts(spec: Spec, n_samples: int) -> tuple[int, int]:
    """(independent draws averaged per estimate, uniform arrays per draw)."""
    return (1, n_samples) if spec.multi_sample else (n_samples, spec.uniforms)


def timed(surrogate: Surrogate, theta: dict[str, Array], n_rows: int, state: Any,
          key: Array) -> tuple[float, Callable[[], Any]]:
    """(compile seconds, a call that computes n_rows estimates and returns once the device is done)."""
    grad = jax.jit(jax.grad(lambda rep, st, k: surrogate(rep, st, k, n_rows)[0]))
    rep = replicate(theta, n_rows)
    start = time.perf_counter()
    compiled = grad.lower(rep, state, key).compile()
    compile_s = time.perf_counter() - start
    return compile_s, lambda: jax.block_until_ready(compiled(rep, state, key))


def build_single_node(spec: Spec, f: Callable[[Array], Array], arrays: dict[str, np.ndarray], *, dist: str,
                      n_samples: int, seed: int, device: str, state: Any = None, batch_size: int = 1,
                      **options: Any) -> tuple[Surrogate, dict[str, Array], Any]:
    """(surrogate, parameters, state) of one node; an estimate averages batch_size examples."""
    est = get(spec.name, "jax")
    theta = device_put(arrays, device)
    shape = next(iter(arrays.values())).shape
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size
    down = Downstream(main=f, value=lambda z: stop_gradient(f(z)), relaxed=lambda h, temperature: f(h))

    def surrogate(rep: dict[str, Array], st: Any, key: Array, n_rows: int) -> tuple[Array, Any]:
        u = uniforms(key, (n_u, n_rows, n_draws, *shape))
        node = {k: jnp.broadcast_to(v[:, None], (n_rows, n_draws, *shape)) for k, v in rep.items()}
        out, st = est.surrogate(node, down, u, st, dist=dist, event_ndim=len(shape), **options)
        return out.mean(1).sum(), st

    if spec.state and state is None:
        state = est.init_state({k: shape for k in arrays}, seed, device)
    return surrogate, theta, state


def single_node(spec: Spec, f: Callable[[Array], Array], arrays: dict[str, np.ndarray], *, n_estimates: int,
                warmup: int | None = None, **kwargs: Any) -> dict[str, np.ndarray]:
    surrogate, theta, state = build_single_node(spec, f, arrays, **kwargs)
    return estimate(spec, surrogate, theta, n_estimates, state, warmup, jax.random.PRNGKey(kwargs["seed"]))
