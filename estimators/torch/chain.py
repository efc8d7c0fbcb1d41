"""A chain of binary stochastic layers, the test bed for estimators at depth (seed 002's binary_wrapper).

b_0 ~ Bernoulli(sigmoid(logits)), b_l ~ Bernoulli(sigmoid(b_{l-1} @ w_l + b_l)), loss = softplus(2 b_{d-1}.v - 1).
Every layer is one node driven by the chosen estimator; `exact_objective` enumerates all layers jointly.
Parameters come from `estimators.chain.init_params`, shared by both backends.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from estimators.chain import check_chain
from estimators.registry import get
from estimators.spec import SPECS, draw_counts, surrogate_options
from estimators.torch.common import Downstream
from estimators.torch.dist import configurations, log_prob, logit
from estimators.torch.driver import Split, estimate, uniforms


def chain_loss(b: Tensor, v: Tensor) -> Tensor:
    return F.softplus(2 * (b * v).sum(-1) - 1)


def _logits(params: dict[str, Tensor], layer: int, b: Tensor | None) -> Tensor:
    if layer == 0:
        return params["logits"]
    return b @ params[f"w{layer}"] + params[f"b{layer}"].unsqueeze(-2)


def chain_surrogate(name: str, params: dict[str, Tensor], u: list[Tensor], states: list[Any], **options: Any):
    """Per-example surrogate [rows, draws] for replicated params [rows, ...] and per-layer uniforms."""
    est, depth = get(name, "torch"), len(u)
    frozen = {k: v.detach() for k, v in params.items()}
    sample_shape = u[0].shape[1:]

    def logits(layer: int, b: Tensor | None, p: dict[str, Tensor]) -> Tensor:
        return p["logits"].unsqueeze(-2).expand(sample_shape) if layer == 0 else _logits(p, layer, b)

    def plain(layer: int, b: Tensor) -> Tensor:
        with torch.no_grad():
            for m in range(layer + 1, depth):
                b = (u[m][0] < torch.sigmoid(logits(m, b, frozen))).to(b.dtype)
            return chain_loss(b, frozen["v"].unsqueeze(-2))

    def relaxed(layer: int, h: Tensor, temperature: Tensor) -> Tensor:
        for m in range(layer + 1, depth):
            h = torch.sigmoid((logits(m, h, frozen) - logit(u[m][0])) / temperature)
        return chain_loss(h, frozen["v"].unsqueeze(-2))

    def mean_field(layer: int, h: Tensor) -> Tensor:
        for m in range(layer + 1, depth):
            h = torch.sigmoid(logits(m, h, frozen))
        return chain_loss(h, frozen["v"].unsqueeze(-2))

    readout = params["v"].unsqueeze(-2)

    def node(layer: int, b_prev: Tensor | None) -> Tensor:
        last = layer + 1 == depth
        down = Downstream(
            main=(lambda z: node(layer + 1, z)) if not last else (lambda z: chain_loss(z, readout)),
            value=lambda z: plain(layer, z),
            relaxed=lambda h, t: relaxed(layer, h, t),
            mean=lambda h: mean_field(layer, h),
        )
        out, states[layer] = est.surrogate({"logits": logits(layer, b_prev, params)}, down, u[layer],
                                           states[layer], dist="bernoulli", event_ndim=1, **options)
        return out

    try:
        return node(0, None), states
    finally:
        node = None  # it calls itself through its closure: a cycle that would hold this call's tensors


def build(name: str, arrays: dict[str, np.ndarray], *, n_samples: int = 1, seed: int = 0, device: str = "cpu",
          batch_size: int = 1, **options: Any):
    """(surrogate, parameters, per-layer states); an estimate averages batch_size examples of the chain."""
    spec = SPECS[name]
    depth, width = check_chain(spec, arrays, n_samples)
    dev = torch.device(device)
    gen = torch.Generator(dev).manual_seed(seed)
    theta = {k: torch.as_tensor(v, device=dev) for k, v in arrays.items()}
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size
    est = get(name, "torch")
    states = [est.init_state({"logits": (width,)}, seed + layer, device) if spec.state else None
              for layer in range(depth)]

    def draw(n_rows: int) -> list[Tensor]:
        return [uniforms(gen, (n_u, n_rows, n_draws, width), dev) for _ in range(depth)]

    def evaluate(rep: dict[str, Tensor], st: list[Any], u: list[Tensor], n_rows: int):
        out, st = chain_surrogate(name, rep, u, list(st), **surrogate_options(spec, options))
        return out.mean(1).sum(), st

    return Split(draw, evaluate), theta, states


def grad_samples(name: str, arrays: dict[str, np.ndarray], *, n_estimates: int, **kwargs: Any) -> dict[str, np.ndarray]:
    """Like `estimators.grad_samples`, for every parameter of the chain."""
    surrogate, theta, states = build(name, arrays, **kwargs)
    return estimate(SPECS[name], surrogate, theta, n_estimates, states, kwargs)


def exact_objective(params: dict[str, Tensor]) -> Tensor:
    """E[loss], summing over all 2^(depth*width) joint configurations of the layers."""
    depth, width = sum(k.startswith("w") for k in params) + 1, params["logits"].shape[-1]
    b = configurations("bernoulli", (depth, width), params["logits"].device)  # [M, depth, width]
    logq, prev = 0.0, None
    for layer in range(depth):
        logq = logq + log_prob("bernoulli", {"logits": _logits(params, layer, prev)}, b[:, layer], 1)
        prev = b[:, layer]
    return (logq.exp() * chain_loss(prev, params["v"])).sum()


def exact_gradient(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    theta = {k: torch.as_tensor(v).requires_grad_() for k, v in arrays.items()}
    grads = torch.autograd.grad(exact_objective(theta), list(theta.values()))
    return {k: g.numpy() for k, g in zip(theta, grads)}
