"""Sampling, log-probabilities and scores of the three node distributions, from explicit uniforms.

Conventions shared with `estimators/jax/dist.py`, so both backends turn the same uniforms into the same
samples: Bernoulli b = 1[u < sigmoid(logits)]; categorical = Gumbel-max with g = -log(-log u);
Gaussian x = loc + scale * Phi^-1(u).
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor

MAX_CONFIGS = 2**16


def logit(u: Tensor) -> Tensor:
    return torch.log(u) - torch.log1p(-u)


def sum_event(x: Tensor, event_ndim: int) -> Tensor:
    return x.sum(dim=tuple(range(-event_ndim, 0))) if event_ndim else x


def per_unit(x: Tensor, event_ndim: int) -> Tensor:
    """Append event axes to a per-example array so it broadcasts against per-unit arrays."""
    return x.reshape(x.shape + (1,) * event_ndim)


def sample(dist: str, params: dict[str, Tensor], u: Tensor) -> Tensor:
    """A draw with no gradient path to the parameters (score-function estimators must not see one)."""
    if dist == "bernoulli":
        return (u < torch.sigmoid(params["logits"])).to(u.dtype)
    if dist == "categorical":
        logits = params["logits"]
        idx = (logits - torch.log(-torch.log(u))).argmax(-1)
        return F.one_hot(idx, logits.shape[-1]).to(u.dtype)
    return (params["loc"] + params["scale"] * torch.special.ndtri(u)).detach()


def mean(dist: str, params: dict[str, Tensor]) -> Tensor:
    """E[x], the node's deterministic stand-in: sigmoid(logits), softmax(logits) (the one-hot's mean), loc."""
    if dist == "bernoulli":
        return torch.sigmoid(params["logits"])
    if dist == "categorical":
        return torch.softmax(params["logits"], -1)
    return params["loc"]


def score(dist: str, params: dict[str, Tensor], x: Tensor) -> dict[str, Tensor]:
    """d log q(x) / d param, per unit, in closed form."""
    if dist == "bernoulli":
        return {"logits": x - torch.sigmoid(params["logits"])}
    if dist == "categorical":
        return {"logits": x - torch.softmax(params["logits"], -1)}
    e = (x - params["loc"]) / params["scale"]
    return {"loc": e / params["scale"], "scale": (e * e - 1) / params["scale"]}


def log_prob(dist: str, params: dict[str, Tensor], x: Tensor, event_ndim: int) -> Tensor:
    if dist == "bernoulli":
        logits = params["logits"]
        lp = x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)
    elif dist == "categorical":
        lp = x * torch.log_softmax(params["logits"], -1)
    else:
        lp = torch.distributions.Normal(params["loc"], params["scale"]).log_prob(x)
    return sum_event(lp, event_ndim)


def configurations(dist: str, event_shape: tuple[int, ...], device: torch.device) -> Tensor:
    """Every value the event can take, stacked on a new leading axis: [M, *event_shape]."""
    if dist == "bernoulli":
        n, k = int(torch.tensor(event_shape).prod()), 2
    else:
        n, k = int(torch.tensor(event_shape[:-1]).prod()), event_shape[-1]
    if k**n > MAX_CONFIGS:
        raise ValueError(f"exact enumeration needs {k}^{n} configurations; at most {MAX_CONFIGS} allowed")
    idx = torch.tensor(list(itertools.product(range(k), repeat=n)), device=device).reshape(k**n, n)
    if dist == "bernoulli":
        return idx.float().reshape(-1, *event_shape)
    return F.one_hot(idx, k).float().reshape(-1, *event_shape)
