"""storchastic's gradient estimators as model-level black boxes (estimators.blackbox), for `python -m bench audit`.

Targets storchastic 0.3.7 (`import storch`; AGPL: an optional library the user installs, never a dependency of
this project). Each adapter samples every site of the program with one storch.method.Method, registers the
per-example losses as one cost and differentiates storchastic's surrogate (storch.backward()). Per site, with
f the per-example loss, theta the site's logits (loc, scale), sg the stop-gradient:

score-function         f(x) grad log q(x)                                   ScoreFunction
score-function-ma      (f(x) - b) grad log q(x), b the moving average of    ScoreFunction(baseline_factory=
                       the batch-mean cost: b <- d b + (1 - d) mean f      "moving_average")
rloo                   1/n sum_i (f(x_i) - mean_{j != i} f(x_j)) grad log q(x_i), n = the cell's n_samples draws
                       per site (nested: each draw of a site gets n draws of the next; n^sites evaluations per
                       example), ScoreFunction(baseline_factory="batch_average")
arm                    (f(1[z > 0]) - f(1[z~ > 0]))/2 grad log Logistic(z; theta), z = theta + e, z~ = theta - e
disarm                 storchastic's DisARM: weight (-1)^b~ 1[b != b~] sigmoid(|theta|) on grad theta with
                       b, b~ = 1[theta +- e > 0]
rebar                  (f(H(z)) - eta f(z~)) grad log q(H(z)) + eta grad f(s(z)) - eta grad f(s(z~)), z Gumbel
                       (logistic) noise, s the temperature-1 relaxation, z~ ~ z | H(z); eta = temperature = 1
relax                  (f(H(z)) - c(z~)) grad log q(H(z)) + grad c(s(z)) - grad c(s(z~)), c storchastic's default
                       control variate (an MLP 50 units wide) at its initial weights
gumbel-softmax         grad f(s(z)), f evaluated at the relaxed sample (temperature tau)      GumbelSoftmax
st-gumbel              f(H(z)) forward, grad f through s(z) backward                          GumbelSoftmax(
                                                                                              straight_through=True)
reparameterization     grad f(loc + scale e)                                                  Reparameterization

REBAR's and RELAX's temperature, eta and network are meant to be trained by the user; here they keep their
initial values (no training, storch.backward(update_estimator_params=False)): unbiasedness must hold for any
fixed control variate. The moving average of score-function-ma is the only state: it runs over the rows of one
call after `burn_in` passes that are thrown away.

How the program is driven. storchastic keeps its plates (the example axis, each site's draws) as leading
dimensions that every storch.Tensor shows, so a program that indexes its values (the model problems do z[None],
prepending their rows axis) breaks storch's plate check ("Storch Tensors should take into account their
surrounding plates"). The adapter therefore runs the program on plain torch tensors and keeps storch's graph at
the sites, as storch.deterministic does for a wrapped function: each site's distribution parameters become a
storch.Tensor carrying the plates of the earlier sites and the example plate (weight 1/E: storchastic's plate
mean is the mean over examples, each example's loss its own learning signal), the Method samples from it, the
program goes on with the sample's torch tensor (extra draws are leading axes, which the programs broadcast
right-aligned), and the losses become the cost tensor. Each lifted tensor's storch parent is the latest sample,
so the sites form a chain in storch's graph, as they do in every audit problem. Every number in the gradient is
storchastic's: its samplers, plates, baselines, estimators and surrogate loss. On toy-bernoulli and chain, where
storch.Tensors do go through the program, the rows equal those of the program run on storch.Tensors exactly.
DisARM's samples are booleans; the program gets them as 0/1 floats.

References: van Krieken, Tomczak & ten Teije 2021, Storchastic: a framework for general stochastic automatic
differentiation (NeurIPS); the methods' papers as each adapter's spec cites them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.audit import Adapter
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

LIBRARY = "storchastic"
MODULE = "storch"
INSTALL = "pip install storchastic (AGPL; not a dependency of this project)"
EXAMPLES = "examples"  # the plate of the programs' example axis
STORCH = ("van Krieken, Tomczak & ten Teije 2021, Storchastic: a framework for general stochastic automatic "
          "differentiation (storchastic 0.3.7)")
_B, _C, _G = "bernoulli", "categorical", "gaussian"


def _distribution(dist: str, node: dict[str, Any]) -> Any:
    from torch.distributions import Bernoulli, Normal, OneHotCategorical

    if dist == "bernoulli":
        return Bernoulli(logits=node["logits"])
    if dist == "categorical":
        return OneHotCategorical(logits=node["logits"])
    if dist == "gaussian":
        return Normal(node["loc"], node["scale"])
    raise ValueError(f"unknown distribution {dist!r}")


class _State:
    """What outlives one pass within a call: the moving-average baselines and RELAX's networks, one per site."""

    def __init__(self) -> None:
        self.baselines: dict[str, Any] = {}
        self.networks: dict[str, Any] = {}


def _method(method: str, site: str, event_shape: tuple[int, ...], n: int, options: dict[str, Any],
            state: _State) -> Any:
    """A fresh storch.method.Method for one site of one pass (fresh: no annealing, no pairs kept from earlier
    passes), sampling n draws; the state it should keep comes from `state`."""
    import storch.method as m

    if method == "score-function":
        return m.ScoreFunction(site, n_samples=n)
    if method == "score-function-ma":
        if site not in state.baselines:
            state.baselines[site] = m.MovingAverageBaseline(exponential_decay=float(options.get("decay", 0.95)))
        # a BaselineFactory: the site's one moving average, carried over the passes of this call
        return m.ScoreFunction(site, n_samples=n, baseline_factory=lambda s, c: state.baselines[site])
    if method == "rloo":
        if n < 2:
            raise ValueError("storchastic's batch-average (leave-one-out) baseline needs n_samples >= 2")
        return m.ScoreFunction(site, n_samples=n, baseline_factory="batch_average")
    if method == "arm":
        return m.ARM(site, n_samples=n)
    if method == "disarm":
        return m.DisARM(site, n_samples=n)
    if method == "rebar":
        return m.REBAR(site, n_samples=n)
    if method == "relax":
        if site not in state.networks:
            # storchastic's default control variate, initial weights from the call's seed
            state.networks[site] = m.relax.Baseline(event_shape or (1,))
        return m.RELAX(site, n_samples=n, c_phi=state.networks[site])
    if method in ("gumbel-softmax", "st-gumbel"):
        return m.GumbelSoftmax(site, n_samples=n, straight_through=method == "st-gumbel",
                               initial_temperature=float(options.get("tau", 1.0)))
    if method == "reparameterization":
        return m.Reparameterization(site, n_samples=n)
    raise ValueError(f"unknown storchastic method {method!r}")


class _Pass:
    """One run of the program under storchastic: `sample` is the program's sampler, `cost` wraps its losses."""

    def __init__(self, method: str, n: int, options: dict[str, Any], state: _State) -> None:
        self.method, self.n, self.options, self.state = method, n, options, state
        self.samples: list[Any] = []  # storch.StochasticTensor per site, in the program's order
        self.n_examples = 0

    def _plates(self) -> list[Any]:
        """The plates a new site inherits: every earlier site's (newest first, as storch orders them), then the
        examples'."""
        return list(self.samples[-1].plates)

    def _lift(self, value: Any, name: str) -> Any:
        """A program's tensor [..., E, *rest] as a storch.Tensor on the plates of the sites so far."""
        import storch

        plates = self._plates()
        lead = tuple(p.n for p in plates if p.n > 1 and p.name != EXAMPLES)
        if value.ndim < len(lead) + 1:
            raise ValueError(f"{name}: shape {tuple(value.shape)} lacks the example axis after the draws "
                             f"{lead} of the earlier sites")
        rest = tuple(value.shape[len(lead) + 1:]) if value.ndim > len(lead) + 1 else ()
        try:
            value = value.expand(*lead, self.n_examples, *rest)
        except RuntimeError as e:  # the draws of the earlier sites must lead, right-aligned
            raise ValueError(f"{name}: shape {tuple(value.shape)} does not broadcast to the earlier sites' "
                             f"draws {lead} + (examples {self.n_examples}, ...): {e}") from e
        # its storch parent is the latest sample only, which has the earlier ones as ancestors: the sites form a
        # chain, and storch.backward, walking the graph breadth-first from the cost and processing the farthest
        # nodes first, then meets them in the program's order (the order its control variates need: each is
        # multiplied by the score functions of the sites before it)
        return storch.Tensor(value, [self.samples[-1]], plates, name)

    def sample(self, site: str, dist: str, node: dict[str, Any]) -> Any:
        import storch
        import torch

        if not self.samples:
            first = next(iter(node.values()))
            self.n_examples = int(first.shape[0])
            # the example axis as storchastic's independent dimension: each example its own learning signal
            node = {k: storch.denote_independent(v, 0, EXAMPLES) for k, v in node.items()}
        else:
            node = {k: self._lift(v, f"site {site}'s {k}") for k, v in node.items()}
        first = next(iter(node.values()))
        event_shape = tuple(first.event_shape)
        x = _method(self.method, site, event_shape, self.n, self.options, self.state)(_distribution(dist, node))
        self.samples.append(x)
        # the program computes with plain torch (storch's graph lives in self.samples); DisARM hands out booleans,
        # which the program takes as 0/1 floats, as a storchastic user would cast them
        value = x._tensor
        return value.to(first.dtype) if value.dtype == torch.bool else value

    def cost(self, losses: Any) -> Any:
        if not self.samples:
            raise ValueError("the program drew no sample")
        return self._lift(losses, "the program's losses")


def _clean_storch() -> None:
    """Reset storchastic's global state. storch.reset() forgets the costs and methods of a pass; the wrappers'
    flags are reset too because storch.ignore_wrapping() is not exception-safe (no try/finally): an error raised
    while sampling (ARM on a non-Bernoulli site, say) leaves _ignore_wrap set, and every later storch operation
    of the process then returns unwrapped tensors. The audit runs its cells in one process."""
    import storch
    import storch.wrappers as w

    storch.reset()
    w._ignore_wrap, w._context_stochastic, w._context_deterministic = False, False, 0
    w._stochastic_parents, w._plate_links, w._context_name = [], [], None


def run(program: Any, params: dict[str, np.ndarray], *, method: str, n_estimates: int, seed: int,
        device: str = "cpu", n_samples: int = 1, multi_sample: bool = False, burn_in: int = 0,
        **options: Any) -> dict[str, np.ndarray]:
    """n_estimates rows of storchastic's gradient of mean(program's losses) w.r.t. params.

    multi_sample: the n_samples draws are the method's own (storch's n_samples at every site, one pass a row);
    otherwise a row averages n_samples independent passes of one draw each. burn_in: passes thrown away first
    (they move the moving-average baselines only)."""
    import storch
    import torch

    torch.manual_seed(seed)
    _clean_storch()
    theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}
    state = _State()
    n, passes = (int(n_samples), 1) if multi_sample else (1, int(n_samples))

    def one_pass() -> dict[str, np.ndarray]:
        run_ = _Pass(method, n, options, state)
        try:
            storch.add_cost(run_.cost(program(run_.sample, theta)), "loss")
            # no estimator updates: REBAR/RELAX keep their initial control variate, GumbelSoftmax its temperature
            storch.backward(update_estimator_params=False)
        finally:
            _clean_storch()
        out = {k: (np.zeros(t.shape, np.float64) if t.grad is None else t.grad.detach().cpu().double().numpy())
               for k, t in theta.items()}
        for t in theta.values():  # REBAR/RELAX differentiate with create_graph: drop the grads' graphs now
            t.grad = None
        return out

    for _ in range(int(burn_in)):
        one_pass()
    rows = {k: np.zeros((n_estimates, *v.shape), np.float64) for k, v in params.items()}
    for i in range(n_estimates):
        for _ in range(passes):
            for k, g in one_pass().items():
                rows[k][i] += g / passes
    return rows


def _runner(method: str, multi_sample: bool = False) -> Callable[..., dict[str, np.ndarray]]:
    def fn(program: Any, params: dict[str, np.ndarray], *, n_estimates: int, seed: int, device: str = "cpu",
           n_samples: int = 1, **options: Any) -> dict[str, np.ndarray]:
        return run(program, params, method=method, n_estimates=n_estimates, seed=seed, device=device,
                   n_samples=n_samples, multi_sample=multi_sample, **options)

    fn.__name__ = fn.__qualname__ = method.replace("-", "_")
    fn.__doc__ = f"storchastic's {method} (see the module docstring) as a model-level black box."
    return fn


score_function = _runner("score-function")
score_function_ma = _runner("score-function-ma")
rloo = _runner("rloo", multi_sample=True)
arm = _runner("arm")
disarm = _runner("disarm")
rebar = _runner("rebar")
relax = _runner("relax")
gumbel_softmax = _runner("gumbel-softmax")
st_gumbel = _runner("st-gumbel")
reparameterization = _runner("reparameterization")


def _adapter(method: str, spec: Spec, description: str) -> Adapter:
    function = method.replace("-", "_")
    return Adapter(library=LIBRARY, module=MODULE, description=description,
                   estimator=BlackBoxEstimator(spec=spec, functions={"torch": f"bench.audit.storchastic:{function}"},
                                               level="model"))


def _name(method: str) -> str:
    return f"{LIBRARY}/{method}"


ADAPTERS: list[Adapter] = [
    _adapter("score-function", Spec(
        _name("score-function"), "score-function", True, (_B, _C, _G), 1, False,
        f"Williams 1992, Simple statistical gradient-following algorithms (REINFORCE); {STORCH}"),
        "storch.method.ScoreFunction without baseline: f(x) grad log q(x), one draw per site"),
    _adapter("score-function-ma", Spec(
        _name("score-function-ma"), "score-function", True, (_B, _C, _G), 1, False,
        f"Williams 1992 (REINFORCE) with a moving-average baseline; {STORCH}",
        options={"decay": 0.95, "burn_in": 100},
        note="storchastic's MovingAverageBaseline updates its average with the current batch-mean cost before "
             "returning it, so the baseline holds (1 - decay)/E of each example's own loss"),
        "storch.method.ScoreFunction(baseline_factory='moving_average'): (f(x) - b) grad log q(x), b the moving "
        "average (decay 0.95) of the batch-mean cost, one per site, after 100 burn-in passes per call"),
    _adapter("rloo", Spec(
        _name("rloo"), "score-function", True, (_B, _C, _G), 1, False,
        f"Kool, van Hoof & Welling 2019, Buy 4 REINFORCE samples, get a baseline for free!; {STORCH}",
        multi_sample=True, min_samples=2,
        note="storch's n_samples = the cell's n_samples (2 in the audit) at every site, nested: n^sites "
             "evaluations per example"),
        "storch.method.ScoreFunction(n_samples=n, baseline_factory='batch_average'): leave-one-out baseline over "
        "the n draws (the cell's n_samples, 2 in the audit) of each site; storch nests the draws of later sites"),
    _adapter("arm", Spec(
        _name("arm"), "antithetic", True, (_B,), 2, False,
        f"Yin & Zhou 2019, ARM: Augment-REINFORCE-merge gradient for stochastic binary networks; {STORCH}",
        note="storchastic 0.3.7's ARM returns its logistic log-density per unit, not summed over the event, so the "
             "surrogate holds the cost once per unit: the gradient of parameters the loss uses directly is "
             "multiplied by the site's width"),
        "storch.method.ARM: antithetic logistic pair, (f(b) - f(b~))/2 grad log Logistic(z; logits)"),
    _adapter("disarm", Spec(
        _name("disarm"), "antithetic", True, (_B,), 2, False,
        f"Dong, Mnih & Tucker 2020, DisARM: an antithetic gradient estimator for binary latent variables; "
        f"{STORCH}",
        note="storchastic 0.3.7 adds f(b~) to the surrogate as a control variate (not subtracted) and weights both "
             "samples of the pair 1/2 (DisARM.plate_weighting is never registered with its sampler)"),
        "storch.method.DisARM: antithetic logistic pair b, b~ with the weight (-1)^b~ 1[b != b~] sigmoid(|logits|)"),
    _adapter("rebar", Spec(
        _name("rebar"), "control-variate", True, (_B, _C), 3, True,
        f"Tucker, Mnih, Maddison, Lawson & Sohl-Dickstein 2017, REBAR; {STORCH}", uniforms=2,
        note="temperature and eta at their initial values (1, 1), untrained; storchastic 0.3.7's Bernoulli "
             "conditional sample z~ | H(z) (storch.conditional_gumbel_rsample) adds log p + log(1 + p) + log v' + "
             "log(1 + v') where logit(p) + logit(v') is meant, and a site followed by other sites sees its "
             "relaxed costs through their hard samples"),
        "storch.method.REBAR: f at the hard, relaxed and conditionally relaxed Gumbel samples (3 evaluations per "
        "site, nested), temperature = eta = 1 untrained"),
    _adapter("relax", Spec(
        _name("relax"), "control-variate", True, (_B, _C), 1, False,
        f"Grathwohl, Choi, Wu, Roeder & Duvenaud 2018, Backpropagation through the void (RELAX); {STORCH}",
        uniforms=2, note="control variate: storchastic's default MLP (50 units) at its initial weights, eta = 1; "
                         "Bernoulli sites use the conditional sample REBAR's note describes"),
        "storch.method.RELAX(in_dim=event): f at the hard sample, control variate storchastic's default MLP at its "
        "initial weights (one per site and call), temperature = eta = 1 untrained"),
    _adapter("gumbel-softmax", Spec(
        _name("gumbel-softmax"), "relaxation", False, (_B, _C), 1, True,
        f"Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017 (Concrete); {STORCH}", options={"tau": 1.0},
        note="f is evaluated at relaxed (continuous) samples"),
        "storch.method.GumbelSoftmax: grad f(relaxed sample), temperature tau = 1 (no annealing)"),
    _adapter("st-gumbel", Spec(
        _name("st-gumbel"), "straight-through", False, (_B, _C), 1, True,
        f"Jang, Gu & Poole 2017: straight-through Gumbel-softmax; {STORCH}", options={"tau": 1.0}),
        "storch.method.GumbelSoftmax(straight_through=True): hard sample forward, relaxed gradient backward, "
        "tau = 1"),
    _adapter("reparameterization", Spec(
        _name("reparameterization"), "pathwise", True, (_G,), 1, True,
        f"Kingma & Welling 2014; Rezende, Mohamed & Wierstra 2014; {STORCH}"),
        "storch.method.Reparameterization: grad f(loc + scale e)"),
]
