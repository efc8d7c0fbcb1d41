"""Variance along a training run, the figure of the DisARM, ARMS, double-CV and RODEO papers: one estimator
(the driver) trains the model with one optimiser, and at log-spaced checkpoints of that one shared trajectory
every requested estimator's gradient is measured at the checkpoint's parameters, as the gradients suite
measures it (variance, and bias against the truth where one exists, with standard errors).

A cell is one (estimator, checkpoint): its point is "trajectory", its `training` the driver, optimiser,
learning rate and the checkpoint's step. The trajectory is trained once per process in the reference backend
(bench.suites.points.along), so every estimator and backend is measured at the same parameters. Rows are the
gradients suite's, with `step` set to the checkpoint.
"""

from __future__ import annotations

from typing import Any

from bench.plan.cell import Cell
from bench.suites.gradients import gradients


def trajectory(cell: Cell) -> list[dict[str, Any]]:
    return [{**r, "step": cell.training.steps} for r in gradients(cell)]
