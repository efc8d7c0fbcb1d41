"""Turns a surrogate into rows of gradient estimates, vectorised over estimates by batching, jitted.

A problem supplies `surrogate(rep, state, keys, n_rows) -> (scalar, state)`, where `rep` holds each parameter
replicated to [n_rows, *shape], `keys` holds one PRNG key per row, and the scalar is the sum over rows of
each row's surrogate: the gradient with respect to `rep` is then one independent estimate per row, from one
jitted backward pass. Row r's noise comes from its own key, fold_in(key, r), so any subset of rows can be
recomputed alone: outside jit, to check the compiler (`Rows.eager`), or in chunks of any size (results do
not depend on the memory budget).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import Array
from jax.lax import stop_gradient

from estimators.jax.common import Downstream
from estimators.registry import get
from estimators.spec import Spec, draw_counts, driver_options, even_chunks, surrogate_options

Surrogate = Callable[[dict[str, Array], Any, Array, int], tuple[Array, Any]]
WARMUP_ROWS = 256
WARMUP_LR = 0.02
WARM_NOISE = 5_003  # trained states draw their warm-up noise apart from the estimates'


def uniforms(key: Array, shape: tuple[int, ...]) -> Array:
    """U(0, 1) without 0, so logit, log and the normal quantile stay finite."""
    return jax.random.uniform(key, shape, jnp.float32, minval=jnp.finfo(jnp.float32).tiny, maxval=1.0)


def row_keys(key: Array, start: int, n: int) -> Array:
    """The keys of rows start .. start + n - 1: fold_in(key, row)."""
    return jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(start, start + n, dtype=jnp.uint32))


def row_uniforms(keys: Array, stream: int, shape: tuple[int, ...]) -> Array:
    """Uniforms of `shape` = (arrays, n_rows, *rest): row r's from keys[r] alone; `stream` tells apart the
    draws of one row (a layer, a node)."""
    n_arrays, n_rows, *rest = shape
    u = jax.vmap(lambda k: uniforms(jax.random.fold_in(k, stream), (n_arrays, *rest)))(keys)
    return jnp.moveaxis(u, 0, 1)


def replicate(theta: dict[str, Array], n_rows: int) -> dict[str, Array]:
    return {k: jnp.broadcast_to(v, (n_rows, *v.shape)) for k, v in theta.items()}


def device_put(arrays: dict[str, np.ndarray], device: str) -> dict[str, Array]:
    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    return {k: jax.device_put(jnp.asarray(v), dev) for k, v in arrays.items()}


def _rows_fn(surrogate: Surrogate) -> Callable[[dict[str, Array], Any, Array], dict[str, Array]]:
    """(theta, state, row keys) -> gradient rows; replication happens inside, so jit sees no [n, P] input."""

    def rows(theta: dict[str, Array], state: Any, keys: Array) -> dict[str, Array]:
        n = keys.shape[0]
        return jax.grad(lambda rep: surrogate(rep, state, keys, n)[0])(replicate(theta, n))

    return rows


class Rows:
    """Gradient rows of one frozen state: `rows(start, n)` jitted (compiled once per chunk size), and
    `eager(indices)` the same rows computed op by op outside jit, to check the compiled code."""

    def __init__(self, surrogate: Surrogate, theta: dict[str, Array], state: Any, key: Array) -> None:
        self.fn, self.theta, self.state, self.key = _rows_fn(surrogate), theta, state, key
        self.jitted = jax.jit(self.fn)

    def __call__(self, start: int, n: int) -> dict[str, np.ndarray]:
        out = self.jitted(self.theta, self.state, row_keys(self.key, start, n))
        return {k: np.asarray(v) for k, v in out.items()}

    def eager(self, indices: np.ndarray) -> dict[str, np.ndarray]:
        keys = jnp.stack([jax.random.fold_in(self.key, int(i)) for i in indices])
        with jax.disable_jit():
            out = self.fn(self.theta, self.state, keys)
        return {k: np.asarray(v) for k, v in out.items()}


def warm_up(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], state: Any, steps: int, key: Array) -> Any:
    """Adapt the estimator's state at fixed parameters, then return it for freezing.

    running (EMA baselines): the estimator's own updates. trained (REBAR, RELAX): Adam steps on the
    estimate's second moment, mean over rows of ||g||^2, which has the variance's gradient.
    """
    rep = replicate(theta, WARMUP_ROWS)
    if spec.state == "running":
        update = jax.jit(lambda st, k: surrogate(rep, st, row_keys(k, 0, WARMUP_ROWS), WARMUP_ROWS)[1])
        for k in jax.random.split(key, steps):
            state = update(state, k)
        return state
    if spec.state == "trained" and steps:
        opt = optax.adam(WARMUP_LR)

        def second_moment(st: Any, k: Array) -> Array:
            g = jax.grad(lambda r: surrogate(r, st, row_keys(k, 0, WARMUP_ROWS), WARMUP_ROWS)[0])(rep)
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


def frozen_states(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], state: Any, key: Array,
                  options: dict[str, Any], warm_surrogate: Surrogate | None = None) -> list[Any]:
    """The states estimates are drawn from: one, or `states` independently trained ones (trained state)."""
    opts = driver_options(spec, options)
    n = int(opts.get("states", 1)) if spec.state == "trained" else 1
    keys = jax.random.split(jax.random.fold_in(key, 2**31 - 1), n)  # apart from every row key
    return [warm_up(spec, warm_surrogate or surrogate, theta, state, int(opts.get("warmup", 0)), k) for k in keys]


def chunks(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], n_estimates: int, state: Any, key: Array,
           options: dict[str, Any], chunk_rows: int, warm_surrogate: Surrogate | None = None,
           ) -> Iterator[tuple[int, int, Rows, dict[str, np.ndarray]]]:
    """(cluster, first row, the Rows it came from, rows) for every chunk of n_estimates rows, state by state.

    The last chunk of a state is padded to chunk_rows and cut, so one compilation serves every chunk."""
    states = frozen_states(spec, surrogate, theta, state, key, options, warm_surrogate)
    bounds = np.linspace(0, n_estimates, len(states) + 1).astype(int)
    chunk_rows = even_chunks(int(np.diff(bounds).max()), chunk_rows)
    for c, st in enumerate(states):
        rows = Rows(surrogate, theta, st, jax.random.fold_in(key, c) if len(states) > 1 else key)
        for start in range(bounds[c], bounds[c + 1], chunk_rows):
            n = min(chunk_rows, bounds[c + 1] - start)
            out = rows(start, chunk_rows if spec.family != "exact" else 1)
            yield c, start, rows, {k: _first(v, n, spec) for k, v in out.items()}


def _first(v: np.ndarray, n: int, spec: Spec) -> np.ndarray:
    return np.broadcast_to(v[:1], (n, *v.shape[1:])) if spec.family == "exact" else v[:n]


def estimate(spec: Spec, surrogate: Surrogate, theta: dict[str, Array], n_estimates: int, state: Any,
             options: dict[str, Any], key: Array, warm_surrogate: Surrogate | None = None) -> dict[str, np.ndarray]:
    """All n_estimates rows in memory (the single-node API and tests; the harness streams `chunks`)."""
    parts = [rows for *_, rows in chunks(spec, surrogate, theta, n_estimates, state, key, options,
                                         max(n_estimates, 1), warm_surrogate)]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def compiled_timed(surrogate: Surrogate, theta: dict[str, Array], n_rows: int, state: Any,
                   key: Array) -> tuple[float, Callable[[], Any], jax.stages.Compiled]:
    """`timed`, plus the executable the call runs (its XLA memory analysis is bench.memory's figure)."""
    keys = row_keys(key, 0, n_rows)
    start = time.perf_counter()
    compiled = jax.jit(_rows_fn(surrogate)).lower(theta, state, keys).compile()
    compile_s = time.perf_counter() - start
    return compile_s, lambda: jax.block_until_ready(compiled(theta, state, keys)), compiled


def timed(surrogate: Surrogate, theta: dict[str, Array], n_rows: int, state: Any,
          key: Array) -> tuple[float, Callable[[], Any]]:
    """(compile seconds, a call that computes n_rows estimates and returns once the device is done)."""
    compile_s, run, _ = compiled_timed(surrogate, theta, n_rows, state, key)
    return compile_s, run


def build_single_node(spec: Spec, f: Callable[[Array], Array], arrays: dict[str, np.ndarray], *, dist: str,
                      n_samples: int, seed: int, device: str, state: Any = None, batch_size: int = 1,
                      **options: Any) -> tuple[Surrogate, dict[str, Array], Any]:
    """(surrogate, parameters, state) of one node; an estimate averages batch_size examples."""
    est = get(spec.name, "jax")
    theta = device_put(arrays, device)
    shape = next(iter(arrays.values())).shape
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size
    down = Downstream(main=f, value=lambda z: stop_gradient(f(z)), relaxed=lambda h, temperature: f(h),
                      mean=f)
    opts = surrogate_options(spec, options)

    def surrogate(rep: dict[str, Array], st: Any, keys: Array, n_rows: int) -> tuple[Array, Any]:
        u = row_uniforms(keys, 0, (n_u, n_rows, n_draws, *shape))
        node = {k: jnp.broadcast_to(v[:, None], (n_rows, n_draws, *shape)) for k, v in rep.items()}
        out, st = est.surrogate(node, down, u, st, dist=dist, event_ndim=len(shape), **opts)
        return out.mean(1).sum(), st

    if spec.state and state is None:
        state = est.init_state({k: shape for k in arrays}, seed, device)
    return surrogate, theta, state


def single_node(spec: Spec, f: Callable, arrays: dict[str, np.ndarray], *, n_estimates: int,
                **kwargs: Any) -> dict[str, np.ndarray]:
    surrogate, theta, state = build_single_node(spec, f, arrays, **kwargs)
    options = {k: v for k, v in kwargs.items() if k in spec.options}
    warm = None
    if spec.state == "trained":  # states trained on single draws whatever n_samples is (one state distribution)
        one = {**kwargs, "n_samples": 2 if spec.multi_sample else 1, "seed": kwargs["seed"] + WARM_NOISE}
        warm = build_single_node(spec, f, arrays, **{**one, "state": state})[0]
    return estimate(spec, surrogate, theta, n_estimates, state, options, jax.random.PRNGKey(kwargs["seed"]), warm)
