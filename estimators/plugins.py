"""Estimators from other installed packages, found through the entry-point group `mcgrad_bench.estimators`.

A package declares each estimator in its pyproject.toml, the entry point's name being the estimator's::

    [project.entry-points."mcgrad_bench.estimators"]
    reinforce-const = "my_package.reinforce_const"         # a module, written once like estimators/disarm.py
    my-black-box = "my_package:MY_BLACK_BOX"               # a BlackBoxEstimator

Two levels:
- a surrogate estimator: one module exactly like a built-in one (SPEC, surrogate written against
  `estimators.ops.Ops`, State and init_state if it keeps state). It runs in every backend (torch,
  torch-compile, JAX), at any depth, in every suite.
- `BlackBoxEstimator`: a function per backend that draws its own samples and returns gradient rows
  (estimators.blackbox), for libraries that sample by themselves. It runs in the gradients suite and the audit.

A module must import without a backend (its arrays come from the ops it is given). A plug-in that fails to
load, or whose name clashes with a built-in or an earlier plug-in, is skipped with one line in `WARNINGS` naming
its package; the CLI prints them. A plug-in's results carry `package==version+hash of its source` as their
estimator_version.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from estimators import catalog
from estimators.spec import DISTS, Spec

ESTIMATOR_GROUP = "mcgrad_bench.estimators"
PROBLEM_GROUP = "mcgrad_bench.problems"
BACKEND_PACKAGES = ("torch", "jax")


@dataclass(frozen=True)
class BlackBoxEstimator:
    """A black box: `functions` maps a backend package to "module:function" (signatures in estimators.blackbox).
    level "node": f(samples) of a single node; "model": a loss callable that asks for its samples by name."""

    spec: Spec
    functions: dict[str, str]
    level: Literal["node", "model"] = "model"


@dataclass(frozen=True)
class Plugin:
    """What was loaded, from where: a row of `bench list` and the version every result of it carries."""

    name: str
    kind: str  # "surrogate", "black-box" or "problem"
    package: str  # the distribution that declared it
    version: str  # package==version+source hash
    declaration: Any

    @property
    def backends(self) -> tuple[str, ...]:
        """The frameworks it runs in: every one for a module written against the ops, a black box's own."""
        if self.kind != "black-box":
            return BACKEND_PACKAGES
        return tuple(b for b in BACKEND_PACKAGES if b in self.declaration.functions)


ESTIMATORS: dict[str, Plugin] = {}
WARNINGS: list[str] = []
_loaded = False


def discover(group: str) -> list[EntryPoint]:
    return sorted(entry_points(group=group), key=lambda ep: (_package(ep), ep.name))


def _package(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return dist.name if dist is not None else ep.value.split(":")[0].split(".")[0]


def source_version(ep: EntryPoint) -> str:
    """package==version+hash of every .py file of the package the entry point's object lives in."""
    dist = getattr(ep, "dist", None)
    version = dist.version if dist is not None else "unknown"
    top = ep.value.split(":")[0].split(".")[0]
    h = hashlib.sha1()
    spec = importlib.util.find_spec(top)
    roots = list(spec.submodule_search_locations or []) if spec else []
    files = sorted(p for r in roots for p in Path(r).rglob("*.py")) if roots else (
        [Path(spec.origin)] if spec and spec.origin else [])
    for path in files:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return f"{_package(ep)}=={version}+{h.hexdigest()[:12]}"


def load_group(eps: Iterable[EntryPoint], *, what: str, catalog: dict[str, Any], loaded: dict[str, Plugin],
               kind_of: Callable[[Any], str], check: Callable[[str, Any], str],
               entry: Callable[[Any], Any] = lambda obj: obj) -> None:
    """Load each entry point into `catalog` (as entry(declaration)) and `loaded`; a failure to load, a
    declaration of another kind (kind_of(obj) == ''), a name in use, or what check(name, obj) finds wrong
    is one line in WARNINGS naming the package, and that entry point is skipped."""
    for ep in eps:
        package = _package(ep)
        taken = {n: f"plug-in {loaded[n].package}" if n in loaded else f"the built-in {what}" for n in catalog}
        try:
            obj = ep.load()
        except Exception as exc:  # noqa: BLE001 - a broken plug-in is reported, never fatal
            WARNINGS.append(f"plug-in {package}: {ep.group} entry point {ep.name} = {ep.value} failed to load "
                            f"({type(exc).__name__}: {exc}); skipped")
            continue
        why = ("" if kind_of(obj) else f"is a {type(obj).__name__}, not a declaration this group takes")
        why = why or (f"clashes with {taken[ep.name]}" if ep.name in taken else "") or check(ep.name, obj)
        if why:
            WARNINGS.append(f"plug-in {package}: {what} {ep.name!r} {why}; skipped")
            continue
        catalog[ep.name] = entry(obj)
        loaded[ep.name] = Plugin(ep.name, kind_of(obj), package, source_version(ep), obj)


def _estimator_kind(obj: Any) -> str:
    return ("surrogate" if isinstance(obj, ModuleType) and hasattr(obj, "SPEC")
            else "black-box" if isinstance(obj, BlackBoxEstimator) else "")


def _check_declaration(name: str, obj: ModuleType | BlackBoxEstimator) -> str:
    """'' or what is wrong with a well-typed declaration (as a phrase: "its spec must ...")."""
    spec = obj.SPEC if isinstance(obj, ModuleType) else obj.spec
    if not isinstance(spec, Spec) or spec.name != name:
        return f"its spec must be an estimators.Spec named {name!r} like the entry point"
    if set(spec.dists) - set(DISTS) or not spec.dists:
        return f"its spec's dists must be among {', '.join(DISTS)}"
    if isinstance(obj, ModuleType):
        if not callable(getattr(obj, "surrogate", None)):
            return "its module needs a surrogate(o, params, down, u, state, *, dist, event_ndim, **options)"
        if spec.state and not callable(getattr(obj, "init_state", None)):
            return "its spec keeps state, so its module needs init_state(o, shapes, seed)"
        return ""
    if not obj.functions or set(obj.functions) - set(BACKEND_PACKAGES):
        return (f"its backends must be among {', '.join(BACKEND_PACKAGES)}; got "
                f"{', '.join(obj.functions) or 'none'}")
    if spec.state or obj.level not in ("node", "model"):
        return "a black box keeps no state between calls, and its level is 'node' or 'model'"
    return ""


def load(eps: Iterable[EntryPoint] | None = None) -> None:
    """Add every installed estimator plug-in to the catalog; idempotent unless `eps` is given."""
    global _loaded
    if _loaded and eps is None:
        return
    _loaded = True
    taken: dict[str, Any] = dict.fromkeys(catalog.builtin_names())
    taken.update(dict.fromkeys(ESTIMATORS))
    load_group(discover(ESTIMATOR_GROUP) if eps is None else eps, what="estimator", catalog=taken,
               loaded=ESTIMATORS, kind_of=_estimator_kind, check=_check_declaration)
    for plugin in ESTIMATORS.values():
        if plugin.kind == "surrogate":
            catalog.add(plugin.declaration)
        else:
            catalog.add_black_box(plugin.declaration.spec)


def check_backend(name: str, backend_package: str) -> None:
    """RuntimeError naming the plug-in when its estimator cannot run in this backend."""
    plugin = ESTIMATORS.get(name)
    if plugin is not None and backend_package not in plugin.backends:
        raise RuntimeError(f"plug-in {plugin.package}: estimator {name!r} has no {backend_package} implementation; "
                           f"it has: {', '.join(plugin.backends)}")


def is_black_box(name: str) -> bool:
    return name in ESTIMATORS and ESTIMATORS[name].kind == "black-box"
