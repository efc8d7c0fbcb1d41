"""Run metadata stored with every result file: code version, package versions, hardware, precision, CLI."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import subprocess
import uuid
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS, REPORTS = ROOT / "results", ROOT / "reports"
REFERENCE = "reference"  # results/reference/<machine>/ and reports/reference/: the committed reference


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _version(pkg: str) -> str | None:
    try:
        return importlib.metadata.version(pkg)
    except importlib.metadata.PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower().replace("(r)", "").replace("(tm)", "")).strip("-.")


@cache
def _gpu_name() -> str:
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip().splitlines()
    except (OSError, subprocess.SubprocessError):
        out = []
    return out[0] if out else "gpu"


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def machine(device: str = "cpu") -> str:
    """This machine's results folder name (as asv's results/<machine>/): the CPU model and the cores this process
    may use, the GPU model on cuda, and the backends' versions, e.g.
    intel-xeon-processor-2cpu-torch2.13.0-cpu-jax0.10.1. Runs of different machines, devices or framework
    versions never share a folder."""
    parts = ([_slug(_gpu_name())] if device == "cuda" else []) + [_slug(_cpu_name()), f"{_cores()}cpu"]
    parts += [f"{pkg}{_slug(v)}" for pkg in ("torch", "jax") if (v := _version(pkg))]
    return "-".join(parts)


def results_folder(device: str = "cpu") -> Path:
    """Where a run on this machine writes by default: results/<machine>/ (not tracked by git)."""
    return RESULTS / machine(device)


def reports_folder(device: str = "cpu") -> Path:
    """Where the report of this machine's run goes by default: reports/<machine>/ (not tracked by git)."""
    return REPORTS / machine(device)


def run_meta(argv: list[str], backends: list[str], device: str) -> dict[str, Any]:
    devices: dict[str, str] = {}
    if {"torch", "torch-compile"} & set(backends) and device == "cuda":
        import torch

        devices["torch"] = torch.cuda.get_device_name()
    if "jax" in backends:
        import jax

        devices["jax"] = str(jax.devices("gpu" if device == "cuda" else "cpu")[0].device_kind)
    return {
        "run_id": uuid.uuid4().hex[:12],
        "git_sha": _git("rev-parse", "HEAD"),
        "git_dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "versions": {p: _version(p) for p in ("numpy", "torch", "jax", "jaxlib", "pandas", "pyarrow", "mcgrad-bench")},
        "python": platform.python_version(),
        "cpu": _cpu_name(),
        "machine": machine(device),
        "device": device,
        "device_names": devices,
        "precision": {"dtype": "float32", "jax_default_matmul_precision": "highest",
                      "torch_allow_tf32": False},
        # a recorded choice: threefry with per-row keys costs JAX ~60 us per small estimate (README, speed)
        "random": {"jax_prng_impl": _jax_prng_impl(backends), "jax_keys": "fold_in(fold_in(key, row), layer)",
                   "torch": "one torch.Generator per cell, uniforms drawn in order"},
        "argv": argv,
    }


def _jax_prng_impl(backends: Any) -> str:
    if "jax" not in backends:
        return ""
    import jax

    return str(jax.config.jax_default_prng_impl)
