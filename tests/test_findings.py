"""The skip-rnn experiment's cells and finding, on fabricated training rows (no training): the always-update
baseline trains with its own problem parameters and is told apart from the DisARM run that shares its
estimator and learning rate, and the rule says yes exactly when the paper's estimator keeps the baseline's
accuracy with at most 90% of the updates."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from bench.literature import findings
from bench.literature.experiments import EXPERIMENTS
from bench.plan import grid as sweep
from bench.plan.cell import Cell
from bench.plan.presets import PRESETS
from bench.suites.common import row

EXP = EXPERIMENTS["001-skip-rnn"]
PAPER = "straight-through (sigmoid-adjusted)"


def _cells() -> list[Cell]:
    return sweep.training_cells(PRESETS["quick"], backends=["torch"], device="cpu",
                                data={"data": "digits", "data_dir": ""}, problems=["skip-rnn"])


def test_the_baseline_trains_with_every_gate_open_and_no_penalty():
    cells = _cells()
    assert len(cells) == len(EXP.runs)
    params = sorted((c.estimator, c.params["gate_bias"], c.params["penalty"], c.params["window"]) for c in cells)
    assert params == sorted([("disarm", 40.0, 0.0, 4), ("disarm", 1.0, 0.01, 4), ("st-sigmoid", 1.0, 0.01, 4),
                             ("st", 1.0, 0.01, 4), ("reinforce-ema", 1.0, 0.01, 4)])


def _frame(accuracy: dict[str, float], open_rate: dict[str, float]) -> pd.DataFrame:
    """Rows of every run at steps 0, 50, 100: the values given at the last two, chance at step 0."""
    label = {}
    for run in EXP.runs:
        label[(run.estimator, tuple(sorted({**EXP.problem_params, **run.problem_params}.items())))] = run.label
    rows = []
    for cell in _cells():
        key = (cell.estimator, tuple(sorted((k, v) for k, v in cell.params.items() if k in EXP.problem_params)))
        name = label[key]
        for metric, final, start in (("accuracy", accuracy[name], 0.1), ("open_rate", open_rate[name], 0.7)):
            for step, value in ((0, start), (50, final), (100, final)):
                rows.append({**row(cell, metric, value), "step": step})
    return pd.DataFrame(rows)


BASE = {"always update": 0.92, PAPER: 0.91, "pass-through ST": 0.8, "DisARM": 0.5, "REINFORCE-EMA": 0.85}
RATE = {"always update": 1.0, PAPER: 0.6, "pass-through ST": 0.9, "DisARM": 0.95, "REINFORCE-EMA": 0.9}


@pytest.mark.parametrize("accuracy,rate,agrees", [
    ({}, {}, "yes"),
    ({PAPER: 0.88}, {}, "no"),  # lost 0.04 of accuracy
    ({}, {PAPER: 0.95}, "no"),  # kept accuracy but hardly skipped
    ({"always update": 0.3}, {}, "yes"),  # the DisARM run's rows must not stand in for the baseline's
])
def test_the_skip_rnn_finding(accuracy, rate, agrees):
    out = findings.compare(_frame({**BASE, **accuracy}, {**RATE, **rate}))
    got = out[out.experiment == "001-skip-rnn"].iloc[0]
    assert got.agrees == agrees, got.suite_finding
    base = {**BASE, **accuracy}["always update"]
    assert f"always update {base:.3f}" in got.suite_finding
    assert f"DisARM {BASE['DisARM']:.3f} at 95% updates" in got.suite_finding


def test_a_missing_open_rate_leaves_the_finding_open():
    df = _frame(BASE, RATE)
    out = findings.compare(df[~((df.metric == "open_rate") & (df.estimator == "st"))])
    assert out[out.experiment == "001-skip-rnn"].iloc[0].agrees == "n/a"


def _disarm_frame(elbo: dict[str, float]) -> pd.DataFrame:
    e = EXPERIMENTS["disarm-linear"]
    cells = sweep.training_cells(dataclasses.replace(PRESETS["full"], experiments=(e.id,), training_grid=None),
                                 backends=["torch"], device="cpu", data={"data": "digits", "data_dir": ""},
                                 seeds=[0])
    label = {run.estimator: run.label for run in e.runs}
    return pd.DataFrame([{**row(c, "elbo", v), "step": step} for c in cells
                         for step, v in ((0, -60.0), (250, elbo[label[c.estimator]]), (500, elbo[label[c.estimator]]))])


@pytest.mark.parametrize("disarm,agrees", [(-26.0, "yes"), (-26.9, "no"), (-26.97, "no")])
def test_the_disarm_benchmark_finding_needs_a_margin(disarm, agrees):
    """DisARM must lead ARM, RLOO and REINFORCE-EMA by more than the evaluation noise (0.05 nats)."""
    elbo = {"DisARM": disarm, "ARM": -26.92, "RLOO (2 samples)": -26.93, "RELAX": -25.0, "REINFORCE-EMA": -28.0}
    got = findings.compare(_disarm_frame(elbo)).set_index("experiment").loc["disarm-linear"]
    assert got.agrees == agrees, got.suite_finding
