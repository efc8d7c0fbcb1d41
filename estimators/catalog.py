"""The catalog, discovered: every module of this package that declares a SPEC is an estimator, and so is every
module an installed plug-in names (estimators.plugins). Nothing else lists estimators by hand: the tests'
parametrisations, README's catalog table and the report's styles all derive from `names()`.

An estimator module holds, written once against `estimators.ops.Ops`:

    SPEC                      its Spec (family, bias, distributions, cost, option defaults, paper)
    surrogate(o, params, down, u, state, *, dist, event_ndim, **options) -> (surrogate, state)
    State, init_state(o, shapes, seed)     only when SPEC.state is set: the state as a NamedTuple
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType

from estimators.spec import Spec

# this package's modules that are infrastructure, not estimators (never imported by discovery)
INFRASTRUCTURE = frozenset({"api", "blackbox", "catalog", "dist", "driver", "engine", "lattice", "ops", "plugins",
                            "rng", "sampling", "spec", "backends"})
_EXTRA: dict[str, ModuleType] = {}  # plug-ins' estimator modules, by name
_BLACK_BOXES: dict[str, Spec] = {}  # plug-ins' black boxes (estimators.blackbox): a spec, no module


@cache
def _builtin() -> dict[str, ModuleType]:
    import estimators

    found = {}
    for info in pkgutil.iter_modules(estimators.__path__):
        if info.name in INFRASTRUCTURE or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"estimators.{info.name}")
        spec = getattr(module, "SPEC", None)
        if isinstance(spec, Spec):
            found[spec.name] = module
    return dict(sorted(found.items()))


def add(module: ModuleType) -> None:
    """A plug-in's estimator module joins the catalog (estimators.plugins checks it first)."""
    _EXTRA[module.SPEC.name] = module


def add_black_box(spec: Spec) -> None:
    _BLACK_BOXES[spec.name] = spec


def builtin_names() -> list[str]:
    return list(_builtin())


def modules() -> dict[str, ModuleType]:
    return {**_builtin(), **_EXTRA}


def names() -> list[str]:
    """Every estimator: the built-in ones in alphabetical order, then plug-ins' (black boxes last)."""
    return list(modules()) + list(_BLACK_BOXES)


def module(name: str) -> ModuleType:
    try:
        return modules()[name]
    except KeyError:
        raise ValueError(f"unknown estimator {name!r}; valid: {', '.join(names())}") from None


def spec(name: str) -> Spec:
    """The Spec of any estimator, surrogate or black box."""
    if name in _BLACK_BOXES:
        return _BLACK_BOXES[name]
    return module(name).SPEC


def specs() -> dict[str, Spec]:
    return {n: spec(n) for n in names()}
