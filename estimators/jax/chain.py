"""A chain of binary stochastic layers, the test bed for estimators at depth (seed 002's binary_wrapper).

b_0 ~ Bernoulli(sigmoid(logits)), b_l ~ Bernoulli(sigmoid(b_{l-1} @ w_l + b_l)), loss = softplus(2 b_{d-1}.v - 1).
Every layer is one node driven by the chosen estimator; `exact_objective` enumerates all layers jointly.
Parameters come from `estimators.chain.init_params`, shared by both backends.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.lax import stop_gradient

from estimators.chain import check_chain
from estimators.jax.common import Downstream
from estimators.jax.dist import configurations, log_prob, logit
from estimators.jax.driver import device_put, estimate, row_uniforms
from estimators.registry import get
from estimators.spec import SPECS, draw_counts, surrogate_options


def chain_loss(b: Array, v: Array) -> Array:
    return jax.nn.softplus(2 * (b * v).sum(-1) - 1)


def _logits(params: dict[str, Array], layer: int, b: Array | None) -> Array:
    if layer == 0:
        return params["logits"]
    return b @ params[f"w{layer}"] + jnp.expand_dims(params[f"b{layer}"], -2)


def chain_surrogate(name: str, params: dict[str, Array], u: list[Array], states: list[Any], **options: Any):
    """Per-example surrogate [rows, draws] for replicated params [rows, ...] and per-layer uniforms."""
    est, depth = get(name, "jax"), len(u)
    frozen = stop_gradient(params)
    sample_shape = u[0].shape[1:]

    def logits(layer: int, b: Array | None, p: dict[str, Array]) -> Array:
        if layer == 0:
            return jnp.broadcast_to(jnp.expand_dims(p["logits"], -2), sample_shape)
        return _logits(p, layer, b)

    def plain(layer: int, b: Array) -> Array:
        b = stop_gradient(b)
        for m in range(layer + 1, depth):
            b = (u[m][0] < jax.nn.sigmoid(logits(m, b, frozen))).astype(b.dtype)
        return chain_loss(b, jnp.expand_dims(frozen["v"], -2))

    def relaxed(layer: int, h: Array, temperature: Array) -> Array:
        for m in range(layer + 1, depth):
            h = jax.nn.sigmoid((logits(m, h, frozen) - logit(u[m][0])) / temperature)
        return chain_loss(h, jnp.expand_dims(frozen["v"], -2))

    def mean_field(layer: int, h: Array) -> Array:
        for m in range(layer + 1, depth):
            h = jax.nn.sigmoid(logits(m, h, frozen))
        return chain_loss(h, jnp.expand_dims(frozen["v"], -2))

    readout = jnp.expand_dims(params["v"], -2)

    def node(layer: int, b_prev: Array | None) -> Array:
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
    theta = device_put(arrays, device)
    n_draws, n_u = draw_counts(spec, n_samples)
    n_draws *= batch_size
    est = get(name, "jax")
    states = [est.init_state({"logits": (width,)}, seed + layer, device) if spec.state else None
              for layer in range(depth)]

    def surrogate(rep: dict[str, Array], st: list[Any], keys: Array, n_rows: int):
        u = [row_uniforms(keys, layer, (n_u, n_rows, n_draws, width)) for layer in range(depth)]
        out, st = chain_surrogate(name, rep, u, list(st), **surrogate_options(spec, options))
        return out.mean(1).sum(), st

    return surrogate, theta, states


def grad_samples(name: str, arrays: dict[str, np.ndarray], *, n_estimates: int, **kwargs: Any) -> dict[str, np.ndarray]:
    """Like `estimators.grad_samples`, for every parameter of the chain."""
    surrogate, theta, states = build(name, arrays, **kwargs)
    key = jax.random.PRNGKey(kwargs.get("seed", 0))
    return estimate(SPECS[name], surrogate, theta, n_estimates, states, kwargs, key)


def exact_objective(params: dict[str, Array]) -> Array:
    """E[loss], summing over all 2^(depth*width) joint configurations of the layers."""
    depth, width = sum(k.startswith("w") for k in params) + 1, params["logits"].shape[-1]
    b = configurations("bernoulli", (depth, width))  # [M, depth, width]
    logq, prev = 0.0, None
    for layer in range(depth):
        logq = logq + log_prob("bernoulli", {"logits": _logits(params, layer, prev)}, b[:, layer], 1)
        prev = b[:, layer]
    return (jnp.exp(logq) * chain_loss(prev, params["v"])).sum()


def exact_gradient(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    grads = jax.grad(exact_objective)({k: jnp.asarray(v) for k, v in arrays.items()})
    return {k: np.asarray(g) for k, g in grads.items()}
