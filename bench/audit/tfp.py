"""TensorFlow Probability's variational losses (JAX substrate) as model-level black boxes (estimators.blackbox), for
`python -m bench audit`.

Targets tensorflow-probability 0.25.0 (`import tensorflow_probability.substrates.jax as tfp`, no TensorFlow needed)
on jax 0.10.1: tfp.vi.monte_carlo_variational_loss(target_log_prob_fn, surrogate_posterior, sample_size=1,
importance_sample_size=1, discrepancy_fn=tfp.vi.kl_reverse, use_reparameterization=None, gradient_estimator=None,
stopped_surrogate_posterior=None, seed=None, name=None), https://www.tensorflow.org/probability/api_docs/python/
tfp/vi/monte_carlo_variational_loss, with gradient_estimator one of tfp.vi.GradientEstimators.

Compatibility shim. TFP 0.25.0 (the newest release) does not import its JAX substrate on jax 0.10.1: its
python/internal/backend/jax/ops.py reads `jax.interpreters.xla.pytype_aval_mappings` at import (AttributeError:
jax moved the table to jax.core). `_tfp()` aliases the missing attribute to jax.core.pytype_aval_mappings
(the same table TFP writes on the next line) before the import; nothing else is patched. And VIMCO does not
trace under jax.jit on jax 0.10.1 (tfp/stats/leave_one_out.py reshapes to a shape it gathers with tf.gather,
a tracer under jit: "Shapes must be 1D sequences of concrete values"), so the VIMCO adapter runs its vmapped
gradient op by op (no jit); the others are jitted.

How an objective E_q[mean_e loss_e] becomes a variational loss. The surrogate posterior q(theta) is a
tfd.JointDistributionCoroutine over the program's sites, each site tfd.Independent over its event (a one-hot
categorical is tfd.OneHotCategorical, its last axis its event; Bernoulli and one-hot samples as float32), its
batch shape [E] (the program's examples: each example's loss is its own term, as TFP evaluates a batch of
variational problems), the first site a Root. The coroutine gets each site's distribution by running the
program up to that site on the values drawn so far (the program is a callable, TFP wants a generator; the
replays are traced once). With target_log_prob_fn(*z) = q.log_prob(z) - loss(z), the same q, parameters live,

    log p(z) - log q(z) = -loss(z)   exactly, in value and gradient, for every z,

so the default kl_reverse discrepancy -log u = loss and the loss is E_q[sum_e loss_e]; jax.grad of it, divided
by E, is the estimate (per example's batch member):

    tfp/score-function       SCORE_FUNCTION: tfp.monte_carlo.expectation without reparameterisation, the DiCE
                             form loss(sg z) exp(log q(sg z) - sg(log q(sg z))): loss grad log q + grad loss at
                             the stopped sample, no baseline; Gaussian sites too (score function)
    tfp/reparameterization   REPARAMETERIZATION: grad loss(z(theta, eps)) through q's reparameterised samples.
                             Gaussian sites only: on discrete sites TFP warns "Reparameterization gradients
                             requested, but `surrogate_posterior.reparameterization_type` is not fully
                             reparameterized ... Gradient estimates may be biased." (its samples have no path)
    tfp/vimco                VIMCO (csiszar_vimco, Mnih & Rezende 2016, generalised to Csiszar f): K =
                             importance_sample_size = the cell's n_samples (2 in the audit) draws, each term's
                             baseline the f of the average with that draw's u replaced by the geometric mean of
                             the others. VIMCO estimates grad E[f(log mean_k u_k)]; the audit's objective is that
                             with f = exp (discrepancy_fn=jnp.exp: f(u) = u, convex, a Csiszar function) and
                             u_k = loss_k, i.e. target_log_prob_fn = q.log_prob + log loss: E[mean_k loss_k] =
                             E[loss]. That needs every loss positive (u = p/q > 0); a problem whose losses are not
                             (toy-gaussian's cos) cannot be expressed, and the cell fails saying so

Each call draws n_estimates rows at once: one PRNG key per row (jax.random.split of PRNGKey(seed)), the gradient
vmapped over the keys; the compiled function is kept for the next call on the same program.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from bench.audit import Adapter, Site
from bench.audit.numpyro import _sites
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

LIBRARY = "tensorflow-probability"
MODULE = "tensorflow_probability"
INSTALL = "pip install '.[audit]', or pip install tensorflow-probability (its JAX substrate; no TensorFlow needed)"

_B, _C, _G = "bernoulli", "categorical", "gaussian"
_DOCS = "https://www.tensorflow.org/probability/api_docs/python/tfp/vi/monte_carlo_variational_loss"
_TFP = "Dillon et al. 2017, TensorFlow Distributions; tensorflow-probability 0.25.0 (JAX substrate)"
_NOT_POSITIVE = ("tfp/vimco estimates grad E[f(log mean_k u_k)] with u_k = p(z_k)/q(z_k) > 0; the audit's E[loss] is "
                 "that with f = exp and u = loss, which needs positive losses: this problem's losses are not all "
                 "positive")
# adapter -> (GradientEstimators member, the sites it takes)
_ESTIMATORS = {"score-function": ("SCORE_FUNCTION", (_B, _C, _G)), "reparameterization": ("REPARAMETERIZATION", (_G,)),
               "vimco": ("VIMCO", (_B, _C, _G))}


def _tfp() -> Any:
    """tensorflow_probability.substrates.jax, imported through the shim the module docstring describes."""
    import jax
    import jax.interpreters.xla as xla

    if not hasattr(xla, "pytype_aval_mappings"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # jax.core.pytype_aval_mappings is deprecated
            xla.pytype_aval_mappings = jax.core.pytype_aval_mappings
    import tensorflow_probability.substrates.jax as tfp

    return tfp


# ---------------------------------------------------------------------------------------------- the black boxes


def score_function(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                   device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of monte_carlo_variational_loss's gradient with GradientEstimators.SCORE_FUNCTION."""
    return _estimate("score-function", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


def reparameterization(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                       device: str = "cpu", n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
    """Rows of monte_carlo_variational_loss's gradient with GradientEstimators.REPARAMETERIZATION."""
    return _estimate("reparameterization", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


def vimco(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int, device: str = "cpu",
          n_samples: int = 2, **options: Any) -> dict[str, np.ndarray]:
    """Rows of monte_carlo_variational_loss's gradient with GradientEstimators.VIMCO, K = n_samples, f = exp."""
    return _estimate("vimco", program, params, n_estimates=n_estimates, seed=seed, n_samples=n_samples)


# --------------------------------------------------------------------------------------------------- the driver


class _Ask(Exception):
    """Raised by the replaying sampler at the first site without a value: the site's distribution parameters."""

    def __init__(self, name: str, dist: str, node: dict[str, Any]) -> None:
        super().__init__(name)
        self.name, self.dist, self.node = name, dist, node


def _estimate(name: str, program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
              n_samples: int) -> dict[str, np.ndarray]:
    import jax
    import jax.numpy as jnp

    n_examples, sites, fixed = _sites(program, params)
    unsupported = sorted({s.dist for s in sites.values()} - set(_ESTIMATORS[name][1]))
    if unsupported:
        raise ValueError(f"tfp/{name} takes {', '.join(_ESTIMATORS[name][1])} sites; the program asks for "
                         f"{', '.join(unsupported)}")
    if name == "vimco" and n_samples < 2:
        raise ValueError("VIMCO needs importance_sample_size = n_samples >= 2 (csiszar_vimco: 'Must specify "
                         "num_draws > 1.')")
    if name == "vimco" and not bool((np.asarray(fixed) > 0).all()):
        raise ValueError(_NOT_POSITIVE + " (some are <= 0 already at fixed values of the sites)")
    rows_fn = _rows_fn(name, program, tuple(sites.items()), n_examples, int(n_samples))
    keys = jax.random.split(jax.random.PRNGKey(seed), n_estimates)
    out = {k: np.asarray(v) for k, v in rows_fn({k: jnp.asarray(v) for k, v in params.items()}, keys).items()}
    if name == "vimco" and not all(np.isfinite(v).all() for v in out.values()):
        raise ValueError(_NOT_POSITIVE + " (the gradient came out non-finite)")
    return out


@lru_cache(maxsize=8)
def _rows_fn(name: str, program: Callable, sites: tuple[tuple[str, Site], ...], n_examples: int,
             n_samples: int) -> Callable[[dict[str, Any], Any], dict[str, Any]]:
    """vmap over keys of d/dtheta loss / E (jitted, but for VIMCO): theta, keys [n, 2] -> {name: rows}."""
    import jax
    import jax.numpy as jnp

    tfp = _tfp()
    estimator = getattr(tfp.vi.GradientEstimators, _ESTIMATORS[name][0])
    declared = dict(sites)

    def loss(theta: dict[str, Any], key: Any) -> Any:
        q = _surrogate(tfp, program, theta, declared)

        def losses(z: tuple[Any, ...]) -> Any:
            return program(_replay(list(z), len(declared)), theta)

        if name == "vimco":
            target = lambda *z: q.log_prob(z) + jnp.log(losses(z))  # noqa: E731 - u = loss: f(log u) = exp = loss
            per_example = tfp.vi.monte_carlo_variational_loss(
                target, q, importance_sample_size=n_samples, discrepancy_fn=jnp.exp, gradient_estimator=estimator,
                seed=key)
        else:
            target = lambda *z: q.log_prob(z) - losses(z)  # noqa: E731 - log p - log q = -loss
            per_example = tfp.vi.monte_carlo_variational_loss(target, q, sample_size=n_samples,
                                                              gradient_estimator=estimator, seed=key)
        return jnp.sum(per_example) / n_examples  # the batch members are the examples; the objective their mean

    rows = jax.vmap(jax.grad(loss), in_axes=(None, 0))
    return rows if name == "vimco" else jax.jit(rows)


def _surrogate(tfp: Any, program: Callable, theta: dict[str, Any], sites: dict[str, Site]) -> Any:
    """q(theta) as a JointDistributionCoroutine whose generator replays the program to find each site."""
    tfd = tfp.distributions

    def model() -> Any:
        values: list[Any] = []
        while len(values) < len(sites):
            ask = _next_site(program, theta, values, len(sites))
            site = sites[ask.name]
            if ask.dist != site.dist:
                raise ValueError(f"site {ask.name!r} changed distribution between runs ({site.dist}, then {ask.dist})")
            d = tfd.Independent(_distribution(tfd, site, _lead(ask.node, values, sites, site)), site.event_ndim,
                                name=ask.name)
            values.append((yield tfd.JointDistributionCoroutine.Root(d) if not values else d))

    return tfd.JointDistributionCoroutine(model)


def _next_site(program: Callable, theta: dict[str, Any], values: list[Any], n_sites: int) -> _Ask:
    """The first site without a value, from a run of the program on the values drawn so far."""
    try:
        program(_replay(values, n_sites, ask=True), theta)
    except _Ask as ask:
        return ask
    raise ValueError(f"the program asked for {len(values)} sites, fewer than the {n_sites} it first did")


def _replay(values: list[Any], n_sites: int, ask: bool = False) -> Callable[[str, str, dict[str, Any]], Any]:
    """The program's `sample`: the i-th site gets values[i]; the first without one raises _Ask (ask) or is an
    error."""
    seen = [0]

    def sample(name: str, dist: str, node: dict[str, Any]) -> Any:
        i = seen[0]
        seen[0] += 1
        if i < len(values):
            return values[i]
        if ask:
            raise _Ask(name, dist, node)
        raise ValueError(f"the program asked for more than the {n_sites} sites it first did")

    return sample


def _lead(node: dict[str, Any], values: list[Any], sites: dict[str, Site], site: Site) -> dict[str, Any]:
    """The node's parameters [..., E, *event] broadcast to the sample dims of the earlier draws (a later site
    whose parameters do not depend on the draws still needs them: TFP's coroutine adds sample dims to Root
    sites only)."""
    import jax.numpy as jnp

    if not values:
        return node
    previous = list(sites.values())[len(values) - 1]
    lead = tuple(values[-1].shape[:values[-1].ndim - 1 - len(previous.event)])
    return {k: jnp.broadcast_to(v, lead + tuple(v.shape[v.ndim - 1 - len(site.event):])) for k, v in node.items()}


def _distribution(tfd: Any, site: Site, node: dict[str, Any]) -> Any:
    import jax.numpy as jnp

    if site.dist == _B:
        return tfd.Bernoulli(logits=node["logits"], dtype=jnp.float32)
    if site.dist == _C:
        return tfd.OneHotCategorical(logits=node["logits"], dtype=jnp.float32)
    return tfd.Normal(node["loc"], node["scale"])


# ------------------------------------------------------------------------------------------------- the catalog


def _adapter(name: str, description: str, paper: str, note: str, family: str = "score-function",
             needs_df: bool = False, multi: bool = False) -> Adapter:
    spec = Spec(f"tfp/{name}", family, True, _ESTIMATORS[name][1], 1, needs_df, paper, multi_sample=multi,
                min_samples=2 if multi else 1, note=note)
    function = f"bench.audit.tfp:{name.replace('-', '_')}"
    return Adapter(library=LIBRARY, module=MODULE, description=description,
                   estimator=BlackBoxEstimator(spec=spec, functions={"jax": function}, level="model"))


ADAPTERS: list[Adapter] = [
    _adapter("score-function",
             "tfp.vi.monte_carlo_variational_loss(gradient_estimator=GradientEstimators.SCORE_FUNCTION): the "
             "DiCE-form score function (tfp.monte_carlo.expectation), each example's loss, no baseline",
             f"Williams 1992 (REINFORCE), Ranganath, Gerrish & Blei 2014 (BBVI); {_TFP}, {_DOCS}",
             note="surrogate posterior: a JointDistributionCoroutine over the sites, batch shape [examples]; "
                  "Gaussian sites by the score function too"),
    _adapter("reparameterization",
             "tfp.vi.monte_carlo_variational_loss(gradient_estimator=GradientEstimators.REPARAMETERIZATION): the "
             "pathwise gradient through reparameterised samples",
             f"Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014; {_TFP}, {_DOCS}",
             note="Gaussian sites (TFP warns that discrete sites make it biased)",
             family="pathwise", needs_df=True),
    _adapter("vimco",
             "tfp.vi.monte_carlo_variational_loss(gradient_estimator=GradientEstimators.VIMCO, "
             "importance_sample_size=K, discrepancy_fn=jnp.exp) with target log q + log loss: VIMCO's leave-one-out "
             "(geometric-mean) baselines on E[mean_k loss_k]",
             f"Mnih & Rezende 2016, Variational inference for Monte Carlo objectives (VIMCO), TFP's generalisation "
             f"to Csiszar f-divergences (tfp.vi.csiszar_vimco); {_TFP}, {_DOCS}",
             note="K = n_samples (2 in the audit); f = exp and u = loss: needs positive losses; run without jit "
                  "(TFP 0.25's leave_one_out does not trace under jit on jax 0.10.1)", multi=True),
]
