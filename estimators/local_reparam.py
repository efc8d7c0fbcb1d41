"""Local reparameterization: the pathwise gradient of each example's pre-activations, z = loc + scale * eps.

Kingma, Salimans & Welling (2015), Variational dropout and the local reparameterization trick. For a linear
layer a = h W with independent Gaussian weights W_jk ~ N(m_jk, s_jk^2), each example's pre-activation is
exactly Gaussian given h: a_k ~ N(sum_j h_j m_jk, sum_j h_j^2 s_jk^2). Sampling a per example (independent
noise for every example) instead of one W shared by the minibatch leaves every example's marginal, hence
the expected loss and this estimator's mean, unchanged, and removes the covariance between the examples'
gradients that a shared weight draw puts into the minibatch mean.

The trick lives in the model, not here: a model that supports it (bench/problems/bnn.py with local=True)
hands this estimator the pre-activation node {"loc": h @ m + b, "scale": sqrt(h^2 @ s^2)}, whose gradient
flows back to the weight parameters m, s and to h; the surrogate itself is reparam's. The spec's
`requires="linear-gaussian-weights"` keeps it off nodes that are not pre-activations (toy problems, the
single-node API, the VAE's latents), where it would be reparam under another name.
"""

from __future__ import annotations

from estimators.ops import Downstream, Ops
from estimators.spec import Spec

SPEC = Spec("local-reparam", "pathwise", True, ("gaussian",), 1, True,
            "Kingma, Salimans & Welling 2015, Variational dropout and the local reparameterization trick",
            requires="linear-gaussian-weights",
            note="needs a model whose Gaussian nodes are the weights of a linear layer: the model samples each "
                 "example's pre-activations instead of a shared weight draw (bnn)")


def surrogate(o: Ops, params, down: Downstream, u, state, *, dist: str, event_ndim: int):
    return down.main(params["loc"] + params["scale"] * o.ndtri(u[0])), state
