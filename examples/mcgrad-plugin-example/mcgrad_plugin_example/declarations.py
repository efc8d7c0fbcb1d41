"""The estimators this package adds, declared without importing a backend (torch or JAX is imported only
when a cell of that backend runs): the entry points in pyproject.toml name these objects."""

from estimators.plugins import BlackBoxEstimator, SurrogateEstimator
from estimators.spec import Spec

_B, _C, _G = "bernoulli", "categorical", "gaussian"

# a surrogate, like the built-in estimators: works on every node of every problem, in every suite
REINFORCE_CONST = SurrogateEstimator(
    spec=Spec("reinforce-const", "score-function", True, (_B, _C, _G), 1, False,
              "Williams 1992 (REINFORCE) with a constant baseline c: (f(x) - c) d log q(x)", options={"c": 0.5},
              note="example plug-in: unbiased for every c, least variance near E[f]"),
    modules={"torch": "mcgrad_plugin_example.torch_reinforce_const",
             "jax": "mcgrad_plugin_example.jax_reinforce_const"},
)

# a black box: draws its own samples with torch.distributions and differentiates its own surrogate
SCORE_FUNCTION_BB = BlackBoxEstimator(
    spec=Spec("score-function-bb", "score-function", True, (_B, _C, _G), 1, False,
              "Williams 1992 (REINFORCE), sampled by the estimator itself (torch.distributions)",
              note="example black box: one program run per draw"),
    functions={"torch": "mcgrad_plugin_example.black_box:score_function"},
    level="model",
)
