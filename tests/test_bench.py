"""The harness end to end: CLI runs on tiny grids, toy numbers against closed forms, resume after a kill,
bad input, and the Parquet schema round trip."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from bench.cli import main
from bench.stats.metrics import METRICS, summarize_rows
from bench.store import parquet as store
from tests.truths import BACKENDS

ROOT = Path(__file__).resolve().parent.parent
TINY = ["--backend", BACKENDS[0], "--quiet", "--n-estimates", "4000"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=ROOT, capture_output=True, text=True)


def test_gradients_toy_numbers_match_closed_forms(tmp_path):
    """reinforce: bias consistent with 0 and the closed-form variance; st: its known bias; exact: nothing."""
    assert main(["run", "gradients", "--problems", "toy-bernoulli:t=0.45", "--estimators", "reinforce,st,exact",
                 "--batch-sizes", "1", "--out", str(tmp_path), *TINY]) == 0
    df = pd.read_parquet(tmp_path)
    get = df[(df.param_group == "all")].set_index(["estimator", "metric"])
    # theta=0, t=0.45: g = f(b)(b - 1/2) takes 0.3025/2 and -0.2025/2 with probability 1/2 each
    g = np.array([0.3025 / 2, -0.2025 / 2])
    var_true = g.var()
    v, se = get.loc[("reinforce", "variance"), ["value", "stderr"]]
    assert abs(v - var_true) < 4 * se
    b, se = get.loc[("reinforce", "bias"), ["value", "stderr"]]
    assert b < 4 * se
    # pass-through ST: mean E[2(b - t)] = 0.1 against the true 0.25 * 0.1: bias 0.075
    b, se = get.loc[("st", "bias"), ["value", "stderr"]]
    assert abs(b - 0.075) < 4 * se
    assert get.loc[("exact", "bias"), "value"] < 1e-6 and get.loc[("exact", "variance"), "value"] < 1e-10


def test_metrics_of_a_known_distribution():
    rng = np.random.default_rng(0)
    rows = rng.normal([1.0, 2.0], [1.0, 2.0], size=(50_000, 2))
    stats = summarize_rows(rows, np.array([1.0, 2.0]))["all"]
    assert abs(stats["variance"][0] - 5.0) < 4 * stats["variance"][1]
    assert abs(stats["bias_sq"][0]) < 4 * stats["bias_sq"][1]
    biased = summarize_rows(rows, np.array([1.3, 2.4]))["all"]
    assert abs(biased["bias"][0] - 0.5) < 4 * biased["bias"][1]
    assert abs(biased["mse"][0] - 5.25) < 4 * biased["mse"][1]


def test_chain_per_layer_groups_and_speed_suite(tmp_path):
    assert main(["run", "gradients", "--problems", "chain", "--depths", "2", "--estimators", "disarm",
                 "--out", str(tmp_path), *TINY]) == 0
    assert main(["run", "speed", "--problems", "chain", "--depths", "2", "--estimators", "disarm",
                 "--batch-sizes", "8", "--out", str(tmp_path), *TINY]) == 0
    df = pd.read_parquet(tmp_path)
    assert set(df[df.suite == "gradients"].param_group) == {"all", "layer0", "layer1", "readout"}
    speed = df[df.suite == "speed"].set_index("metric")
    assert set(speed.index) == {"time", "time_iqr", "floor_time", "time_ratio_to_floor", "ratio_iqr", "compile_time",
                                "stable", "threads", "load", "estimate_memory", "peak_host_memory"}
    assert 0 < speed.loc["floor_time", "value"] and speed.loc["time", "stderr"] > 0
    # disarm evaluates the chain twice per layer: slower than the deterministic pass, however noisy the machine
    assert speed.loc["time_ratio_to_floor", "value"] > 1
    assert speed.loc["stable", "value"] in (0, 1) and speed.loc["threads", "value"] >= 1
    assert speed.loc["estimate_memory", "value"] > 0 and "resident set" in speed.loc["peak_host_memory", "message"]
    assert (df.status == "ok").all()


@pytest.mark.parametrize("estimator, n_samples", [("rloo", 2), ("reinforce", 4)])
def test_the_floor_is_one_pass_whatever_the_draws(monkeypatch, estimator, n_samples):
    """An estimate of K draws is timed against one pass of the model, not K: a K-pass floor is no floor (RLOO at
    2 draws, which differentiates only its first, read 0.70-0.88 of one at the literature's sizes)."""
    from bench.plan.cell import Cell
    from bench.problems import PROBLEMS
    from bench.suites import speed
    from bench.suites.common import cell_objective

    built = {}

    def spy(cell, name=None, **kw):
        d, obj = cell_objective(cell, name, **kw)
        built[name or cell.estimator] = obj.noise(1)
        return d, obj

    class Timed(Exception):
        pass

    def stop(*args, **kwargs):
        raise Timed

    monkeypatch.setattr(speed, "cell_objective", spy)
    monkeypatch.setattr(speed.protocol, "compare", stop)
    pp = tuple(sorted(PROBLEMS["chain"].defaults.items()))
    cell = Cell("speed", "chain", pp, estimator, "torch", "cpu", 2, 8, n_samples, 0, 0)
    with pytest.raises(Timed):
        speed.speed(cell)
    one_pass = cell_objective(Cell("speed", "chain", pp, speed.FLOOR, "torch", "cpu", 2, 8, 1, 0, 0))[1]
    assert built[speed.FLOOR] == one_pass.noise(1)
    assert built[estimator] != one_pass.noise(1)  # the estimate itself takes its n_samples draws


def test_schema_round_trip_and_metadata(tmp_path):
    assert main(["run", "gradients", "--problems", "toy-gaussian:f=cos", "--estimators", "reparam",
                 "--out", str(tmp_path), *TINY]) == 0
    files = list(tmp_path.glob("*.parquet"))
    assert len(files) == 1
    table = ds.dataset(tmp_path).to_table()
    assert table.schema.remove_metadata() == store.SCHEMA
    meta = store.read_meta(files[0])
    assert {"git_sha", "git_dirty", "versions", "cpu", "argv", "run_id"} <= set(meta)
    df = pd.read_parquet(tmp_path)
    assert set(METRICS) <= set(df.metric)
    for column in ("estimator_version", "problem_version", "suite_version"):
        assert df[column].str.len().eq(12).all()


def test_failing_cell_is_recorded_and_sweep_goes_on(tmp_path, monkeypatch):
    from bench.execute import cell as run

    def explode(cell):
        if cell.estimator == "arm":
            raise RuntimeError("CUDA out of memory (simulated)")
        return original(cell)

    original = run.SUITE_FUNCTIONS["gradients"]
    monkeypatch.setitem(run.SUITE_FUNCTIONS, "gradients", explode)
    code = main(["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "arm,disarm",
                 "--out", str(tmp_path), *TINY])
    assert code == 1
    df = pd.read_parquet(tmp_path)
    assert set(df[df.estimator == "arm"].status) == {"oom"}
    assert set(df[df.estimator == "disarm"].status) == {"ok"}


def _fresh_count_of_estimators_for(problem: str) -> int:
    """The default preset's estimators that apply, counted in a fresh interpreter, as the CLI sees the catalog:
    plug-ins that tests in this process register (tests/test_plugins.py, on the same xdist worker) must not
    count."""
    code = ("import estimators; from bench.problems import PROBLEMS; from bench.plan.presets import QUICK; "
            f"print(sum(PROBLEMS[{problem!r}].supports(n) for n in QUICK.estimators or estimators.names()))")
    return int(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout)


def test_resume_after_a_killed_run(tmp_path):
    args = ["run", "gradients", "--problems", "toy-bernoulli", "--out", str(tmp_path), *TINY]
    proc = subprocess.Popen([sys.executable, "-m", "bench", *args], cwd=ROOT, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while len(list(tmp_path.glob("*.parquet"))) < 3 and time.time() < deadline:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = {p.name for p in tmp_path.glob("*.parquet")}
    n_cells = _fresh_count_of_estimators_for("toy-bernoulli")  # every estimator of the preset: a cell each
    assert 3 <= len(done) < n_cells  # a write the kill interrupted leaves a temporary file, never a partial cell
    before = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.parquet")}
    result = run_cli(*args, "--resume")
    assert result.returncode == 0, result.stderr
    assert f"{len(done)} skipped" in result.stderr and not list(tmp_path.glob("*.tmp*"))
    assert all(p.stat().st_mtime_ns == t for p, t in before.items())  # finished cells untouched
    assert pd.read_parquet(tmp_path).cell_id.nunique() == n_cells


@pytest.mark.parametrize("args,message", [
    (["run", "nope"], "valid: gradients, speed, training"),
    (["run", "gradients", "--estimators", "foo"], "valid: arm, arms, "),
    (["run", "gradients", "--problems", "mnist"], "valid: chain, toy-bernoulli, toy-gaussian"),
    (["run", "gradients", "--problems", "toy-bernoulli:q=1"], "NAME in: theta, t"),
    (["run", "gradients", "--backend", "tensorflow"], "valid: torch, torch-compile, jax"),
    (["run", "gradients", "--preset", "huge"], "choose from 'quick', 'full', 'paper'"),
    (["run", "gradients", "--depths", "1,,x"], "malformed depths"),
    (["run", "gradients", "--out", "/proc/forbidden"], "cannot write to --out"),
    (["run", "gradients", "--device", "cuda"], "sees no GPU"),
    (["run", "gradients", "--n-estimates", "1"], "--n-estimates must be an integer from 2 to 100000000"),
    (["run", "gradients", "--problems", "toy-gaussian:sigma=-1"], "toy-gaussian:sigma=-1.0 must be a number > 0"),
    (["run", "gradients", "--problems", "chain:width=0"], "chain:width=0 must be an integer >= 1"),
    (["run", "gradients", "--problems", "toy-gaussian:f=sin"], "must be one of square, cos"),
    (["run", "gradients", "--problems", "sbn-vae:variant=deep"], "must be one of linear, nonlinear"),
    (["run", "gradients", "--estimators", "gumbel-softmax:tau=0"], "gumbel-softmax:tau=0.0 must be a number >= 1e-06"),
    (["run", "gradients", "--estimators", "relax:states=0"], "relax:states=0 must be an integer >= 1"),
    (["run", "gradients", "--estimators", "st:tau=1"], "bad parameter 'tau=1' for st"),
    (["run", "gradients", "--estimators", "reinforce-ema:decay=1"], "must be a number >= 0 and < 1"),
    (["run", "gradients", "--memory-budget", "lots"], "not a memory size"),
    (["run", "gradients", "--truth-rel-se", "2"], "--truth-rel-se must be a number in (0, 1)"),
    (["run", "training", "--estimators", "st-sigmoid:slope=2"], "apply to the gradients and speed suites"),
    (["run", "training", "--backend", "torch-compile"], "torch-compile is for the gradients and speed suites"),
    (["all", "--backend", "torch,torch-compile"], "torch-compile is for the gradients and speed suites"),
    (["run", "gradients", "--claims", "nope"], "valid: reinmax, gumbel-rao"),
    (["run", "speed", "--claims", "vimco"], "run it with the gradients suite"),
    (["run", "gradients", "--experiments", "disarm-linear"], "run it with the training suite"),
    (["run", "training", "--experiments", "disarm"], "valid: 002-1"),
    (["run", "gradients", "--problems", "sbn-vae:objective=iwae:k=0"], "sbn-vae:k=0 must be an integer >= 1"),
    (["run", "gradients", "--problems", "sbn-vae:objective=bound"], "must be one of elbo, iwae"),
])
def test_bad_input_is_one_line_and_exit_2(args, message, capsys):
    """In process (the same `main` the module entry point calls; the subprocess test below covers the entry)."""
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and message in lines[0] and "Traceback" not in err, err


@pytest.mark.parametrize("args,message", [(["run", "nope"], "valid: gradients, speed, training"),
                                          (["run", "gradients", "--device", "cuda"], "sees no GPU")])
def test_bad_input_through_the_module_entry_point(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and "Traceback" not in result.stderr, result.stderr


def test_estimator_options_and_problem_variants_all_run(tmp_path):
    """Two variants of one problem and two of one estimator: four cells, options recorded in `options`."""
    assert main(["run", "gradients", "--problems", "toy-bernoulli:t=0.49,toy-bernoulli:t=0.499", "--estimators",
                 "gumbel-softmax:tau=0.5,gumbel-softmax:tau=2", "--out", str(tmp_path), *TINY]) == 0
    df = pd.read_parquet(tmp_path)
    cells = df.drop_duplicates("cell_id")
    assert len(cells) == 4
    assert sorted(cells.options.unique()) == ['{"tau": 0.5}', '{"tau": 2.0}']
    assert sorted(cells.problem_params.map(lambda p: json.loads(p)["t"]).unique()) == [0.49, 0.499]
    bias = df[(df.metric == "bias") & (df.param_group == "all")].set_index("options").value
    assert bias['{"tau": 0.5}'].mean() < bias['{"tau": 2.0}'].mean()  # a colder relaxation is less biased


def test_resume_reruns_cells_whose_code_changed(tmp_path, monkeypatch):
    """--resume skips a finished cell only while its estimator, problem and suite code are unchanged."""
    from bench.execute import sweep as runner

    args = ["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "reinforce,st", "--out",
            str(tmp_path), *TINY]
    assert main(args) == 0
    before = {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.parquet")}
    assert main([*args, "--resume"]) == 0
    assert {p.name: p.stat().st_mtime_ns for p in tmp_path.glob("*.parquet")} == before
    real = runner.versions.versions
    monkeypatch.setattr(runner.versions, "versions", lambda suite, problem, estimator, backend: {
        **real(suite, problem, estimator, backend),
        **({"estimator_version": "0" * 12} if estimator == "st" else {})})
    assert main([*args, "--resume"]) == 0
    df = pd.read_parquet(tmp_path)
    changed = {p.name for p in tmp_path.glob("*.parquet") if p.stat().st_mtime_ns != before[p.name]}
    assert changed == {f"{c}.parquet" for c in df[df.estimator == "st"].cell_id.unique()}


def test_report_warns_about_mixed_code_versions(tmp_path):
    assert main(["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "reinforce", "--seed", "1",
                 "--out", str(tmp_path / "res"), *TINY]) == 0
    assert main(["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "reinforce", "--seed", "2",
                 "--out", str(tmp_path / "res"), *TINY]) == 0
    assert main(["report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    assert "different code versions" not in (tmp_path / "rep" / "index.md").read_text()
    first = sorted((tmp_path / "res").glob("*.parquet"))[0]
    table = pq.read_table(first)
    table = table.set_column(table.schema.get_field_index("estimator_version"), "estimator_version",
                             pa.array(["feedfacecafe"] * len(table)))
    pq.write_table(table, first)
    assert main(["report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "index.md").read_text()
    assert "results of several code versions" in text and "feedfacecafe" in text


def test_report_renders_tables(tmp_path):
    assert main(["run", "gradients", "--problems", "toy-bernoulli", "--estimators", "disarm",
                 "--out", str(tmp_path / "res"), *TINY]) == 0
    assert main(["report", "--results", str(tmp_path / "res"), "--out", str(tmp_path / "rep")]) == 0
    text = (tmp_path / "rep" / "index.md").read_text()
    assert "## Problem: toy-bernoulli" in text and "| disarm |" in text
