"""Problems from other installed packages, found through the entry-point group `mcgrad_bench.problems`.

A package declares each problem in its pyproject.toml, the entry point's name being the problem's::

    [project.entry-points."mcgrad_bench.problems"]
    my-problem = "my_package.problem:MY_PROBLEM"

MY_PROBLEM is a `bench.problems.Problem` whose `make` builds an `bench.problems.engine.Model`: written once against
the op set, it runs in every backend, with every estimator of its distribution, an exact truth when its
configurations are few enough and a reference estimate otherwise. Its data follow its declared layout (the
bundled digits, or --data mnist).
Loading failures and name clashes are lines in estimators.plugins.WARNINGS, never exceptions.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib.metadata import EntryPoint

from bench.problems import PROBLEMS, Problem
from estimators.plugins import PROBLEM_GROUP, Plugin, discover, load_group

LOADED: dict[str, Plugin] = {}
_loaded = False


def _check(name: str, problem: Problem) -> str:
    if problem.name != name:
        return f"its Problem is named {problem.name!r}, not {name!r} like the entry point"
    if not callable(problem.make):
        return "a problem needs `make`, a factory of its bench.problems.engine.Model"
    if problem.uses_data and not {"data", "data_dir"} <= set(problem.defaults):
        return "its defaults need data and data_dir (bench.problems.IMAGE), as every problem with data's do"
    return ""


def load(eps: Iterable[EntryPoint] | None = None) -> None:
    """Add every installed problem plug-in to PROBLEMS; idempotent unless `eps` is given."""
    global _loaded
    if _loaded and eps is None:
        return
    _loaded = True
    load_group(discover(PROBLEM_GROUP) if eps is None else eps, what="problem", catalog=PROBLEMS, loaded=LOADED,
               kind_of=lambda obj: "problem" if isinstance(obj, Problem) else "", check=_check)


def runs(estimator: str, suite: str, problem: str, pp: dict, backend: str) -> bool:
    """Whether a sweep includes a plug-in estimator's cell: only in the backends it implements; a black box
    only in the gradients suite and the audit (the speed and training suites time and train through a surrogate) and on
    the problems its level can express (bench.suites.blackbox). Built-in estimators always pass."""
    from estimators.driver import package
    from estimators.plugins import ESTIMATORS

    plugin = ESTIMATORS.get(estimator)
    if plugin is None:
        return True
    if package(backend) not in plugin.backends:
        return False
    if plugin.kind != "black-box":
        return True
    from bench.suites import blackbox

    return suite in ("gradients", "audit") and not blackbox.supports(problem, pp, plugin.declaration.level)
