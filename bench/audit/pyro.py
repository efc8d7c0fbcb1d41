"""Pyro's ELBO gradient estimators as model-level black boxes (estimators.blackbox), for `python -m bench audit`.

Targets pyro-ppl 1.9.x (written against 1.9.2; torch backend): pyro.infer.Trace_ELBO, TraceGraph_ELBO and
TraceEnum_ELBO, https://docs.pyro.ai/en/stable/inference_algos.html, and the SVI tutorial part III
(https://pyro.ai/examples/svi_part_iii.html: score-function terms, Rao-Blackwellisation, baselines).

How an objective E_q[mean_e loss_e] becomes an ELBO. The program's sites z_s ~ q_s(.; theta) (the suite's
parameters, closed over as torch leaves) are declared in a plate "examples" over the leading axis E of the
losses, the event dims folded in with `.to_event`:

    guide()   runs program(sample, theta); each site is pyro.sample(s, q_s(theta))
    model()   runs program(sample, theta) again; each site is pyro.sample(s, p_s), p_s = q_s with the same
              parameters, so Pyro replays the guide's value; then pyro.factor("loss", -loss_e) per example

so log p - log q = 0 at every site and ELBO = -sum_e E_q[loss_e]: the gradient of -ELBO divided by E is the
gradient of the objective. p_s's parameters are detached where the library stops the guide's log q gradient
(non-reparameterised sites: score_parts has entropy_term 0) and live where it differentiates log q
(reparameterised Normals: entropy_term = log q); either way the log p - log q terms add exactly nothing, in
value or gradient, so the rows are the library's estimator of the objective's gradient and no extra noise.

    pyro/trace-elbo                 Trace_ELBO: surrogate  sum_e loss_e + sum_s log q_s(z_s) sg(log r_s), log r
                                    summed to the site's plates (Pyro's partial Rao-Blackwellisation by plate):
                                    here log r_{s,e} = -loss_e, i.e. REINFORCE with each example's own loss and
                                    no baseline; reparameterised Normal sites are pathwise (rsample)
    pyro/trace-graph-elbo           TraceGraph_ELBO: the signal of site s is only the costs downstream of it
                                    (provenance tracking), summed to its plates; every site here reaches the loss,
                                    so this is the same estimator as trace-elbo, through other code
    pyro/trace-graph-elbo-baseline  TraceGraph_ELBO with infer={"baseline": {"use_decaying_avg_baseline": True}}:
                                    signal -loss_e - b_{s,e}, b_{s,e} <- beta b_{s,e} + (1 - beta)(-loss_e) after
                                    each row (per site and example, beta = baseline_beta, Pyro's default 0.9,
                                    b = 0 at the first row): each row's baseline uses earlier rows only, kept in
                                    Pyro's param store for the rows of one call
    pyro/trace-enum-elbo            TraceEnum_ELBO, guide-side parallel enumeration: every discrete variable
                                    (a Bernoulli unit, a categorical variable) is its own site with
                                    infer={"enumerate": "parallel"}, because Pyro enumerates one site's values
                                    jointly across its batch (an Independent event cannot be enumerated, and a
                                    plate over units would claim the loss factorises over them, which it does
                                    not); DiCE weights sum_z q(z; theta) loss(z) exactly: the exact gradient,
                                    every row the same (computed once per call, repeated on every row: no site
                                    is left to sample). The program must broadcast over the enumeration dims
                                    Pyro puts left of the examples axis (the suite's programs broadcast
                                    right-aligned); one that does not is refused with a ValueError
    pyro/trace-graph-elbo-nonreparam  TraceGraph_ELBO on Gaussians declared without rsample (a Normal subclass
                                    with has_rsample = False): the score function log q(z) sg(-loss_e) for
                                    Gaussian sites instead of the pathwise gradient

Each call clears Pyro's param store and seeds Pyro (pyro.set_rng_seed), then draws its n_estimates rows one
at a time; `n_samples` is num_particles (the rows average that many particles). Every row costs two program
runs per particle (guide and model) plus, once per call, one run at fixed values that finds the sites.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import numpy as np

from bench import audit
from bench.audit import Adapter
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Family, Spec

LIBRARY = "pyro-ppl"
MODULE = "pyro"
INSTALL = "pip install '.[audit]', or pip install pyro-ppl"

_B, _C, _G = "bernoulli", "categorical", "gaussian"
_DOCS = "https://docs.pyro.ai/en/stable/inference_algos.html"
_PYRO = "Bingham et al. 2019, Pyro: deep universal probabilistic programming (JMLR 20)"
_ENUMERATE = {"enumerate": "parallel"}


@dataclass(frozen=True)
class Site(audit.Site):
    """A site, and the separate variables TraceEnum_ELBO enumerates one by one."""

    @property
    def variables(self) -> tuple[int, ...]:
        """The shape of the site's separate variables: Bernoulli units, categorical variables."""
        return self.event[:-1] if self.dist == _C else self.event


@dataclass(frozen=True)
class Scheme:
    """How an adapter declares the program's sites to Pyro."""

    dists: tuple[str, ...]
    reparam: bool = True  # Gaussians with rsample (pathwise) or without (score function)
    enumerate: bool = False  # discrete variables as separate sites, enumerated in parallel in the guide
    infer: dict[str, Any] = field(default_factory=dict)  # the guide sites' infer dict (baselines)


# ---------------------------------------------------------------------------------------------- the black boxes


def trace_elbo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
               device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of Trace_ELBO's gradient estimate (score function per example; Normal pathwise)."""
    import pyro.infer

    return _estimate(program, params, lambda: pyro.infer.Trace_ELBO(num_particles=n_samples, max_plate_nesting=1),
                     Scheme((_B, _C, _G)), n_estimates=n_estimates, seed=seed, device=device)


def trace_graph_elbo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                     device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of TraceGraph_ELBO's gradient estimate (downstream costs per example; Normal pathwise)."""
    return _estimate(program, params, _trace_graph(n_samples), Scheme((_B, _C, _G)), n_estimates=n_estimates,
                     seed=seed, device=device)


def trace_graph_elbo_baseline(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                              device: str = "cpu", n_samples: int = 1, baseline_beta: float = 0.9,
                              **options: Any) -> dict[str, np.ndarray]:
    """Rows of TraceGraph_ELBO's gradient estimate with Pyro's decaying-average baseline at every site."""
    baseline = {"baseline": {"use_decaying_avg_baseline": True, "baseline_beta": float(baseline_beta)}}
    return _estimate(program, params, _trace_graph(n_samples), Scheme((_B, _C), infer=baseline),
                     n_estimates=n_estimates, seed=seed, device=device)


def trace_graph_elbo_nonreparam(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                                device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of TraceGraph_ELBO's gradient estimate with Gaussians declared non-reparameterisable."""
    return _estimate(program, params, _trace_graph(n_samples), Scheme((_G,), reparam=False),
                     n_estimates=n_estimates, seed=seed, device=device)


def trace_enum_elbo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                    device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of TraceEnum_ELBO's gradient with every discrete variable enumerated in parallel in the guide."""
    import pyro.infer

    return _estimate(program, params,
                     lambda: pyro.infer.TraceEnum_ELBO(num_particles=n_samples, max_plate_nesting=1),
                     Scheme((_B, _C), enumerate=True), n_estimates=n_estimates, seed=seed, device=device)


def _trace_graph(n_samples: int) -> Callable[[], Any]:
    import pyro.infer

    return lambda: pyro.infer.TraceGraph_ELBO(num_particles=n_samples, max_plate_nesting=1)


# --------------------------------------------------------------------------------------------------- the driver


def _estimate(program: Callable, params: dict[str, np.ndarray], make_elbo: Callable[[], Any], scheme: Scheme, *,
              n_estimates: int, seed: int, device: str) -> dict[str, np.ndarray]:
    """n_estimates rows of d/dtheta E_q[mean_e loss_e], each from one fresh model/guide pair and the ELBO."""
    import pyro
    import torch

    n_examples, sites = _sites(program, params, device)
    unsupported = sorted({s.dist for s in sites.values()} - set(scheme.dists))
    if unsupported:
        raise ValueError(f"this Pyro adapter takes {', '.join(scheme.dists)} sites; the program asks for "
                         f"{', '.join(unsupported)}")
    pyro.clear_param_store()  # the decaying-average baselines live here: fresh for every call
    pyro.set_rng_seed(seed)
    elbo = make_elbo()
    # every site enumerated: the estimate has no randomness left, so it is computed once and repeated
    exact = scheme.enumerate and all(s.dist != _G for s in sites.values())
    rows = {k: np.zeros((n_estimates, *v.shape), np.float32) for k, v in params.items()}
    for i in range(1 if exact else n_estimates):
        theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}
        model, guide = _model_and_guide(program, theta, sites, scheme, n_examples)
        grads = _enumerated_gradient(elbo, model, guide, theta) if scheme.enumerate else _gradient(
            elbo, model, guide, theta)
        for k, g in grads.items():
            if g is not None:  # a parameter the losses do not reach: its row stays 0
                # -ELBO sums the examples' losses; the objective is their mean
                rows[k][i] = g.detach().cpu().numpy() / n_examples
    return {k: np.repeat(v[:1], n_estimates, 0) for k, v in rows.items()} if exact else rows


def _gradient(elbo: Any, model: Callable, guide: Callable, theta: dict[str, Any]) -> dict[str, Any]:
    """d(-ELBO)/dtheta. TraceGraph_ELBO has no differentiable_loss: its loss_and_grads backpropagates into the
    leaves' .grad (Trace_ELBO's does so only when the traces hold pyro.param sites, hence differentiable_loss)."""
    import torch

    if hasattr(elbo, "differentiable_loss"):
        loss = elbo.differentiable_loss(model, guide)
        return dict(zip(theta, torch.autograd.grad(loss, list(theta.values()), allow_unused=True), strict=True))
    elbo.loss_and_grads(model, guide)
    return {k: v.grad for k, v in theta.items()}


def _enumerated_gradient(elbo: Any, model: Callable, guide: Callable, theta: dict[str, Any]) -> dict[str, Any]:
    """_gradient, with a program that cannot carry the enumeration dims refused in words."""
    try:
        return _gradient(elbo, model, guide, theta)
    except (RuntimeError, IndexError) as e:
        raise ValueError("TraceEnum_ELBO's parallel enumeration puts each enumerated site's values on a dim of "
                         "its own, left of the examples axis; this program does not broadcast over them "
                         f"({type(e).__name__}: {e})") from e


def _sites(program: Callable, params: dict[str, np.ndarray], device: str) -> tuple[int, dict[str, Site]]:
    """(E, the program's sites in order), from one run with every site at a fixed value. The site shapes are
    needed before Pyro runs: under enumeration the nodes carry extra leading dims, so [E, *event] cannot be
    read off them then."""
    import torch

    sites: dict[str, Site] = {}

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        first = next(iter(node.values()))
        sites[name] = Site(dist, tuple(first.shape[1:]))
        if dist == _G:
            return node["loc"]
        value = torch.zeros_like(first)
        if dist == _C:
            value[..., 0] = 1.0  # a valid one-hot
        return value

    with torch.no_grad():
        losses = program(sample, {k: torch.as_tensor(v, device=device) for k, v in params.items()})
    return int(losses.shape[0]), sites


def _model_and_guide(program: Callable, theta: dict[str, Any], sites: dict[str, Site], scheme: Scheme,
                     n_examples: int) -> tuple[Callable[[], None], Callable[[], None]]:
    """The model (replayed sites, then the factor -loss_e) and the guide (the sites drawn from q(theta)),
    both running the whole program inside the examples plate."""
    import pyro

    def guide() -> None:
        with pyro.plate("examples", n_examples, dim=-1):
            program(_sampler(sites, scheme, guide=True), theta)

    def model() -> None:
        with pyro.plate("examples", n_examples, dim=-1):
            losses = program(_sampler(sites, scheme, guide=False), theta)
            pyro.factor("loss", -losses)

    return model, guide


def _sampler(sites: dict[str, Site], scheme: Scheme, *, guide: bool) -> Callable[[str, str, dict[str, Any]], Any]:
    """The program's `sample` inside the guide (q(theta), with the scheme's infer options) or the model."""
    import pyro

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        site = sites[name]
        if dist != site.dist:
            raise ValueError(f"site {name!r} changed distribution between runs ({site.dist}, then {dist})")
        reparam = dist == _G and scheme.reparam
        if not guide and not reparam:
            node = {k: v.detach() for k, v in node.items()}  # the guide's log q gets no pathwise gradient here
        if scheme.enumerate and dist != _G:
            return _enumerated(name, site, node, guide)
        infer = dict(scheme.infer) if guide and not reparam else {}  # baselines are for score-function sites
        return pyro.sample(name, _distribution(site, node, reparam).to_event(site.event_ndim), infer=infer)

    return sample


def _enumerated(name: str, site: Site, node: dict[str, Any], guide: bool) -> Any:
    """One site per variable of the node (enumerated in parallel in the guide), their values broadcast
    together and stacked back into the node's shape [..., E or 1, *event]."""
    import pyro
    import torch

    tail = (slice(None),) if site.dist == _C else ()  # a categorical variable keeps its one-hot axis
    values = []
    for index in np.ndindex(*site.variables):
        variable = {k: v[(Ellipsis, *index, *tail)] for k, v in node.items()}
        values.append(pyro.sample(f"{name}[{','.join(map(str, index))}]", _distribution(site, variable, False),
                                  infer=dict(_ENUMERATE) if guide else {}))
    stacked = torch.stack(torch.broadcast_tensors(*values), dim=-1 - len(tail))
    return stacked.reshape(*stacked.shape[:stacked.ndim - 1 - len(tail)], *site.event)


def _distribution(site: Site, node: dict[str, Any], reparam: bool) -> Any:
    import pyro.distributions as dist

    if site.dist == _B:
        return dist.Bernoulli(logits=node["logits"])
    if site.dist == _C:
        return dist.OneHotCategorical(logits=node["logits"])
    return (dist.Normal if reparam else _score_normal())(node["loc"], node["scale"])


@lru_cache(maxsize=1)
def _score_normal() -> type:
    """pyro's Normal without rsample: Pyro then samples it without a path and gives it a score-function term."""
    import pyro.distributions as dist

    return type("ScoreFunctionNormal", (dist.Normal,), {"has_rsample": False})


# ------------------------------------------------------------------------------------------------- the catalog


def _adapter(name: str, function: str, family: Family, dists: tuple[str, ...], description: str, paper: str, *,
             evals: int | None = 2, needs_df: bool = True, options: dict[str, float] | None = None,
             note: str = "") -> Adapter:
    spec = Spec(f"pyro/{name}", family, True, dists, evals, needs_df, paper, options=options or {},
                note=note)
    return Adapter(library=LIBRARY, module=MODULE, description=description,
                   estimator=BlackBoxEstimator(spec=spec, functions={"torch": f"bench.audit.pyro:{function}"},
                                               level="model"))


ADAPTERS: list[Adapter] = [
    _adapter("trace-elbo", "trace_elbo", "score-function", (_B, _C, _G),
             "pyro.infer.Trace_ELBO: score function with each example's loss (plate Rao-Blackwellisation), "
             "reparameterised Normals pathwise",
             f"{_PYRO}; Trace_ELBO after Wingate & Weber 2013 and Ranganath, Gerrish & Blei 2014 (BBVI), "
             f"{_DOCS}#pyro.infer.trace_elbo.Trace_ELBO",
             note="2 program runs (guide, model) per particle; Gaussian sites are pathwise"),
    _adapter("trace-graph-elbo", "trace_graph_elbo", "score-function", (_B, _C, _G),
             "pyro.infer.TraceGraph_ELBO: score function with each site's downstream costs (provenance, plates), "
             "reparameterised Normals pathwise",
             f"{_PYRO}; TraceGraph_ELBO after Schulman, Heess, Weber & Abbeel 2015, Gradient estimation using "
             f"stochastic computation graphs, {_DOCS}#pyro.infer.tracegraph_elbo.TraceGraph_ELBO",
             note="every site here reaches the loss, so its signal is trace-elbo's"),
    _adapter("trace-graph-elbo-baseline", "trace_graph_elbo_baseline", "score-function", (_B, _C),
             "pyro.infer.TraceGraph_ELBO with use_decaying_avg_baseline at every site",
             f"{_PYRO}; decaying-average baselines as in Mnih & Gregor 2014 (NVIL), "
             f"https://pyro.ai/examples/svi_part_iii.html#Reducing-Variance-with-Data-Dependent-Baselines",
             needs_df=False, options={"baseline_beta": 0.9},
             note="per-site, per-example baseline b <- beta b + (1 - beta) signal from earlier rows of the call "
                  "(Pyro's param store, cleared per call)"),
    _adapter("trace-enum-elbo", "trace_enum_elbo", "exact", (_B, _C),
             "pyro.infer.TraceEnum_ELBO, every discrete variable its own site, enumerated in parallel in the guide",
             f"{_PYRO}; Obermeyer et al. 2019, Tensor variable elimination for plated factor graphs; "
             f"{_DOCS}#pyro.infer.traceenum_elbo.TraceEnum_ELBO, https://pyro.ai/examples/enumeration.html",
             evals=None, needs_df=False,
             note="exact on discrete sites; needs a program that broadcasts over leading enumeration dims"),
    _adapter("trace-graph-elbo-nonreparam", "trace_graph_elbo_nonreparam", "score-function", (_G,),
             "pyro.infer.TraceGraph_ELBO with Normal sites declared without rsample: score function for Gaussians",
             f"{_PYRO}; {_DOCS}#pyro.infer.tracegraph_elbo.TraceGraph_ELBO, "
             f"https://pyro.ai/examples/svi_part_iii.html", needs_df=False,
             note="a pyro Normal subclass with has_rsample = False"),
]
