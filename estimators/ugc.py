"""UGC (unbiased gradient variance clipping) for Bernoulli nodes: per coordinate, DisARM's estimate or bitflip-1's,
whichever has the smaller variance at the current parameters.

On one draw b (shared by both) with DisARM's antithetic partner b~ and bitflip-1's uniformly chosen unit j of K:

    g_i = bitflip-1's g_i   if min(p_i, 1 - p_i) < 1 / (2K),   else DisARM's g_i

Each coordinate's component is unbiased on its own and the choice depends on the parameters only, so g is unbiased.
The threshold is where the second moments cross on a linear f = a.b when the other units' share is left out:
bitflip-1's is K m^2 (1 - m)^2 a_i^2 (m = min(p_i, 1 - p_i)), DisARM's 1/2 m (1 - m)^2 (a_i^2 + 2 sum_{j != i}
m_j a_j^2), the sum being the other units' antithetic differences. Past the threshold bitflip-1's is the smaller
whatever the other units do, so on such an f UGC never has more variance than DisARM on any coordinate. Three
evaluations per draw: f(b), f(b~), f(b^j).

Kunes, Yin, Land, Haviv, Pe'er & Tavare (AAAI 2023), Gradient estimation for binary latent variables via gradient
variance clipping. The paper's method section could not be read here (only its abstract: "uses either a bitflip-1
or a DisARM gradient update for each coordinate", "uniformly lower variance than DisARM"), and no author code was
found; the threshold is derived above, and a third party's reading of the paper states the same 1/(2K).
"""

from __future__ import annotations

from math import prod

from estimators.bitflip import PAPER, chosen_unit, flip_difference
from estimators.disarm import antithetic_pair, coefficient
from estimators.ops import Downstream, Ops, attach
from estimators.spec import Spec

SPEC = Spec("ugc", "antithetic", True, ("bernoulli",), 3, False, f"{PAPER} (UGC)", uniforms=2,
            note="per coordinate: bitflip-1 where min(p, 1 - p) < 1/(2K) (K units in the node), DisARM elsewhere, "
                 "on one shared draw")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    phi = params["logits"]
    p = o.sigmoid(phi)
    b, b_anti = antithetic_pair(o, phi, u[0])
    loss = down.main(b)
    f_b = o.stop_gradient(loss)
    k = prod(tuple(b.shape[len(b.shape) - event_ndim:]))
    disarm = coefficient(o, phi, b, b_anti, f_b, down.value(b_anti), event_ndim)
    bitflip = k * p * (1 - p) * flip_difference(o, down, b, f_b, chosen_unit(o, u[1], event_ndim), event_ndim)
    coeff = o.where(o.sigmoid(-o.abs(phi)) < 1 / (2 * k), bitflip, disarm)
    return attach(o, loss, params, {"logits": coeff}, event_ndim), state
