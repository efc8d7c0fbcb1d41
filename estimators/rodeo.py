"""RODEO for Bernoulli nodes: REINFORCE leave-one-out with learned control variates from a discrete Stein
operator (Shi, Zhou, Hwang, Titsias & Mackey 2022, Gradient estimation with discrete Stein operators).

The Gibbs Stein operator of q = prod_i Bernoulli(theta_i) on D units, x^(i) = x with unit i flipped and
w_i(x) = q(x^(i)_i) = theta_i (1 - x_i) + (1 - theta_i) x_i:

    (A h)(x) = 1/D sum_i w_i(x) (h(x^(i)) - h(x)),      E_q[(A h)(x)] = 0 for every h

(the generator of the random-scan Gibbs sampler, which is q-reversible). From K >= 2 draws x_1 .. x_K, with
f_k = f(x_k), s(y) = y - theta (the logits-score) and two learned functions per draw, a scalar h_k and a
scalar c_k giving the vector field H_k(y) = c_k(y) s(y):

    g = 1/K sum_k [(f_k - 1/(K-1) sum_{j != k} (f_j + alpha (A h_j)(x_j))) s(x_k) + beta (A H_k)(x_k)]

h_k and c_k see only the other draws, so given them (A h_k)(x_k) and (A H_k)(x_k) have mean 0 over x_k:
the Stein term of draw j in draw k's baseline multiplies s(x_k), which is fixed given x_{-j}; beta's term is
mean zero on its own. g is therefore unbiased for every alpha, beta and network (the paper's RODEO estimator,
sec. 4, with the double control variate of Titsias & Shi in the baseline; `double_cv`'s correction term is not
needed because a Stein term has mean zero exactly). As in their code (github.com/thjashin/rodeo, networks.py,
grad_type 'discrete_stein_output_avg', which their README prescribes for K > 2 and which equals
'discrete_stein_avg', their K = 2 choice, at K = 2), the functions come from one network of the first-order
Taylor surrogate of f around each other draw:

    (h_k(y), c_k(y)) = 1/(K-1) sum_{j != k} NN(g_j . (y - x_j), f_j),   NN(t, s) = W2 leaky(w_t t + w_s s + b1) + b2

g_j = df/dx at x_j, leaky the leaky ReLU of slope 0.3, 100 hidden units (SteinControlNNSingleLayer). State:
alpha, beta (both 0 at first, as in their code: the estimate starts as RLOO) and the network (Glorot-uniform
weights, zero biases), trained by the driver on the estimate's second moment (their variance loss,
mean(g^2)). Their code also declares a `gamma` that no estimate uses; it is left out.

Difference from the paper's setting, forced by the op set: g_j is the gradient of the downstream's mean-field
pass (`Downstream.mean`: later nodes at their means, later parameters frozen; f itself on a single node), as in
`double_cv`, where their hierarchical code differentiates the hard pass. It is taken by `estimators.slope`, one
backward pass of the mean-field pass per draw, and enters only the control functions, never the mean. (It was
a one-sided finite difference before: D + 1 mean-field passes per draw, 201 at sbn-vae's 200 units, which made
one trajectory cell at the paper's size take 26-39 minutes.)
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from estimators.dist import sample
from estimators.ops import Array, Downstream, Ops, sum_event
from estimators.slope import slope
from estimators.spec import TRAINED, Spec

SPEC = Spec("rodeo", "control-variate", True, ("bernoulli",), 2, True,
            "Shi, Zhou, Hwang, Titsias & Mackey 2022, Gradient estimation with discrete Stein operators (RODEO)",
            multi_sample=True, min_samples=2, state="trained", options=TRAINED,
            note="RLOO with Gibbs-Stein control variates: alpha (A h_j)(x_j) in the leave-one-out baseline and "
                 "beta (A [c_k s])(x_k) added, h and c one small network of the other draws' Taylor surrogates; "
                 "alpha, beta and the network trained on the second moment; slopes from the mean-field "
                 "pass's gradient: 1 value and 1 mean-field pass, with its backward pass, per draw")
HIDDEN = 100
SLOPE = 0.3  # their LeakyReLU(alpha=0.3)


class State(NamedTuple):
    alpha: Array
    beta: Array
    w_t: Array  # [HIDDEN]: weights of the Taylor surrogate's value
    w_s: Array  # [HIDDEN]: weights of the other draw's f
    b1: Array  # [HIDDEN]
    w2: Array  # [HIDDEN, 2]: to (h, c)
    b2: Array  # [2]


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    rng = np.random.default_rng(seed)
    first, second = math.sqrt(6 / (1 + HIDDEN)), math.sqrt(6 / (HIDDEN + 2))  # Keras's Glorot-uniform limits
    return State(o.asarray(np.float32(0.0)), o.asarray(np.float32(0.0)),
                 o.asarray(rng.uniform(-first, first, HIDDEN).astype(np.float32)),
                 o.asarray(rng.uniform(-first, first, HIDDEN).astype(np.float32)),
                 o.asarray(np.zeros(HIDDEN, np.float32)),
                 o.asarray(rng.uniform(-second, second, (HIDDEN, 2)).astype(np.float32)),
                 o.asarray(np.zeros(2, np.float32)))


def network(o: Ops, state: State, t: Array, s: Array) -> Array:
    """NN(t, s) [..., 2] for inputs broadcast to [...]."""
    pre = o.expand_dims(t, -1) * state.w_t + o.expand_dims(s, -1) * state.w_s + state.b1
    return o.maximum(pre, SLOPE * pre) @ state.w2 + state.b2


def slopes(o: Ops, down: Downstream, x: Array, event: tuple[int, ...]) -> Array:
    """df/dx at each draw, [K, ..., D]: the mean-field pass's gradient at x (x flattened to D)."""
    shape = tuple(x.shape[:-1]) + event
    return slope(o, lambda z: down.mean(z.reshape(shape)), x)


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int):
    sg, k = o.stop_gradient, u.shape[0]
    logits = params["logits"]
    event = tuple(logits.shape[logits.ndim - event_ndim:])
    batch, d = tuple(logits.shape[: logits.ndim - event_ndim]), math.prod(event)
    b = sample(o, dist, params, u)  # [K, *batch, *event]
    loss = down.main(b[0])
    f = o.concat([o.expand_dims(sg(loss), 0), down.value(b[1:])])  # [K, *batch]
    x = b.reshape(k, *batch, d)
    theta = sg(o.sigmoid(logits)).reshape(*batch, d)
    g = slopes(o, down, x, event)  # [K, *batch, D]
    # network inputs for draw k's control functions from draw j: the surrogate f_j + g_j.(y - x_j) at y = x_k
    # and at its D neighbours, split as in their code into t = g_j.(y - x_j) and s = f_j
    flip = 1 - 2 * x  # y - x_k at the neighbour of unit i, along unit i
    t0 = o.sum(o.expand_dims(g, 0) * (o.expand_dims(x, 1) - o.expand_dims(x, 0)), -1)  # [K (k), K (j), *batch]
    t = o.concat([o.expand_dims(t0, -1), o.expand_dims(t0, -1) + o.expand_dims(flip, 1) * o.expand_dims(g, 0)], -1)
    s = o.expand_dims(o.expand_dims(f, 0), -1)  # [1, K (j), *batch, 1]
    others = o.asarray((1 - np.eye(k, dtype=np.float32)).reshape(k, k, *([1] * (len(batch) + 2))))
    out = o.sum(others * network(o, state, t, s), 1) / (k - 1)  # [K, *batch, D + 1, 2]: (h, c) at x_k, nbrs
    h, c = out[..., 0], out[..., 1]
    w = theta * (1 - x) + (1 - theta) * x  # [K, *batch, D]: Gibbs flip probabilities
    score = x - theta
    stein_h = o.mean(w * (h[..., 1:] - h[..., :1]), -1)  # (A h_k)(x_k): [K, *batch]
    # (A [c s])(x_k)_i: neighbours' score differs from x_k's only at the flipped unit
    stein_cs = score * o.expand_dims(o.mean(w * (c[..., 1:] - c[..., :1]), -1), -1) + w * c[..., 1:] * flip / d
    fvr = f + state.alpha * stein_h
    baseline = (o.sum(fvr, 0) - fvr) / (k - 1)
    coeff = o.mean(o.expand_dims(f - baseline, -1) * score + state.beta * stein_cs, 0)  # [*batch, D]
    # not stopped: the coefficient keeps its graph to the state, whose training minimises its second moment
    return loss + sum_event(o, coeff.reshape(*batch, *event) * (logits - sg(logits)), event_ndim), state
