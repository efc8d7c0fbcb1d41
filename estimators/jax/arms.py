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

import jax
import jax.numpy as jnp
from jax import Array
from jax.lax import stop_gradient as sg

from estimators.jax.common import Downstream, attach
from estimators.jax.dist import per_unit
from estimators.registry import register


def copula_uniforms(v: Array) -> Array:
    """[n, ...] iid uniforms -> [n, ...] uniforms with U(0, 1) marginals, negatively correlated along axis 0."""
    e = -jnp.log(v)
    return (1 - e / e.sum(0)) ** (v.shape[0] - 1)


def gap(m: Array, n: int) -> Array:
    """p - P(b_j = 1, b_k = 1) for two of the n copula draws, from m = min(p, 1 - p) (no cancellation near p = 1):
    P(c_j < m, c_k < m) = max(2 m^(1/(n-1)) - 1, 0)^(n-1), and for p >= 1/2 the joint is 2p - 1 + that."""
    return m - jnp.maximum(2 * m ** (1 / (n - 1)) - 1, 0) ** (n - 1)


@register("arms", "jax")
def arms(params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi, n = sg(params["logits"]), u.shape[0]
    p, m = jax.nn.sigmoid(phi), jax.nn.sigmoid(-jnp.abs(phi))
    c = copula_uniforms(u)
    b = (jnp.where(p < 0.5, c, 1 - c) < p).astype(u.dtype)  # [n, ...]
    loss = down.main(b[0])
    f = jnp.concatenate([sg(loss)[None], down.value(b[1:])])
    advantage = per_unit(n / (n - 1) * (f - f.mean(0)), event_ndim)
    # the gap is 0 only where m underflows (|phi| > ~100): there p(1 - p) and b - p are 0 too, so the guard keeps 0
    g = gap(m, n)
    debias = jnp.where(g > 0, jax.nn.sigmoid(jnp.abs(phi)) * m / jnp.where(g > 0, g, 1.0), 1.0)
    coeff = (advantage * (b - p)).mean(0) * debias
    return attach(loss, params, {"logits": coeff}, event_ndim), state
