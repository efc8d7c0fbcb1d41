"""Pieces the models share, written against `estimators.ops.Ops`: affine maps over replicated parameters,
their initialisation, and the classifiers' loss and accuracy."""

from __future__ import annotations

from typing import Any

import numpy as np

from estimators.ops import Ops

Arrays = dict[str, Any]


def dense(p: Arrays, name: str, h: Any, inner: int = 1) -> Any:
    """h @ W + b with W, b = p[name_w], p[name_b] carrying a leading rows axis and `inner` axes (draws, ...)
    between rows and features in h; h may carry extra leading axes (broadcast right-aligned)."""
    w, b = p[f"{name}_w"], p[f"{name}_b"]
    w = w.reshape(w.shape[0], *([1] * (inner - 1)), *w.shape[1:])
    return h @ w + b.reshape(b.shape[0], *([1] * inner), b.shape[-1])


def init_dense(rng: np.random.Generator, name: str, n_in: int, n_out: int, scale: float = 1.0) -> dict[str, Any]:
    """Normal(0, scale^2 / n_in) weights and small random biases (nonzero: no symmetric starting point)."""
    return {f"{name}_w": rng.normal(0.0, scale / np.sqrt(n_in), (n_in, n_out)),
            f"{name}_b": rng.normal(0.0, 0.1, n_out)}


def cross_entropy(o: Ops, logits: Any, y: Any) -> Any:
    """Per-example -log softmax(logits)[y] for one-hot y: the classifiers' loss."""
    return -o.sum(y * o.log_softmax(logits), -1)


def accuracy(o: Ops, logits: Any, y: Any) -> Any:
    return o.float(o.argmax(logits) == o.argmax(y))
