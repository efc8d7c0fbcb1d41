"""The trajectory suite: one training run serves every checkpoint, every estimator is measured at the same
parameters in every backend, rows carry their step, and the CLI refuses what does not shape a trajectory."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bench.cli import main
from bench.plan.cell import Training
from bench.suites import points
from bench.suites.training import train
from tests.truths import BACKENDS


def test_one_run_serves_every_checkpoint_and_equals_a_run_to_it():
    from bench.problems import PROBLEMS

    pp = {**PROBLEMS["sbn-vae"].defaults, "width": 3}
    t = Training(3e-3, "adam", steps=30, eval_every=0, driver="disarm")
    late = points.along("sbn-vae", pp, 1, 0, 8, t)
    early = points.along("sbn-vae", pp, 1, 0, 8, Training(3e-3, "adam", steps=10, eval_every=0, driver="disarm"))
    direct = train("sbn-vae", pp, "disarm", depth=1, backend="torch", device="cpu", seed=0,
                   settings=Training(3e-3, "adam", steps=10, eval_every=0), batch_size=8, n_samples=1,
                   options={}).params
    for k in direct:
        np.testing.assert_array_equal(early[k], direct[k])  # the checkpoint kept on the way to 30 is step 10's
    assert any(not np.array_equal(early[k], late[k]) for k in late)  # and training moved on after it
    assert {0, 1, 9, 10, 20, 30} <= points.kept_steps(30) and 11 not in points.kept_steps(30)


@pytest.mark.slow  # ~50 s: two estimators, two checkpoints, both backends, a truth per checkpoint
def test_the_suite_measures_every_estimator_at_each_checkpoint(tmp_path):
    code = main(["run", "trajectory", "--preset", "smoke", "--estimators", "rloo,reinmax", "--checkpoints", "0,20",
                 "--backend", ",".join(BACKENDS), "--n-estimates", "400", "--out", str(tmp_path), "--quiet",
                 "--executor", "inline"])
    assert code == 0
    df = pd.read_parquet(tmp_path)
    var = df[(df.metric == "variance") & (df.param_group == "all")]
    assert set(var.step) == {0, 20} and set(var.estimator) == {"rloo", "reinmax"}
    assert set(var.backend) == set(BACKENDS) and (var.status == "ok").all()
    assert var.options.str.contains('"driver": "disarm"').all() and var.stderr.gt(0).all()


@pytest.mark.parametrize("asked,variants", [("sbn-vae", {"linear", "nonlinear"}),
                                            ("sbn-vae:variant=linear", {"linear"}),
                                            ("sbn-vae:variant=nonlinear,sbn-vae:width=7", {"nonlinear", "linear"})])
def test_problem_parameters_asked_for_apply_to_every_variant(asked, variants):
    """sbn-vae:variant=linear runs the linear variant only (the paper preset trains both), and a parameter
    applies over each of the preset's variants."""
    from bench import cli
    from bench.plan.presets import PRESETS

    args = cli.parser().parse_args(["run", "trajectory", "--problems", asked, "--checkpoints", "0"])
    cells = cli._trajectory_grid(args, PRESETS["paper"], ["torch"], {}, [("disarm", {})])
    assert {dict(c.params)["variant"] for c in cells} == variants
    if "width=7" in asked:
        assert sorted(dict(c.params)["width"] for c in cells) == [7, 7, 200], cells


@pytest.mark.parametrize("args,message", [
    (["run", "gradients", "--driver", "disarm"], "shape the trajectory suite"),
    (["run", "trajectory", "--driver", "nope"], "valid: arm, arms"),
    (["run", "trajectory", "--driver", "rloo,arm"], "one estimator"),
    (["run", "trajectory", "--checkpoints", "0,-5"], "checkpoints"),
    (["run", "trajectory", "--backend", "torch-compile"], "torch eagerly or jax"),
])
def test_bad_trajectory_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    code = main([*args, "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0], err
    assert not list(tmp_path.glob("*.parquet"))
