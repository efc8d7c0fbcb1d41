"""PyTorch's implementation of `estimators.ops.Ops`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


class TorchOps:
    """Ops on torch tensors of one device."""

    name = "torch"
    tiny = float(torch.finfo(torch.float32).tiny)

    def __init__(self, device: str = "cpu") -> None:
        self.device = torch.device(device)

    def asarray(self, a: Any) -> Tensor:
        if isinstance(a, Tensor):
            return a.to(self.device)
        return torch.as_tensor(np.asarray(a), device=self.device)

    def to_numpy(self, x: Tensor) -> np.ndarray:
        return x.detach().cpu().numpy()

    def float(self, x: Tensor) -> Tensor:
        return x.to(torch.float32)

    def arange(self, n: int) -> Tensor:
        return torch.arange(n, device=self.device)

    def eye(self, n: int) -> Tensor:
        return torch.eye(n, dtype=torch.bool, device=self.device)

    def stop_gradient(self, x: Tensor) -> Tensor:
        return x.detach()

    sigmoid = staticmethod(torch.sigmoid)
    log_sigmoid = staticmethod(F.logsigmoid)
    softplus = staticmethod(F.softplus)
    tanh = staticmethod(torch.tanh)
    relu = staticmethod(torch.relu)
    exp = staticmethod(torch.exp)
    cos = staticmethod(torch.cos)
    log = staticmethod(torch.log)
    log1p = staticmethod(torch.log1p)
    sqrt = staticmethod(torch.sqrt)
    square = staticmethod(torch.square)
    abs = staticmethod(torch.abs)
    floor = staticmethod(torch.floor)
    ndtri = staticmethod(torch.special.ndtri)
    logaddexp = staticmethod(torch.logaddexp)

    def minimum(self, x: Tensor, y: Tensor | float) -> Tensor:
        return torch.clamp(x, max=y) if isinstance(y, (int, float)) else torch.minimum(x, y)

    def maximum(self, x: Tensor, y: Tensor | float) -> Tensor:
        return torch.clamp(x, min=y) if isinstance(y, (int, float)) else torch.maximum(x, y)

    def where(self, cond: Tensor, x: Tensor | float, y: Tensor | float) -> Tensor:
        return torch.where(cond, x, y)

    def softmax(self, x: Tensor, axis: int = -1) -> Tensor:
        return torch.softmax(x, axis)

    def log_softmax(self, x: Tensor, axis: int = -1) -> Tensor:
        return torch.log_softmax(x, axis)

    def logsumexp(self, x: Tensor, axis: int, keepdims: bool = False) -> Tensor:
        return torch.logsumexp(x, axis, keepdim=keepdims)

    def sum(self, x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        if axis == ():  # torch reads an empty dim tuple as every dim; NumPy and JAX as none
            return x
        return x.sum() if axis is None else x.sum(axis, keepdim=keepdims)

    def mean(self, x: Tensor, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        if axis == ():
            return x
        return x.mean() if axis is None else x.mean(axis, keepdim=keepdims)

    def argmax(self, x: Tensor, axis: int = -1) -> Tensor:
        return x.argmax(axis)

    def one_hot(self, index: Tensor, k: int) -> Tensor:
        return F.one_hot(index.long(), k).to(torch.float32)

    def take_along_axis(self, x: Tensor, index: Tensor, axis: int) -> Tensor:
        shape = list(torch.broadcast_shapes(tuple(x.shape), tuple(index.shape)))
        shape[axis] = index.shape[axis]
        source = list(shape)
        source[axis] = x.shape[axis]
        return x.expand(source).gather(axis, index.long().expand(shape))

    def broadcast_to(self, x: Tensor, shape: tuple[int, ...]) -> Tensor:
        return x.expand(torch.broadcast_shapes(tuple(x.shape), tuple(shape)))

    def expand_dims(self, x: Tensor, axis: int) -> Tensor:
        return x.unsqueeze(axis)

    def moveaxis(self, x: Tensor, source: int | tuple[int, ...], destination: int | tuple[int, ...]) -> Tensor:
        return torch.movedim(x, source, destination)

    def concat(self, xs: Sequence[Tensor], axis: int = 0) -> Tensor:
        return torch.cat(list(xs), axis)

    def stack(self, xs: Sequence[Tensor], axis: int = 0) -> Tensor:
        return torch.stack(list(xs), axis)

    def repeat(self, x: Tensor, n: int) -> Tensor:
        return x.repeat_interleave(n, 0)

    def tile(self, x: Tensor, n: int) -> Tensor:
        return x.repeat(n, *([1] * (x.ndim - 1)))

    def map_blocks(self, fn: Callable[[Tensor], Tensor], n: int, block: int) -> Tensor:
        return torch.cat([fn(ids) for ids in torch.arange(n, device=self.device).split(block)])
