"""The public API: catalog, specs, shapes, and a clear ValueError naming the valid choices for bad input."""

from __future__ import annotations

import numpy as np
import pytest

import estimators
from tests.truths import BACKENDS, f6

SIX = {"logits": np.zeros(6, np.float32)}
CATALOG = estimators.names()  # discovered from the modules: adding an estimator touches no test


def test_catalog_and_specs():
    assert len(CATALOG) >= 23 and CATALOG == sorted(CATALOG)
    for name in CATALOG:
        s = estimators.spec(name)
        assert s.name == name and s.paper and s.dists
    assert estimators.spec("reparam").dists == ("gaussian",)
    assert not estimators.spec("deterministic").unbiased
    assert estimators.spec("local-reparam").requires == "linear-gaussian-weights"
    assert estimators.spec("vimco").requires == "iwae-objective"
    assert all(not estimators.spec(n).requires for n in CATALOG if n not in ("local-reparam", "vimco"))


def test_every_estimator_is_one_module_written_once():
    """The catalog is discovered from the modules: each holds its SPEC and its surrogate (and State and
    init_state when it keeps state), and no backend-specific estimator module exists."""
    from pathlib import Path

    for name in CATALOG:
        module = estimators.module(name)
        assert module.SPEC is estimators.spec(name) and callable(module.surrogate)
        assert not estimators.spec(name).state or (callable(module.init_state) and hasattr(module, "State"))
    root = Path(estimators.__file__).parent
    assert not (root / "torch").exists() and not (root / "jax").exists()


@pytest.mark.parametrize("backend", BACKENDS)
def test_shapes_and_determinism(backend):
    kw = dict(dist="bernoulli", backend=backend, n_estimates=7, n_samples=3, seed=3)
    a = estimators.grad_samples("disarm", f6(backend), SIX, **kw)["logits"]
    b = estimators.grad_samples("disarm", f6(backend), SIX, **kw)["logits"]
    assert a.shape == (7, 6) and np.array_equal(a, b)
    assert not np.array_equal(a, estimators.grad_samples("disarm", f6(backend), SIX, **{**kw, "seed": 4})["logits"])


BAD = [
    (dict(name="nope"), "valid: arm, arms"),
    (dict(backend="tensorflow"), "valid backends: torch, torch-compile, jax"),
    (dict(dist="poisson"), "valid: bernoulli, categorical, gaussian"),
    (dict(device="tpu"), "valid devices: cpu, cuda"),
    (dict(name="reparam"), "it supports: gaussian"),
    (dict(name="local-reparam"), r"local-reparam needs a model with linear Gaussian weights \(problem bnn\)"),
    (dict(name="rloo", n_samples=1), "n_samples >= 2"),
    (dict(name="gumbel-softmax", temperature=0.5), "valid: tau"),
    (dict(name="gumbel-rao", k=0), "option k=0 of gumbel-rao must be an integer >= 1"),
    (dict(name="gumbel-rao", k=2.5), "must be an integer >= 1"),
    (dict(params={"logits": np.array([0.0, np.nan])}), "must be finite"),
    (dict(params={"logits": np.array([np.inf, 0.0])}), "must be finite"),
    (dict(name="gumbel-softmax", tau=float("nan")), "finite"),
    (dict(params={"probs": np.zeros(6)}), "must be named logits"),
]


@pytest.mark.parametrize("change,message", BAD)
def test_bad_input_names_the_valid_choices(change, message):
    kw = dict(name="reinforce", f=None, params=SIX, dist="bernoulli", backend=BACKENDS[0], n_estimates=2)
    kw.update(change)
    with pytest.raises(ValueError, match=message):
        estimators.grad_samples(**kw)


def test_missing_backend_is_named(monkeypatch):
    monkeypatch.setattr(estimators.api, "available_backends", lambda: ["torch"])
    with pytest.raises(ValueError, match="backend 'jax' is not installed; installed: torch"):
        estimators.grad_samples("reinforce", None, SIX, dist="bernoulli", backend="jax", n_estimates=2)


def test_cuda_without_gpu_is_an_error():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(ValueError, match="sees no GPU"):
        estimators.grad_samples("reinforce", None, SIX, dist="bernoulli", backend="torch", n_estimates=2,
                                device="cuda")


def test_evaluations_per_draw():
    """indecater's cost grows with the node (1 + V (K - 1) per draw); the others' is a constant per draw."""
    from estimators.spec import evals_per_draw

    spec = estimators.spec
    assert evals_per_draw(spec("indecater"), "bernoulli", (200,)) == 201
    assert evals_per_draw(spec("indecater"), "categorical", (20, 10)) == 1 + 20 * 9
    assert evals_per_draw(spec("muprop"), "categorical", (20, 10)) == 2
    assert evals_per_draw(spec("disarm"), "bernoulli", (200,)) == 2
    assert evals_per_draw(spec("exact"), "bernoulli", (6,)) is None
    assert evals_per_draw(spec("measure-valued"), "gaussian", (8,)) == 1 + 3 * 8
