"""Pieces every torch surrogate shares: the downstream of a node, and the coefficient surrogate."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from torch import Tensor

from estimators.torch.dist import sum_event


@dataclass(frozen=True)
class Downstream:
    """The rest of the model seen from one stochastic node, as functions of the node's output z [..., *event].

    main:    per-example loss with gradients; later nodes contribute their own surrogates.
    value:   per-example loss of a plain forward pass (hard samples, same noise), no gradient.
    relaxed: per-example loss with later nodes relaxed at `temperature` and later parameters frozen,
             a smooth function of z for control variates (REBAR, RELAX).
    mean:    per-example loss with every later node replaced by its mean (the mean-field pass) and later
             parameters frozen: a smooth function of z (MuProp's Taylor expansion point). None: not given.
    """

    main: Callable[[Tensor], Tensor]
    value: Callable[[Tensor], Tensor]
    relaxed: Callable[[Tensor, Tensor], Tensor]
    mean: Callable[[Tensor], Tensor] | None = None


def attach(loss: Tensor, params: dict[str, Tensor], coeffs: dict[str, Tensor], event_ndim: int) -> Tensor:
    """loss + sum sg(c) * (theta - sg(theta)): the value of `loss`, plus gradient c for each parameter."""
    out = loss
    for k, c in coeffs.items():
        theta = params[k]
        out = out + sum_event(c.detach() * (theta - theta.detach()), event_ndim)
    return out
