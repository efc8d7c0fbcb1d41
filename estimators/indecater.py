"""IndeCateR (the CatLog-derivative trick): for every variable of the node, the exact expectation over its
own K values with the other variables as sampled, a Rao-Blackwellised score function:

    g_{v,k} = sum_j f(x^{v <- j}) d p_v(j) / d logits_{v,k} = p_v(k) (F_v(k) - sum_j p_v(j) F_v(j)),
    F_v(j) = f(x^{v <- j}),  x^{v <- j}: the sample x with variable v set to value j

Bernoulli units are variables of 2 values: g_v = (f(x^{v <- 1}) - f(x^{v <- 0})) sigmoid'(logits_v).
Unbiased because the variables of a node are independent given its parameters. F_v(x_v) is f(x), the forward
pass every estimator makes; the K - 1 others are plain forward passes (`Downstream.value`, later nodes
sampled from their own noise), so one draw costs 1 + V (K - 1) evaluations for V variables: the cost grows with
the node's width. The stacked evaluations go through `value` in blocks of at most STACK stacked sample elements
per row of estimates, so memory stays bounded at any width (`Ops.map_blocks`: one lax.map in JAX).
De Smet, Sansone & Zuidberg Dos Martires (2023), Differentiable sampling of categorical distributions using
the CatLog-derivative trick.
"""

from __future__ import annotations

from collections.abc import Callable
from math import prod

from estimators.dist import sample
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("indecater", "score-function", True, ("bernoulli", "categorical"), 1, False,
            "De Smet, Sansone & Zuidberg Dos Martires 2023, Differentiable sampling of categorical distributions "
            "using the CatLog-derivative trick (IndeCateR)", evals_per_other_value=1,
            note="each variable's exact expectation over its K values, the others as sampled: K evaluations per "
                 "variable, the sampled value's shared (the forward pass), so 1 + V (K - 1) per draw for V "
                 "variables (V + 1 for V Bernoulli units): the cost grows with the node's width")
STACK = 2**18  # stacked sample elements per row of estimates (leading axis) in one downstream evaluation


def stacked_values(o: Ops, value: Callable[[Array], Array], alternative: Callable[[Array], Array], n: int,
                   per_copy: int) -> Array:
    """[n, ...]: value(alternative(i)) for alternatives i = 0 .. n - 1, evaluated in blocks."""
    return o.map_blocks(lambda ids: value(alternative(ids)), n, max(1, min(n, STACK // max(per_copy, 1))))


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(o, dist, params, u[0])
    loss = down.main(x)
    if dist == "categorical" and x.shape[-1] == 1:  # one category: nothing to differentiate, the gradient is 0
        return loss, state
    f = o.stop_gradient(loss)
    batch, event = tuple(x.shape[: x.ndim - event_ndim]), tuple(x.shape[x.ndim - event_ndim:])
    ones = (1,) * len(batch)
    per_copy = prod(x.shape[1:])
    logits = o.broadcast_to(o.stop_gradient(params["logits"]), tuple(x.shape))
    if dist == "bernoulli":
        n_vars = prod(event)
        xf = x.reshape(*batch, n_vars)

        def flipped(i: Array) -> Array:  # x with unit i flipped, for each i: [len(i), *batch, *event]
            mask = o.one_hot(i, n_vars).reshape(i.shape[0], *ones, n_vars)
            return (xf + (1 - 2 * xf) * mask).reshape(i.shape[0], *batch, *event)

        f_flip = stacked_values(o, down.value, flipped, n_vars, per_copy)  # [V, *batch]
        f_flip = o.moveaxis(f_flip, 0, -1).reshape(tuple(x.shape))
        p = o.sigmoid(logits)
        coeff = (2 * x - 1) * (per_unit(f, event_ndim) - f_flip) * p * (1 - p)
        return attach(o, loss, params, {"logits": coeff}, event_ndim), state
    k, n_vars = event[-1], prod(event[:-1])
    xf = x.reshape(*batch, n_vars, k)
    idx = o.argmax(xf)  # [*batch, V]: the sampled values

    def moved(a: Array) -> Array:  # alternative a: variable a // (K - 1) set to its value + a % (K - 1) + 1
        var, shift = a // (k - 1), a % (k - 1) + 1
        value = (o.moveaxis(idx[..., var], -1, 0) + shift.reshape(-1, *ones)) % k  # [len(a), *batch]
        mask = o.one_hot(var, n_vars).reshape(a.shape[0], *ones, n_vars, 1)
        out = xf * (1 - mask) + mask * o.expand_dims(o.one_hot(value, k), -2)
        return out.reshape(a.shape[0], *batch, *event)

    f_alt = stacked_values(o, down.value, moved, n_vars * (k - 1), per_copy)  # [V (K - 1), *batch]
    f_alt = o.moveaxis(f_alt.reshape(n_vars, k - 1, *batch), (0, 1), (-2, -1))  # [*batch, V, K - 1]
    shifted = o.concat([o.broadcast_to(f[..., None, None], (*batch, n_vars, 1)), f_alt], -1)
    f_values = o.take_along_axis(shifted, (o.arange(k) - idx[..., None]) % k, -1)  # [*batch, V, K]
    p = o.softmax(logits).reshape(*batch, n_vars, k)
    coeff = p * (f_values - o.sum(p * f_values, -1, keepdims=True))
    return attach(o, loss, params, {"logits": coeff.reshape(tuple(x.shape))}, event_ndim), state
