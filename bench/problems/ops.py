"""The few array operations the model problems use, for one backend: the models are written once against
this namespace, so torch and JAX run the same math by construction (einops-style: a backend is imported
only when asked for).

Arrays keep the layout [rows, draws, ...] (rows: independent estimates; draws: examples x samples), and
every model broadcasts right-aligned, so an estimator may prepend a sample axis (RLOO's extra draws).
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np


def torch_ops(device: str = "cpu") -> SimpleNamespace:
    import torch
    import torch.nn.functional as F

    from estimators.torch import dist
    from estimators.torch.common import Downstream

    dev = torch.device(device)
    return SimpleNamespace(
        name="torch", dist=dist, Downstream=Downstream,
        configurations=lambda d, shape: dist.configurations(d, shape, dev),
        asarray=lambda a: torch.as_tensor(np.asarray(a), device=dev),
        sg=lambda x: x.detach(),
        sigmoid=torch.sigmoid, log_sigmoid=F.logsigmoid, softplus=F.softplus, tanh=torch.tanh, relu=torch.relu,
        exp=torch.exp, log=torch.log, sqrt=torch.sqrt, square=torch.square,
        log_softmax=lambda x: torch.log_softmax(x, -1),
        logsumexp=lambda x, axis: torch.logsumexp(x, axis),
        where=torch.where, ndtri=torch.special.ndtri,
        argmax=lambda x: x.argmax(-1),
        one_hot=lambda i, k: F.one_hot(i, k).to(torch.float32),
        repeat=lambda x, n: x.repeat_interleave(n, 0),
        tile=lambda x, n: x.repeat(n, *([1] * (x.ndim - 1))),
        broadcast_to=lambda x, shape: x.expand(torch.broadcast_shapes(x.shape, shape)),
        concat=lambda xs, axis: torch.cat(xs, axis),
        float=lambda x: x.to(torch.float32),
        to_numpy=lambda x: x.detach().cpu().numpy(),
    )


def jax_ops(device: str = "cpu") -> SimpleNamespace:
    import jax
    import jax.numpy as jnp
    from jax.scipy.special import ndtri

    from estimators.jax import dist
    from estimators.jax.common import Downstream

    dev = jax.devices("gpu" if device == "cuda" else "cpu")[0]
    return SimpleNamespace(
        name="jax", dist=dist, Downstream=Downstream, configurations=dist.configurations,
        asarray=lambda a: jax.device_put(jnp.asarray(np.asarray(a)), dev),
        sg=jax.lax.stop_gradient,
        sigmoid=jax.nn.sigmoid, log_sigmoid=jax.nn.log_sigmoid, softplus=jax.nn.softplus, tanh=jnp.tanh,
        relu=jax.nn.relu, exp=jnp.exp, log=jnp.log, sqrt=jnp.sqrt, square=jnp.square,
        log_softmax=lambda x: jax.nn.log_softmax(x, -1),
        logsumexp=lambda x, axis: jax.nn.logsumexp(x, axis),
        where=jnp.where, ndtri=ndtri,
        argmax=lambda x: x.argmax(-1),
        one_hot=lambda i, k: jax.nn.one_hot(i, k, dtype=jnp.float32),
        repeat=lambda x, n: jnp.repeat(x, n, 0),
        tile=lambda x, n: jnp.tile(x, (n,) + (1,) * (x.ndim - 1)),
        broadcast_to=lambda x, shape: jnp.broadcast_to(x, jnp.broadcast_shapes(x.shape, shape)),
        concat=lambda xs, axis: jnp.concatenate(xs, axis),
        float=lambda x: x.astype(jnp.float32),
        to_numpy=np.asarray,
    )


def ops(backend: str, device: str = "cpu") -> Any:
    """The backend's op namespace; torch-compile runs the torch ops (its name stays "torch")."""
    from estimators.registry import package

    return torch_ops(device) if package(backend) == "torch" else jax_ops(device)


def gradient(backend: str, f: Any, arrays: dict[str, np.ndarray], device: str = "cpu") -> dict[str, np.ndarray]:
    """d f / d arrays by the backend's autodiff, as float64 NumPy: the truths of enumerable problems."""
    if backend.startswith("torch"):
        import torch

        theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in arrays.items()}
        grads = torch.autograd.grad(f(theta), list(theta.values()))
        return {k: g.cpu().numpy().astype(np.float64) for k, g in zip(theta, grads)}
    import jax

    o = jax_ops(device)
    grads = jax.grad(f)({k: o.asarray(v) for k, v in arrays.items()})
    return {k: np.asarray(g, np.float64) for k, g in grads.items()}
