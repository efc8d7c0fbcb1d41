"""Executors: inline, process and Ray give the same numbers for the same cells, `--resume` crosses executors,
a killed worker is a `died` cell that `--resume` completes, and bad options are one line and exit 2.

Ray runs as a local 2-CPU cluster shared by this module's tests. Every run here uses one intra-op thread
(OMP_NUM_THREADS=1, torch.set_num_threads(1) for the inline reference): float32 sums may round differently
with another thread count, and equal inputs must give bit-equal outputs.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import shutil
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch

from bench.cli import main
from bench.execute.common import KILL_CELL_ENV, cell_from_json, cell_to_json
from bench.plan import grid as sweep
from bench.problems import PROBLEMS
from bench.store import parquet as store
from bench.suites.gradients import PROCESS_METRICS
from tests.truths import BACKENDS

pytestmark = pytest.mark.xdist_group("executors")  # its session-scoped fixtures run once, on one worker

# 8 cells (4 with one backend): toy-bernoulli and a depth-2 chain, reinforce and disarm; about 1 s each
ARGS = ["run", "gradients", "--problems", "toy-bernoulli,chain", "--depths", "2", "--estimators",
        "reinforce,disarm", "--backend", ",".join(BACKENDS), "--n-estimates", "200", "--quiet"]
KEY = ["cell_id", "metric", "param_group"]
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory) -> Path:
    """The cells run inline, one thread: what every other executor must reproduce."""
    out = tmp_path_factory.mktemp("inline")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*ARGS, "--executor", "inline", "--out", str(out)]) == 0
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="session")
def reference(reference_dir) -> pd.DataFrame:
    df = pd.read_parquet(reference_dir)
    assert (df.status == "ok").all() and df.cell_id.nunique() == 4 * len(BACKENDS)
    return df


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")  # `make test` installs the ray extra, so CI runs these
    with warnings.catch_warnings():  # Ray forks then execs its daemons at once: JAX's fork warning is moot
        warnings.filterwarnings("ignore", "os.fork", RuntimeWarning)
        ray.init(address="local", num_cpus=2, include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    yield ray
    ray.shutdown()


@pytest.fixture(autouse=True)
def one_thread(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def _executor_args(executor: str, request: pytest.FixtureRequest) -> list[str]:
    if executor == "ray":
        request.getfixturevalue("ray_cluster")  # the executor joins the cluster this process already runs
        return ["--executor", "ray"]
    return ["--executor", "process", "--workers", "2"]


def _values(df: pd.DataFrame) -> pd.DataFrame:
    """What must be bit-equal: everything but the readings of the process itself (its memory)."""
    df = df[~df.metric.isin(PROCESS_METRICS)]
    return df.set_index(KEY).sort_index()[["value", "stderr", "status"]]


def test_cells_round_trip_through_json_whatever_their_fields():
    cells = sweep.cells("gradients", problems={"chain": dict(PROBLEMS["chain"].defaults)},
                        estimators=[("disarm", {}), ("relax", {"states": 2})], backends=["torch"], device="cpu",
                        depths=[2], batch_sizes=[1], n_samples=[1], seed=3, n_estimates=10)
    for cell in [dataclasses.replace(c, settings=(("memory_budget", 2**30),)) for c in cells]:
        back = cell_from_json(json.loads(json.dumps(cell_to_json(cell))))
        assert back == cell and back.id == cell.id and isinstance(back.problem_params, tuple)
        assert back.settings == cell.settings  # settings travel to workers, though not part of the identity


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "ray"])
def test_same_values_as_inline(executor, reference, tmp_path, request):
    assert main([*ARGS, *_executor_args(executor, request), "--out", str(tmp_path)]) == 0
    pd.testing.assert_frame_equal(_values(pd.read_parquet(tmp_path)), _values(reference), check_exact=True)


@pytest.mark.slow
def test_cli_runs_its_own_local_ray_cluster(reference, tmp_path):
    """The path users take: a fresh CLI process starts a 2-CPU local cluster, runs the cells, shuts it down."""
    pytest.importorskip("ray")
    result = subprocess.run([sys.executable, "-m", "bench", *ARGS, "--executor", "ray", "--workers", "2", "--out",
                             str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    pd.testing.assert_frame_equal(_values(pd.read_parquet(tmp_path)), _values(reference), check_exact=True)
    assert store.read_meta(next(tmp_path.glob("*.parquet")))["executor"]["workers"] == 2


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "ray"])
def test_resume_across_executors(executor, reference, reference_dir, tmp_path, request, capsys):
    """Files written inline, one deleted: another executor with --resume runs that cell alone."""
    for path in reference_dir.glob("*.parquet"):
        shutil.copy(path, tmp_path)
    victim = sorted(reference.cell_id.unique())[0]
    (tmp_path / f"{victim}.parquet").unlink()
    kept = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.parquet")}
    capsys.readouterr()
    assert main([*ARGS, *_executor_args(executor, request), "--out", str(tmp_path), "--resume"]) == 0
    assert f"1 cells run, {len(kept)} skipped" in capsys.readouterr().err
    assert all(p.stat().st_mtime_ns == t for p, t in kept.items())
    pd.testing.assert_frame_equal(_values(pd.read_parquet(tmp_path)), _values(reference), check_exact=True)


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["process", "ray"])
def test_killed_worker_is_a_died_cell_and_resume_completes_it(executor, reference, tmp_path, monkeypatch,
                                                              request, capsys):
    victim = reference[(reference.problem == "chain") & (reference.estimator == "disarm")].cell_id.iloc[0]
    monkeypatch.setenv(KILL_CELL_ENV, victim)
    assert main([*ARGS, *_executor_args(executor, request), "--out", str(tmp_path)]) == 1
    df = pd.read_parquet(tmp_path)
    dead = df[df.cell_id == victim]
    assert list(dead.status) == ["died"]
    assert ("SIGKILL" if executor == "process" else "WorkerCrashedError") in dead.message.iloc[0]
    others = df[df.cell_id != victim]
    pd.testing.assert_frame_equal(_values(others), _values(reference[reference.cell_id != victim]), check_exact=True)
    assert "FAILED [died] chain disarm" in capsys.readouterr().err

    monkeypatch.delenv(KILL_CELL_ENV)
    assert main([*ARGS, *_executor_args(executor, request), "--out", str(tmp_path), "--resume"]) == 0
    assert f"1 cells run, {reference.cell_id.nunique() - 1} skipped" in capsys.readouterr().err
    pd.testing.assert_frame_equal(_values(pd.read_parquet(tmp_path)), _values(reference), check_exact=True)


def _one_line_exit_2(argv: list[str], capsys) -> str:
    capsys.readouterr()
    assert main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bench: error: "), lines
    return lines[0]


def test_ray_not_installed_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now fails as it does without the extra
    line = _one_line_exit_2([*ARGS, "--executor", "ray", "--out", str(tmp_path)], capsys)
    assert "needs Ray" in line and "[ray]" in line and "valid without it: auto, inline, process" in line
    assert not list(tmp_path.glob("*.parquet"))


@pytest.mark.parametrize("options,message", [
    (["--executor", "threads"], "choose from 'auto', 'inline', 'process', 'ray'"),
    (["--workers", "0"], "--workers must be from 1 to"),
    (["--workers", "two"], "invalid int value: 'two'"),
    (["--executor", "inline", "--workers", "2"], "for --workers > 1 use process or ray"),
    (["--executor", "process", "--ray-address", "auto"], "--ray-address applies only to --executor ray"),
    (["--executor", "ray", "--gpus-per-cell", "0"], "fraction in (0, 1] or a whole number of GPUs, got 0"),
    (["--executor", "ray", "--gpus-per-cell", "1.5"], "fraction in (0, 1] or a whole number of GPUs, got 1.5"),
    (["--executor", "ray", "--gpus-per-cell", "0.5"], "applies only to --executor ray with --device cuda"),
    (["--executor", "ray", "--workers", "2", "--ray-address", "auto"], "with --ray-address the cluster's"),
])
def test_bad_executor_options_are_one_line_and_exit_2(options, message, tmp_path, capsys):
    assert message in _one_line_exit_2([*ARGS, *options, "--out", str(tmp_path)], capsys)


@pytest.mark.slow
def test_unreachable_ray_address_is_one_line_and_fails_fast(tmp_path):
    """In a fresh process (this one may hold a Ray connection): refused at once, not after minutes of retries."""
    pytest.importorskip("ray")
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "bench", *ARGS, "--executor", "ray", "--ray-address",
                             "127.0.0.1:1", "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and time.perf_counter() - start < 60
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot reach the Ray cluster at '127.0.0.1:1'" in lines[0], result.stderr


@pytest.mark.slow
def test_worker_over_its_memory_budget_is_an_oom_cell_and_the_sweep_goes_on(reference, tmp_path, monkeypatch,
                                                                             capsys):
    """The process executor's watchdog stops a worker whose resident memory passes its cell's budget (a test
    hook makes one cell grab 64 MB blocks until stopped): that cell is `oom`, every other cell is untouched."""
    from bench.execute.common import GREEDY_CELL_ENV

    victim = reference[(reference.problem == "chain") & (reference.estimator == "reinforce")].cell_id.iloc[0]
    monkeypatch.setenv(GREEDY_CELL_ENV, victim)
    assert main([*ARGS, "--executor", "process", "--workers", "2", "--memory-budget", "1GB",
                 "--out", str(tmp_path)]) == 1
    df = pd.read_parquet(tmp_path)
    greedy = df[df.cell_id == victim]
    assert list(greedy.status) == ["oom"] and "resident" in greedy.message.iloc[0], greedy.message.iloc[0]
    others = df[df.cell_id != victim]
    assert (others.status == "ok").all()
    pd.testing.assert_frame_equal(_values(others), _values(reference[reference.cell_id != victim]), check_exact=True)
    assert "FAILED [oom] chain reinforce" in capsys.readouterr().err


@pytest.mark.parametrize("argv,alone", [(["--workers", "2"], 1), (["--workers", "2", "--executor", "process"], 1),
                                        ([], None), (["--workers", "1"], None)])
def test_speed_cells_are_timed_one_at_a_time_whatever_the_workers(argv, alone):
    """Two timings side by side would each measure the other's load: with several workers the speed suite gets
    an executor of its own with one."""
    from bench import cli

    args = cli.parser().parse_args(["all", *argv])
    executor = cli._timing_executor(args)
    try:
        assert (executor.describe()["workers"] if executor is not None else None) == alone
    finally:
        if executor is not None:
            executor.close()
