"""REINFORCE with seed 002's "variance-adjusted" moving-average baseline, one per unit.

    L_bar_j = EMA[s_j^2 * L] / EMA[s_j^2],     g_j = (L - L_bar_j) * s_j,     s_j = d log q / d theta_j

(R2RT, Binary Stochastic Neurons; seed 002). L_bar_j estimates the variance-minimising constant baseline
E[s_j^2 L] / E[s_j^2]. Unlike the seed, the baseline used for a step comes from the state *before* that
step's update, so the estimate stays unbiased. State (numerator, denominator per parameter and unit) is
returned, never hidden; freeze it by ignoring the returned state.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from estimators.dist import sample, score
from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("reinforce-ema", "score-function", True, ("bernoulli", "categorical", "gaussian"), 1, False,
            "Seed 002 (R2RT, Binary Stochastic Neurons): variance-adjusted REINFORCE",
            state="running", options={"decay": 0.95, "warmup": 100},
            note="per-unit baseline EMA[(b-p)^2 L]/EMA[(b-p)^2] from earlier steps only, so it stays unbiased")


class State(NamedTuple):
    numerator: dict[str, Array]  # EMA[s^2 L] per parameter and unit
    denominator: dict[str, Array]  # EMA[s^2]


def init_state(o: Ops, shapes: dict[str, tuple[int, ...]], seed: int) -> State:
    return State({k: o.asarray(np.zeros(s, np.float32)) for k, s in shapes.items()},
                 {k: o.asarray(np.ones(s, np.float32)) for k, s in shapes.items()})


def surrogate(o: Ops, params, down: Downstream, u, state: State, *, dist: str, event_ndim: int, decay: float):
    x = sample(o, dist, params, u[0])
    loss = down.main(x)
    f = per_unit(o.stop_gradient(loss), event_ndim)
    coeffs, num, den = {}, {}, {}
    for k, s in score(o, dist, params, x).items():
        coeffs[k] = (f - state.numerator[k] / (state.denominator[k] + 1e-4)) * s
        s2 = o.square(o.stop_gradient(s))
        batch_axes = tuple(range(s2.ndim - event_ndim))
        num[k] = decay * state.numerator[k] + (1 - decay) * o.mean(s2 * f, batch_axes)
        den[k] = decay * state.denominator[k] + (1 - decay) * o.mean(s2, batch_axes)
    return attach(o, loss, params, coeffs, event_ndim), State(num, den)
