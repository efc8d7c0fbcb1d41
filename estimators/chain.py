"""Backend-neutral parameters of the binary chain model (`estimators/{torch,jax}/chain.py`)."""

from __future__ import annotations

import numpy as np

from estimators.spec import Spec


def init_params(depth: int, width: int, seed: int = 0, zero_logits: bool = False) -> dict[str, np.ndarray]:
    """Parameters of a depth x width chain; `zero_logits` puts the first layer and all biases at 0."""
    rng = np.random.default_rng(seed)
    p = {"logits": rng.normal(0.0, 1.0, width)}
    for layer in range(1, depth):
        p[f"w{layer}"] = rng.normal(0.0, 1.5 / np.sqrt(width), (width, width))
        p[f"b{layer}"] = rng.normal(0.0, 0.5, width)
    p["v"] = rng.normal(0.0, 1.0, width)
    if zero_logits:
        p = {k: (np.zeros_like(v) if k == "logits" or k.startswith("b") else v) for k, v in p.items()}
    return {k: v.astype(np.float32) for k, v in p.items()}


def check_chain(spec: Spec, arrays: dict[str, np.ndarray], n_samples: int) -> tuple[int, int]:
    """(depth, width), or a ValueError for estimators and parameters the chain cannot take."""
    if "bernoulli" not in spec.dists:
        raise ValueError(f"estimator {spec.name!r} does not support bernoulli nodes; it supports: {spec.dists}")
    if n_samples < (2 if spec.multi_sample else 1):
        raise ValueError(f"{spec.name} needs n_samples >= {2 if spec.multi_sample else 1}, got {n_samples}")
    return sum(k.startswith("w") for k in arrays) + 1, arrays["logits"].shape[-1]
