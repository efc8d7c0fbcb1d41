"""bitflip-1 for Bernoulli nodes: flip one unit, chosen uniformly, and difference f exactly across that flip.

With b = 1[u < sigmoid(phi)], j uniform over the node's K units and b^j the sample with unit j flipped:

    g_i = 1[i = j] * K * sigmoid'(phi_i) * (-1)^b_i * (f(b^j) - f(b))

d/dphi_i E[f] = sigmoid'(phi_i) E[f(b_i = 1) - f(b_i = 0)], and (-1)^b_i (f(b^i) - f(b)) is that difference whatever
b_i is (a Bernoulli's measure-valued derivative, the local expectation gradient of one unit); the uniform choice
of j costs the factor K. Two evaluations per draw. On a linear f = a.b its second moment on unit i is
K m^2 (1 - m)^2 a_i^2 (m = min(p_i, 1 - p_i)), against DisARM's 1/2 m (1 - m)^2 (a_i^2 + 2 sum_{j != i} m_j a_j^2):
far smaller near the boundary of the parameter space, where DisARM's stays of order m. UGC (estimators/ugc.py)
takes the better of the two per coordinate.

Kunes, Yin, Land, Haviv, Pe'er & Tavare (AAAI 2023), Gradient estimation for binary latent variables via gradient
variance clipping. The paper's method section could not be read here (only its abstract), and no author code was
found: this is the estimator its abstract names, built from the identity above.
"""

from __future__ import annotations

from math import prod

from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

PAPER = ("Kunes, Yin, Land, Haviv, Pe'er & Tavare 2023, Gradient estimation for binary latent variables via gradient "
         "variance clipping")
SPEC = Spec("bitflip", "measure-valued", True, ("bernoulli",), 2, False, f"{PAPER} (bitflip-1)", uniforms=2,
            note="one unit j chosen uniformly per example; its gradient is K sigmoid'(phi_j) (-1)^b_j "
                 "(f(b with j flipped) - f(b)), every other unit's 0")


def chosen_unit(o: Ops, v: Array, event_ndim: int) -> Array:
    """One-hot over the event axes of the unit whose uniform is largest: uniform over the K units."""
    if event_ndim == 0:
        return o.float(v == v)
    event = tuple(v.shape[-event_ndim:])
    flat = v.reshape(tuple(v.shape[:-event_ndim]) + (prod(event),))
    return o.one_hot(o.argmax(flat, -1), prod(event)).reshape(tuple(v.shape))


def flip_difference(o: Ops, down: Downstream, b: Array, f_b: Array, mask: Array, event_ndim: int) -> Array:
    """Per unit: (-1)^b (f(b with the masked unit flipped) - f(b)) where mask is 1, else 0."""
    flipped = b + mask * (1 - 2 * b)
    return mask * (1 - 2 * b) * per_unit(down.value(flipped) - f_b, event_ndim)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    p = o.sigmoid(phi)
    b = o.float(u[0] < p)
    loss = down.main(b)
    mask = chosen_unit(o, u[1], event_ndim)
    k = prod(tuple(b.shape[len(b.shape) - event_ndim:]))
    coeff = k * p * (1 - p) * flip_difference(o, down, b, o.stop_gradient(loss), mask, event_ndim)
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
