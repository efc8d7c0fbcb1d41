"""Maps (estimator name, backend) to the backend's surrogate function and its state initialiser."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, NamedTuple

BACKENDS = ("torch", "jax")


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


def get(name: str, backend: str) -> Registered:
    """The backend's implementation; imports that backend's package only now (einops-style laziness)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid backends: {', '.join(BACKENDS)}")
    importlib.import_module(f"estimators.{backend}")
    try:
        return _REGISTRY[name, backend]
    except KeyError:
        known = sorted(n for n, b in _REGISTRY if b == backend)
        raise ValueError(f"unknown estimator {name!r} for {backend}; valid: {', '.join(known)}") from None
