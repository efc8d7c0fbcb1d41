"""bitflip-1 and UGC (Kunes, Yin et al. 2023): both unbiased near the boundary of the parameter space, where UGC
switches to bitflip-1, as well as inside it; the second moments the switch rests on, in closed form; UGC's rows
are DisARM's or bitflip-1's, coordinate by coordinate, on the same uniforms.

tests/test_unbiased.py z-tests both at logits 0 and at its "away" point, where no coordinate of six is past UGC's
threshold (min(p, 1 - p) < 1/12): here the logits put three coordinates past it.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import chisquare

from estimators.bitflip import chosen_unit
from tests.test_estimators_2021_2022 import assert_less_variance, assert_unbiased, limit, rows
from tests.truths import BACKENDS, TIERED, bernoulli_truth, f6, ops, variance_and_se, xp

N = 20_000
BOUNDARY = np.array([-3.0, -0.5, 0.3, 2.6, 1.2, 4.0], np.float32)  # units 0, 3 and 5 past 1/(2K) = 1/12
A = np.array([0.9, -0.6, 1.3, 0.4, -1.1, 0.7])


def p_min(logits: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(np.abs(logits.astype(np.float64))))


def test_the_boundary_point_exercises_both_branches():
    past = p_min(BOUNDARY) < 1 / (2 * len(BOUNDARY))
    assert past.tolist() == [True, False, False, True, False, True]


@pytest.mark.parametrize("backend", TIERED)
@pytest.mark.parametrize("name", ["bitflip", "ugc"])
def test_unbiased_past_the_threshold(name, backend):
    assert_unbiased(rows(name, "bernoulli", BOUNDARY, f6(backend), backend, seed=3), bernoulli_truth(BOUNDARY))


@pytest.mark.parametrize("name", ["bitflip", "ugc"])
def test_unbiased_on_a_node_of_two_event_axes(name):
    """A [2, 3] node: the flipped unit is chosen over both event axes, and K = 6."""
    lg = BOUNDARY.reshape(2, 3)
    f = f6("torch")
    g = rows(name, "bernoulli", lg, lambda b: f(b.reshape(*b.shape[:-2], 6)), "torch", seed=4)
    assert_unbiased(g, bernoulli_truth(BOUNDARY).reshape(2, 3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_chosen_unit_is_uniform_over_every_event_axis(backend):
    o = ops(backend)
    v = np.random.default_rng(0).random((12_000, 2, 3)).astype(np.float32)
    mask = o.to_numpy(chosen_unit(o, o.asarray(v), 2))
    assert set(np.unique(mask)) == {0.0, 1.0} and np.all(mask.sum((1, 2)) == 1)
    assert chisquare(mask.sum(0).reshape(-1)).pvalue > 1e-4


def linear_f(backend):
    _, arr = xp(backend)
    a = arr(A.astype(np.float32))
    return lambda b: (b * a).sum(-1)


@pytest.mark.parametrize("name", ["bitflip", "disarm", "ugc"])
def test_second_moments_on_a_linear_f_match_their_closed_forms(name):
    """On f = a.b (m = min(p, 1 - p)): bitflip-1's second moment on unit i is K m_i^2 (1 - m_i)^2 a_i^2, since
    flipping one unit changes f by a_i alone. DisARM's is 1/2 m_i (1 - m_i)^2 (a_i^2 + 2 sum_{j != i} m_j a_j^2):
    its pair differs in unit i with probability 2 m_i, and in every other unit j with probability 2 m_j, each such
    difference adding a_j^2. Past m_i < 1/(2K), bitflip-1's is below DisARM's whatever the other units do, and
    UGC's is bitflip-1's there and DisARM's elsewhere."""
    g = rows(name, "bernoulli", BOUNDARY, linear_f("torch"), "torch", seed=5)
    m, k = p_min(BOUNDARY), len(BOUNDARY)
    a2 = A**2
    bitflip = k * m**2 * (1 - m) ** 2 * a2
    disarm = 0.5 * m * (1 - m) ** 2 * (a2 + 2 * ((m * a2).sum() - m * a2))
    past = m < 1 / (2 * k)
    want = {"bitflip": bitflip, "disarm": disarm, "ugc": np.where(past, bitflip, disarm)}[name]
    sq = g**2
    z = (sq.mean(0) - want) / (sq.std(0, ddof=1) / np.sqrt(len(sq)))
    assert np.all(np.abs(z) < limit(k)), z
    assert np.all(bitflip[past] < disarm[past])


@pytest.mark.parametrize("backend", TIERED)
def test_ugc_rows_are_disarms_or_bitflips_coordinate_by_coordinate(backend):
    """Same seed, same uniforms: UGC's first uniform array is DisARM's, its second is bitflip-1's choice of unit."""
    f = f6(backend)
    ugc, disarm, bitflip = (rows(n, "bernoulli", BOUNDARY, f, backend, n=2_000, seed=6)
                            for n in ("ugc", "disarm", "bitflip"))
    past = p_min(BOUNDARY) < 1 / (2 * len(BOUNDARY))
    np.testing.assert_allclose(ugc[:, past], bitflip[:, past], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ugc[:, ~past], disarm[:, ~past], rtol=1e-5, atol=1e-6)


def test_ugc_has_less_variance_than_disarm_near_the_boundary():
    """The paper's claim, on the nonlinear f of six units: less total variance at the boundary point, and never
    more on any coordinate (within 4 standard errors)."""
    f = f6("torch")
    ugc, disarm = (rows(n, "bernoulli", BOUNDARY, f, "torch", seed=7) for n in ("ugc", "disarm"))
    assert_less_variance(ugc, disarm)
    for i in range(len(BOUNDARY)):
        (vu, su), (vd, sd) = variance_and_se(ugc[:, i:i + 1]), variance_and_se(disarm[:, i:i + 1])
        assert vu - vd < 4 * np.hypot(su, sd), (i, vu, vd)
