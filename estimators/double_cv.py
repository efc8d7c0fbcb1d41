"""Double control variates for Bernoulli nodes: REINFORCE leave-one-out with a second, global control variate,
a linear (Taylor) term in the sample whose slope comes from the other samples' gradients.

With K >= 2 draws b_1 .. b_K, f_k the loss at b_k, g_j = df/db at b_j, theta = sigmoid(logits),
g_-k = 1/(K-1) sum_{j != k} g_j and the control variate cv_k = alpha g_-k . (b_k - theta):

    h_k = f_k + cv_k,    g = 1/K sum_k (h_k - 1/(K-1) sum_{j != k} h_j) d log q(b_k) - alpha theta (1 - theta) g_bar

g_bar the mean of the g_j. RLOO on h is unbiased for grad E[h]; the correction removes what cv adds,
E[cv_k d log q(b_k)] = alpha theta (1 - theta) E[g_-k] (b_k is independent of g_-k), so g is unbiased for any
alpha. alpha is the estimator's state, trained by minimising the estimate's second moment (it starts at 0, where
g is RLOO). Titsias & Shi (AISTATS 2022), Double control variates for gradient estimation in discrete latent
variable models; follows their code (github.com/thjashin/rodeo, networks.py, grad_type 'double_cv').

g_j is the gradient of the downstream's mean-field pass (`Downstream.mean`: later nodes at their means, later
parameters frozen), f itself on a single node. No nested derivative is taken: as in MuProp, the pass is
evaluated at sg(b_j) + delta_j, delta_j zero in value and with gradient sum_k c_jk s_k-terms, so one backward
pass gives every g_j . (b_l - theta) d log q(b_k) product the estimator needs: K mean-field passes per estimate.
"""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

import numpy as np

from estimators.dist import log_prob, sample, score
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import TRAINED, Spec

SPEC = Spec("double-cv", "control-variate", True, ("bernoulli",), 2, True,
            "Titsias & Shi 2022, Double control variates for gradient estimation in discrete latent variable models",
            multi_sample=True, min_samples=2, state="trained", options=TRAINED,
            note="RLOO plus a global linear control variate alpha g_-k.(b_k - theta), its slope the other draws' "
                 "gradients (of the mean-field downstream), its mean removed analytically; alpha trained by "
                 "minimising the second moment; K value passes and K mean-field passes per estimate")


class State(NamedTuple):
    alpha: Array


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    return State(o.asarray(np.float32(0.0)))


@cache
def weights(k: int) -> np.ndarray:
    """[j, l, k]: the coefficient of (g_j . (b_l - theta)) d log q(b_k) in the control variates' part, over
    alpha: 1/(K(K-1)) when l = k != j (cv_k's own), -1/(K(K-1)^2) when l != k and j != l (the others' cv_l)."""
    c = np.zeros((k, k, k), np.float32)
    for j in range(k):
        for l_ in range(k):
            for m in range(k):
                if l_ == m and j != m:
                    c[j, l_, m] = 1 / (k * (k - 1))
                elif l_ != m and j != l_:
                    c[j, l_, m] = -1 / (k * (k - 1) ** 2)
    return c


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int):
    sg, k = o.stop_gradient, u.shape[0]
    theta = o.sigmoid(params["logits"])
    b = sample(o, dist, params, u)  # [K, ...]
    loss = down.main(b[0])
    f = o.concat([o.expand_dims(sg(loss), 0), down.value(b[1:])])
    advantage = per_unit(k / (k - 1) * (f - o.mean(f, 0)), event_ndim)  # RLOO on f
    out = attach(o, loss, params, {"logits": o.mean(advantage * score(o, dist, params, b)["logits"], 0)},
                 event_ndim)
    lq = log_prob(o, dist, params, b, event_ndim)
    s = per_unit(lq - sg(lq), event_ndim)  # [K, ...]: zero, with gradient d log q(b_k)
    d = sg(b - theta)
    c = state.alpha * o.asarray(weights(k).reshape(k, k, k, *([1] * (b.ndim - 1))))
    s_weights = o.sum(c * o.expand_dims(o.expand_dims(s, 0), 0), 2)  # [j, l, ...]: sum_k c_jlk s_k
    delta = o.sum(s_weights * o.expand_dims(d, 0), 1) - state.alpha / k * (theta - sg(theta))  # [j, ...]
    m = down.mean(sg(b) + delta)  # [K, examples]: value f(b_j), gradient g_j . d delta_j
    return out + o.sum(m - sg(m), 0), state
