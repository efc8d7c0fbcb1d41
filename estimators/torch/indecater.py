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

import torch
import torch.nn.functional as F
from torch import Tensor

from estimators.registry import register
from estimators.torch.common import Downstream, attach
from estimators.torch.dist import per_unit, sample

STACK = 2**18  # stacked sample elements per row of estimates (leading axis) in one downstream evaluation


def stacked_values(value: Callable[[Tensor], Tensor], alternative: Callable[[Tensor], Tensor], n: int,
                   per_copy: int, device: torch.device) -> Tensor:
    """[n, ...]: value(alternative(i)) for alternatives i = 0 .. n - 1, evaluated in blocks."""
    block = max(1, min(n, STACK // max(per_copy, 1)))
    ids = torch.arange(n, device=device)
    return torch.cat([value(alternative(i)) for i in ids.split(block)])


@register("indecater", "torch")
def indecater(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    x = sample(dist, params, u[0])
    loss = down.main(x)
    f = loss.detach()
    batch, event = x.shape[: x.ndim - event_ndim], x.shape[x.ndim - event_ndim :]
    ones = (1,) * len(batch)
    per_copy = prod(x.shape[1:])
    logits = params["logits"].detach().expand(x.shape)
    if dist == "bernoulli":
        n_vars = prod(event)
        xf = x.reshape(*batch, n_vars)

        def flipped(i: Tensor) -> Tensor:  # x with unit i flipped, for each i: [len(i), *batch, *event]
            mask = F.one_hot(i, n_vars).to(x.dtype).reshape(len(i), *ones, n_vars)
            return (xf + (1 - 2 * xf) * mask).reshape(len(i), *batch, *event)

        f_flip = stacked_values(down.value, flipped, n_vars, per_copy, x.device)  # [V, *batch]
        f_flip = f_flip.movedim(0, -1).reshape(x.shape)
        p = torch.sigmoid(logits)
        coeff = (2 * x - 1) * (per_unit(f, event_ndim) - f_flip) * p * (1 - p)
        return attach(loss, params, {"logits": coeff}, event_ndim), state
    k, n_vars = event[-1], prod(event[:-1])
    if k == 1:  # one category: nothing to differentiate
        return loss, state
    xf = x.reshape(*batch, n_vars, k)
    idx = xf.argmax(-1)  # [*batch, V]: the sampled values

    def moved(a: Tensor) -> Tensor:  # alternative a: variable a // (K - 1) set to its value + a % (K - 1) + 1
        var, shift = a // (k - 1), a % (k - 1) + 1
        value = (idx[..., var].movedim(-1, 0) + shift.reshape(-1, *ones)) % k  # [len(a), *batch]
        mask = F.one_hot(var, n_vars).to(x.dtype).reshape(len(a), *ones, n_vars, 1)
        out = xf * (1 - mask) + mask * F.one_hot(value, k).to(x.dtype).unsqueeze(-2)
        return out.reshape(len(a), *batch, *event)

    f_alt = stacked_values(down.value, moved, n_vars * (k - 1), per_copy, x.device)  # [V (K - 1), *batch]
    f_alt = f_alt.reshape(n_vars, k - 1, *batch).movedim(0, -1).movedim(0, -1)  # [*batch, V, K - 1]
    shifted = torch.cat([f[..., None, None].expand(*batch, n_vars, 1), f_alt], -1)  # [..., v, j]: value idx + j
    f_values = shifted.gather(-1, (torch.arange(k, device=x.device) - idx[..., None]) % k)  # [*batch, V, K]
    p = torch.softmax(logits, -1).reshape(*batch, n_vars, k)
    coeff = p * (f_values - (p * f_values).sum(-1, keepdim=True))
    return attach(loss, params, {"logits": coeff.reshape(x.shape)}, event_ndim), state
