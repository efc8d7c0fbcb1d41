"""Maps (estimator name, backend) to the backend's surrogate function and its state initialiser.

A backend is an estimator package run by a driver: torch-compile reuses the torch package's estimators
under estimators.torch.compiled, a driver that runs them through torch.compile.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from types import ModuleType
from typing import Any, NamedTuple

BACKENDS = ("torch", "torch-compile", "jax")
PACKAGES = {"torch": "torch", "torch-compile": "torch", "jax": "jax"}  # where a backend's estimators live
DRIVERS = {"torch": "estimators.torch.driver", "torch-compile": "estimators.torch.compiled",
           "jax": "estimators.jax.driver"}


class Registered(NamedTuple):
    surrogate: Callable[..., Any]
    init_state: Callable[..., Any] | None


_REGISTRY: dict[tuple[str, str], Registered] = {}


def register(name: str, backend: str, init_state: Callable[..., Any] | None = None):
    """Decorator: `@register("disarm", "torch")` above a surrogate function adds it to the catalog."""

    def add(fn: Callable[..., Any]) -> Callable[..., Any]:
        if (name, backend) in _REGISTRY:
            raise ValueError(f"{name!r} is already registered for {backend!r}")
        _REGISTRY[name, backend] = Registered(fn, init_state)
        return fn

    return add


def package(backend: str) -> str:
    """The estimator package a backend runs ("torch" for torch and torch-compile)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    return PACKAGES[backend]


def driver_of(backend: str) -> ModuleType:
    """The module that turns a backend's surrogates into gradient rows (imported only now)."""
    package(backend)
    return importlib.import_module(DRIVERS[backend])


def get(name: str, backend: str) -> Registered:
    """The backend's implementation; imports that backend's package only now (einops-style laziness)."""
    pkg = package(backend)
    if (name, pkg) not in _REGISTRY:  # import only when needed: compiled code calls get() while being traced
        importlib.import_module(f"estimators.{pkg}")
    try:
        return _REGISTRY[name, pkg]
    except KeyError:
        known = sorted(n for n, b in _REGISTRY if b == pkg)
        raise ValueError(f"unknown estimator {name!r} for {backend}; valid: {', '.join(known)}") from None
