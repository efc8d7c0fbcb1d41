"""Declarations the plug-in loader is tested with (tests/test_plugins.py): good, broken and clashing ones."""

from bench.problems import PROBLEMS
from estimators.plugins import BlackBoxEstimator, SurrogateEstimator
from estimators.spec import SPECS, Spec

# declared well, but its torch module does not exist: the loader accepts it, a cell using it fails
MISSING_MODULE = SurrogateEstimator(
    spec=Spec("missing-module", "score-function", True, ("bernoulli",), 1, False, "test fixture"),
    modules={"torch": "tests.no_such_module"})
CLASHES_WITH_DISARM = SurrogateEstimator(spec=SPECS["disarm"], modules={"torch": "estimators.torch.disarm"})
NOT_A_DECLARATION = 42
NAMED_OTHERWISE = BlackBoxEstimator(
    spec=Spec("something-else", "score-function", True, ("bernoulli",), 1, False, "test fixture"),
    functions={"torch": "tests.plugin_fixtures:nothing"})
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
