"""MuProp: REINFORCE with a first-order Taylor control variate around the mean-field pass, whose expectation
is added back analytically, so the estimate stays unbiased whatever the expansion:

    h(x) = f(mu) + f'(mu) . (x - mu),   g = (f(x) - h(x)) d log q(x) / d theta + f'(mu) d mu / d theta

with mu = E[x] (sigmoid(logits), softmax(logits)) held fixed inside h, and f the downstream's mean-field pass
(`Downstream.mean`: later nodes replaced by their means, later parameters frozen), a smooth function of x.
E[h(x) d log q / d theta] = f'(mu) d mu / d theta because h is linear in x and E[x] = mu.

One mean-field pass gives all of it, with no nested derivative: with s = log q(x) - sg(log q(x)) (zero, with
gradient d log q(x) / d theta),

    m = f(sg(mu) + (mu - sg(mu)) - s sg(x - mu))    (value f(mu), gradient f'(mu) . (d mu - (x - mu) d log q))
    surrogate = main(x) + sg(main(x) - m) s + m - sg(m)

whose gradient is (f(x) - f(mu)) d log q + f'(mu) . d mu - f'(mu) . (x - mu) d log q, the estimator above.
Cost: the hard pass and the mean-field pass, each forward and backward.
Gu, Levine, Sutskever & Mnih (2016), MuProp: unbiased backpropagation for stochastic neural networks.
"""

from __future__ import annotations

from estimators.dist import log_prob, mean, sample
from estimators.ops import Downstream, Ops, per_unit
from estimators.spec import Spec

SPEC = Spec("muprop", "control-variate", True, ("bernoulli", "categorical"), 2, True,
            "Gu, Levine, Sutskever & Mnih 2016, MuProp: unbiased backpropagation for stochastic neural networks",
            note="baseline f(mu) + f'(mu).(x - mu), f the mean-field downstream (later nodes at their means, "
                 "later parameters frozen), with its expectation's gradient f'(mu) dmu/dlogits added back; "
                 "2 evaluations: the hard pass and the mean-field pass (each forward and backward)")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    sg = o.stop_gradient
    x = sample(o, dist, params, u[0])
    loss = down.main(x)
    log_q = log_prob(o, dist, params, x, event_ndim)
    s = log_q - sg(log_q)
    mu = mean(o, dist, params)
    m = down.mean(mu - per_unit(s, event_ndim) * sg(x - mu))
    return loss + sg(loss - m) * s + m - sg(m), state
