"""JAX: one block of rows jit-compiled once per objective, its uniforms drawn inside the compiled code.

`rows` runs the compiled block function over the blocks a chunk spans (estimators.rng.BLOCK rows each), so a
cell compiles once whatever its chunks: the block's key is fold_in(fold_in(key(seed, stream), block), array),
three derivations per block instead of two per row. `rows_on` runs the same function op by op
(jax.disable_jit) on given uniforms, the path that checks the compiled one. Trained states take optax Adam
steps, compiled once per objective and shared by its states.
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

from estimators.backends.jax_ops import JaxOps
from estimators.driver import WARMUP_LR, WARMUP_ROWS, Objective, tree_map
from estimators.rng import BLOCK, Rng, blocks


def replicate(theta: dict[str, Array], n_rows: int) -> dict[str, Array]:
    return {k: jnp.broadcast_to(v, (n_rows, *v.shape)) for k, v in theta.items()}


def draw(key: Array, shapes: list[tuple[int, ...]], tiny: float) -> list[Array]:
    """U[tiny, 1) arrays of the given shapes, array m from fold_in(key, m)."""
    return [jax.random.uniform(jax.random.fold_in(key, m), s, jnp.float32, minval=tiny, maxval=1.0)
            for m, s in enumerate(shapes)]


def _gradient(obj: Objective) -> Callable[[dict[str, Array], Any, list[Array]], dict[str, Array]]:
    """(theta, state, uniforms) -> gradient rows; replication happens inside, so jit sees no [n, P] input."""

    def rows(theta: dict[str, Array], state: Any, u: list[Array]) -> dict[str, Array]:
        n = u[0].shape[1]
        return jax.grad(lambda rep: obj.evaluate(rep, u, state)[0])(replicate(theta, n))

    return rows


class Driver:
    name = "jax"

    def __init__(self, device: str = "cpu") -> None:
        self.ops = JaxOps(device)

    @staticmethod
    def _key(rng: Rng) -> Array:
        return jax.random.fold_in(jax.random.PRNGKey(rng.seed), rng.stream)

    def _cached(self, obj: Objective, name: str, make: Callable[[], Any]) -> Any:
        key = f"jax:{name}"
        if key not in obj.cache:
            obj.cache[key] = make()
        return obj.cache[key]

    def _block_uniforms(self, obj: Objective) -> Callable[[Array, Array], list[Array]]:
        shapes, tiny = obj.noise(BLOCK), self.ops.tiny
        return lambda key, block: draw(jax.random.fold_in(key, block), shapes, tiny)

    # memory
    probe_sizes = (BLOCK, 4 * BLOCK)  # no rows are computed for a probe: XLA's buffer assignment says it

    def chunk_bytes(self, obj: Objective, state: Any, n: int) -> float:
        """Peak bytes computing n rows takes: one block's temporaries and output (XLA's buffer assignment of the
        compiled block, `Compiled.memory_analysis()`), the outputs of the blocks before it, and the rows
        gathered into one NumPy array."""
        fn = self._cached(obj, "block-rows", lambda: self._block_rows(obj))
        stats = fn.lower(obj.theta, state, self._key(Rng(0)), jnp.uint32(0)).compile().memory_analysis()
        k = len(blocks(0, n))
        row_bytes = 4 * obj.n_params
        return float(stats.temp_size_in_bytes + k * stats.output_size_in_bytes + n * row_bytes)

    # rows
    def _block_rows(self, obj: Objective) -> Callable[..., dict[str, Array]]:
        gradient, uniforms = _gradient(obj), self._block_uniforms(obj)
        return jax.jit(lambda theta, state, key, block: gradient(theta, state, uniforms(key, block)))

    def rows(self, obj: Objective, state: Any, rng: Rng, start: int, n: int) -> dict[str, np.ndarray]:
        fn, key = self._cached(obj, "block-rows", lambda: self._block_rows(obj)), self._key(rng)
        parts = [fn(obj.theta, state, key, jnp.uint32(b)) for b in blocks(start, n)]
        offset = start - start // BLOCK * BLOCK
        return {k: np.concatenate([np.asarray(p[k]) for p in parts])[offset:offset + n] for k in obj.theta}

    def uniforms(self, obj: Objective, rng: Rng, rows: np.ndarray) -> list[np.ndarray]:
        make = self._cached(obj, "block-uniforms", lambda: jax.jit(self._block_uniforms(obj)))
        key = self._key(rng)
        made = {b: [np.asarray(a) for a in make(key, jnp.uint32(b))] for b in {int(r) // BLOCK for r in rows}}
        return [np.stack([made[int(r) // BLOCK][m][:, int(r) % BLOCK] for r in rows], 1)
                for m in range(len(obj.noise(1)))]

    def eager(self, obj: Objective, state: Any, rng: Rng, rows: np.ndarray) -> dict[str, np.ndarray]:
        return self.rows_on(obj, state, self.uniforms(obj, rng, rows))

    def rows_on(self, obj: Objective, state: Any, u: list[np.ndarray]) -> dict[str, np.ndarray]:
        with jax.disable_jit():
            out = _gradient(obj)(obj.theta, self.asstate(state), [jnp.asarray(a, jnp.float32) for a in u])
        return {k: np.asarray(out[k]) for k in obj.theta}

    def asstate(self, state: Any) -> Any:
        """A state from another backend or NumPy, in this one's arrays."""
        return tree_map(lambda a: a if isinstance(a, jax.Array) else self.ops.asarray(np.asarray(a)), state)

    # state
    def warm_up(self, obj: Objective, state: Any, rng: Rng, steps: int, rows: int = WARMUP_ROWS) -> Any:
        """Adapt the estimator's state at fixed parameters, `rows` estimates per step, then return it for freezing.

        running (EMA baselines): the estimator's own updates. trained (REBAR, RELAX): Adam steps on the
        estimate's second moment, mean over rows of ||g||^2, which has the variance's gradient."""
        target = obj.warm or obj
        shapes, tiny, key = target.noise(rows), self.ops.tiny, self._key(rng)
        rep = replicate(target.theta, rows)
        if obj.spec.state == "running":
            update = self._cached(obj, f"adapt-{rows}", lambda: jax.jit(
                lambda st, k: target.evaluate(rep, draw(k, shapes, tiny), st)[1]))
            for i in range(steps):
                state = update(state, jax.random.fold_in(key, i))
            return state
        if obj.spec.state != "trained" or not steps:
            return state
        opt = optax.adam(WARMUP_LR)

        def second_moment(st: Any, k: Array) -> Array:
            u = draw(k, shapes, tiny)
            g = jax.grad(lambda r: target.evaluate(r, u, st)[0])(rep)
            return sum((x**2).sum() for x in jax.tree_util.tree_leaves(g)) / rows

        def step(st: Any, opt_state: Any, k: Array) -> tuple[Any, Any]:
            updates, opt_state = opt.update(jax.grad(second_moment)(st, k), opt_state)
            return optax.apply_updates(st, updates), opt_state

        train = self._cached(obj, f"train-{rows}", lambda: jax.jit(step))
        opt_state = opt.init(state)
        for i in range(steps):
            state, opt_state = train(state, opt_state, jax.random.fold_in(key, i))
        return state

    # timing
    def timed(self, obj: Objective, state: Any, n_rows: int) -> tuple[float, Callable[[], Any]]:
        """(compile seconds, a call computing n_rows estimates, returning once the device is done): lowered and
        compiled first, apart; the uniforms are drawn inside the compiled call. `run.executable` is the
        compiled program (its XLA memory analysis is bench's memory figure)."""
        gradient, shapes, tiny = _gradient(obj), obj.noise(n_rows), self.ops.tiny
        key = jax.random.PRNGKey(0)
        start = time.perf_counter()
        compiled = jax.jit(lambda theta, st, k: gradient(theta, st, draw(k, shapes, tiny))).lower(
            obj.theta, state, key).compile()
        compile_s = time.perf_counter() - start

        def run() -> Any:
            return jax.block_until_ready(compiled(obj.theta, state, key))

        run.executable = compiled  # type: ignore[attr-defined]
        return compile_s, run
