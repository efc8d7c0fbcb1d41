"""The papers' claims (bench/literature/claims.py): every claim's arms make cells the suite can run, and the verdict
reads the rows back right, agreeing only when each stated ordering is beyond two standard errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from bench.literature import claims
from bench.literature.claims import CLAIMS
from bench.plan import grid as sweep


def test_every_claim_makes_runnable_cells_for_every_arm():
    for claim_id, c in CLAIMS.items():
        cells = sweep.claim_cells([claim_id], backends=["torch", "jax"], device="cpu", seed=0, n_estimates=100,
                                  data={})
        assert len(cells) == 2 * len(c.arms), claim_id  # arms differ: no two collapse into one cell
        assert {cell.experiment for cell in cells} == {claim_id}


def _rows(claim_id: str, values: dict[str, tuple[float, float]]) -> pd.DataFrame:
    c = CLAIMS[claim_id]
    out = []
    for arm in c.arms:
        value, se = values[arm.label]
        for backend in ("torch", "jax"):
            out.append({"suite": "gradients", "experiment": c.id, "estimator": arm.estimator, "backend": backend,
                        "n_samples": arm.n_samples, "options": json.dumps(arm.options), "metric": c.metric,
                        "param_group": "all", "status": "ok", "value": value, "stderr": se})
    return pd.DataFrame(out)


@pytest.mark.parametrize("values,agrees", [
    ({"nvil": (1.0, 0.1), "reinforce": (2.0, 0.1)}, "yes"),  # 7 standard errors below
    ({"nvil": (1.9, 0.1), "reinforce": (2.0, 0.1)}, "no"),  # within noise: not shown
    ({"nvil": (3.0, 0.1), "reinforce": (2.0, 0.1)}, "no"),  # the other way round
])
def test_verdict_needs_each_ordering_beyond_two_standard_errors(values, agrees):
    table = claims.compare(_rows("nvil", values)).set_index("experiment")
    assert table.loc["nvil", "agrees"] == agrees
    assert table.drop("nvil").agrees.eq("n/a").all()  # claims without rows are not run, not failed


def test_an_ordered_claim_needs_every_step():
    ok = {"K=100": (1.0, 0.05), "K=10": (2.0, 0.05), "K=1": (3.0, 0.05)}
    assert claims.compare(_rows("gumbel-rao", ok)).set_index("experiment").loc["gumbel-rao", "agrees"] == "yes"
    broken = {**ok, "K=10": (0.9, 0.05)}
    assert claims.compare(_rows("gumbel-rao", broken)).set_index("experiment").loc["gumbel-rao", "agrees"] == "no"


# the claims stated at equal evaluations per estimate (f-evaluations per draw times draws, each arm)
EQUAL_EVALUATIONS = {"carms": 4, "disarm-cat": 2, "unordered-set": 4, "gapped-st": 1, "arms": 4}


@pytest.mark.parametrize("claim_id,evaluations", EQUAL_EVALUATIONS.items())
def test_claims_at_equal_evaluations_compare_equal_costs(claim_id, evaluations):
    """Each arm of a claim stated "at equal evaluations" costs the same f-evaluations per estimate on the claim's
    node, by the estimators' own specs (so a claim is never won by spending more)."""
    import estimators
    from bench.problems import PROBLEMS
    from estimators.spec import evals_per_draw

    c = CLAIMS[claim_id]
    dist = PROBLEMS[c.problem].dist
    pp = c.problem_params
    shape = (pp["vars"], pp["cats"]) if dist == "categorical" else (pp["width"],)
    for arm in c.arms:
        assert evals_per_draw(estimators.spec(arm.estimator), dist, shape) * arm.n_samples == evaluations, arm


def test_rodeo_claim_compares_equal_draws():
    """RODEO's claim is at equal draws, not evaluations: its slopes cost a mean-field pass and its gradient per
    draw here."""
    c = CLAIMS["rodeo"]
    assert {arm.n_samples for arm in c.arms} == {2}
