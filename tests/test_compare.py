"""`bench compare` on synthetic results folders: planted regressions are found (variance doubled at high z, a
stable time 1.5x slower, a cell that becomes biased, a cell that fails), noise and unstable timings are not,
thresholds are the user's, cells match by id or by configuration, and bad input is one line and exit 2."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import compare
from bench.store.parquet import write_cell

VERSIONS = {"estimator_version": "e0e0e0e0e0e0", "problem_version": "p0p0p0p0p0p0", "suite_version": "s0s0s0s0s0s0"}


def _row(cell_id: str, suite: str, estimator: str, metric: str, value: float, stderr: float = float("nan"), *,
         group: str = "all", problem: str = "chain", backend: str = "torch", n_samples: int = 1, seed: int = 0,
         status: str = "ok", message: str = "", versions: dict[str, str] | None = None) -> dict[str, Any]:
    return {"run_id": "r", "cell_id": cell_id, "suite": suite, "problem": problem,
            "problem_params": json.dumps({"width": 3}), "estimator": estimator, "backend": backend, "device": "cpu",
            "depth": 2, "batch_size": 4, "n_samples": n_samples, "seed": seed, "metric": metric,
            "param_group": group, "step": None, "value": value, "stderr": stderr, "unit": "", "status": status,
            "message": message, "wall_s": 1.0, "lr": float("nan"), "options": "{}", "experiment": "",
            **VERSIONS, **(versions or {})}


def gradients(cell_id: str, estimator: str, variance: float, variance_se: float, bias_sq: float, bias_sq_se: float,
              **kw: Any) -> list[dict[str, Any]]:
    bias = max(bias_sq, 0.0) ** 0.5
    rows = [_row(cell_id, "gradients", estimator, "variance", variance, variance_se, **kw),
            _row(cell_id, "gradients", estimator, "bias_sq", bias_sq, bias_sq_se, **kw),
            _row(cell_id, "gradients", estimator, "bias", bias, bias_sq_se / max(2 * bias, 1e-3), **kw)]
    # a parameter group's rows must not be taken for the whole gradient's
    rows.append(_row(cell_id, "gradients", estimator, "variance", 100 * variance, 1.0, group="layer0", **kw))
    return rows


def speed(cell_id: str, estimator: str, time: float, stable: bool = True, **kw: Any) -> list[dict[str, Any]]:
    return [_row(cell_id, "speed", estimator, "time", time, time / 100, **kw),
            _row(cell_id, "speed", estimator, "floor_time", 1e-4, 1e-6, **kw),
            _row(cell_id, "speed", estimator, "time_ratio_to_floor", time / 1e-4, 0.01, **kw),
            _row(cell_id, "speed", estimator, "stable", 1.0 if stable else 0.0, **kw)]


def write(folder: Path, cells: dict[str, list[dict[str, Any]]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for cell_id, rows in cells.items():
        write_cell(folder, cell_id, rows, {"run_id": "r"})
    return folder


def reference() -> dict[str, list[dict[str, Any]]]:
    return {
        "g-reinforce": gradients("g-reinforce", "reinforce", 0.020, 0.0005, 1e-6, 2e-5),
        "g-disarm": gradients("g-disarm", "disarm", 0.010, 0.0002, -3e-6, 1e-5),
        "g-rloo": gradients("g-rloo", "rloo", 0.012, 0.0003, 2e-6, 1e-5, n_samples=2),
        "g-st": gradients("g-st", "st", 0.06, 0.001, 0.30, 0.002),
        "s-reinforce": speed("s-reinforce", "reinforce", 4e-4),
        "s-disarm": speed("s-disarm", "disarm", 6e-4),
        "s-st": speed("s-st", "st", 3e-4, stable=False),
    }


def regressed() -> dict[str, list[dict[str, Any]]]:
    cells = reference()
    changed = {"versions": {"estimator_version": "e1e1e1e1e1e1"}}
    # variance doubled, beyond z = 4 (0.020 -> 0.040, SE 0.0005 each side: z = 28)
    cells["g-reinforce"] = gradients("g-reinforce", "reinforce", 0.040, 0.0005, 1e-6, 2e-5, **changed)
    # an unbiased cell that becomes biased: bias_sq / SE from -0.3 to 12
    cells["g-disarm"] = gradients("g-disarm", "disarm", 0.010, 0.0002, 1.2e-4, 1e-5, **changed)
    # a stable time 1.5x slower
    cells["s-disarm"] = speed("s-disarm", "disarm", 9e-4)
    # an unstable time 2x slower: reported, never judged
    cells["s-st"] = speed("s-st", "st", 6e-4, stable=False)
    return cells


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path, Path]:
    old = write(tmp_path / "old", reference())
    same = write(tmp_path / "same", reference())
    new = write(tmp_path / "new", regressed())
    return old, same, new


def test_no_regression_is_exit_0(folders, capsys):
    old, same, _ = folders
    assert compare.main([str(old), str(same)]) == 0
    out = capsys.readouterr().out
    assert "**No regression.**" in out
    assert "7 matched (7 by cell id" in out


def test_planted_regressions_are_found(folders, capsys):
    old, _, new = folders
    assert compare.main([str(old), str(new)]) == 1
    result = compare.compare(old, new)
    found = {(p.new["estimator"], c.metric): c for p, c in result.regressions}
    assert set(found) == {("reinforce", "variance"), ("disarm", "bias_sq"), ("disarm", "time")}
    assert found["reinforce", "variance"].ratio == pytest.approx(2.0)
    assert found["reinforce", "variance"].z > 20
    assert "newly biased" in found["disarm", "bias_sq"].what
    assert found["disarm", "time"].ratio == pytest.approx(1.5)
    out = capsys.readouterr().out
    assert "**3 regression(s)** in 3 cell(s)" in out
    assert "## Regressions" in out
    # the version change that explains it, and its absence where only the machine can
    assert "estimator e0e0e0e0 -> e1e1e1e1" in out
    assert "none (machine, libraries or chance)" in out


def test_unstable_timings_are_never_judged(folders):
    old, _, new = folders
    result = compare.compare(old, new)
    st = [c for p, c in result.changes("not judged") if p.new["estimator"] == "st" and c.metric == "time"]
    assert len(st) == 1 and st[0].ratio == pytest.approx(2.0) and "unstable" in st[0].what


def test_thresholds_are_the_users(folders):
    old, _, new = folders
    lenient = ["--max-time-ratio", "1.6", "--max-variance-ratio", "2.5"]
    result = compare.compare(old, new, compare.Thresholds(max_time_ratio=1.6, max_variance_ratio=2.5))
    assert {(p.new["estimator"], c.metric) for p, c in result.regressions} == {("disarm", "bias_sq")}
    assert compare.main([str(old), str(new), *lenient]) == 1  # still newly biased
    # a bound the bias test does not pass either: nothing left
    assert compare.main([str(old), str(new), *lenient, "--z", "30"]) == 0


def test_a_large_change_within_noise_is_not_a_regression(tmp_path):
    old = write(tmp_path / "old", {"g": gradients("g", "reinforce", 0.02, 0.01, 0.0, 1e-4)})
    new = write(tmp_path / "new", {"g": gradients("g", "reinforce", 0.04, 0.01, 0.0, 1e-4)})
    assert compare.main([str(old), str(new)]) == 0  # doubled, but z = 1.4


def test_improvements_are_reported_and_pass(folders, capsys):
    old, _, new = folders
    assert compare.main([str(new), str(old)]) == 0  # the other way round: every change is for the better
    out = capsys.readouterr().out
    assert "## Improvements" in out and "no longer biased" in out and "faster" in out


def test_a_biased_cell_that_grows_more_biased(tmp_path):
    old = write(tmp_path / "old", {"g": gradients("g", "st", 0.06, 0.001, 0.30, 0.002)})
    new = write(tmp_path / "new", {"g": gradients("g", "st", 0.06, 0.001, 0.60, 0.002)})
    result = compare.compare(old, new)
    assert [c.what for _, c in result.regressions] == ["more biased: bias_sq 2x"]


def test_zero_variance_rounding_is_no_change(tmp_path):
    # the exact estimator: SE 0 on both sides, bias_sq at float32 rounding
    old = write(tmp_path / "old", {"g": gradients("g", "exact", 0.0, 0.0, 4.6e-11, 0.0)})
    new = write(tmp_path / "new", {"g": gradients("g", "exact", 1e-14, 0.0, 1.3e-10, 0.0)})
    assert compare.main([str(old), str(new)]) == 0


def test_a_cell_that_fails_now_is_a_regression(tmp_path, capsys):
    old = write(tmp_path / "old", {"g": gradients("g", "reinforce", 0.02, 0.0005, 0.0, 1e-4)})
    new = write(tmp_path / "new", {"g": [_row("g", "gradients", "reinforce", "error", float("nan"), status="oom",
                                              message="needs 9 GB")]})
    assert compare.main([str(old), str(new)]) == 1
    assert "now oom: needs 9 GB" in capsys.readouterr().out


def test_cells_match_by_configuration_when_their_ids_differ(tmp_path):
    # another estimate count or seed gives another cell id; the configuration still meets its reference
    old = write(tmp_path / "old", {"a1": gradients("a1", "reinforce", 0.02, 0.0005, 0.0, 1e-4),
                                   "b1": speed("b1", "reinforce", 4e-4),
                                   "c1": gradients("c1", "disarm", 0.01, 0.0005, 0.0, 1e-4)})
    new = write(tmp_path / "new", {"a2": gradients("a2", "reinforce", 0.04, 0.0005, 0.0, 1e-4, seed=1),
                                   "b2": speed("b2", "reinforce", 4e-4),
                                   "d2": gradients("d2", "st", 0.01, 0.0005, 0.0, 1e-4)})
    result = compare.compare(old, new)
    assert sorted(p.matched_by for p in result.pairs) == ["configuration", "configuration"]
    assert (result.only_old, result.only_new) == (1, 1)
    assert [(p.new["estimator"], c.metric) for p, c in result.regressions] == [("reinforce", "variance")]


def test_time_ratio_to_floor_compares_machines(tmp_path):
    # a machine twice as fast: time halves, its ratio to the floor does not move
    old = write(tmp_path / "old", {"s": speed("s", "disarm", 6e-4)})
    fast = speed("s", "disarm", 3e-4)
    for row in fast:
        if row["metric"] == "time_ratio_to_floor":
            row["value"] = 6.0
    new = write(tmp_path / "new", {"s": fast})
    assert compare.main([str(new), str(old)]) == 1  # by seconds, the slower machine regresses
    assert compare.main([str(new), str(old), "--time-metric", "time_ratio_to_floor"]) == 0


def test_out_writes_the_report(folders, tmp_path, capsys):
    old, _, new = folders
    out = tmp_path / "compare.md"
    assert compare.main([str(old), str(new), "--out", str(out), "--all"]) == 1
    text = out.read_text()
    assert text == capsys.readouterr().out
    assert "## Every comparison" in text and "## Not judged" in text


@pytest.mark.parametrize("args, says", [
    (["missing-folder", "{new}"], "OLD 'missing-folder' is not a folder; valid: a results folder"),
    (["{old}", "{empty}"], "holds no readable results file"),
    (["{old}", "{new}", "--max-time-ratio", "0.5"], "must be a number >= 1"),
    (["{old}", "{new}", "--z", "-1"], "must be a positive number"),
    (["{old}", "{new}", "--time-metric", "wall"], "invalid choice: 'wall' (choose from time, time_ratio_to_floor)"),
    (["{old}", "{new}", "--bogus"], "unrecognized arguments: --bogus"),
    (["{old}"], "the following arguments are required: NEW"),
    (["{old}", "{other}"], "no cell of NEW"),
    (["{old}", "{new}", "--out", "no/such/dir/x.md"], "its folder does not exist"),
])
def test_bad_input_is_one_line_and_exit_2(folders, tmp_path, capsys, args, says):
    old, _, new = folders
    (tmp_path / "empty").mkdir()
    other = write(tmp_path / "other", {"x": gradients("x", "reinforce", 1.0, 0.1, 0.0, 0.1, problem="bsn")})
    argv = [a.format(old=old, new=new, empty=tmp_path / "empty", other=other) for a in args]
    assert compare.main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("bench compare: error: ")
    assert says.replace("'", "") in err[0].replace("'", "")


def test_pick_reference(tmp_path):
    root = tmp_path / "reference"
    for name in ("amd-epyc-2cpu-torch2.13.0-cpu-jax0.10.2", "intel-xeon-processor-2cpu-torch2.13.0-cpu-jax0.10.1"):
        write(root / name, {"s": speed("s", "disarm", 6e-4)})
    (root / "empty-folder").mkdir()
    machine = "intel-xeon-processor-2cpu-torch2.13.0-cpu-jax0.10.1"
    assert compare.pick_reference(root, machine) == root / machine
    # another machine: the reference that shares most of its name (here the JAX version and the core count)
    assert compare.pick_reference(root, "amd-epyc-7763-4cpu-torch2.13.0-cpu-jax0.10.1").name == machine
    assert compare.pick_reference(root, "amd-epyc-7763-2cpu-torch2.13.0-cpu-jax0.10.2").name.startswith("amd")
    with pytest.raises(compare.UsageError, match="no reference results"):
        compare.pick_reference(tmp_path / "nothing", machine)


def test_the_cli_delegates_to_compare(folders, capsys):
    # `python -m bench compare` is bench.compare.main behind the CLI's subcommand
    from bench import cli

    old, same, new = folders
    assert cli.main(["compare", str(old), str(same)]) == 0
    assert "**No regression.**" in capsys.readouterr().out
    assert cli.main(["compare", str(old), str(new), "--max-time-ratio", "1.6"]) == 1
    assert "**2 regression(s)**" in capsys.readouterr().out


@pytest.mark.parametrize("args, says", [
    (["compare"], "the following arguments are required: OLD, NEW"),
    (["compare", "{old}", "{new}", "--z", "0"], "must be a positive number"),
    (["compare", "{old}", "{new}", "--time-metric", "wall"], "invalid choice: 'wall'"),
    (["compare", "{old}", "nowhere"], "NEW 'nowhere' is not a folder"),
    (["compar", "{old}", "{new}"], "invalid choice: 'compar' (choose from 'list', 'run', 'report', 'audit', 'all', "
                                   "'compare')"),
])
def test_the_cli_refuses_bad_input_in_one_line(folders, capsys, args, says):
    from bench import cli

    old, _, new = folders
    assert cli.main([a.format(old=old, new=new) for a in args]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and "error: " in err[0] and says in err[0] and not captured.out


def test_folders_without_a_common_cell_say_what_each_holds(tmp_path, capsys):
    # as the two committed reference machines do: one holds training cells only, the other the rest
    old = write(tmp_path / "old", {"g": gradients("g", "reinforce", 0.02, 0.0005, 0.0, 1e-4)})
    new = write(tmp_path / "new", {"s": speed("s", "disarm", 6e-4, problem="bsn")})
    assert compare.main([str(old), str(new)]) == 2
    err = capsys.readouterr().err
    assert "(1 cell: speed of bsn)" in err and "(1 cell: gradients of chain)" in err
