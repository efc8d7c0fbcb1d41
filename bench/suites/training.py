"""The training suite: held-out metrics against steps and training time; options carry the budget and seed
002's knobs (optimizer, steps, slope annealing, evaluation mode, training subset)."""

from __future__ import annotations

from typing import Any

from bench import problems
from bench.suites.common import estimator_options, row
from bench.sweep import Cell


def training(cell: Cell) -> list[dict[str, Any]]:
    from bench.training import train

    o = cell.opts
    model = problems.model_of(cell.problem, cell.params, cell.depth, cell.batch_size, cell.estimator)
    run = train(cell.problem, cell.params, model, cell.estimator, backend=cell.backend, device=cell.device,
                seed=cell.seed, lr=cell.lr, optimizer=o.get("optimizer", "sgd"), steps=int(o.get("steps", 100)),
                batch_size=cell.batch_size, n_samples=cell.n_samples, eval_every=int(o.get("eval_every", 25)),
                options=estimator_options(cell, cell.estimator), slope_anneal=float(o.get("slope_anneal", 1.0)),
                mode=o.get("eval", ""), train_subset=int(o.get("train_subset", 0)))
    out = [row(cell, "compile_time", run.compile_time, unit="s")]
    for point in run.history:
        for metric, value in point.items():
            if metric != "step":
                r = row(cell, metric, value, unit="s" if metric == "train_time" else "")
                out.append({**r, "step": int(point["step"])})
    return out
