"""The memory one gradient estimate allocates: peak bytes beyond what was live before it, per backend.

What the figure is. For a zero-argument `run()` that computes one estimate and returns once the device is done,
`estimate_memory` gives the largest number of bytes that the estimate's own buffers (temporaries, saved
activations, and the arrays it returns, which count while they are alive at its end) occupied at one moment.
Memory that was live before the call (parameters, inputs, caches of earlier calls) is not in it.

- torch, torch-compile on cuda: the caching allocator's own counters, `max_memory_allocated()` after
  `reset_peak_memory_stats()`, minus `memory_allocated()` before. Compiled torch code allocates through the
  same allocator, so the two backends are measured alike.
- torch, torch-compile on cpu: torch has no CPU allocator statistics, so the call is traced with
  `torch.profiler` (`profile_memory=True`), which reports every allocation and free made through torch's CPU
  allocator with its size, address and time; the figure is the peak of the running sum of those made inside
  the call (a `record_function` window around `run()`), not the sum of the allocations. The profiler's own
  buffers are not tensors and never enter the sum, and nothing outside the window does.
- jax: XLA's buffer assignment for the compiled program (`Compiled.memory_analysis()`): temp_size_in_bytes +
  output_size_in_bytes - alias_size_in_bytes. XLA packs all temporaries of a program into one temp allocation
  whose size is already the peak of their overlapping lifetimes; outputs are fresh buffers unless they alias a
  donated argument; arguments were allocated before the call. This is static, the same on cpu and cuda, and
  needs no run. On cuda the device's statistics can be used instead (compiled=None), but only where the call
  sets a new process-wide peak, because JAX's peak counter never resets.

What the figure is not. On cpu it is tensor memory seen by torch's allocator, not the process's resident set
size: memory taken by oneDNN/MKL workspaces, Python objects, allocator fragmentation and page rounding is not
in it, nor are allocations made on threads the profiler does not follow (torch kernels allocate before their
parallel regions, so these are rare). Frees of memory allocated before the call are not seen by the tracer
(torch only reports frees of blocks it saw allocated while profiling), so an estimate that frees old memory is
not credited for it; on cuda the allocator's counters do credit it. For JAX it is the plan XLA compiled, not
an observation: runtime allocator rounding, fragmentation and the executable's own code are not in it. The
figures of the two backends are both "bytes of the estimate's buffers", but XLA fuses elementwise chains that
torch materializes, so they are comparable in growth with batch and depth more than in absolute size.

Measure after warm-up calls: a first call may allocate one-time caches (and, for torch-compile, compile).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

BACKENDS = ("torch", "torch-compile", "jax")
DEVICES = ("cpu", "cuda")


def estimate_memory(backend: str, device: str, run: Callable[[], Any], *, compiled: Any = None) -> float:
    """Peak bytes allocated by one call of run() beyond what was live before it.

    torch and torch-compile: one call of run(), read through torch.cuda's resettable peak counter on cuda and
    through a torch.profiler allocation trace on cpu (torch keeps no CPU allocator statistics). jax: with
    `compiled` (a `jax.stages.Compiled`, the executable run() calls) XLA's memory analysis of it, on either
    device, without calling run(); without it, on cuda only, the device's statistics around one call of run(),
    NaN when the call did not raise the never-reset peak (its own peak is then not observable). See the module
    docstring for what the figure includes.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if device not in DEVICES:
        raise ValueError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")
    if backend == "jax":
        if compiled is not None:
            return compiled_bytes(compiled)
        if device == "cpu":
            raise ValueError("jax on cpu keeps no device memory statistics; pass compiled= (the executable "
                             "run() calls, from jax.jit(f).lower(*args).compile()) to use XLA's memory analysis")
        return _jax_cuda_stats(run)
    if compiled is not None:
        raise ValueError(f"compiled= is a JAX executable; {backend} measures run() itself")
    from estimators.backends.torch import allocated_peak

    return allocated_peak(run, device)


def compiled_bytes(compiled: Any) -> float:
    """temp + output - alias bytes of XLA's buffer assignment for a compiled JAX program.

    peak_memory_in_bytes is not used: on cpu (jax 0.10) it is argument + output bytes and leaves out temporaries.
    """
    stats = compiled.memory_analysis()
    if stats is None:
        raise ValueError("this JAX backend gives no memory analysis for the compiled program")
    return float(stats.temp_size_in_bytes + stats.output_size_in_bytes - stats.alias_size_in_bytes)


def _jax_cuda_stats(run: Callable[[], Any]) -> float:
    import jax

    dev = jax.devices("gpu")[0]
    before = dev.memory_stats()
    out = jax.block_until_ready(run())
    after = dev.memory_stats()
    del out
    if after["peak_bytes_in_use"] <= before["peak_bytes_in_use"]:
        return math.nan  # an earlier peak hides this call's
    return float(after["peak_bytes_in_use"] - before["bytes_in_use"])
