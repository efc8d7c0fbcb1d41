"""Runs one cell to rows of metrics, faults recorded as rows; bench.executors decides where cells run."""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import json
import time
import traceback
from typing import Any

import numpy as np

from bench import problems, timing
from bench.metrics import summarize
from bench.sweep import Cell
from estimators.spec import SPECS


def estimator_version(name: str, backend: str) -> str:
    """Hash of the estimator's backend module and spec: results from changed math are told apart."""
    module = importlib.import_module(f"estimators.{backend}.{name.replace('-', '_')}")
    return hashlib.sha1((inspect.getsource(module) + repr(SPECS[name])).encode()).hexdigest()[:12]


def _row(cell: Cell, metric: str, value: float, stderr: float = float("nan"), *, unit: str = "",
         group: str = "all", status: str = "ok", message: str = "", wall_s: float = 0.0) -> dict[str, Any]:
    return {
        "cell_id": cell.id, "suite": cell.suite, "problem": cell.problem,
        "problem_params": json.dumps(cell.params, sort_keys=True), "estimator": cell.estimator,
        "backend": cell.backend, "device": cell.device, "depth": cell.depth, "batch_size": cell.batch_size,
        "n_samples": cell.n_samples, "seed": cell.seed, "metric": metric, "param_group": group, "step": None,
        "value": value, "stderr": stderr, "unit": unit, "status": status, "message": message, "wall_s": wall_s,
        "lr": cell.lr if cell.suite == "training" else float("nan"),
        "options": json.dumps(cell.opts, sort_keys=True), "experiment": cell.experiment,
    }


def _estimator_options(cell: Cell, estimator: str) -> dict[str, Any]:
    return {k: v for k, v in cell.opts.items() if k in SPECS[estimator].options}


def _build(cell: Cell, estimator: str | None = None):
    name = estimator or cell.estimator
    return problems.build(cell.problem, cell.params, cell.backend, name, depth=cell.depth,
                          batch_size=cell.batch_size, n_samples=cell.n_samples, seed=cell.seed, device=cell.device,
                          options=_estimator_options(cell, name), point=cell.opts.get("point", "init"))


def _key(cell: Cell) -> tuple:
    if cell.backend != "jax":
        return ()
    import jax

    return (jax.random.PRNGKey(cell.seed),)


def gradients(cell: Cell) -> list[dict[str, Any]]:
    driver, surrogate, theta, state = _build(cell)
    rows = driver.estimate(SPECS[cell.estimator], surrogate, theta, cell.n_estimates, state, None, *_key(cell))
    bad = [k for k, v in rows.items() if not np.all(np.isfinite(v))]
    if bad:
        return [_row(cell, "variance", float("nan"), status="nan", message=f"non-finite estimates in {bad}")]
    truth, truth_se = problems.truth(cell.problem, cell.params, cell.depth, cell.seed, cell.backend,
                                     cell.opts.get("point", "init"), cell.batch_size, cell.device)
    groups = {"all": list(rows), **problems.groups(cell.problem, rows, cell.params, cell.depth)}
    out = []
    for group, keys in groups.items():
        stats = summarize(np.concatenate([rows[k].reshape(len(rows[k]), -1) for k in keys], 1),
                          np.concatenate([truth[k].reshape(-1) for k in keys]),
                          np.concatenate([truth_se[k].reshape(-1) for k in keys]))
        out += [_row(cell, m, v, se, group=group) for m, (v, se) in stats.items()]
    return out


def _time(cell: Cell, estimator: str | None = None) -> tuple[float, float, int, float]:
    driver, surrogate, theta, state = _build(cell, estimator)
    compile_s, run = driver.timed(surrogate, theta, 1, state, *_key(cell))
    return (*timing.time_call(run), compile_s)


def speed(cell: Cell) -> list[dict[str, Any]]:
    timing.reset_device_peak(cell.backend, cell.device)
    median, iqr, n, compile_s = _time(cell)
    out = [
        _row(cell, "time", median, 1.2533 * iqr / 1.349 / np.sqrt(n), unit="s"),
        _row(cell, "time_iqr", iqr, unit="s"),
        _row(cell, "compile_time", compile_s, unit="s"),
        _row(cell, "peak_host_memory", timing.host_peak_bytes(), unit="B"),
    ]
    device_peak = timing.device_peak_bytes(cell.backend, cell.device)
    if device_peak is not None:
        out.append(_row(cell, "peak_device_memory", device_peak, unit="B"))
    if problems.PROBLEMS[cell.problem].supports("deterministic"):
        floor = _time(cell, "deterministic")[0]
        out.append(_row(cell, "time_ratio_to_floor", median / floor, unit="x"))
    return out


def training(cell: Cell) -> list[dict[str, Any]]:
    """Held-out metrics against steps and training time; options carry the budget and seed 002's knobs."""
    from bench.training import train

    o = cell.opts
    model = problems.model_of(cell.problem, cell.params, cell.depth, cell.batch_size, cell.estimator)
    run = train(cell.problem, cell.params, model, cell.estimator, backend=cell.backend, device=cell.device,
                seed=cell.seed, lr=cell.lr, optimizer=o.get("optimizer", "sgd"), steps=int(o.get("steps", 100)),
                batch_size=cell.batch_size, n_samples=cell.n_samples, eval_every=int(o.get("eval_every", 25)),
                options=_estimator_options(cell, cell.estimator), slope_anneal=float(o.get("slope_anneal", 1.0)),
                mode=o.get("eval", ""), train_subset=int(o.get("train_subset", 0)))
    out = [_row(cell, "compile_time", run.compile_time, unit="s")]
    for point in run.history:
        for metric, value in point.items():
            if metric != "step":
                row = _row(cell, metric, value, unit="s" if metric == "train_time" else "")
                out.append({**row, "step": int(point["step"])})
    return out


SUITE_FUNCTIONS = {"gradients": gradients, "speed": speed, "training": training}


def failed(cell: Cell, status: str, message: str, wall_s: float = float("nan")) -> list[dict[str, Any]]:
    """The one row of a cell that never reported (its worker died): made by the executor, not the cell."""
    return [{**_row(cell, "error", float("nan"), status=status, message=message[:500], wall_s=wall_s),
             "estimator_version": ""}]


def run_cell(cell: Cell) -> list[dict[str, Any]]:
    """The cell's rows; a failure becomes one row with its status and message, never an exception."""
    start = time.perf_counter()
    try:
        rows = SUITE_FUNCTIONS[cell.suite](cell)
    except MemoryError as exc:
        rows = [_row(cell, "error", float("nan"), status="oom", message=str(exc)[:500])]
    except FloatingPointError as exc:  # training diverged
        rows = [_row(cell, "error", float("nan"), status="nan", message=str(exc)[:500])]
    except Exception as exc:  # noqa: BLE001 - a failing cell is recorded and the sweep goes on
        status = "oom" if "out of memory" in str(exc).lower() else "error"
        last = traceback.format_exception_only(type(exc), exc)[-1].strip()
        rows = [_row(cell, "error", float("nan"), status=status, message=last[:500])]
    wall = time.perf_counter() - start
    version = estimator_version(cell.estimator, cell.backend)
    return [{**r, "wall_s": wall, "estimator_version": version} for r in rows]
