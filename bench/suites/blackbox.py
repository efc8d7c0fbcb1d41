"""A black-box estimator's cell (estimators.blackbox): the problem as a program, the same losses the surrogates
see, written as a loss callable that asks for each random value by name (`bench.problems.engine.program`: sites
"z0" .. "z{L-1}", one per layer), or, for a node-level box on a one-node problem without data, its f and dist.

A program returns one loss per example of the cell's `batch_size` (the fixed batch the gradients suite uses;
draws of a problem without data; one for bnn, whose batch sits inside one weight draw), each example with its own
draws: the mean of the losses is the objective whose gradient the suite's truth holds. The importance-weighted
bound is not offered: its K samples are not separate sites of one program.
"""

from __future__ import annotations

from typing import Any

from bench.plan.cell import Cell
from bench.problems import PROBLEMS, iwae_k
from bench.problems.engine import program
from bench.suites.points import parameters
from estimators import blackbox, driver, plugins
from estimators.driver import package


def supports(problem: str, pp: dict[str, Any], level: str) -> str:
    """'' when a black box of this level runs on the problem variant, else why not."""
    if iwae_k(pp) > 1:
        return "black boxes do not take the importance-weighted bound (its K samples are not separate sites)"
    if level == "node" and not one_node(problem, pp):
        one = ", ".join(n for n, p in PROBLEMS.items() if one_node(n, p.defaults))
        return f"a node-level black box runs on single-node problems only ({one})"
    return ""


def one_node(problem: str, pp: dict[str, Any]) -> bool:
    p = PROBLEMS[problem]
    return not p.uses_data and not p.has_depth and p.model(pp).n_stochastic == 1


def black_box_call(cell: Cell) -> tuple[blackbox.Driver, blackbox.Call]:
    """(driver, call) of a black-box cell, in bench.suites.common.cell_objective's shape."""
    plugin = plugins.ESTIMATORS[cell.estimator]
    declaration, pkg = plugin.declaration, package(cell.backend)
    plugins.check_backend(cell.estimator, pkg)
    why = supports(cell.problem, cell.params, declaration.level)
    if why:
        raise ValueError(why)
    problem = PROBLEMS[cell.problem]
    o = driver(cell.backend, cell.device).ops
    model = problem.model(cell.params, cell.depth, cell.batch_size)
    params = parameters(cell.problem, cell.params, cell.depth, cell.seed, cell.point, cell.batch_size)
    if declaration.level == "node":
        target: Any = lambda z: model.final_loss(o, {}, z, {})  # noqa: E731 - f of the node's samples
    else:
        target = program(model, o, problem.fixed_batch(cell.params, cell.batch_size, cell.seed), cell.batch_size)
    call = blackbox.Call(cell.estimator, blackbox.resolve(declaration.functions[pkg]), declaration.level, target,
                         params, seed=cell.seed, device=cell.device, dist=problem.dist,
                         options={**declaration.spec.options, **cell.options, "n_samples": cell.n_samples},
                         spec=declaration.spec)
    return blackbox.Driver(), call
