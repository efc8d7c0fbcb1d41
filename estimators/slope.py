"""The derivative of a per-example function at a point, as a value: RODEO's control functions take it as an
input (g_j = df/dx at each draw x_j), where every other estimator needs only `stop_gradient`.

    slope(o, fn, x) = d sum(fn(x)) / dx, no gradient flowing through it

It equals each example's own derivative where each output of fn depends on its own entries of x alone, as a
per-example loss does. One implementation per backend, chosen by the op set's name: JAX's `jax.grad`, and
torch's `torch.func.grad`, which composes with the driver's own backward pass, needs no grad mode and compiles
under torch.compile(fullgraph=True) without a graph break.

Why it is not an op of `estimators.ops.Ops`: an estimator's version hashes the op set and both backends' op
tables (bench.store.versions), so an op that one estimator needs would mark every committed result of every
estimator stale; here it reaches only the estimator that imports it.
"""

from __future__ import annotations

from collections.abc import Callable

from estimators.ops import Array, Ops


def slope(o: Ops, fn: Callable[[Array], Array], x: Array) -> Array:
    if o.name == "jax":
        import jax
        import jax.numpy as jnp

        return jax.lax.stop_gradient(jax.grad(lambda z: jnp.sum(fn(z)))(jax.lax.stop_gradient(x)))
    import torch

    return torch.func.grad(lambda z: fn(z).sum())(x.detach()).detach()
