"""One engine for every model problem: the estimator's surrogate at each stochastic layer, nested, and the
exact objective by joint enumeration. Written once against `ops`, so torch and JAX run the same math.

A model visits its stochastic layers in order. Layer l's node parameters come from what the previous layer
carries on (its sample, or an activation computed from it; the model's inputs for layer 0); the per-example
loss is a sum of terms the model declares:

    loss = direct(params) + sum_l local_l(z_l, h_{l-1}) + final(h_{L-1}),    h_l = carry_l(z_l, h_{l-1})

`direct` holds terms with no sample in them (analytic KLs), which then never multiply a score;
`local` holds the terms that need a layer's sample and its parent (log q - log p in a VAE).
The surrogate at layer l is the estimator's, with downstream
    main(z)    = local_l(z) + surrogate at layer l+1 (or final): gradients flow through later layers;
    value(z)   = the same loss with later layers sampled hard from their own noise, parameters frozen;
    relaxed(h) = the same with later Bernoulli layers relaxed (REBAR, RELAX's control variates);
    mean(h)    = the same with every later layer replaced by its mean, the mean-field pass (MuProp).
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from typing import Any

import numpy as np

from estimators.registry import get
from estimators.spec import SPECS

Arrays = dict[str, Any]


class AbstractModel(ABC):
    """A stochastic model: parameters from a seed, its layers, its loss terms, its held-out metrics."""

    dist: str
    n_stochastic: int  # stochastic layers the engine visits (a problem's `depth` may count other layers)
    per_draw_data: bool = True  # data has a leading draws axis (one example per draw); bnn keeps the batch inside
    iwae_k: int = 1  # K > 1: the loss is the K-sample importance-weighted bound over K draws of each example

    def node_shape(self, layer: int, n_draws: int) -> tuple[int, ...]:
        return (n_draws * self.iwae_k, *self.event_shape(layer))

    @abstractmethod
    def init_params(self, seed: int) -> dict[str, np.ndarray]: ...

    @abstractmethod
    def event_shape(self, layer: int) -> tuple[int, ...]:
        """Shape of one example's sample at a layer (the estimator's event)."""

    @abstractmethod
    def inputs(self, o: Any, p: Arrays, ctx: Arrays) -> Any:
        """What layer 0's node parameters are computed from (the data, an embedding of it)."""

    @abstractmethod
    def node(self, o: Any, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        """The layer's node parameters, e.g. {"logits": ...}, from what the layer before carried on.

        They must carry prev's leading axes even where they do not depend on prev: nested exact enumeration
        prepends one axis per layer, and each layer's configurations must pair with every parent's."""

    def carry(self, o: Any, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        """What layer `layer` hands on, given its sample z: by default the sample itself."""
        return z

    def local_loss(self, o: Any, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        return 0.0

    @abstractmethod
    def final_loss(self, o: Any, p: Arrays, z: Any, ctx: Arrays) -> Any: ...

    def direct_loss(self, o: Any, p: Arrays, ctx: Arrays) -> Any:
        return 0.0

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        """Parameter groups reported separately (per layer)."""
        return {}

    def metrics(self, o: Any, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        """Held-out metrics besides the loss, per example, from what the last layer carried on."""
        return {}


def iwae_bound(o: Any, loss: Any, k: int) -> Any:
    """-log mean_j exp(-L_j) over the K samples of each draw: [rows, K * draws] -> [rows, draws]."""
    grouped = loss.reshape(loss.shape[0], k, -1)
    return float(np.log(k)) - o.logsumexp(-grouped, 1)


def _tiled(model: AbstractModel, o: Any, ctx: Arrays) -> Arrays:
    """The data repeated for the bound's K samples: draw j * draws + d is sample j of draw d."""
    return {k: o.tile(v, model.iwae_k) for k, v in ctx.items()} if model.iwae_k > 1 else ctx


def surrogate(model: AbstractModel, o: Any, name: str, p: Arrays, u: list[Any], states: list[Any], ctx: Arrays,
              options: dict[str, Any]) -> tuple[Any, list[Any]]:
    """Per-example surrogate [rows, draws]: its value is the loss, its gradient the estimator's.

    On the importance-weighted bound (iwae_k = K > 1) each draw's K samples are drawn as K draws and combined
    here: estimators whose gradient flows through the loss's value (pathwise, straight-through, relaxations)
    are differentiated through the bound; VIMCO (`requires="iwae-objective"`) gets the whole model's
    per-sample losses and log q at once; the problems refuse every other estimator on this objective."""
    ctx = _tiled(model, o, ctx)
    if model.iwae_k > 1 and SPECS[name].requires == "iwae-objective":
        return _whole_model(model, o, name, p, u, ctx, options), states
    out, states = _nested(model, o, name, p, u, states, ctx, options)
    return (iwae_bound(o, out, model.iwae_k) if model.iwae_k > 1 else out), states


def _whole_model(model: AbstractModel, o: Any, name: str, p: Arrays, u: list[Any], ctx: Arrays,
                 options: dict[str, Any]) -> Any:
    """An objective-level estimator (VIMCO): one plain pass with hard samples, loss and log q per sample."""
    k = model.iwae_k
    loss, log_q, h = model.direct_loss(o, p, ctx), 0.0, model.inputs(o, p, ctx)
    for m in range(model.n_stochastic):
        node = {key: o.broadcast_to(v, tuple(u[m].shape[1:])) for key, v in model.node(o, p, m, h, ctx).items()}
        z = o.sg(o.dist.sample(model.dist, node, u[m][0]))
        log_q = log_q + o.dist.log_prob(model.dist, node, z, len(model.event_shape(m)))
        loss = loss + model.local_loss(o, p, m, z, h, ctx)
        h = model.carry(o, p, m, z, h, ctx)
    loss = loss + model.final_loss(o, p, h, ctx)

    def grouped(x: Any) -> Any:  # [rows, K * draws] -> [rows, K, draws]
        return o.broadcast_to(x, loss.shape).reshape(loss.shape[0], k, -1)

    return get(name, o.name).surrogate(grouped(loss), grouped(log_q), **options)


def _nested(model: AbstractModel, o: Any, name: str, p: Arrays, u: list[Any], states: list[Any], ctx: Arrays,
            options: dict[str, Any]) -> tuple[Any, list[Any]]:
    est, depth, dist = get(name, o.name).surrogate, model.n_stochastic, model.dist
    frozen = {k: o.sg(v) for k, v in p.items()}
    states = list(states)

    def relaxed_sample(m: int, node: Arrays, temperature: Any) -> Any:
        return o.sigmoid((node["logits"] - o.dist.logit(u[m][0])) / temperature)

    def rest(layer: int, z: Any, prev: Any, draw: Any) -> Any:
        total = model.local_loss(o, frozen, layer, z, prev, ctx)
        h = model.carry(o, frozen, layer, z, prev, ctx)
        for m in range(layer + 1, depth):
            z = draw(m, model.node(o, frozen, m, h, ctx))
            total = total + model.local_loss(o, frozen, m, z, h, ctx)
            h = model.carry(o, frozen, m, z, h, ctx)
        return total + model.final_loss(o, frozen, h, ctx)

    def hard(m: int, node: Arrays) -> Any:
        return o.sg(o.dist.sample(dist, node, u[m][0]))

    def visit(layer: int, prev: Any) -> Any:
        shape = tuple(u[layer].shape[1:])  # node parameters broadcast to the noise (extra leading axes kept)
        node = {k: o.broadcast_to(v, shape) for k, v in model.node(o, p, layer, prev, ctx).items()}
        last = layer + 1 == depth

        def main(z: Any) -> Any:
            h = model.carry(o, p, layer, z, prev, ctx)
            later = model.final_loss(o, p, h, ctx) if last else visit(layer + 1, h)
            return model.local_loss(o, p, layer, z, prev, ctx) + later

        down = o.Downstream(
            main=main,
            value=lambda z: o.sg(rest(layer, o.sg(z), o.sg(prev), hard)),
            relaxed=lambda h, t: rest(layer, h, o.sg(prev), lambda m, node: relaxed_sample(m, node, t)),
            mean=lambda h: rest(layer, h, o.sg(prev), lambda m, node: o.dist.mean(dist, node)),
        )
        event_ndim = len(model.event_shape(layer))
        out, states[layer] = est(node, down, u[layer], states[layer], dist=dist, event_ndim=event_ndim, **options)
        return out

    try:
        return model.direct_loss(o, p, ctx) + visit(0, model.inputs(o, p, ctx)), states
    finally:
        # `visit` calls itself through its closure: a reference cycle that holds this call's parameter
        # replicas and noise until Python's cyclic collector runs, which few allocations of Python objects
        # trigger, so memory grew by a chunk's worth with every chunk (2 GB budgets peaked at 3.6 GB)
        visit = None


MAX_JOINT_CONFIGS = 2**16


def n_configurations(model: AbstractModel) -> int:
    """Joint configurations of all layers (per example); 0 for continuous latents."""
    if model.dist == "gaussian":
        return 0
    total = 1
    for layer in range(model.n_stochastic):
        shape = model.event_shape(layer)
        total *= 2 ** int(np.prod(shape)) if model.dist == "bernoulli" else shape[-1] ** int(np.prod(shape[:-1]))
    return total


def exact_objective(model: AbstractModel, o: Any, p: Arrays, ctx: Arrays) -> Any:
    """Mean over the examples in ctx of E_q[loss], summing every joint configuration of the layers; on the
    importance-weighted bound, every K-tuple of configurations (each sample of the bound is one)."""
    k = model.iwae_k
    if not 0 < n_configurations(model) ** k <= MAX_JOINT_CONFIGS:
        raise ValueError(f"{type(model).__name__} at this size has {n_configurations(model)}^{k} joint "
                         f"configurations; exact enumeration allows 1 to {MAX_JOINT_CONFIGS}")
    n_examples = len(next(iter(ctx.values())))
    loss, log_q = _configuration_losses(model, o, p, ctx)  # [configurations, examples]
    if k == 1:
        return (o.exp(log_q) * loss).sum() / n_examples
    tuples = o.asarray(np.array(list(itertools.product(range(len(loss)), repeat=k))))  # [T, K]
    bound = float(np.log(k)) - o.logsumexp(-loss[tuples], 1)  # [T, examples]
    return (o.exp(log_q[tuples].sum(1)) * bound).sum() / n_examples


def _configuration_losses(model: AbstractModel, o: Any, p: Arrays, ctx: Arrays) -> tuple[Any, Any]:
    """Per-sample loss and log q of every joint configuration (rows) for every example (columns)."""
    per_layer = [o.configurations(model.dist, model.event_shape(m)) for m in range(model.n_stochastic)]
    joint = np.array(list(itertools.product(*[range(len(c)) for c in per_layer]))).reshape(-1, len(per_layer))
    n_examples = len(next(iter(ctx.values())))
    ctx = {k: o.tile(v, len(joint)) for k, v in ctx.items()}  # draw index = configuration * n_examples + example
    p1 = {k: v[None] for k, v in p.items()}
    loss, logq, h = model.direct_loss(o, p1, ctx), 0.0, model.inputs(o, p1, ctx)
    for m, configs in enumerate(per_layer):
        z = o.repeat(configs[o.asarray(joint[:, m])], n_examples)[None]
        node = model.node(o, p1, m, h, ctx)
        logq = logq + o.dist.log_prob(model.dist, node, z, len(model.event_shape(m)))
        loss = loss + model.local_loss(o, p1, m, z, h, ctx)
        h = model.carry(o, p1, m, z, h, ctx)
    loss = loss + model.final_loss(o, p1, h, ctx)
    return loss.reshape(len(joint), n_examples), logq.reshape(len(joint), n_examples)


def forward(model: AbstractModel, o: Any, p: Arrays, ctx: Arrays, u: list[Any], mode: str,
            slope: Any = 1.0) -> dict[str, Any]:
    """Per-example loss and metrics of one pass, for evaluation: p unreplicated, u[l] shaped like layer l's
    node parameters. mode: "stochastic" samples, "deterministic" takes each node's most likely value,
    "mean" feeds each node's mean on (the deterministic net: Bernoulli probabilities, softmax, loc). Bernoulli
    nodes sample sigmoid(slope * logits), as seed 002's slope-annealed neurons do at inference too.
    On the importance-weighted bound the loss is the K-sample bound and every other metric its samples' mean
    (a VAE's `elbo` stays the single-sample ELBO)."""
    p1 = {k: v[None] for k, v in p.items()}
    ctx = _tiled(model, o, ctx)
    loss, h = model.direct_loss(o, p1, ctx), model.inputs(o, p1, ctx)
    for m in range(model.n_stochastic):
        node = model.node(o, p1, m, h, ctx)
        if model.dist == "bernoulli":
            node = {"logits": slope * node["logits"]}
        if mode == "stochastic":
            z = o.dist.sample(model.dist, node, u[m])
        elif mode == "mean":
            z = o.dist.mean(model.dist, node)
        elif model.dist == "gaussian":
            z = node["loc"]
        else:
            z = o.dist.sample(model.dist, node, 0.5 + 0 * u[m]) if model.dist == "bernoulli" else o.one_hot(
                o.argmax(node["logits"]), node["logits"].shape[-1])
        loss = loss + model.local_loss(o, p1, m, z, h, ctx)
        h = model.carry(o, p1, m, z, h, ctx)
    loss = loss + model.final_loss(o, p1, h, ctx)
    metrics = model.metrics(o, p1, h, ctx, loss)
    if model.iwae_k > 1:
        k = model.iwae_k
        return {"loss": iwae_bound(o, loss, k)[0], **{n: v[0].reshape(k, -1).mean(0) for n, v in metrics.items()}}
    return {"loss": loss[0], **{k: v[0] for k, v in metrics.items()}}


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


def build(model: AbstractModel, name: str, arrays: dict[str, np.ndarray], data: dict[str, np.ndarray], *,
          backend: str, device: str, n_samples: int, seed: int, options: dict[str, Any]):
    """(surrogate in the backend driver's signature, parameters, per-layer states) for one cell: an estimate
    is the gradient of the mean loss over `data` (each example with its own n_samples draws)."""
    from bench.problems.ops import ops
    from estimators import PARAM_NAMES
    from estimators.registry import driver_of
    from estimators.spec import draw_counts, surrogate_options

    spec, o = SPECS[name], ops(backend, device)
    driver = driver_of(backend)
    n_draws, n_u = draw_counts(spec, n_samples)
    if model.per_draw_data:
        total_draws = n_draws * len(next(iter(data.values())))
        data = {k: np.concatenate([v] * n_draws) for k, v in data.items()}
    else:
        total_draws = n_draws
    ctx = {k: o.asarray(v) for k, v in data.items()}
    theta = {k: o.asarray(v) for k, v in arrays.items()}
    est = get(name, backend)
    states = [est.init_state({k: model.event_shape(m) for k in PARAM_NAMES[model.dist]}, seed + m, device)
              if spec.state else None for m in range(model.n_stochastic)]
    opts = surrogate_options(spec, options)

    def shapes(n_rows: int) -> list[tuple[int, ...]]:
        return [(n_u, n_rows, *model.node_shape(m, total_draws)) for m in range(model.n_stochastic)]

    def evaluate(rep: Arrays, st: list[Any], u: list[Any], n_rows: int) -> tuple[Any, list[Any]]:
        out, st = surrogate(model, o, name, rep, u, st, ctx, opts)
        return out.mean(1).sum(), st

    if o.name == "torch":  # eager or compiled: the uniforms are drawn first, then evaluated
        import torch

        dev = torch.device(device)
        gen = torch.Generator(dev).manual_seed(seed)

        def draw(n_rows: int) -> list[Any]:
            return [driver.uniforms(gen, s, dev) for s in shapes(n_rows)]

        return driver.Split(draw, evaluate), theta, states

    def jax_surrogate(rep: Arrays, st: list[Any], keys: Any, n_rows: int):
        u = [driver.row_uniforms(keys, m, s) for m, s in enumerate(shapes(n_rows))]
        return evaluate(rep, st, u, n_rows)

    return jax_surrogate, theta, states


def cross_entropy(o: Any, logits: Any, y: Any) -> Any:
    """Per-example -log softmax(logits)[y] for one-hot y: the classifiers' loss."""
    return -(y * o.log_softmax(logits)).sum(-1)


def accuracy(o: Any, logits: Any, y: Any) -> Any:
    return o.float(o.argmax(logits) == o.argmax(y))
