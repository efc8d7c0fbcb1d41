"""NumPyro's ELBO gradient estimators as model-level black boxes (estimators.blackbox), for `python -m bench audit`.

Targets numpyro 0.22.x on jax 0.10 (written against numpyro 0.22.0, jax 0.10.1): numpyro.infer.Trace_ELBO and
TraceGraph_ELBO, https://num.pyro.ai/en/stable/svi.html.

How an objective E_q[mean_e loss_e] becomes an ELBO (as in bench/audit/pyro.py). The program's sites
z_s ~ q_s(.; theta) are declared in a plate "examples" over the leading axis E of the losses, the event dims
folded in with `.to_event` (a categorical site is numpyro's Categorical over the one-hot's last axis, its
index turned back into a one-hot for the program):

    guide(theta)   runs program(sample, theta); each site is numpyro.sample(s, q_s(theta))
    model(theta)   runs program(sample, theta) again; each site is numpyro.sample(s, p_s), p_s = q_s with the
                   same parameters, so NumPyro replays the guide's value; then numpyro.factor("loss", -loss_e)
                   per example

so log p - log q = 0 at every site and ELBO = -sum_e E_q[loss_e]; jax.grad of `elbo.loss(key, {}, model, guide,
theta)` divided by E is the estimate. p_s's parameters are stop_gradient-ed where the library stops the guide's
log q gradient (non-reparameterised sites: TraceGraph_ELBO stops log q of sites without rsample) and live where
it differentiates log q (reparameterised Normals), so the log p - log q terms add exactly nothing, in value or
gradient.

    numpyro/trace-elbo        Trace_ELBO: d/dtheta sum_e loss_e(z(theta, eps)), the pathwise (reparameterised)
                              gradient. Gaussian sites only: its docstring says it "only supports random
                              variables with reparameterized samplers" (with discrete sites it has no
                              score-function term, so it would drop d q / d theta without a word)
    numpyro/trace-elbo-discrete  Trace_ELBO on Bernoulli and categorical sites, which it documents as unsupported
                              and still runs, silently: audited as documented-biased, to show what it returns
    numpyro/trace-graph-elbo  TraceGraph_ELBO: surrogate sum_e loss_e + sum_s log q_s(z_s) sg(downstream cost_s),
                              the downstream costs found by provenance tracking and summed to the site's plates:
                              here -loss_e, i.e. REINFORCE with each example's own loss and no baseline (NumPyro
                              has no baselines); reparameterised Normal sites pathwise

Left out: TraceEnum_ELBO, which needs funsor (numpyro.contrib.funsor), not installed here.

Each call draws n_estimates rows at once: one PRNG key per row (jax.random.split of PRNGKey(seed)), the
gradient vmapped over the keys and jitted; the compiled function is kept for the next call on the same
program (the harness calls once per chunk of a cell's rows). `n_samples` is num_particles (the rows average
that many particles). A row costs two program runs per particle (guide and model; TraceGraph_ELBO traces
both once more, abstractly, for provenance), and each call one eager run at fixed values that finds the sites.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from bench.audit import Adapter, Site
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Family, Spec

LIBRARY = "numpyro"
MODULE = "numpyro"
INSTALL = "pip install '.[audit]', or pip install numpyro"

_B, _C, _G = "bernoulli", "categorical", "gaussian"
_DOCS = "https://num.pyro.ai/en/stable/svi.html"
_NUMPYRO = ("Phan, Pradhan & Jankowiak 2019, Composable effects for flexible and accelerated probabilistic "
            "programming in NumPyro")
# the sites each adapter declares
_ELBOS = {"trace-elbo": (_G,), "trace-elbo-discrete": (_B, _C), "trace-graph-elbo": (_B, _C, _G)}


# ---------------------------------------------------------------------------------------------- the black boxes


def trace_elbo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
               device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of Trace_ELBO's gradient estimate (pathwise, Gaussian sites)."""
    return _estimate("trace-elbo", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


def trace_elbo_discrete(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                        device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of Trace_ELBO's gradient on discrete sites, which its docstring does not support (no score term)."""
    return _estimate("trace-elbo-discrete", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


def trace_graph_elbo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                     device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of TraceGraph_ELBO's gradient estimate (downstream costs per example; Normal pathwise)."""
    return _estimate("trace-graph-elbo", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


# --------------------------------------------------------------------------------------------------- the driver


def _estimate(elbo: str, program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
              n_samples: int) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp

    n_examples, sites, _ = _sites(program, params)
    unsupported = sorted({s.dist for s in sites.values()} - set(_ELBOS[elbo]))
    if unsupported:
        raise ValueError(f"numpyro/{elbo} takes {', '.join(_ELBOS[elbo])} sites; the program asks for "
                         f"{', '.join(unsupported)}")
    rows = _rows_fn(elbo, program, tuple(sites.items()), n_examples, int(n_samples))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_estimates)
    out = rows({k: jnp.asarray(v) for k, v in params.items()}, keys)
    return {k: np.asarray(v) for k, v in out.items()}


@lru_cache(maxsize=8)
def _rows_fn(elbo_name: str, program: Callable, sites: tuple[tuple[str, Site], ...], n_examples: int,
             n_samples: int) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """jit(vmap over keys of d/dtheta (-ELBO) / E): theta, keys [n, 2] -> {name: rows [n, *shape]}."""
    import jax
    import numpyro
    from numpyro.infer import Trace_ELBO, TraceGraph_ELBO

    elbo = (Trace_ELBO if elbo_name.startswith("trace-elbo") else TraceGraph_ELBO)(num_particles=n_samples)
    declared = dict(sites)

    def guide(theta: dict[str, Any]) -> None:
        with numpyro.plate("examples", n_examples, dim=-1):
            program(_sampler(declared, guide=True), theta)

    def model(theta: dict[str, Any]) -> None:
        with numpyro.plate("examples", n_examples, dim=-1):
            losses = program(_sampler(declared, guide=False), theta)
            numpyro.factor("loss", -losses)

    def row(theta: dict[str, Any], key: Any) -> dict[str, Any]:
        grads = jax.grad(lambda t: elbo.loss(key, {}, model, guide, t))(theta)
        return {k: g / n_examples for k, g in grads.items()}  # -ELBO sums the examples; the objective is their mean

    return jax.jit(jax.vmap(row, in_axes=(None, 0)))


def _sites(program: Callable, params: dict[str, np.ndarray]) -> tuple[int, dict[str, Site], Any]:
    """(E, the program's sites in order, the losses), from one eager run with every site at a fixed value (a
    Gaussian's loc; Bernoulli 0; a categorical's first category). Shared with the TFP adapter (bench/audit/tfp.py)."""
    import jax.numpy as jnp

    sites: dict[str, Site] = {}

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        first = next(iter(node.values()))
        sites[name] = Site(dist, tuple(first.shape[1:]))
        if dist == _G:
            return node["loc"]
        value = jnp.zeros_like(first)
        return value.at[..., 0].set(1.0) if dist == _C else value  # a valid one-hot

    losses = program(sample, {k: jnp.asarray(v) for k, v in params.items()})
    return int(losses.shape[0]), sites, losses


def _sampler(sites: dict[str, Site], *, guide: bool) -> Callable[[str, str, dict[str, Any]], Any]:
    """The program's `sample` inside the guide (q(theta)) or the model (q with the parameters made constant
    where the site has no rsample)."""
    import jax
    import jax.numpy as jnp
    import numpyro

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        site = sites[name]
        if dist != site.dist:
            raise ValueError(f"site {name!r} changed distribution between runs ({site.dist}, then {dist})")
        if not guide and dist != _G:
            node = {k: jax.lax.stop_gradient(v) for k, v in node.items()}  # its log q is stopped too
        value = numpyro.sample(name, _distribution(site, node).to_event(site.event_ndim))
        if dist == _C:
            return jax.nn.one_hot(value, site.event[-1], dtype=node["logits"].dtype)
        return value.astype(jnp.result_type(*node.values()))  # Bernoulli draws come as integers

    return sample


def _distribution(site: Site, node: dict[str, Any]) -> Any:
    import numpyro.distributions as dist

    if site.dist == _B:
        return dist.Bernoulli(logits=node["logits"])
    if site.dist == _C:
        return dist.Categorical(logits=node["logits"])
    return dist.Normal(node["loc"], node["scale"])


# ------------------------------------------------------------------------------------------------- the catalog


def _adapter(name: str, function: str, family: Family, description: str, paper: str, note: str,
             unbiased: bool = True) -> Adapter:
    spec = Spec(f"numpyro/{name}", family, unbiased, _ELBOS[name], 2, True, paper, note=note)
    return Adapter(library=LIBRARY, module=MODULE, description=description,
                   estimator=BlackBoxEstimator(spec=spec, functions={"jax": f"bench.audit.numpyro:{function}"},
                                               level="model"))


ADAPTERS: list[Adapter] = [
    _adapter("trace-elbo", "trace_elbo", "pathwise",
             "numpyro.infer.Trace_ELBO: the reparameterised (pathwise) gradient of Gaussian sites",
             f"{_NUMPYRO}; Trace_ELBO after Wingate & Weber 2013 and Ranganath, Gerrish & Blei 2014, "
             f"{_DOCS}#trace-elbo",
             note="reparameterised sites only, as its docstring says; 2 program runs (guide, model) per particle"),
    # what a user gets who overlooks that docstring: it runs, silently, with no score-function term
    _adapter("trace-elbo-discrete", "trace_elbo_discrete", "score-function",
             "numpyro.infer.Trace_ELBO on Bernoulli and categorical sites, which it documents as unsupported: "
             "it runs without a warning and drops the score term",
             f"{_NUMPYRO}; {_DOCS}#trace-elbo ('only supports random variables with reparameterized samplers')",
             note="claimed biased here: the documentation says it does not support these sites", unbiased=False),
    _adapter("trace-graph-elbo", "trace_graph_elbo", "score-function",
             "numpyro.infer.TraceGraph_ELBO: score function with each site's downstream costs (provenance, "
             "plates), reparameterised Normals pathwise",
             f"{_NUMPYRO}; TraceGraph_ELBO after Schulman, Heess, Weber & Abbeel 2015, Gradient estimation using "
             f"stochastic computation graphs, {_DOCS}#tracegraph-elbo",
             note="no baselines in NumPyro; Gaussian sites are pathwise"),
]
