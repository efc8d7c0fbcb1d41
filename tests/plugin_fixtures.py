"""Declarations the plug-in loader is tested with (tests/test_plugins.py): good, broken and clashing ones.

A surrogate plug-in is a module (SPEC, surrogate, and State / init_state when it keeps state); the modules
here are built as module objects, so that one file holds them all, and their entry points name them as
"tests.plugin_fixtures:NAME"."""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from bench.problems import PROBLEMS
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec


def _module(name: str, **attributes: Any) -> ModuleType:
    """A module object holding `attributes`, as an estimator module file would."""
    module = ModuleType(f"{__name__}.{name}")
    module.__dict__.update(attributes)
    return module


def _fails_when_run(o, params, down, u, state, *, dist, event_ndim):
    """A surrogate that needs a module that is not installed, imported when it first runs."""
    importlib.import_module("tests.no_such_module")
    raise AssertionError("unreachable")


# declared well, but its surrogate needs a module that does not exist: the loader accepts it, a cell using it fails
MISSING_MODULE = _module(
    "missing_module", SPEC=Spec("missing-module", "score-function", True, ("bernoulli",), 1, False, "test fixture"),
    surrogate=_fails_when_run)
CLASHES_WITH_DISARM = importlib.import_module("estimators.disarm")  # a built-in estimator's module
NOT_A_DECLARATION = 42
NAMED_OTHERWISE = BlackBoxEstimator(
    spec=Spec("something-else", "score-function", True, ("bernoulli",), 1, False, "test fixture"),
    functions={"torch": "tests.plugin_fixtures:nothing"})
NO_SURROGATE = _module(  # a SPEC alone is not an estimator
    "no_surrogate", SPEC=Spec("no-surrogate", "score-function", True, ("bernoulli",), 1, False, "test fixture"))
STATE_WITHOUT_INIT = _module(  # keeps state, but says nowhere how it starts
    "state_without_init", SPEC=Spec("state-without-init", "score-function", True, ("bernoulli",), 1, False,
                                    "test fixture", state="running"),
    surrogate=_fails_when_run)
CHAIN_AGAIN = PROBLEMS["chain"]  # a built-in problem's name


def node_score_function(f, params, *, dist, n_estimates, seed, device="cpu", n_samples=1, **options):
    """A node-level black box (torch): REINFORCE on one Bernoulli node, sampled by itself, one row per draw."""
    import numpy as np
    import torch

    gen = torch.Generator().manual_seed(seed)
    logits = torch.as_tensor(params["logits"]).expand(n_estimates, *params["logits"].shape).clone().requires_grad_()
    b = torch.bernoulli(torch.sigmoid(logits.detach()), generator=gen)
    log_q = -torch.nn.functional.binary_cross_entropy_with_logits(logits, b, reduction="none").sum(-1)
    values = f(b)
    (g,) = torch.autograd.grad((values.detach() * log_q).sum(), [logits])
    return {"logits": np.asarray(g)}


NODE_BLACK_BOX = BlackBoxEstimator(
    spec=Spec("node-score-function", "score-function", True, ("bernoulli",), 1, False, "test fixture"),
    functions={"torch": "tests.plugin_fixtures:node_score_function"}, level="node")


def scaled_score_function(f, params, *, dist, n_estimates, seed, device="cpu", n_samples=1, scale=1.0, **options):
    """node_score_function's rows times `scale`: a black box with a known relative bias (scale - 1)."""
    rows = node_score_function(f, params, dist=dist, n_estimates=n_estimates, seed=seed, device=device)
    return {k: scale * v for k, v in rows.items()}


def _scaled(scale: float) -> BlackBoxEstimator:
    return BlackBoxEstimator(
        spec=Spec(f"score-function-x{scale:g}", "score-function", True, ("bernoulli",), 1, False, "test fixture",
                  options={"scale": scale}),
        functions={"torch": "tests.plugin_fixtures:scaled_score_function"}, level="node")


SCORE_FUNCTION_X1 = _scaled(1.0)  # unbiased
SCORE_FUNCTION_X1_1 = _scaled(1.1)  # a 10% scale error
