"""The one engine: a model's stochastic layers walked in order, each node's estimator nested in the walk.

A `Model` visits its stochastic layers in order. Layer l's node parameters come from what the previous layer
carries on (its sample, or an activation computed from it; the model's inputs for layer 0); the per-example
loss is a sum of terms the model declares:

    loss = direct(params) + sum_l local_l(z_l, h_{l-1}) + final(h_{L-1}),    h_l = carry_l(z_l, h_{l-1})

`direct` holds terms with no sample in them (analytic KLs), which then never multiply a score; `local` holds
the terms that need a layer's sample and its parent (log q - log p in a VAE).

`walk` is the one layer walk: from a layer on, it asks `choose(layer, node)` for each layer's value and adds up
the loss. With hard samples it is the plain pass (an estimator's `Downstream.value`), with relaxed samples or
means the control variates' passes, with configurations the exact enumeration, with a black box's `sample`
its program, with evaluation modes the held-out metrics. `surrogate` nests the estimator at every layer:

    main(z)    = local_l(z) + the surrogate at layer l+1 (or final): gradients flow through later layers;
    value(z)   = the walk on from l with later layers sampled hard from their own noise, parameters frozen;
    relaxed(h) = the same with later Bernoulli layers relaxed (REBAR, RELAX's control variates);
    mean(h)    = the same with every later layer replaced by its mean, the mean-field pass (MuProp).

`objective` turns a model, an estimator and data into the `Objective` every driver differentiates.
Written once against `Ops`, so every backend runs the same math.
"""

from __future__ import annotations

import itertools
from abc import ABC, abstractmethod
from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from estimators import catalog
from estimators.dist import PARAM_NAMES, configurations, log_prob, logit, mean, n_configurations, sample
from estimators.driver import Objective
from estimators.ops import Array, Downstream, Ops
from estimators.spec import Spec, draw_counts, surrogate_options

Arrays = dict[str, Any]
MAX_JOINT_CONFIGS = 2**16
Choose = Callable[[int, Arrays], Any]  # (layer, node parameters) -> the layer's value


class Model(ABC):
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
    def inputs(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        """What layer 0's node parameters are computed from (the data, an embedding of it)."""

    @abstractmethod
    def node(self, o: Ops, p: Arrays, layer: int, prev: Any, ctx: Arrays) -> Arrays:
        """The layer's node parameters, e.g. {"logits": ...}, from what the layer before carried on.

        They must carry prev's leading axes even where they do not depend on prev: nested exact enumeration
        prepends one axis per layer, and each layer's configurations must pair with every parent's."""

    def carry(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        """What layer `layer` hands on, given its sample z: by default the sample itself."""
        return z

    def local_loss(self, o: Ops, p: Arrays, layer: int, z: Any, prev: Any, ctx: Arrays) -> Any:
        return 0.0

    @abstractmethod
    def final_loss(self, o: Ops, p: Arrays, z: Any, ctx: Arrays) -> Any: ...

    def direct_loss(self, o: Ops, p: Arrays, ctx: Arrays) -> Any:
        return 0.0

    def groups(self, params: dict[str, np.ndarray]) -> dict[str, list[str]]:
        """Parameter groups reported separately (per layer)."""
        return {}

    def metrics(self, o: Ops, p: Arrays, h: Any, ctx: Arrays, loss: Any) -> dict[str, Any]:
        """Held-out metrics besides the loss, per example, from what the last layer carried on."""
        return {}


def walk(model: Model, o: Ops, p: Arrays, ctx: Arrays, choose: Choose, *, start: int = 0, h: Any = None,
         loss: Any = None, on_node: Callable[[int, Arrays, Any], None] | None = None) -> tuple[Any, Any]:
    """The one layer walk: layers start .. L-1, each value from choose(layer, node), then the final loss.
    Returns (per-example loss, what the last layer carried on). From layer 0, `h` and `loss` default to the
    model's inputs and direct loss; `on_node(layer, node, z)` sees every layer's node and value."""
    if start == 0 and h is None:
        h = model.inputs(o, p, ctx)
    total = model.direct_loss(o, p, ctx) if loss is None else loss
    for m in range(start, model.n_stochastic):
        node = model.node(o, p, m, h, ctx)
        z = choose(m, node)
        if on_node is not None:
            on_node(m, node, z)
        total = total + model.local_loss(o, p, m, z, h, ctx)
        h = model.carry(o, p, m, z, h, ctx)
    return total + model.final_loss(o, p, h, ctx), h


def iwae_bound(o: Ops, loss: Array, k: int) -> Array:
    """-log mean_j exp(-L_j) over the K samples of each draw: [rows, K * draws] -> [rows, draws]."""
    grouped = loss.reshape(loss.shape[0], k, -1)
    return float(np.log(k)) - o.logsumexp(-grouped, 1)


def _tiled(model: Model, o: Ops, ctx: Arrays) -> Arrays:
    """The data repeated for the bound's K samples: draw j * draws + d is sample j of draw d."""
    return {k: o.tile(v, model.iwae_k) for k, v in ctx.items()} if model.iwae_k > 1 else ctx


def surrogate(model: Model, o: Ops, estimator: ModuleType, p: Arrays, u: list[Array], states: list[Any],
              ctx: Arrays, options: dict[str, Any]) -> tuple[Array, list[Any]]:
    """Per-example surrogate [rows, draws]: its value is the loss, its gradient the estimator's.

    On the importance-weighted bound (iwae_k = K > 1) each draw's K samples are drawn as K draws and combined
    here: estimators whose gradient flows through the loss's value (pathwise, straight-through, relaxations)
    are differentiated through the bound; an objective-level estimator (VIMCO) gets the whole model's
    per-sample losses and log q at once; the problems refuse every other estimator on this objective."""
    ctx = _tiled(model, o, ctx)
    if estimator.SPEC.level == "objective":
        return _whole_model(model, o, estimator, p, u, ctx, options), states
    out, states = _nested(model, o, estimator, p, u, states, ctx, options)
    return (iwae_bound(o, out, model.iwae_k) if model.iwae_k > 1 else out), states


def _whole_model(model: Model, o: Ops, estimator: ModuleType, p: Arrays, u: list[Array], ctx: Arrays,
                 options: dict[str, Any]) -> Array:
    """An objective-level estimator (VIMCO): one plain pass with hard samples, loss and log q per sample."""
    k, log_q = model.iwae_k, []

    def hard(m: int, node: Arrays) -> Any:
        node = {key: o.broadcast_to(v, tuple(u[m].shape[1:])) for key, v in node.items()}
        z = o.stop_gradient(sample(o, model.dist, node, u[m][0]))
        log_q.append(log_prob(o, model.dist, node, z, len(model.event_shape(m))))
        return z

    loss, _ = walk(model, o, p, ctx, hard)

    def grouped(x: Array) -> Array:  # [rows, K * draws] -> [rows, K, draws]
        return o.broadcast_to(x, tuple(loss.shape)).reshape(loss.shape[0], k, -1)

    return estimator.surrogate(o, grouped(loss), grouped(sum(log_q)), **options)


def _nested(model: Model, o: Ops, estimator: ModuleType, p: Arrays, u: list[Array], states: list[Any],
            ctx: Arrays, options: dict[str, Any]) -> tuple[Array, list[Any]]:
    depth, dist = model.n_stochastic, model.dist
    frozen = {k: o.stop_gradient(v) for k, v in p.items()}
    states = list(states)

    def rest(layer: int, z: Any, prev: Any, choose: Choose) -> Any:
        """The walk on from `layer`, whose value is z, at frozen parameters."""
        start = model.local_loss(o, frozen, layer, z, prev, ctx)
        h = model.carry(o, frozen, layer, z, prev, ctx)
        return walk(model, o, frozen, ctx, choose, start=layer + 1, h=h, loss=start)[0]

    def hard(m: int, node: Arrays) -> Any:
        return o.stop_gradient(sample(o, dist, node, u[m][0]))

    def relaxed(temperature: Any) -> Choose:
        return lambda m, node: o.sigmoid((node["logits"] - logit(o, u[m][0])) / temperature)

    def at_mean(m: int, node: Arrays) -> Any:
        return mean(o, dist, node)

    def visit(layer: int, prev: Any) -> Any:
        shape = tuple(u[layer].shape[1:])  # node parameters broadcast to the noise (extra leading axes kept)
        node = {k: o.broadcast_to(v, shape) for k, v in model.node(o, p, layer, prev, ctx).items()}
        last = layer + 1 == depth

        def main(z: Any) -> Any:
            h = model.carry(o, p, layer, z, prev, ctx)
            later = model.final_loss(o, p, h, ctx) if last else visit(layer + 1, h)
            return model.local_loss(o, p, layer, z, prev, ctx) + later

        sg_prev = o.stop_gradient(prev) if prev is not None else None
        down = Downstream(
            main=main,
            value=lambda z: o.stop_gradient(rest(layer, o.stop_gradient(z), sg_prev, hard)),
            relaxed=lambda h, t: rest(layer, h, sg_prev, relaxed(t)),
            mean=lambda h: rest(layer, h, sg_prev, at_mean),
        )
        event_ndim = len(model.event_shape(layer))
        out, states[layer] = estimator.surrogate(o, node, down, u[layer], states[layer], dist=dist,
                                                 event_ndim=event_ndim, **options)
        return out

    try:
        return model.direct_loss(o, p, ctx) + visit(0, model.inputs(o, p, ctx)), states
    finally:
        # `visit` calls itself through its closure: a reference cycle that holds this call's parameter
        # replicas and noise until Python's cyclic collector runs, which few allocations of Python objects
        # trigger, so memory grew by a chunk's worth with every chunk (2 GB budgets peaked at 3.6 GB)
        visit = None


def n_joint_configurations(model: Model) -> int:
    """Joint configurations of all layers (per example); 0 for continuous latents."""
    total = 1
    for layer in range(model.n_stochastic):
        total *= n_configurations(model.dist, model.event_shape(layer))
    return total


def enumerable(model: Model) -> bool:
    return 0 < n_joint_configurations(model) ** model.iwae_k <= MAX_JOINT_CONFIGS


def _n_examples(ctx: Arrays) -> int:
    return len(next(iter(ctx.values()))) if ctx else 1


def exact_objective(model: Model, o: Ops, p: Arrays, ctx: Arrays) -> Array:
    """Mean over the examples in ctx of E_q[loss], summing every joint configuration of the layers; on the
    importance-weighted bound, every K-tuple of configurations (each sample of the bound is one)."""
    k = model.iwae_k
    if not enumerable(model):
        raise ValueError(f"{type(model).__name__} at this size has {n_joint_configurations(model)}^{k} joint "
                         f"configurations; exact enumeration allows 1 to {MAX_JOINT_CONFIGS}")
    n_examples = _n_examples(ctx)
    loss, log_q = _configuration_losses(model, o, p, ctx)  # [configurations, examples]
    if k == 1:
        return o.sum(o.exp(log_q) * loss) / n_examples
    tuples = o.asarray(np.array(list(itertools.product(range(len(loss)), repeat=k))))  # [T, K]
    bound = float(np.log(k)) - o.logsumexp(-loss[tuples], 1)  # [T, examples]
    return o.sum(o.exp(o.sum(log_q[tuples], 1)) * bound) / n_examples


def _configuration_losses(model: Model, o: Ops, p: Arrays, ctx: Arrays) -> tuple[Array, Array]:
    """Per-sample loss and log q of every joint configuration (rows) for every example (columns)."""
    per_layer = [configurations(o, model.dist, model.event_shape(m)) for m in range(model.n_stochastic)]
    joint = np.array(list(itertools.product(*[range(c.shape[0]) for c in per_layer]))).reshape(-1, len(per_layer))
    n_examples = _n_examples(ctx)
    ctx = {k: o.tile(v, len(joint)) for k, v in ctx.items()}  # draw index = configuration * n_examples + example
    p1 = {k: v[None] for k, v in p.items()}
    log_q = []

    def configured(m: int, node: Arrays) -> Any:
        z = o.repeat(per_layer[m][o.asarray(joint[:, m])], n_examples)[None]
        log_q.append(log_prob(o, model.dist, node, z, len(model.event_shape(m))))
        return z

    loss, _ = walk(model, o, p1, ctx, configured)
    shape = (len(joint), n_examples)
    return (o.broadcast_to(loss, (1, len(joint) * n_examples)).reshape(shape),
            o.broadcast_to(sum(log_q), (1, len(joint) * n_examples)).reshape(shape))


def forward(model: Model, o: Ops, p: Arrays, ctx: Arrays, u: list[Array], mode: str,
            slope: Any = 1.0) -> dict[str, Array]:
    """Per-example loss and metrics of one pass, for evaluation: p unreplicated, u[l] shaped like layer l's
    node parameters. mode: "stochastic" samples, "deterministic" takes each node's most likely value,
    "mean" feeds each node's mean on (the deterministic net: Bernoulli probabilities, softmax, loc). Bernoulli
    nodes sample sigmoid(slope * logits), as seed 002's slope-annealed neurons do at inference too.
    On the importance-weighted bound the loss is the K-sample bound and every other metric its samples' mean
    (a VAE's `elbo` stays the single-sample ELBO)."""
    p1 = {k: v[None] for k, v in p.items()}
    ctx = _tiled(model, o, ctx)

    def choose(m: int, node: Arrays) -> Any:
        if model.dist == "bernoulli":
            node = {"logits": slope * node["logits"]}
        if mode == "stochastic":
            return sample(o, model.dist, node, u[m])
        if mode == "mean":
            return mean(o, model.dist, node)
        if model.dist == "gaussian":
            return node["loc"]
        if model.dist == "bernoulli":
            return o.float(node["logits"] > 0)
        return o.one_hot(o.argmax(node["logits"]), node["logits"].shape[-1])

    loss, h = walk(model, o, p1, ctx, choose)
    metrics = model.metrics(o, p1, h, ctx, loss)
    if model.iwae_k > 1:
        k = model.iwae_k
        return {"loss": iwae_bound(o, loss, k)[0], **{n: o.mean(v[0].reshape(k, -1), 0) for n, v in metrics.items()}}
    return {"loss": loss[0], **{k: v[0] for k, v in metrics.items()}}


def initial_states(model: Model, o: Ops, spec: Spec, seed: int) -> list[Any]:
    """Each layer's estimator state (None for estimators without one), from the cell's seed."""
    estimator = catalog.module(spec.name)
    return [estimator.init_state(o, {k: model.event_shape(m) for k in PARAM_NAMES[model.dist]}, seed + m)
            if spec.state else None for m in range(model.n_stochastic)]


def objective(model: Model, o: Ops, name: str, params: dict[str, np.ndarray], data: dict[str, np.ndarray], *,
              n_samples: int, seed: int, options: dict[str, Any], batch_size: int = 1,
              warm: bool = True) -> Objective:
    """The Objective of one cell: an estimate is the gradient of the mean loss over `data` (each example with
    its own n_samples draws; a model without data averages `batch_size` draws). Trained states learn on an
    objective of single draws (`warm`)."""
    spec, estimator = catalog.spec(name), catalog.module(name)
    n_draws, n_u = draw_counts(spec, n_samples)
    n_examples = len(next(iter(data.values()))) if data else batch_size
    if model.per_draw_data:
        total_draws = n_draws * n_examples
        data = {k: np.concatenate([v] * n_draws) for k, v in data.items()}
    else:
        total_draws = n_draws
    ctx = {k: o.asarray(v) for k, v in data.items()}
    opts = surrogate_options(spec, options)

    def noise(n_rows: int) -> list[tuple[int, ...]]:
        return [(n_u, n_rows, *model.node_shape(m, total_draws)) for m in range(model.n_stochastic)]

    def evaluate(rep: Arrays, u: list[Array], states: list[Any]) -> tuple[Array, list[Any]]:
        out, states = surrogate(model, o, estimator, rep, u, states, ctx, opts)
        return o.sum(o.mean(out, 1)), states

    warm_obj = None
    if warm and spec.state == "trained" and n_samples != spec.min_samples:
        warm_obj = objective(model, o, name, params, {k: v[: len(v) // n_draws] for k, v in data.items()}
                             if model.per_draw_data else data, n_samples=spec.min_samples, seed=seed,
                             options=options, batch_size=batch_size, warm=False)
    return Objective(spec, {k: o.asarray(v) for k, v in params.items()}, evaluate, noise,
                     initial_states(model, o, spec, seed), warm_obj)


def program(model: Model, o: Ops, data: dict[str, np.ndarray], batch_size: int = 1) -> Callable[..., Array]:
    """The model as a program for black-box estimators (estimators.blackbox): sites "z0" .. "z{L-1}", one loss
    per example (per draw of data-less models, `batch_size` of them; one for bnn, whose batch sits inside one
    weight draw), each example with its own draws."""
    ctx = {k: o.asarray(v) for k, v in data.items()}
    n_draws = (len(next(iter(data.values()))) if data else batch_size) if model.per_draw_data else 1

    def run(sample_site: Callable[[str, str, Arrays], Any], p: Arrays) -> Array:
        p1 = {k: v[None] for k, v in p.items()}  # the engine's leading rows axis, one row

        def ask(m: int, node: Arrays) -> Any:
            shape = (1, n_draws, *model.event_shape(m))
            return sample_site(f"z{m}", model.dist, {k: o.broadcast_to(v, shape)[0] for k, v in node.items()})[None]

        loss, _ = walk(model, o, p1, ctx, ask)
        return o.broadcast_to(loss, (1, n_draws))[0]

    return run
