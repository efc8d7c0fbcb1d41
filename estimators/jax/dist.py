"""Sampling, log-probabilities and scores of the three node distributions, from explicit uniforms.

Same conventions as `estimators/torch/dist.py`: Bernoulli b = 1[u < sigmoid(logits)]; categorical = Gumbel-max
with g = -log(-log u); Gaussian x = loc + scale * Phi^-1(u).
"""

from __future__ import annotations

import itertools

import jax
import jax.numpy as jnp
import numpy as np
from jax import Array
from jax.lax import stop_gradient
from jax.scipy.special import ndtri
from jax.scipy.stats import norm

MAX_CONFIGS = 2**16


def logit(u: Array) -> Array:
    return jnp.log(u) - jnp.log1p(-u)


def sum_event(x: Array, event_ndim: int) -> Array:
    return x.sum(axis=tuple(range(-event_ndim, 0))) if event_ndim else x


def per_unit(x: Array, event_ndim: int) -> Array:
    """Append event axes to a per-example array so it broadcasts against per-unit arrays."""
    return x.reshape(x.shape + (1,) * event_ndim)


def sample(dist: str, params: dict[str, Array], u: Array) -> Array:
    """A draw with no gradient path to the parameters (score-function estimators must not see one)."""
    if dist == "bernoulli":
        return (u < jax.nn.sigmoid(params["logits"])).astype(u.dtype)
    if dist == "categorical":
        logits = params["logits"]
        idx = (logits - jnp.log(-jnp.log(u))).argmax(-1)
        return jax.nn.one_hot(idx, logits.shape[-1], dtype=u.dtype)
    return stop_gradient(params["loc"] + params["scale"] * ndtri(u))


def mean(dist: str, params: dict[str, Array]) -> Array:
    """E[x], the node's deterministic stand-in: sigmoid(logits), softmax(logits) (the one-hot's mean), loc."""
    if dist == "bernoulli":
        return jax.nn.sigmoid(params["logits"])
    if dist == "categorical":
        return jax.nn.softmax(params["logits"], -1)
    return params["loc"]


def score(dist: str, params: dict[str, Array], x: Array) -> dict[str, Array]:
    """d log q(x) / d param, per unit, in closed form."""
    if dist == "bernoulli":
        return {"logits": x - jax.nn.sigmoid(params["logits"])}
    if dist == "categorical":
        return {"logits": x - jax.nn.softmax(params["logits"], -1)}
    e = (x - params["loc"]) / params["scale"]
    return {"loc": e / params["scale"], "scale": (e * e - 1) / params["scale"]}


def log_prob(dist: str, params: dict[str, Array], x: Array, event_ndim: int) -> Array:
    if dist == "bernoulli":
        logits = params["logits"]
        lp = x * jax.nn.log_sigmoid(logits) + (1 - x) * jax.nn.log_sigmoid(-logits)
    elif dist == "categorical":
        lp = x * jax.nn.log_softmax(params["logits"], -1)
    else:
        lp = norm.logpdf(x, params["loc"], params["scale"])
    return sum_event(lp, event_ndim)


def configurations(dist: str, event_shape: tuple[int, ...]) -> Array:
    """Every value the event can take, stacked on a new leading axis: [M, *event_shape]."""
    n, k = (int(np.prod(event_shape)), 2) if dist == "bernoulli" else (int(np.prod(event_shape[:-1])), event_shape[-1])
    if k**n > MAX_CONFIGS:
        raise ValueError(f"exact enumeration needs {k}^{n} configurations; at most {MAX_CONFIGS} allowed")
    idx = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int32).reshape(k**n, n)
    if dist == "bernoulli":
        return jnp.asarray(idx, jnp.float32).reshape(-1, *event_shape)
    return jax.nn.one_hot(jnp.asarray(idx), k, dtype=jnp.float32).reshape(-1, *event_shape)
