"""The three node distributions, from explicit uniforms, written once against `Ops`.

Every backend turns the same uniforms into the same samples: Bernoulli b = 1[u < sigmoid(logits)]; categorical
by Gumbel-max, g = -log(-log u); Gaussian x = loc + scale * Phi^-1(u). Parameters are {"logits"} (the last axis
holds a categorical's categories) or {"loc", "scale"}.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from estimators.ops import Array, Ops, sum_event

DISTS = ("bernoulli", "categorical", "gaussian")
PARAM_NAMES = {"bernoulli": ("logits",), "categorical": ("logits",), "gaussian": ("loc", "scale")}
MAX_CONFIGS = 2**16
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def logit(o: Ops, u: Array) -> Array:
    return o.log(u) - o.log1p(-u)


def sample(o: Ops, dist: str, params: dict[str, Array], u: Array) -> Array:
    """A draw with no gradient path to the parameters (score-function estimators must not see one)."""
    if dist == "bernoulli":
        return o.float(u < o.sigmoid(params["logits"]))
    if dist == "categorical":
        logits = params["logits"]
        return o.one_hot(o.argmax(logits - o.log(-o.log(u))), logits.shape[-1])
    return o.stop_gradient(params["loc"] + params["scale"] * o.ndtri(u))


def mean(o: Ops, dist: str, params: dict[str, Array]) -> Array:
    """E[x], the node's deterministic stand-in: sigmoid(logits), softmax(logits) (the one-hot's mean), loc."""
    if dist == "bernoulli":
        return o.sigmoid(params["logits"])
    if dist == "categorical":
        return o.softmax(params["logits"])
    return params["loc"]


def score(o: Ops, dist: str, params: dict[str, Array], x: Array) -> dict[str, Array]:
    """d log q(x) / d param, per unit, in closed form."""
    if dist == "bernoulli":
        return {"logits": x - o.sigmoid(params["logits"])}
    if dist == "categorical":
        return {"logits": x - o.softmax(params["logits"])}
    e = (x - params["loc"]) / params["scale"]
    return {"loc": e / params["scale"], "scale": (e * e - 1) / params["scale"]}


def log_prob(o: Ops, dist: str, params: dict[str, Array], x: Array, event_ndim: int) -> Array:
    """log q(x) per example (summed over the event)."""
    if dist == "bernoulli":
        logits = params["logits"]
        lp = x * o.log_sigmoid(logits) + (1 - x) * o.log_sigmoid(-logits)
    elif dist == "categorical":
        lp = x * o.log_softmax(params["logits"])
    else:
        e = (x - params["loc"]) / params["scale"]
        lp = -0.5 * e * e - o.log(params["scale"]) - _HALF_LOG_2PI
    return sum_event(o, lp, event_ndim)


def n_configurations(dist: str, event_shape: tuple[int, ...]) -> int:
    """How many values an event takes: 2^units (Bernoulli), K^variables (categorical); 0 for a Gaussian."""
    if dist == "gaussian":
        return 0
    if dist == "bernoulli":
        return 2 ** math.prod(event_shape)
    return int(event_shape[-1]) ** math.prod(event_shape[:-1])


def configurations(o: Ops, dist: str, event_shape: tuple[int, ...]) -> Array:
    """Every value the event can take, stacked on a new leading axis: [M, *event_shape]."""
    if not 0 < n_configurations(dist, event_shape) <= MAX_CONFIGS:
        raise ValueError(f"exact enumeration of a {dist} node of shape {event_shape} needs "
                         f"{n_configurations(dist, event_shape)} configurations; at most {MAX_CONFIGS} allowed")
    n, k = (math.prod(event_shape), 2) if dist == "bernoulli" else (math.prod(event_shape[:-1]), event_shape[-1])
    idx = np.array(list(itertools.product(range(k), repeat=n)), dtype=np.int64).reshape(k**n, n)
    if dist == "bernoulli":
        return o.asarray(idx.astype(np.float32).reshape(-1, *event_shape))
    return o.asarray(np.eye(k, dtype=np.float32)[idx].reshape(-1, *event_shape))
