"""bench.measure.memory.estimate_memory: known allocations, peak not sum, growth with batch and depth, stability.

torch is measured on cpu by its profiler's allocation trace, JAX by XLA's memory analysis of the compiled
program; the cuda paths are checked against stand-in counters (no GPU here), for their arithmetic only.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from bench.measure.memory import estimate_memory

N = 1_000_000  # float32 elements: 4,000,000 bytes
# torch's CPU allocator reports the requested size exactly; the slack is for a stray scalar tensor (bytes)
TORCH_SLACK = 1024
WIDTH, D_IN = 256, 64  # the MLP of the batch test: a batch-sized hidden activation is 4 * batch * WIDTH bytes


def ones() -> torch.Tensor:
    return torch.ones(N)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # inductor's imports
@pytest.mark.parametrize("backend", ["torch", "torch-compile"])
def test_torch_known_allocation(backend):
    """An N-float tensor the call returns is 4N bytes, compiled or not."""
    run = ones
    if backend == "torch-compile":
        run = torch.compile(lambda: torch.ones(N) * 2)
        run()  # compile outside the measurement
    assert estimate_memory(backend, "cpu", run) == pytest.approx(4 * N, abs=TORCH_SLACK)


def test_torch_peak_is_not_the_sum():
    """Two live temporaries, one freed, a third: the peak is 8 MB, the allocations sum to 12 MB."""

    def run():
        a, b = torch.ones(N), torch.ones(N)
        del a
        c = torch.ones(N)
        return b, c

    assert estimate_memory("torch", "cpu", run) == pytest.approx(8 * N, abs=TORCH_SLACK)


def test_torch_nothing_allocated_measures_zero():
    """The profiler and its window add nothing of their own."""
    assert estimate_memory("torch", "cpu", lambda: None) == 0.0


def test_torch_memory_from_before_the_call_is_not_credited():
    """Frees of blocks allocated before the call (in an earlier traced call, or before any tracing) do not
    offset what the call allocates: summing every event would give 0 here, the call's own peak is 4 MB."""
    kept = [torch.ones(N)]  # allocated outside any trace
    estimate_memory("torch", "cpu", lambda: kept.append(torch.ones(N)))  # allocated in an earlier trace

    def run():
        kept.clear()  # frees both
        return torch.ones(N)

    assert estimate_memory("torch", "cpu", run) == pytest.approx(4 * N, abs=TORCH_SLACK)


def test_torch_measurement_is_stable():
    """The same call measured again gives the same bytes: the trace sees every allocation, not a sample."""
    run = torch_mlp(256, 2)
    figures = [estimate_memory("torch", "cpu", run) for _ in range(3)]
    assert figures[0] > 0 and figures == [figures[0]] * 3


# JAX: XLA's buffer assignment, read from the compiled executable


def jax_compiled(f, *args, **jit_kwargs):
    jax = pytest.importorskip("jax")
    compiled = jax.jit(f, **jit_kwargs).lower(*args).compile()
    return lambda: jax.block_until_ready(compiled(*args)), compiled


def test_jax_known_output():
    """A fused elementwise map of N floats needs no temporaries: its figure is its 4N-byte output."""
    jnp = pytest.importorskip("jax.numpy")
    run, compiled = jax_compiled(lambda x: x * 2 + 1, jnp.ones(N))
    assert estimate_memory("jax", "cpu", run, compiled=compiled) == pytest.approx(4 * N, abs=1024)


def test_jax_donated_output_allocates_nothing():
    """An output that aliases its donated argument reuses the argument's buffer (alias bytes are subtracted)."""
    jnp = pytest.importorskip("jax.numpy")
    run, compiled = jax_compiled(lambda x: x * 2 + 1, jnp.ones(N), donate_argnums=0)
    assert compiled.memory_analysis().alias_size_in_bytes == 4 * N  # the donation took on this backend
    assert estimate_memory("jax", "cpu", run, compiled=compiled) <= 1024


def test_jax_temporaries_count():
    """Output plus XLA's temporaries: more than the output alone when the program keeps an intermediate."""
    jnp = pytest.importorskip("jax.numpy")
    run, compiled = jax_compiled(lambda x: (jnp.sort(jnp.sin(x)) * jnp.cos(x)).sum(), jnp.ones(N))
    assert compiled.memory_analysis().output_size_in_bytes == 4  # one scalar
    assert estimate_memory("jax", "cpu", run, compiled=compiled) >= 4 * N  # the sorted array, at least


# a 2-layer (or deeper) tanh MLP: per-example loss (h @ v)^2 summed, gradient w.r.t. all weights


def weights(batch: int, depth: int, width: int, d_in: int) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ws = [rng.standard_normal((d_in if i == 0 else width, width)).astype(np.float32) / 8 for i in range(depth)]
    return ws, rng.standard_normal(width).astype(np.float32), rng.standard_normal((batch, d_in)).astype(np.float32)


def torch_mlp(batch: int, depth: int, width: int = WIDTH, d_in: int = D_IN):
    ws, v, x = weights(batch, depth, width, d_in)
    ws = [torch.tensor(w, requires_grad=True) for w in ws]
    v, x = torch.tensor(v, requires_grad=True), torch.tensor(x)

    def run():
        h = x
        for w in ws:
            h = torch.tanh(h @ w)
        return torch.autograd.grad((h @ v).square().sum(), [*ws, v])

    return run


def jax_mlp(batch: int, depth: int, width: int = WIDTH, d_in: int = D_IN):
    jax = pytest.importorskip("jax")
    jnp = jax.numpy

    def loss(ws, v, x):
        h = x
        for w in ws:
            h = jnp.tanh(h @ w)
        return jnp.sum(jnp.square(h @ v))

    ws, v, x = weights(batch, depth, width, d_in)
    return jax_compiled(jax.grad(loss, argnums=(0, 1)), [jnp.asarray(w) for w in ws], jnp.asarray(v),
                        jnp.asarray(x))


def mlp_bytes(backend: str, batch: int, depth: int, **geometry) -> float:
    if backend == "torch":
        return estimate_memory("torch", "cpu", torch_mlp(batch, depth, **geometry))
    run, compiled = jax_mlp(batch, depth, **geometry)
    return estimate_memory("jax", "cpu", run, compiled=compiled)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_grows_with_batch(backend):
    """Batch 1024 against 64: the weight gradients are the same size, and each extra example keeps at least its
    two hidden activations (h1 for dW2, h2 for tanh' and dv) alive for the backward pass, so the figure grows by
    at least 2 * 960 * WIDTH * 4 bytes (observed: 4.0 activations per example in torch, 3.07 in JAX)."""
    small, large = mlp_bytes(backend, 64, 2), mlp_bytes(backend, 1024, 2)
    assert large - small >= 2 * (1024 - 64) * WIDTH * 4, (small, large)


@pytest.mark.parametrize("backend", ["torch", "jax"])
def test_deeper_keeps_more(backend):
    """4 stacked layers against 1, same width 128 and batch 1024 (activations of 512 KB dwarf 64 KB weights).
    Beyond its 3 extra weight gradients the deep net must keep its 3 extra hidden activations for the backward
    pass; allowing one of them to coincide with a buffer the 1-layer net needs at its own peak (its backward
    delta), the figure grows by at least 2 activations (observed: 2.75 in torch, 2.99 in JAX)."""
    width, batch = 128, 1024
    shallow = mlp_bytes(backend, batch, 1, width=width, d_in=width)
    deep = mlp_bytes(backend, batch, 4, width=width, d_in=width)
    extra_gradients = 3 * width * width * 4
    assert deep - shallow >= extra_gradients + 2 * batch * width * 4, (shallow, deep)


# choices and the cuda paths (stand-in counters: there is no GPU here)


@pytest.mark.parametrize(("backend", "device", "named"), [("tensorflow", "cpu", "torch-compile"),
                                                          ("torch", "tpu", "cuda"), ("jax", "gpu", "cuda")])
def test_unknown_choices_are_named(backend, device, named):
    with pytest.raises(ValueError, match=named):
        estimate_memory(backend, device, lambda: None)


def test_jax_on_cpu_needs_the_compiled_program():
    with pytest.raises(ValueError, match="compiled="):
        estimate_memory("jax", "cpu", lambda: None)


class FakeCounter:
    """A device allocator: bytes in use now, and the peak since it was last reset."""

    def __init__(self, in_use: int, peak: int):
        self.in_use, self.peak = in_use, peak

    def alloc(self, n: int) -> None:
        self.in_use += n
        self.peak = max(self.peak, self.in_use)


@pytest.mark.parametrize("backend", ["torch", "torch-compile"])
def test_torch_cuda_counts_from_what_was_live(backend, monkeypatch):
    """1000 bytes live and an old peak of 9000: a call that allocates 300 then 200, frees 300, measures 500."""
    dev = FakeCounter(1000, 9000)

    def reset():
        dev.peak = dev.in_use

    for name, fn in [("synchronize", lambda: None), ("reset_peak_memory_stats", reset),
                     ("memory_allocated", lambda: dev.in_use), ("max_memory_allocated", lambda: dev.peak)]:
        monkeypatch.setattr(torch.cuda, name, fn)

    def run():
        dev.alloc(300)
        dev.alloc(200)
        dev.alloc(-300)

    assert estimate_memory(backend, "cuda", run) == 500


def test_jax_cuda_statistics_only_where_the_peak_moved(monkeypatch):
    """JAX's peak never resets: a call that sets a new peak is measured from what was live, one under an older
    peak is not observable (NaN, not the old peak's bytes)."""
    jax = pytest.importorskip("jax")
    dev = FakeCounter(1000, 1200)

    class Device:
        def memory_stats(self):
            return {"bytes_in_use": dev.in_use, "peak_bytes_in_use": dev.peak}

    monkeypatch.setattr(jax, "devices", lambda backend=None: [Device()])
    assert estimate_memory("jax", "cuda", lambda: dev.alloc(500)) == 500
    assert math.isnan(estimate_memory("jax", "cuda", lambda: dev.alloc(0)))
