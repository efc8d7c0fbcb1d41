"""The black box this package adds, declared without importing a backend (torch is imported only when a cell
of that backend runs): the entry point in pyproject.toml names SCORE_FUNCTION_BB.

The surrogate estimator needs no declaration object: it is one module, `reinforce_const.py`, written once
against the op set `estimators.ops.Ops` like the built-in estimators (its SPEC beside its surrogate), and its
entry point names that module. It runs in torch, torch-compile and JAX.
"""

from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

_B, _C, _G = "bernoulli", "categorical", "gaussian"

# a black box: draws its own samples with torch.distributions and differentiates its own surrogate
SCORE_FUNCTION_BB = BlackBoxEstimator(
    spec=Spec("score-function-bb", "score-function", True, (_B, _C, _G), 1, False,
              "Williams 1992 (REINFORCE), sampled by the estimator itself (torch.distributions)",
              note="example black box: one program run per draw"),
    functions={"torch": "mcgrad_plugin_example.black_box:score_function"},
    level="model",
)
