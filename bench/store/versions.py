"""Code versions: a short hash of the source that determines a result, stored with every row.

`--resume` reruns a cell whose stored versions differ from the code's, and the report names any estimator or
problem whose results mix versions. A version hashes the closure of project modules the code imports,
directly or through others (read from their import statements, lazy ones inside functions included), not git
commits: an unrelated commit changes nothing, and an edit anywhere in the closure (a helper another
estimator's module imports, a shared distribution) changes every version that reaches it. The packages'
`__init__` modules of `estimators` and `bench`, which only gather the public API and load plug-ins, are left out,
and so is this module.

  estimator  its module's closure, with the backend's driver and the sampling of rows
  problem    its module's closure, with the engine that nests estimators in it
  suite      its module's closure (statistics, truths, budget; the timing protocol; training), with the cell
             runner's, less the other suites' modules it dispatches to (an edit of the speed suite leaves
             gradients results current)

A plug-in's estimator or problem carries its package's `name==version+hash of its source` instead
(estimators.plugins), the engine's hash added for a problem.
"""

from __future__ import annotations

import ast
import hashlib
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROJECT = ("estimators", "bench")
AGGREGATORS = frozenset({"estimators", "bench"})  # package __init__s that only gather the API
LABELS = frozenset({"bench.store.versions"})  # this module: it labels results and computes none
BACKEND_DRIVERS = {"torch": "estimators.backends.torch", "torch-compile": "estimators.backends.torch_compile",
                   "jax": "estimators.backends.jax"}


def _file(module: str) -> Path | None:
    base = ROOT.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _imports(module: str) -> set[str]:
    """The project modules `module` imports (statements anywhere in its file)."""
    path = _file(module)
    if path is None:
        return set()
    found = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
            names = [f"{base}.{a.name}" if _file(f"{base}.{a.name}") else base for a in node.names]
        else:
            continue
        found.update(n for n in names if n.split(".")[0] in PROJECT and _file(n))
    return found


@cache
def closure(module: str, skip: frozenset[str] = LABELS) -> tuple[str, ...]:
    """`module` and every project module it reaches by imports, as sorted file paths relative to the root; the
    modules in `skip` are not entered."""
    seen, todo = set(), [module]
    while todo:
        m = todo.pop()
        if m in seen or m in AGGREGATORS or m in skip:
            continue
        seen.add(m)
        todo.extend(_imports(m))
    return tuple(sorted(str(_file(m).relative_to(ROOT)) for m in seen if _file(m)))


def _hash(paths: set[str] | tuple[str, ...], extra: str = "") -> str:
    h = hashlib.sha1(extra.encode())
    for rel in sorted(set(paths)):
        path = ROOT / rel
        h.update(rel.encode())
        h.update(path.read_bytes() if path.exists() else b"<missing>")
    return h.hexdigest()[:12]


def _modules(*modules: str) -> set[str]:
    return {f for m in modules for f in closure(m)}


@cache
def estimator_version(name: str, backend: str) -> str:
    from estimators import catalog
    from estimators.plugins import ESTIMATORS

    if name in ESTIMATORS:
        return ESTIMATORS[name].version
    if name not in catalog.modules():  # an audit adapter of another process, a name from elsewhere
        return "unknown"
    module = catalog.module(name).__name__
    return _hash(_modules(module, BACKEND_DRIVERS.get(backend, BACKEND_DRIVERS["torch"]), "estimators.sampling"),
                 repr(catalog.spec(name)))


@cache
def engine_version() -> str:
    return _hash(_modules("bench.problems.engine"))


@cache
def problem_version(problem: str, backend: str = "") -> str:
    from bench.problems import PROBLEMS
    from bench.problems.plugins import LOADED

    if problem in LOADED:
        return f"{LOADED[problem].version}/{engine_version()}"
    return _hash(_modules(PROBLEMS[problem].module, "bench.problems.engine"))


@cache
def suite_version(suite: str) -> str:
    module = {"audit": "bench.audit.cell"}.get(suite, f"bench.suites.{suite}")
    own = closure(module)
    suites = {f"bench.suites.{p.stem}" for p in (ROOT / "bench" / "suites").glob("*.py") if p.stem != "__init__"}
    others = frozenset(m for m in suites if str(_file(m).relative_to(ROOT)) not in own)
    return _hash(set(own) | set(closure("bench.execute.cell", others | LABELS)))


@cache
def truth_version() -> str:
    return _hash(_modules("bench.stats.truths"))


def versions(suite: str, problem: str, estimator: str, backend: str) -> dict[str, str]:
    return {"estimator_version": estimator_version(estimator, backend),
            "problem_version": problem_version(problem, backend), "suite_version": suite_version(suite)}


def changed(stored: dict[str, str | None], suite: str, problem: str, estimator: str, backend: str,
            compare: tuple[str, ...] = ("estimator", "problem", "suite")) -> list[str]:
    """Which of `compare` (estimator, problem, suite) has code other than the stored versions say."""
    want = versions(suite, problem, estimator, backend)
    return [k for k in compare if stored.get(f"{k}_version") != want[f"{k}_version"]]
