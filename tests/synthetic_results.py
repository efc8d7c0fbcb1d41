"""A small synthetic results folder in the store's format, for the report tests (no estimator is run).

Files are written both without and with the columns the training suite adds (`lr`, `options`, `experiment`),
so the report is tested on results from older and newer code in one folder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.store import parquet as store

NEW_COLUMNS = [("lr", pa.float64()), ("options", pa.string()), ("experiment", pa.string())]
OLD_SCHEMA = pa.schema([f for f in store.SCHEMA if f.name not in dict(NEW_COLUMNS)])
NEW_SCHEMA = pa.schema(list(OLD_SCHEMA) + [pa.field(n, t) for n, t in NEW_COLUMNS])
BACKENDS = ["torch", "jax"]
# estimator: (variance at depth 1, batch 1, one draw; bias; relative cost)
GRADIENT_ESTIMATORS = {"reinforce": (0.2, 0.0, 1.0), "disarm": (0.05, 0.0, 2.0), "st": (0.4, 0.1, 1.0)}
UNSTABLE_ON_CHAIN = "reinforce"  # fast with moderate variance: on chain's front were its timings trusted
# problem parameters as cells record them: chain at its defaults, sbn-vae with every parameter written out (its
# label should say width=3 only), skip-rnn at its defaults
PARAMS = {"chain": {"width": 3},
          "sbn-vae": {"data": "digits", "data_dir": "", "hidden": 100, "k": None, "objective": None,
                      "variant": "linear", "width": 3},
          "skip-rnn": {"data": "digits", "data_dir": "", "gate_bias": 1.0, "penalty": 0.01, "steps": 0, "width": 32,
                       "window": 0}}
TRAJECTORY_STEPS = [0, 1, 3, 10, 30, 100, 300, 1000]


def _meta(run_id: str) -> dict[str, Any]:
    return {"run_id": run_id, "git_sha": "0123456789abcdef", "git_dirty": False, "python": "3.12.0",
            "versions": {"torch": "2.13.0", "jax": "0.7.0", "jaxlib": "0.7.0", "numpy": "2.4.6"},
            "cpu": "synthetic CPU", "device": "cpu", "device_names": {"jax": "cpu"},
            "argv": ["all", "--preset", "quick"]}


def _row(suite: str, problem: str, estimator: str, backend: str, metric: str, value: float, *, depth: int = 1,
         batch: int = 1, n: int = 1, seed: int = 0, group: str = "all", step: int | None = None,
         stderr: float = float("nan"), status: str = "ok", message: str = "", **extra: Any) -> dict[str, Any]:
    cell = f"{suite}-{problem}-{estimator}-{backend}-{depth}-{batch}-{n}-{seed}-{extra.get('options', '')}"
    return {"run_id": "", "cell_id": cell, "suite": suite, "problem": problem,
            "problem_params": json.dumps(PARAMS.get(problem, {})), "estimator": estimator,
            "estimator_version": "abc", "backend": backend, "device": "cpu", "depth": depth, "batch_size": batch,
            "n_samples": n, "seed": seed, "metric": metric, "param_group": group, "step": step, "value": value,
            "stderr": stderr, "unit": "", "status": status, "message": message, "wall_s": 1.0, **extra}


def _write(folder: Path, name: str, rows: list[dict[str, Any]], schema: pa.Schema, run_id: str) -> None:
    table = pa.Table.from_pylist([{**r, "run_id": run_id} for r in rows], schema=schema).replace_schema_metadata(
        {b"bench": json.dumps(_meta(run_id)).encode()})
    pq.write_table(table, folder / f"{name}.parquet")


def _gradients(problem: str, depths: list[int], batches: list[int], draws: list[int], **extra: Any
               ) -> list[dict[str, Any]]:
    rows = []
    for est, (var, bias, _) in GRADIENT_ESTIMATORS.items():
        for backend in BACKENDS:
            for depth in depths:
                for batch in batches:
                    for n in draws:
                        v = var * depth / batch / n * (1.05 if backend == "jax" else 1.0)
                        at = {"depth": depth, "batch": batch, "n": n, **extra}
                        stats = {"variance": v, "bias": bias, "mse": bias**2 + v, "snr": 1 / v, "cosine": 0.5}
                        rows += [_row("gradients", problem, est, backend, m, x, stderr=0.05 * x, **at)
                                 for m, x in stats.items()]
                        if depth > 1:  # per-layer groups, variance growing with the layer index
                            rows += [_row("gradients", problem, est, backend, "variance", v * (i + 1) / depth,
                                          stderr=0.01, group=f"layer{i}", **at) for i in range(depth)]
                            rows.append(_row("gradients", problem, est, backend, "variance", v / 10, group="readout",
                                             **at))
    return rows


SPEED_FACTOR = {"torch": 1.0, "jax": 0.3, "torch-compile": 0.5}  # time relative to torch eager


def _speed(problem: str, depths: list[int], batches: list[int], backends: tuple[str, ...] = tuple(BACKENDS),
           stable: Callable[[str, str], float] | None = None) -> list[dict[str, Any]]:
    """Speed rows; with `stable` ((estimator, backend) -> 1.0 or 0.0) the rows the rewritten speed suite adds
    (stability verdict, floor, memory of one estimate, load, threads), without it the older suite's rows only."""
    rows = []
    for est, (_, _, cost) in GRADIENT_ESTIMATORS.items():
        for backend in backends:
            for depth in depths:
                for batch in batches:
                    t = 1e-4 * cost * depth * (1 + batch / 8) * SPEED_FACTOR[backend]
                    at = {"depth": depth, "batch": batch}
                    rows += [_row("speed", problem, est, backend, "time", t, stderr=0.02 * t, **at),
                             _row("speed", problem, est, backend, "compile_time", 0.0 if backend == "torch" else 0.5,
                                  **at),
                             _row("speed", problem, est, backend, "peak_host_memory", 2.0e8 + 1e6 * batch, **at)]
                    if stable is None:
                        continue
                    floor = t / (1.5 * cost)
                    new = {"stable": stable(est, backend), "floor_time": floor, "time_ratio_to_floor": t / floor,
                           "ratio_iqr": 0.1, "time_iqr": 0.05 * t, "estimate_memory": 4096.0 * depth * batch * cost,
                           "threads": 2.0, "load": 0.3}
                    new |= {"recompilations": 0.0} if backend == "torch-compile" else {}
                    rows += [_row("speed", problem, est, backend, m, x, **at) for m, x in new.items()]
    return rows


def _training(experiment: str, problem: str, metrics: list[str]) -> list[dict[str, Any]]:
    rows = []
    for est, offset in [("st", 0.0), ("disarm", 0.1)]:
        for seed in (0, 1):
            for step in (0, 50, 100):
                at = {"step": step, "seed": seed, "lr": 1e-3, "options": json.dumps({"eval": "deterministic"}),
                      "experiment": experiment, "batch": 16}
                loss = 1.0 / (1 + step / 50) + offset + 0.02 * seed
                values = {"loss": loss, "accuracy": 1 - loss / 2, "elbo": -100 * loss, "train_time": 0.01 * step,
                          "open_rate": 0.9 - 0.002 * step}
                rows += [_row("training", problem, est, "torch", m, values[m], **at) for m in metrics + ["train_time"]]
    return rows


def trajectory(problem: str = "chain", driver: str = "disarm", optimizer: str = "adam",
               estimators: tuple[str, ...] = ("reinforce", "disarm", "st"), bias: bool = True) -> list[dict[str, Any]]:
    """Suite "trajectory": at log-spaced steps of one training run (driven by `driver` with `optimizer`), each
    estimator's variance (falling as the model trains) and, where a truth exists, its bias."""
    rows = []
    options = json.dumps({"driver": driver, "optimizer": optimizer, "lr": 0.01})
    for est in estimators:
        var, b, _ = GRADIENT_ESTIMATORS.get(est, (0.1, 0.0, 1.0))
        for backend in BACKENDS:
            for step in TRAJECTORY_STEPS:
                v = var * 10 / (1 + step) ** 0.5 * (1.05 if backend == "jax" else 1.0)
                at = {"step": step, "depth": 2, "batch": 4, "options": options, "experiment": "", "lr": 0.01}
                rows.append(_row("trajectory", problem, est, backend, "variance", v, stderr=0.05 * v, **at))
                if bias:
                    rows.append(_row("trajectory", problem, est, backend, "bias", b, stderr=0.01, **at))
    return rows


def audit() -> list[dict[str, Any]]:
    """Suite "audit": one implementation's estimator unbiased as claimed, one biased though it claims not to be
    (on two problems), and one whose run failed."""
    rows = []

    def cell(estimator: str, problem: str, bias_sq: float, se: float, max_z: float, **extra: Any) -> None:
        at = {"estimator_version": "fakelib==1.0+abc", "depth": 2, **extra}
        metrics = {"bias_sq": (bias_sq, se), "variance": (0.5, float("nan")), "max_abs_z": (max_z, 4.0),
                   "estimates": (2000.0, float("nan"))}
        if extra.get("status", "ok") != "ok":
            metrics = {"error": (float("nan"), float("nan"))}
        for metric, (value, stderr) in metrics.items():
            row = _row("audit", problem, estimator, "torch", metric, value, stderr=stderr, **at)
            rows.append({**row, "cell_id": f"audit-{estimator}-{problem}"})

    cell("fakelib/good", "chain", 1e-5, 1e-5, 1.2)
    cell("fakelib/bad", "chain", 0.3, 0.01, 30.0)
    cell("fakelib/bad", "toy-bernoulli", 0.2, 0.01, 12.0)
    cell("fakelib/broken", "chain", 0.0, 0.0, 0.0, status="error", message="fakelib raised (synthetic)")
    return rows


def write(folder: Path) -> Path:
    """Chain (depths, batch sizes, draws, layers, two gradient points), a toy problem, training for two
    experiments and two problems without an experiment (skip-rnn with its open_rate), variance along a
    training run, an audit, a failed cell, and one corrupt file.

    Speed: chain's cells carry stability verdicts, with reinforce's timings UNSTABLE_ON_CHAIN (it would
    otherwise be on the Pareto front) and a torch-compile backend beside torch and JAX; stochastic-depth's
    timings are all unstable; toy-bernoulli's predate the stability check (no `stable` rows).
    """
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "chain-gradients", _gradients("chain", [1, 3], [1, 8], [1, 2]), OLD_SCHEMA, "run-a")
    chain_speed = _speed("chain", [1, 3], [1, 8], ("torch", "jax", "torch-compile"),
                         stable=lambda est, backend: 0.0 if est == UNSTABLE_ON_CHAIN else 1.0)
    _write(folder, "chain-speed", chain_speed, OLD_SCHEMA, "run-a")
    shaky = _gradients("stochastic-depth", [2], [4], [1]) + _speed("stochastic-depth", [2], [4],
                                                                   stable=lambda est, backend: 0.0)
    _write(folder, "stochastic-depth", shaky, NEW_SCHEMA, "run-b")
    trained = _gradients("chain", [3], [1], [1], options=json.dumps({"point": "trained"}), experiment="", lr=None)
    _write(folder, "chain-trained", trained, NEW_SCHEMA, "run-b")
    _write(folder, "toy", _gradients("toy-bernoulli", [1], [1], [1]) + _speed("toy-bernoulli", [1], [1]),
           OLD_SCHEMA, "run-a")
    training = (_training("002-1", "bsn", ["loss", "accuracy"]) + _training("002-3", "bsn", ["loss", "accuracy"])
                + _training("", "sbn-vae", ["loss", "elbo"])
                + _training("", "skip-rnn", ["loss", "accuracy", "open_rate"]))
    _write(folder, "training", training, NEW_SCHEMA, "run-b")
    _write(folder, "trajectory", trajectory(), NEW_SCHEMA, "run-b")
    _write(folder, "audit", audit(), NEW_SCHEMA, "run-b")
    failed = [_row("gradients", "chain", "disarm", "jax", "error", float("nan"), depth=5, status="oom",
                   message="out of memory (synthetic)")]
    _write(folder, "failed", failed, OLD_SCHEMA, "run-a")
    (folder / "corrupt.parquet").write_bytes(b"this is not a parquet file")
    return folder


def write_old(folder: Path) -> Path:
    """Results from before the stability check only: chain's gradients and speed, no `stable` rows at all."""
    folder.mkdir(parents=True, exist_ok=True)
    _write(folder, "chain-gradients", _gradients("chain", [1, 3], [1], [1]), OLD_SCHEMA, "run-old")
    _write(folder, "chain-speed", _speed("chain", [1, 3], [1]), OLD_SCHEMA, "run-old")
    return folder
