"""The ReinMax authors' own package as a model-level black box (estimators.blackbox), for `python -m bench audit`.

Targets reinmax 0.1.0 (PyPI; `from reinmax import reinmax`, microsoft/ReinMax, MIT; torch backend). It is one
function, `reinmax.reinmax(logits, tau) -> (sample, softmax(logits))`: a one-hot sample D of
multinomial(softmax(logits)) over the last axis, whose backward pass (ReinMax_Auto.backward) is Heun's
second-order correction of straight-through,

    d f / d logits = 2 J(pi1) df/dD - J(pi0) df/dD / 2,  pi0 = softmax(logits),  pi1 = (D + softmax(logits/tau))/2,

J(p) = diag(p) - p p^T the softmax Jacobian at p (the gradient flowing into the returned softmax is added with
J(pi0); the program does not use it). Liu, Chen, Gao & Han 2023, Bridging discrete and backpropagation:
straight-through and beyond (NeurIPS). A straight-through estimator: documented as biased (exact for f quadratic
in the one-hot sample), so the audit's question is whether the bias is the one ReinMax has, and the test
(tests/test_audit_libraries.py) compares the rows with the suite's own `reinmax` (estimators/reinmax.py) on
the same problems: same mean, same variance.

How the program is driven. Every site of the program is sampled by one call of reinmax.reinmax on the site's
logits and the program goes on with the sample, in torch autograd; the row is the gradient of the mean of the
program's losses (one example's loss is one example's own draws; each row its own draws). A categorical site
passes its logits [E, vars, cats] (reinmax views them as [-1, cats]: an expanded, non-contiguous logits
tensor makes that `.view` raise, so the adapter passes `.contiguous()` logits); a Bernoulli site is the 2-way
categorical with logits (0, logit), as the suite's reinmax and the paper's binary case treat it, the sample the
one-hot's second entry. Gaussian sites are not its business (it has none): refused.

`n_samples` independent passes are averaged per row; `tau` is reinmax's temperature (the suite's default 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from bench.audit import Adapter
from estimators.plugins import BlackBoxEstimator
from estimators.spec import Spec

LIBRARY = "reinmax"
MODULE = "reinmax"
INSTALL = "pip install '.[audit]', or pip install reinmax==0.1.0"

_B, _C = "bernoulli", "categorical"
PAPER = ("Liu, Chen, Gao & Han 2023, Bridging discrete and backpropagation: straight-through and beyond "
         "(ReinMax); the authors' package reinmax 0.1.0, https://github.com/microsoft/ReinMax")


def reinmax_rows(program: Callable, params: dict[str, np.ndarray], *, n_estimates: int, seed: int,
                 device: str = "cpu", n_samples: int = 1, tau: float = 1.0, **options: Any) -> dict[str, np.ndarray]:
    """n_estimates rows of d/dtheta mean_e loss_e with every site sampled by reinmax.reinmax(logits, tau)."""
    import torch
    from reinmax import reinmax

    torch.manual_seed(seed)  # reinmax draws with torch.multinomial from the global generator
    theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}

    def sample(site: str, dist: str, node: dict[str, Any]) -> Any:
        logits = node.get("logits")
        if dist == _B:
            two = torch.stack([torch.zeros_like(logits), logits], -1)  # Bernoulli(sigmoid(l)) = softmax((0, l))
            one_hot, _ = reinmax(two, float(tau))
            return one_hot[..., 1]
        if dist == _C:
            one_hot, _ = reinmax(logits.contiguous(), float(tau))
            return one_hot
        raise ValueError(f"reinmax samples categorical (and, as 2-way categoricals, Bernoulli) sites; site {site!r} "
                         f"is {dist}")

    rows = {k: np.zeros((n_estimates, *v.shape), np.float64) for k, v in params.items()}
    names = list(theta)
    for i in range(n_estimates):
        for _ in range(int(n_samples)):
            loss = program(sample, theta).mean()
            grads = torch.autograd.grad(loss, [theta[k] for k in names], allow_unused=True)
            for k, g in zip(names, grads):
                if g is not None:  # a parameter the losses do not reach keeps its 0
                    rows[k][i] += g.detach().cpu().double().numpy() / n_samples
    return rows


ADAPTERS: list[Adapter] = [
    Adapter(library=LIBRARY, module=MODULE,
            description="reinmax.reinmax(logits, tau): one-hot multinomial sample forward, Heun-corrected "
                        "straight-through backward (ReinMax_Auto); Bernoulli as the 2-way categorical (0, logit)",
            estimator=BlackBoxEstimator(
                spec=Spec(f"{LIBRARY}/reinmax", "straight-through", False, (_B, _C), 1, True, PAPER,
                          options={"tau": 1.0},
                          note="the authors' package; biased as straight-through is (exact for f quadratic in the "
                               "sample); compared with the suite's reinmax in tests/test_audit_libraries.py"),
                functions={"torch": "bench.audit.reinmax:reinmax_rows"}, level="model")),
]
