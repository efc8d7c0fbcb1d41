"""Measure-valued gradient for Gaussian nodes: the weak derivative of N(loc, scale^2), one coordinate at a time.

    d E f / d loc_i   = 1 / (scale_i sqrt(2 pi)) E[f(x; x_i = loc_i + scale_i W) - f(x; x_i = loc_i - scale_i W)]
    d E f / d scale_i = 1 / scale_i E[f(x; x_i = loc_i + scale_i M) - f(x)]

x ~ q is the node's draw (its other coordinates stay as sampled), W ~ Weibull(sqrt 2, 2) (Rayleigh), the same
draw on both sides (the paper's coupling), and M ~ double-sided Maxwell, density m^2 exp(-m^2 / 2) / sqrt(2 pi).
The negative part of the scale derivative is q itself, so its sample is the draw x: 3 evaluations of the
downstream per coordinate, plus the draw's own. Mohamed, Rosca, Figurnov & Mnih (2020), Monte Carlo gradient
estimation in machine learning, sec. 6 (Table 1: Gaussian mean and scale). From uniforms: x = loc + scale
Phi^-1(u0); W = sqrt(-2 log u1); M = sign(z) sqrt(-2 log u2 + z^2), z = Phi^-1(u3) (|M|^2 ~ chi^2_3, and the
sign of z is independent of z^2). The coordinate-replaced inputs go to the downstream's `value` with two extra
leading axes (3 targets x coordinates), CHUNK coordinates at a time, so memory stays bounded.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from estimators.ops import Array, Downstream, Ops, attach, per_unit
from estimators.spec import Spec

SPEC = Spec("measure-valued", "measure-valued", True, ("gaussian",), 1, False,
            "Mohamed, Rosca, Figurnov & Mnih 2020, Monte Carlo gradient estimation in machine learning (sec. 6)",
            uniforms=4, evals_per_coordinate=3,
            note="weak derivative per coordinate: loc from f at loc +- scale*W (one Weibull(sqrt 2, 2) draw W for "
                 "both), scale from f at loc + scale*M (double-sided Maxwell) against the draw itself: 1 + 3 "
                 "f-evaluations per coordinate")
CHUNK = 32  # coordinates per downstream call


def replaced(o: Ops, value: Callable[[Array], Array], x: Array, targets: Array, event_ndim: int) -> Array:
    """out[k, ..., i] = value(x with its coordinate i set to targets[k, ..., i]): [K, *batch, *event]."""
    batch, event = tuple(x.shape[: x.ndim - event_ndim]), tuple(x.shape[x.ndim - event_ndim:])
    n, k = math.prod(event), targets.shape[0]
    flat = x.reshape(*batch, n)
    tgt = o.expand_dims(o.moveaxis(targets.reshape(k, *batch, n), -1, 1), -1)  # [K, n, *batch, 1]
    eye = o.eye(n)
    out = []
    for i in range(0, n, CHUNK):
        mask = eye[i:i + CHUNK].reshape(-1, *([1] * len(batch)), n)  # [c, 1, ..., n]
        z = o.where(mask, tgt[:, i:i + CHUNK], flat)  # [K, c, *batch, n]
        out.append(value(z.reshape(*z.shape[:-1], *event)))
    return o.moveaxis(o.concat(out, 1), 1, -1).reshape(k, *batch, *event)


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    loc, scale = o.stop_gradient(params["loc"]), o.stop_gradient(params["scale"])
    x = loc + scale * o.ndtri(u[0])
    loss = down.main(x)
    w = o.sqrt(-2 * o.log(u[1]))
    z = o.ndtri(u[3])
    m = o.where(z < 0, -1.0, 1.0) * o.sqrt(-2 * o.log(u[2]) + z * z)
    f = replaced(o, down.value, x, o.stack([loc + scale * w, loc - scale * w, loc + scale * m]), event_ndim)
    coeffs = {"loc": (f[0] - f[1]) / (scale * math.sqrt(2 * math.pi)),
              "scale": (f[2] - per_unit(o.stop_gradient(loss), event_ndim)) / scale}
    return attach(o, loss, params, coeffs, event_ndim), state
