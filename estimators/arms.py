"""ARMS (antithetic REINFORCE multi-sample) for Bernoulli nodes: n >= 2 draws made negatively correlated by a
Dirichlet copula, with a leave-one-out baseline and a correction for their correlation.

From n iid uniforms v_k: e = -log v, d = e / sum(e) ~ Dirichlet(1, ..., 1), c_k = (1 - d_k)^(n - 1), each
marginally U(0, 1); b_k = 1[c_k < p] if p < 1/2, else 1[1 - c_k < p], p = sigmoid(phi). Then

    g = 1/(n - 1) sum_k (f(b_k) - 1/n sum_j f(b_j)) (b_k - p) * p (1 - p) / (p - q),   q = P(b_j = b_k = 1)

q = max(2 p^(1/(n-1)) - 1, 0)^(n-1) for p < 1/2, and 2p - 1 + the same at 1 - p otherwise. Leave-one-out
on correlated draws has mean (1 - rho) * gradient, rho = (q - p^2) / (p (1 - p)) their correlation, and the
last factor is 1 / (1 - rho). With n = 2 the copula gives the antithetic pair (c, 1 - c), the factor is
sigmoid(|phi|), and g is DisARM's estimate on the uniforms c (where p < 1/2) or 1 - c (iid U(0, 1) as well).
Dimitriev & Zhou (2021), ARMS: Antithetic-REINFORCE-Multi-Sample gradient for binary variables; follows their
code (github.com/alekdimi/arms, networks.py, grad_type 'arms').
"""

from __future__ import annotations

from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("arms", "antithetic", True, ("bernoulli",), 1, False,
            "Dimitriev & Zhou 2021, ARMS: Antithetic-REINFORCE-Multi-Sample gradient for binary variables",
            multi_sample=True, min_samples=2,
            note="n_samples >= 2 draws, negatively correlated through a Dirichlet copula, share a leave-one-out "
                 "baseline rescaled by p(1-p)/(p - P(b_j = b_k = 1)); n_samples=2 is DisARM")


def copula_uniforms(o: Ops, v: Array) -> Array:
    """[n, ...] iid uniforms -> [n, ...] uniforms with U(0, 1) marginals, negatively correlated along axis 0."""
    e = -o.log(v)
    return (1 - e / o.sum(e, 0)) ** (v.shape[0] - 1)


def gap(o: Ops, m: Array, n: int) -> Array:
    """p - P(b_j = 1, b_k = 1) for two of the n copula draws, from m = min(p, 1 - p) (no cancellation near p = 1):
    P(c_j < m, c_k < m) = max(2 m^(1/(n-1)) - 1, 0)^(n-1), and for p >= 1/2 the joint is 2p - 1 + that."""
    return m - o.maximum(2 * m ** (1 / (n - 1)) - 1, 0.0) ** (n - 1)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, n = o.stop_gradient(params["logits"]), u.shape[0]
    p, m = o.sigmoid(phi), o.sigmoid(-o.abs(phi))
    c = copula_uniforms(o, u)
    b = o.float(o.where(p < 0.5, c, 1 - c) < p)  # [n, ...]
    loss = down.main(b[0])
    f = o.concat([o.expand_dims(o.stop_gradient(loss), 0), down.value(b[1:])])
    advantage = per_unit(n / (n - 1) * (f - o.mean(f, 0)), event_ndim)
    # the gap is 0 only where m underflows (|phi| > ~100): there p(1 - p) and b - p are 0 too, so the guard keeps 0
    g = gap(o, m, n)
    debias = o.where(g > 0, o.sigmoid(o.abs(phi)) * m / o.where(g > 0, g, 1.0), 1.0)
    coeff = o.mean(advantage * (b - p), 0) * debias
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
