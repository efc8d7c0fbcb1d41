"""NVIL: REINFORCE with a learned input-dependent baseline, a constant baseline and variance normalisation.

    g = (l - c - C_psi(x)) / n * d log q(z) / d theta,     n = max(1, sqrt(v)) if normalise else 1

l is the example's loss (the node's learning signal: the loss from this node on, so each layer of a model
has its own, layer-dependent baseline), c a running mean and v a running variance of l - C_psi(x) (decay
alpha = 0.8), and C_psi a one-hidden-layer tanh network fitted to l - c by regression. Mnih & Gregor (2014),
Neural variational inference and learning in belief networks, sec. 3 and Algorithm 1.
Here x, the input C_psi sees, is the node's own parameters (logits, or loc and scale), per example: they are
computed from the model's input and the parent layer, never from the node's sample, so the baseline keeps
the estimator unbiased. As in reinforce-ema the state (State: net, its Adam moments, signal) is explicit and a step
uses the state from *before* its update: psi takes one Adam step (lr `baseline_lr`; Adam rather than the
paper's SGD, so its steps stay bounded whatever the scale of the node's parameters) on the regression loss
mean (l - c - C_psi(x))^2 / 2, and c, v their EMA steps, for the next call. The paper updates c and v from
the current minibatch before using them, which leaks the sample into its baseline; this does not.
normalise=1 divides by the running std; with the state frozen (measurement) the estimate is unbiased for the
gradient divided by n, not for the gradient (n rescales the score term only, as the paper does for its
inference network), so it is off by default.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from estimators.dist import sample, score
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("nvil", "score-function", True, ("bernoulli", "categorical", "gaussian"), 1, False,
            "Mnih & Gregor 2014, Neural variational inference and learning in belief networks (NVIL)",
            state="running", options={"decay": 0.8, "baseline_lr": 0.01, "normalise": 0.0, "warmup": 100},
            note="baseline c + C_psi(node parameters), C_psi a one-hidden-layer net fitted online (Adam) to the "
                 "learning signal, all from earlier steps only, so it stays unbiased; normalise=1 divides the "
                 "centred signal by max(1, running std): then unbiased only up to that frozen scale")
HIDDEN = 16
BETAS, EPS = (0.9, 0.999), 1e-8


class State(NamedTuple):
    net: tuple[Array, Array, Array]  # C_psi's w1, b1, w2
    adam_m: tuple[Array, Array, Array]
    adam_v: tuple[Array, Array, Array]
    signal: tuple[Array, Array, Array]  # c, v and Adam's step count


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    n = sum(int(np.prod(s)) for s in shapes.values())
    w1 = np.random.default_rng(seed).normal(0.0, 1.0 / math.sqrt(n), (n, HIDDEN)).astype(np.float32)
    zero = np.zeros(HIDDEN, np.float32)
    net = (o.asarray(w1), o.asarray(zero), o.asarray(zero))
    zeros = tuple(o.asarray(np.zeros(t.shape, np.float32)) for t in net)
    return State(net, zeros, zeros, tuple(o.asarray(np.float32(0)) for _ in range(3)))


def features(o: Ops, params: dict[str, Array], event_ndim: int) -> Array:
    """The node's parameters per example, flattened and concatenated: [..., sum of event sizes]."""
    return o.concat([o.stop_gradient(v).reshape(*v.shape[: v.ndim - event_ndim], -1) for v in params.values()], -1)


def regression_grads(o: Ops, x: Array, h: Array, w2: Array, err: Array) -> tuple[Array, Array, Array]:
    """d/d(w1, b1, w2) of mean err^2 / 2 for C = tanh(x w1 + b1) w2 and err = target - C."""
    x, h, err = x.reshape(-1, x.shape[-1]), h.reshape(-1, HIDDEN), err.reshape(-1, 1)
    back = err * w2 * (1 - h * h)
    return -(o.moveaxis(x, 0, 1) @ back) / x.shape[0], -o.mean(back, 0), -o.mean(err * h, 0)


def adam(o: Ops, state: State, grads: tuple[Array, ...], lr: float, step: Array) -> tuple[tuple, tuple, tuple]:
    m = tuple(BETAS[0] * a + (1 - BETAS[0]) * g for a, g in zip(state.adam_m, grads))
    v = tuple(BETAS[1] * a + (1 - BETAS[1]) * g * g for a, g in zip(state.adam_v, grads))
    c0, c1 = 1 - BETAS[0] ** step, 1 - BETAS[1] ** step
    net = tuple(p - lr * (a / c0) / (o.sqrt(b / c1) + EPS) for p, a, b in zip(state.net, m, v))
    return net, m, v


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int, decay: float,
              baseline_lr: float, normalise: float):
    z = sample(o, dist, params, u[0])
    loss = down.main(z)
    x = features(o, params, event_ndim)
    (w1, b1, w2), (c, v, step) = state.net, state.signal
    h = o.tanh(x @ w1 + b1)
    centred = o.stop_gradient(loss) - h @ w2  # the learning signal l minus C_psi(x)
    err = centred - c
    scale = 1 + normalise * (o.maximum(o.sqrt(v), 1.0) - 1)
    coeff = per_unit(err / scale, event_ndim)
    out = attach(o, loss, params, {k: coeff * s for k, s in score(o, dist, params, z).items()}, event_ndim)
    step = step + 1
    net, m, mom2 = adam(o, state, regression_grads(o, x, h, w2, err), baseline_lr, step)
    mean = o.mean(centred)
    signal = (decay * c + (1 - decay) * mean, decay * v + (1 - decay) * o.mean(o.square(centred - mean)), step)
    return out, State(net, m, mom2, signal)
