"""When eager torch may skip work on a node's samples (define-by-run, seed 001): the skip RNN's closed gates and
stochastic depth's dropped blocks run only on the examples that need them."""

from __future__ import annotations

from typing import Any

from estimators.ops import Ops


def skippable(o: Ops, z: Any) -> bool:
    """Whether z is hard 0/1 values without a gradient path, in eager torch. Never under torch.compile, whose graph
    cannot branch on the samples' values: compiled code takes the dense path, as JAX does."""
    if o.name != "torch" or z.requires_grad:
        return False
    import torch

    return not torch.compiler.is_compiling() and bool(((z == 0) | (z == 1)).all())
