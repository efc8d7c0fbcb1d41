"""A black-box estimator (torch): it runs the program, drawing every site itself with torch.distributions,
and differentiates mean_e [loss_e + sg(loss_e) sum_sites log q(site_e)]: the score function, each example's
own loss its learning signal, one program run per draw. The call is the one estimators.blackbox documents
for model-level black boxes."""

import numpy as np
import torch
from torch.distributions import Bernoulli, Normal, OneHotCategorical


def _distribution(dist, node):
    if dist == "bernoulli":
        return Bernoulli(logits=node["logits"])
    if dist == "categorical":
        return OneHotCategorical(logits=node["logits"])
    return Normal(node["loc"], node["scale"])


def score_function(program, params, *, n_estimates, seed, device="cpu", n_samples=1, **options):
    torch.manual_seed(seed)
    rows = {k: np.zeros((n_estimates, *v.shape), np.float32) for k, v in params.items()}
    for i in range(n_estimates):
        theta = {k: torch.as_tensor(v, device=device).requires_grad_() for k, v in params.items()}
        total = 0.0
        for _ in range(n_samples):
            log_q = []

            def sample(site, dist, node):
                d = _distribution(dist, node)
                x = d.sample()
                per_example = d.log_prob(x)  # [E, *event] for Bernoulli and Gaussian, [E, *event[:-1]] one-hot
                log_q.append(per_example.reshape(per_example.shape[0], -1).sum(-1))
                return x

            loss = program(sample, theta)  # [E]
            total = total + (loss + loss.detach() * sum(log_q)).mean()
        grads = torch.autograd.grad(total / n_samples, list(theta.values()), allow_unused=True)
        for k, g in zip(theta, grads):
            if g is not None:
                rows[k][i] = g.cpu().numpy()
    return rows
