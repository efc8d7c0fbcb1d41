"""Problems as programs, for black-box estimators (estimators.blackbox): the same losses the surrogates see,
written as a loss callable that asks for each random value by name.

toy-*      one site "z" (node-level black boxes get its f and dist instead)
chain      sites "layer0" .. "layer{depth-1}": the chain of estimators/*/chain.py
models     sites "z0" .. "z{L-1}": the model engine's layers (bench/problems/model.py), unreplicated; any
           plug-in problem built on the engine works too

A program returns one loss per example of the cell's `batch_size` (the same fixed batch the gradients suite
uses; bnn, whose batch sits inside one weight draw, returns one), each example with its own draws: the
mean of the losses is the objective whose gradient the suite's truth holds.
The importance-weighted bound is not offered: its K samples are not separate sites of one program.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from bench import problems
from bench.problems.ops import ops
from estimators import blackbox, plugins
from estimators.registry import package


@dataclass(frozen=True)
class Objective:
    """What a black box differentiates: `program` (model level), or `f` on one `dist` node (node level)."""

    program: blackbox.Program
    params: dict[str, np.ndarray]
    f: Any = None  # single-node problems: f(samples [..., *event]) -> [...]
    dist: str = ""


def supports(problem: str, pp: dict[str, Any], level: str) -> str:
    """'' when a black box of this level runs on the problem variant, else why not."""
    if problems.iwae_k(pp) > 1:
        return "black boxes do not take the importance-weighted bound (its K samples are not separate sites)"
    if level == "node" and not problem.startswith("toy-"):
        return "a node-level black box runs on single-node problems only (toy-bernoulli, toy-gaussian)"
    return ""


def objective(problem: str, pp: dict[str, Any], backend: str, *, depth: int, batch_size: int, seed: int,
              device: str = "cpu", point: str = "init") -> Objective:
    o = ops(backend, device)
    params = problems.params_of(problem, pp, depth, seed, point, batch_size)
    if problem.startswith("toy-"):
        f, dist = problems._toy_f(problem, pp, backend), problems.PROBLEMS[problem].dist
        names = list(params)

        def one_node(sample: blackbox.Sample, p: dict[str, Any]) -> Any:
            shape = (batch_size, *p[names[0]].shape)
            return f(sample("z", dist, {k: o.broadcast_to(p[k], shape) for k in names}))

        return Objective(one_node, params, f, dist)
    if problem == "chain":
        return Objective(_chain(o, depth, batch_size), params)
    model = problems.model_of(problem, pp, depth, batch_size)
    data = problems.fixed_batch(problem, pp, batch_size, seed)
    return Objective(_model(model, o, data), params)


def _chain(o: Any, depth: int, batch_size: int) -> blackbox.Program:
    def program(sample: blackbox.Sample, p: dict[str, Any]) -> Any:
        width = p["logits"].shape[-1]
        b = sample("layer0", "bernoulli", {"logits": o.broadcast_to(p["logits"], (batch_size, width))})
        for layer in range(1, depth):
            b = sample(f"layer{layer}", "bernoulli", {"logits": b @ p[f"w{layer}"] + p[f"b{layer}"]})
        return o.softplus(2 * (b * p["v"]).sum(-1) - 1)

    return program


def _model(model: Any, o: Any, data: dict[str, np.ndarray]) -> blackbox.Program:
    ctx = {k: o.asarray(v) for k, v in data.items()}
    n_draws = len(next(iter(data.values()))) if model.per_draw_data else 1

    def program(sample: blackbox.Sample, p: dict[str, Any]) -> Any:
        p1 = {k: v[None] for k, v in p.items()}  # the engine's leading rows axis, one row
        loss, h = model.direct_loss(o, p1, ctx), model.inputs(o, p1, ctx)
        for m in range(model.n_stochastic):
            shape = (1, n_draws, *model.event_shape(m))
            node = {k: o.broadcast_to(v, shape)[0] for k, v in model.node(o, p1, m, h, ctx).items()}
            z = sample(f"z{m}", model.dist, node)[None]
            loss = loss + model.local_loss(o, p1, m, z, h, ctx)
            h = model.carry(o, p1, m, z, h, ctx)
        loss = loss + model.final_loss(o, p1, h, ctx)
        return o.broadcast_to(loss, (1, n_draws))[0]

    return program


def build(cell: Any, options: dict[str, Any]):
    """(driver, call, parameters, state) of a black-box cell, in bench.suites.common.build's shape."""
    plugin = plugins.ESTIMATORS[cell.estimator]
    declaration, pkg = plugin.declaration, package(cell.backend)
    plugins.check_backend(cell.estimator, pkg)
    why = supports(cell.problem, cell.params, declaration.level)
    if why:
        raise ValueError(why)
    obj = objective(cell.problem, cell.params, cell.backend, depth=cell.depth, batch_size=cell.batch_size,
                    seed=cell.seed, device=cell.device, point=cell.opts.get("point", "init"))
    call = blackbox.Call(cell.estimator, blackbox.resolve(declaration.functions[pkg]), declaration.level,
                         obj.f if declaration.level == "node" else obj.program, obj.params, seed=cell.seed,
                         device=cell.device, dist=obj.dist, options={**declaration.spec.options, **options,
                                                                     "n_samples": cell.n_samples})
    return blackbox, call, obj.params, None
