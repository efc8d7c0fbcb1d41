"""funsor's Monte Carlo integration as a model-level black box (estimators.blackbox), for `python -m bench audit`.

Targets funsor 0.4.8 (torch backend, whose distributions are pyro-ppl's: `funsor.set_backend("torch")` and
pyro.distributions; Apache-2.0). funsor is the tensor algebra under Pyro's and NumPyro's enumeration
(pyro.contrib.funsor, numpyro.contrib.funsor), but it has one gradient estimator of its own, which this adapter
audits: sampling a distribution funsor, `Funsor.sample(sampled_vars, sample_inputs)` (what the
funsor.montecarlo.MonteCarlo interpretation of `Integrate` does), returns a Delta at the sample whose log density
carries the estimator (funsor/distribution.py, Distribution._sample):

    has_rsample      Delta(x, rsample())                                  pathwise (Gaussian sites)
    otherwise        Delta(x, sample(), log q(x) - sg(log q(x)))          DiCE factor: the score function

and `Integrate(delta, integrand, vars)` = exp(log density) integrand(x): in value the integrand at the sample, in
gradient integrand grad log q + grad integrand (discrete sites) or the pathwise gradient (Gaussian sites).
Foerster et al. 2018 (DiCE); Obermeyer et al. 2019, Functional tensors for probabilistic programming (funsor).

How the program is driven. Each site becomes pyro.distributions.{Bernoulli, Categorical (over the one-hot's
last axis), Normal}(node).to_event(...), converted by funsor.to_funsor(dist, Real, dim_to_name={-1:
"examples"}) (the examples a batch input, each example's loss its own integrand), its value renamed to the site,
and sampled with `.sample(frozenset({site}), sample_inputs)`; the program goes on with the Delta's point
(funsor.montecarlo.extract_samples; a categorical index as a one-hot). The row is the gradient of

    funsor.Integrate(sum of the sites' Deltas, Tensor(losses)[examples], sites), averaged over the examples

    funsor/monte-carlo    one particle per row; n_samples > 1 draws that many particles at once
                          (sample_inputs={"particle": Bint[n]}), averaged

Each call seeds torch and sets funsor's backend to torch (a process-wide setting of funsor's).

Compatibility shim (a funsor 0.4.8 fault, demonstrated in tests/test_audit_libraries.py). With the torch backend,
funsor fails in any process that has imported jax (as the audit's process has, once a JAX library ran):
funsor.interpreter.is_atom calls funsor.util.is_jax_compiled_function, which is
`isinstance(x, _JAX_COMPILED_FUNCTION_TYPE)` whenever jax is in sys.modules, and that type is only set by
set_backend("jax"): None otherwise, so every substitution raises "TypeError: isinstance() arg 2 must be a type,
a tuple of types, or a union". `_set_torch_backend()` sets it to the type set_backend("jax") would
(type(jax.jit(lambda: 0))) when jax is loaded and it is unset; nothing else is patched.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np

from bench.audit import Adapter, Site
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

LIBRARY = "funsor"
MODULE = "funsor"
INSTALL = "pip install '.[audit]', or pip install funsor pyro-ppl (funsor's torch distributions are Pyro's)"

_B, _C, _G = "bernoulli", "categorical", "gaussian"
EXAMPLES, PARTICLE = "examples", "particle"
PAPER = ("Obermeyer, Bingham, Jankowiak, Phan & Chen 2019, Functional tensors for probabilistic programming "
         "(funsor 0.4.8); the DiCE factor of Foerster et al. 2018 (DiCE) in Distribution._sample")


def monte_carlo(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """n_estimates rows of d/dtheta mean_e loss_e from funsor's sampled Deltas and Integrate."""
    import torch

    _set_torch_backend()
    torch.manual_seed(seed)  # funsor's torch backend samples from torch's global generator
    theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}
    rows = {k: np.zeros((n_estimates, *v.shape), np.float64) for k, v in params.items()}
    names = list(theta)
    for i in range(n_estimates):
        grads = torch.autograd.grad(_estimate(program, theta, int(n_samples)), [theta[k] for k in names],
                                    allow_unused=True)
        for k, g in zip(names, grads):
            if g is not None:  # a parameter the losses do not reach keeps its 0
                rows[k][i] = g.detach().cpu().double().numpy()
    return rows


def _set_torch_backend() -> None:
    """funsor.set_backend("torch"), and the shim the module docstring describes: with jax imported, funsor 0.4.8
    tests every term against `funsor.util._JAX_COMPILED_FUNCTION_TYPE`, which only set_backend("jax") sets."""
    import sys

    import funsor
    import funsor.util

    funsor.set_backend("torch")
    jax = sys.modules.get("jax")
    if jax is not None and funsor.util._JAX_COMPILED_FUNCTION_TYPE is None:
        funsor.util._JAX_COMPILED_FUNCTION_TYPE = type(jax.jit(lambda: 0))


def _estimate(program: Callable, theta: dict[str, Any], n: int) -> Any:
    """One Monte Carlo estimate of mean_e E[loss_e], as funsor computes it (differentiable)."""
    import funsor
    import torch
    from funsor.domains import Bint
    from funsor.montecarlo import extract_samples

    sample_inputs = OrderedDict([(PARTICLE, Bint[n])]) if n > 1 else OrderedDict()
    batch = (PARTICLE, EXAMPLES) if n > 1 else (EXAMPLES,)
    deltas: list[Any] = []

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        first = next(iter(node.values()))
        site = Site(dist, tuple(first.shape[1:]))
        q = funsor.to_funsor(_distribution(site, node), output=funsor.Real,
                             dim_to_name=OrderedDict([(-1, EXAMPLES)]))(value=name)
        delta = q.sample(frozenset({name}), sample_inputs)
        deltas.append(delta)
        point = extract_samples(delta)[name].align(batch).data  # [particle?, E, *event]
        if dist == _C:
            return torch.nn.functional.one_hot(point.long(), site.event[-1]).to(first.dtype)
        return point.reshape(*point.shape[:len(batch)], *site.event).to(first.dtype)

    losses = program(sample, theta)  # [particle?, E]
    integrand = funsor.Tensor(losses, OrderedDict((k, Bint[s]) for k, s in zip(batch, losses.shape)))
    value = funsor.Integrate(sum(deltas[1:], deltas[0]), integrand, frozenset(_names(deltas)))
    if set(value.inputs) != set(batch):
        raise ValueError(f"funsor.Integrate left inputs {sorted(value.inputs)}, expected {sorted(batch)}")
    return value.align(batch).data.mean()


def _names(deltas: list[Any]) -> list[str]:
    """Each Delta's sampled variable (the site's name; the only real input a sampled site keeps)."""
    return [next(k for k in d.inputs if k not in (PARTICLE, EXAMPLES)) for d in deltas]


def _distribution(site: Site, node: dict[str, Any]) -> Any:
    import pyro.distributions as dist

    if site.dist == _B:
        base = dist.Bernoulli(logits=node["logits"])
    elif site.dist == _C:
        base = dist.Categorical(logits=node["logits"])  # the index; the one-hot's last axis is its support
    else:
        base = dist.Normal(node["loc"], node["scale"])
    return base.to_event(site.event_ndim) if site.event_ndim else base


ADAPTERS: list[Adapter] = [
    Adapter(library=LIBRARY, module=MODULE,
            description="funsor.Funsor.sample of each site's distribution funsor (Distribution._sample: rsample, "
                        "or a sample with the DiCE factor log q - sg(log q)) and funsor.Integrate of the Deltas "
                        "against the losses",
            estimator=BlackBoxEstimator(
                spec=Spec(f"{LIBRARY}/monte-carlo", "score-function", True, (_B, _C, _G), 1, False, PAPER,
                          note="score function (DiCE factor) on discrete sites, pathwise on Gaussian sites; "
                               "torch backend with pyro.distributions; n_samples particles per row"),
                functions={"torch": "bench.audit.funsor:monte_carlo"}, level="model")),
]
