"""IndeCateR (the CatLog-derivative trick): for every variable of the node, the exact expectation over its
own K values with the other variables as sampled, a Rao-Blackwellised score function:

    g_{v,k} = sum_j f(x^{v <- j}) d p_v(j) / d logits_{v,k} = p_v(k) (F_v(k) - sum_j p_v(j) F_v(j)),
    F_v(j) = f(x^{v <- j}),  x^{v <- j}: the sample x with variable v set to value j

Bernoulli units are variables of 2 values: g_v = (f(x^{v <- 1}) - f(x^{v <- 0})) sigmoid'(logits_v).
Unbiased because the variables of a node are independent given its parameters. F_v(x_v) is f(x), the forward
pass every estimator makes; the K - 1 others are plain forward passes (`Downstream.value`, later nodes
sampled from their own noise), so one draw costs 1 + V (K - 1) evaluations for V variables: the cost grows with
the node's width. The stacked evaluations go through `value` in blocks of at most STACK stacked sample elements
per row of estimates, so memory stays bounded at any width (JAX: a lax.map over the blocks).
De Smet, Sansone & Zuidberg Dos Martires (2023), Differentiable sampling of categorical distributions using
the CatLog-derivative trick.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

import jax
import jax.numpy as jnp
from jax import Array
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit, sample
from estimators.registry import register

STACK = 2**18  # stacked sample elements per row of estimates (leading axis) in one downstream evaluation


def stacked_values(value: Callable[[Array], Array], alternative: Callable[[Array], Array], n: int,
                   per_copy: int) -> Array:
    """[n, ...]: value(alternative(i)) for alternatives i = 0 .. n - 1, evaluated in blocks (one lax.map)."""
    block = max(1, min(n, STACK // max(per_copy, 1)))
    n_blocks = -(-n // block)
    ids = jnp.minimum(jnp.arange(n_blocks * block), n - 1).reshape(n_blocks, block)  # the last block padded
    if n_blocks == 1:
        return value(alternative(ids[0]))[:n]
    out = jax.lax.map(lambda i: value(alternative(i)), ids)  # [blocks, block, ...]
    return out.reshape(n_blocks * block, *out.shape[2:])[:n]


@register("indecater", "jax")
def indecater(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    f = sg(loss)
    batch, event = x.shape[: x.ndim - event_ndim], x.shape[x.ndim - event_ndim :]
    ones = (1,) * len(batch)
    per_copy = prod(x.shape[1:])
    logits = jnp.broadcast_to(sg(params["logits"]), x.shape)
    if dist == "bernoulli":
        n_vars = prod(event)
        xf = x.reshape(*batch, n_vars)

        def flipped(i: Array) -> Array:  # x with unit i flipped, for each i: [len(i), *batch, *event]
            mask = jax.nn.one_hot(i, n_vars, dtype=x.dtype).reshape(len(i), *ones, n_vars)
            return (xf + (1 - 2 * xf) * mask).reshape(len(i), *batch, *event)

        f_flip = stacked_values(down.value, flipped, n_vars, per_copy)  # [V, *batch]
        f_flip = jnp.moveaxis(f_flip, 0, -1).reshape(x.shape)
        p = jax.nn.sigmoid(logits)
        coeff = (2 * x - 1) * (per_unit(f, event_ndim) - f_flip) * p * (1 - p)
        return attach(loss, params, {"logits": coeff}, event_ndim), state
    k, n_vars = event[-1], prod(event[:-1])
    if k == 1:  # one category: nothing to differentiate
        return loss, state
    xf = x.reshape(*batch, n_vars, k)
    idx = xf.argmax(-1)  # [*batch, V]: the sampled values

    def moved(a: Array) -> Array:  # alternative a: variable a // (K - 1) set to its value + a % (K - 1) + 1
        var, shift = a // (k - 1), a % (k - 1) + 1
        value = (jnp.moveaxis(idx[..., var], -1, 0) + shift.reshape(-1, *ones)) % k  # [len(a), *batch]
        mask = jax.nn.one_hot(var, n_vars, dtype=x.dtype).reshape(len(a), *ones, n_vars, 1)
        out = xf * (1 - mask) + mask * jnp.expand_dims(jax.nn.one_hot(value, k, dtype=x.dtype), -2)
        return out.reshape(len(a), *batch, *event)

    f_alt = stacked_values(down.value, moved, n_vars * (k - 1), per_copy)  # [V (K - 1), *batch]
    f_alt = jnp.moveaxis(f_alt.reshape(n_vars, k - 1, *batch), (0, 1), (-2, -1))  # [*batch, V, K - 1]
    shifted = jnp.concatenate([jnp.broadcast_to(f[..., None, None], (*batch, n_vars, 1)), f_alt], -1)
    f_values = jnp.take_along_axis(shifted, (jnp.arange(k) - idx[..., None]) % k, -1)  # [*batch, V, K]
    p = jax.nn.softmax(logits, -1).reshape(*batch, n_vars, k)
    coeff = p * (f_values - (p * f_values).sum(-1, keepdims=True))
    return attach(loss, params, {"logits": coeff.reshape(x.shape)}, event_ndim), state
