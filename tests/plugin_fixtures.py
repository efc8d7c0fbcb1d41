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
